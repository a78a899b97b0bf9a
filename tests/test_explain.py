"""`octoc explain CODE` prints the code's entry of docs/errors.md, from a checkout and from
the wheel (which ships the file as package data)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from octolang.cli import main
from octolang.cli_explain import entries, errors_text

ROOT = Path(__file__).resolve().parents[1]


def explain(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["explain", *args])
    return result.exit_code, result.stdout, result.stderr


def test_explain_prints_the_entry_of_errors_md() -> None:
    code, out, err = explain("E0103")
    assert code == 0 and err == ""
    first = "A field that the record does not have: a unit field, or a field of a step's output."
    assert out.startswith(f"E0103\n{first}\n")
    assert "error[E0103]: unknown field `txt` on `a`" in out  # the example's real output
    assert "### E0104" not in out and "E0104" not in out.split("```")[-1]  # it stops at the next entry
    assert explain("e0103")[1] == out


def test_every_documented_code_has_an_entry_with_its_example() -> None:
    text = (ROOT / "docs" / "errors.md").read_text()
    documented = re.findall(r"^### ([EW]0\d{3})$", text, re.MULTILINE)
    found = entries(errors_text())
    assert list(found) == documented and len(found) > 80
    for code, entry in found.items():
        assert f"[{code}]" in entry or f"error[{code}]" in entry or f"warning[{code}]" in entry, code


@pytest.mark.parametrize(
    ("asked", "hint"),
    [
        ("E0193", "did you mean `E0103`?"),
        ("W0111", "did you mean `W0101`?"),
        ("E0620x", "did you mean `E0620`?"),
        ("E0699", "did you mean `E0609`?"),
    ],
)
def test_an_unknown_code_gets_the_nearest_one(asked: str, hint: str) -> None:
    code, out, err = explain(asked)
    assert code == 1 and out == ""
    listing = "the codes are listed in docs/errors.md, e.g. `octoc explain E0103`"
    assert err == f"error: no diagnostic code `{asked}`; {hint}\n{listing}\n"


def test_the_wheel_ships_errors_md_where_explain_reads_it(tmp_path: Path) -> None:
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert mapping["force-include"]["docs/errors.md"] == "octolang/_docs/errors.md"
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("hatchling (the build backend) is not installed here: the wheel is not built")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), ROOT],
        check=True,
        timeout=300,
    )
    [wheel] = tmp_path.glob("octolang-*.whl")
    assert "octolang/_docs/errors.md" in zipfile.ZipFile(wheel).namelist()
    # the wheel itself on the path (zip import), run from elsewhere: no checkout to fall back on
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    program = f"import sys; sys.path.insert(0, {str(wheel)!r}); sys.argv = ['octoc', 'explain', 'E0620']\n"
    program += "from octolang.cli import main; main()"
    run = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("E0620\nA comparison of values of kinds that never compare")
