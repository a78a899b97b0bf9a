"""`octoc check` on each broken fixture, compared with a reviewed snapshot (tests/__snapshots__/).

Every snapshot was read and each diagnostic confirmed right and well placed. Regenerate with
`pytest tests/test_diagnostics_snapshots.py --snapshot-update`, then read the diff."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from octolang.cli import main
from octolang.providers.hosts import ALLOW_HOST_VAR, ALLOW_KEY_ENV_VAR, BASE_URL_VARS, KEY_VARS
from tests.conftest import REPO, needs_sandbox

BROKEN = REPO / "tests" / "fixtures" / "broken"
FIXTURES = sorted(p.name for p in BROKEN.glob("*.octo"))

# Cases whose output is known to be wrong: (reason). None at the moment; see the report of the
# test engineer for the problems that were fixed instead.
KNOWN_WRONG: dict[str, str] = {}
USER_VARS = [var for names in (*KEY_VARS.values(), *BASE_URL_VARS.values()) for var in names]


def _cases():
    for name in FIXTURES:
        marks = []
        if name.startswith("code_"):
            marks.append(needs_sandbox)
        if name in KNOWN_WRONG:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_WRONG[name]))
        yield pytest.param(name, marks=marks, id=name.removesuffix(".octo"))


def test_there_are_enough_fixtures_for_every_family() -> None:
    assert len(FIXTURES) >= 15
    families = {name.split("_")[0] for name in FIXTURES}
    assert families >= {
        "syntax",
        "strings",
        "names",
        "units",
        "types",
        "templates",
        "expressions",
        "code",
        "graph",
        "models",
        "warnings",
    }


def run_check(*args: str) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(main, ["check", "--color", "never", *args], env={"NO_COLOR": "1"})
    prefix = str(REPO) + os.sep  # absolute paths inside messages (data files) -> relative
    return result.exit_code, result.stdout.replace(prefix, ""), result.stderr.replace(prefix, "")


@pytest.mark.parametrize("name", list(_cases()))
def test_broken_fixture_diagnostics(name: str, snapshot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    # the summary names the hosts and keys a run would use: the same whatever this shell has set
    for var in (*USER_VARS, ALLOW_HOST_VAR, ALLOW_KEY_ENV_VAR):
        monkeypatch.delenv(var, raising=False)
    code, out, err = run_check(f"tests/fixtures/broken/{name}")
    assert "Traceback" not in out + err and "internal error" not in out + err
    assert code in (0, 1)
    if not name.startswith("warnings_") and name != "models_unknown_price.octo":
        assert code == 1, out
    assert err == ""
    assert f"exit {code}\n{out}" == snapshot


@pytest.mark.parametrize("name", list(_cases()))
def test_broken_fixture_json_agrees_with_text(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.chdir(REPO)
    code, out, _ = run_check(f"tests/fixtures/broken/{name}")
    json_code, json_out, _ = run_check("--json", f"tests/fixtures/broken/{name}")
    assert json_code == code
    (entry,) = json.loads(json_out)["files"]
    heads = [
        line
        for line in out.splitlines()
        if line.startswith(f"tests/fixtures/broken/{name}:") and ("error[" in line or "warning[" in line)
    ]
    assert heads == [
        f"{d['file']}:{d['line']}:{d['col']}: {d['severity']}[{d['code']}]: {d['message']}"
        for d in entry["diagnostics"]
    ]
