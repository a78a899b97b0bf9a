"""`octoc check`: exit codes, text, `--json`, `--strict`, `--emit ir`, files that cannot be read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from octolang.cli import main
from tests.conftest import EXAMPLE_FILES, REPO, has_compute, sandbox_available

CLEAN = (
    'pipeline p "t"\nmodel m = mock "m"\nunits u { trials 2 }\nstep a = llm m { prompt "hi" output { x: int } }\n'
    "report r { avg = mean(a.x) }\n"
)
WARNS = CLEAN + 'model spare = mock "s"\n'  # W0105 on line 6
ERRORS = CLEAN + "report q { v = mean(a.y) }\n"  # E0103 on line 6


def octoc(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    if cwd is None:
        result = runner.invoke(main, list(args), env={"NO_COLOR": "1"})
    else:
        with runner.isolated_filesystem(temp_dir=cwd):
            result = runner.invoke(main, list(args), env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clean.octo").write_text(CLEAN)
    (tmp_path / "warns.octo").write_text(WARNS)
    (tmp_path / "errors.octo").write_text(ERRORS)
    return tmp_path


def runnable_examples() -> list[Path]:
    return [p for p in EXAMPLE_FILES if sandbox_available() or not has_compute(p.read_text(encoding="utf-8"))]


# ---------------------------------------------------------------- exit codes and text


@pytest.mark.parametrize("path", runnable_examples(), ids=lambda p: p.stem)
def test_examples_check_clean(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    code, out, err = octoc("check", f"examples/{path.name}")
    assert (code, err) == (0, ""), out
    assert out.startswith(f"examples/{path.name}: ok (no problems)\n")
    assert f"pipeline {path.stem}" in out


def test_exit_codes(files: Path) -> None:
    assert octoc("check", "clean.octo")[0] == 0
    assert octoc("check", "warns.octo")[0] == 0
    assert octoc("check", "errors.octo")[0] == 1
    assert octoc("check", "clean.octo", "errors.octo")[0] == 1  # the exit code covers every file
    assert octoc("check", "errors.octo", "clean.octo")[0] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check"], "Missing argument 'FILES...'"),
        (["check", "--bogus", "clean.octo"], "No such option '--bogus'"),
        (["check", "--emit", "xml", "clean.octo"], "Invalid value for '--emit'"),
        (["check", "--color", "pink", "clean.octo"], "Invalid value for '--color'"),
        (["check", "."], "is a directory"),
        (["chekc", "clean.octo"], "No such command 'chekc'"),
    ],
)
def test_usage_errors_exit_2(files: Path, args: list[str], message: str) -> None:
    code, out, err = octoc(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_text_output_of_a_failing_file(files: Path) -> None:
    code, out, _ = octoc("check", "errors.octo")
    assert code == 1
    assert out == (
        "errors.octo:6:23: error[E0103]: unknown field `y` on `a`\n"
        "  |\n"
        "6 | report q { v = mean(a.y) }\n"
        "  |                       ^ `a` outputs `x`\n"
        "  |\n"
        "\n"
        "errors.octo: failed (1 error)\n"
    )


def test_quiet_prints_diagnostics_only(files: Path) -> None:
    assert octoc("check", "-q", "clean.octo")[1] == ""
    code, out, _ = octoc("check", "--quiet", "warns.octo")
    assert code == 0
    assert out.startswith("warns.octo:6:7: warning[W0105]") and "warns.octo: ok" not in out


def test_colour(files: Path) -> None:
    assert "\x1b[" not in octoc("check", "--color", "never", "errors.octo")[1]
    assert "\x1b[" not in octoc("check", "errors.octo")[1]  # not a terminal


def test_color_always_keeps_colour_in_a_pipe(files: Path) -> None:
    # (click.echo stripped the colour codes when stdout was not a terminal)
    result = subprocess.run(
        [sys.executable, "-m", "octolang", "check", "--color", "always", "errors.octo"],
        cwd=files,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "\x1b[1;31merror[E0103]" in result.stdout


# ---------------------------------------------------------------- files that cannot be read


def test_missing_file_is_a_clean_message(files: Path) -> None:
    code, out, err = octoc("check", "nope.octo")
    assert (code, err) == (1, "")
    assert out == "nope.octo:1:1: error[E0010]: no such file: nope.octo\n"


def test_a_path_through_a_file_cannot_be_read(files: Path) -> None:
    code, out, _ = octoc("check", "clean.octo/x.octo")
    assert code == 1
    assert out.startswith("clean.octo/x.octo:1:1: error[E0010]: cannot read clean.octo/x.octo: ")
    assert "Traceback" not in out


def test_non_utf8_file(files: Path) -> None:
    (files / "latin1.octo").write_bytes(b'pipeline p "caf\xe9"\nunits u { trials 2 }\n')
    code, out, err = octoc("check", "latin1.octo")
    assert (code, err) == (1, "")
    assert out.startswith("latin1.octo:1:16: error[E0011]: the file is not UTF-8 text (byte 15, line 1)\n")
    assert "= help: save the file as UTF-8" in out


def test_nul_byte(files: Path) -> None:
    (files / "nul.octo").write_bytes(b"pipeline p\n\x00\n")
    code, out, _ = octoc("check", "nul.octo")
    assert code == 1
    assert out.startswith("nul.octo:2:1: error[E0011]: the file contains a NUL byte")


def test_crlf_files_check_like_lf_files(files: Path) -> None:
    (files / "crlf.octo").write_bytes(ERRORS.replace("\n", "\r\n").encode())
    code, out, _ = octoc("check", "crlf.octo")
    assert code == 1
    assert out.startswith("crlf.octo:6:23: error[E0103]")


def test_a_bom_is_not_an_error(files: Path) -> None:
    # (read_source decoded with utf-8, not utf-8-sig: a BOM was `unexpected character` at 1:1)
    (files / "bom.octo").write_bytes(b"\xef\xbb\xbf" + CLEAN.encode())
    code, out, _ = octoc("check", "bom.octo")
    assert code == 0, out


# ---------------------------------------------------------------- --json


def test_json_shape(files: Path) -> None:
    code, out, _ = octoc("check", "--json", "clean.octo", "errors.octo", "nope.octo")
    assert code == 1
    doc = json.loads(out)
    assert doc["version"] == 1 and doc["ok"] is False
    assert [f["file"] for f in doc["files"]] == ["clean.octo", "errors.octo", "nope.octo"]
    clean, errors, missing = doc["files"]
    assert (clean["ok"], clean["errors"], clean["warnings"], clean["diagnostics"]) == (True, 0, 0, [])
    assert clean["summary"]["pipeline"] == "p" and clean["summary"]["units"]["count"] == 2
    assert (errors["ok"], errors["errors"], errors["summary"]) == (False, 1, None)
    (d,) = errors["diagnostics"]
    assert d == {
        "severity": "error",
        "code": "E0103",
        "message": "unknown field `y` on `a`",
        "file": "errors.octo",
        "line": 6,
        "col": 23,
        "end_line": 6,
        "end_col": 24,
        "label": "`a` outputs `x`",
        "help": "",
        "labels": [],
    }
    assert missing["ok"] is False and missing["diagnostics"][0]["code"] == "E0010"


def test_json_labels(files: Path) -> None:
    (files / "dup.octo").write_text(CLEAN + 'step a = llm m { prompt "x" output { x: int } }\n')
    doc = json.loads(octoc("check", "--json", "dup.octo")[1])
    (d,) = [d for d in doc["files"][0]["diagnostics"] if d["code"] == "E0101"]
    assert d["labels"] == [
        {"message": "first defined here as a step", "line": 4, "col": 6, "end_line": 4, "end_col": 7}
    ]


def test_json_ok_file(files: Path) -> None:
    code, out, _ = octoc("check", "--json", "warns.octo")
    doc = json.loads(out)
    assert code == 0 and doc["ok"] is True
    (entry,) = doc["files"]
    assert (entry["ok"], entry["errors"], entry["warnings"]) == (True, 0, 1)
    assert entry["diagnostics"][0]["severity"] == "warning"


# ---------------------------------------------------------------- --strict


def test_strict_turns_warnings_into_errors(files: Path) -> None:
    code, out, _ = octoc("check", "--strict", "warns.octo")
    assert code == 1
    assert "warns.octo:6:7: error[W0105]: model `spare` is not used by any step" in out
    assert "warns.octo: failed (1 error)" in out
    doc = json.loads(octoc("check", "--strict", "--json", "warns.octo")[1])
    (entry,) = doc["files"]
    assert (doc["ok"], entry["ok"], entry["errors"], entry["warnings"]) == (False, False, 1, 0)
    assert entry["diagnostics"][0]["severity"] == "error" and entry["diagnostics"][0]["code"] == "W0105"
    assert octoc("check", "--strict", "clean.octo")[0] == 0


# ---------------------------------------------------------------- --emit ir


def test_emit_ir_is_json_with_spans_and_schemas(files: Path) -> None:
    code, out, _ = octoc("check", "--emit", "ir", "clean.octo")
    assert code == 0
    ir = json.loads(out)
    assert ir["file"] == "clean.octo" and ir["order"] == ["a"] and ir["unit_count"] == 2
    (step,) = ir["steps"]
    assert step["name_span"] == {
        "file": "clean.octo",
        "line": 4,
        "col": 6,
        "end_line": 4,
        "end_col": 7,
        "start": step["name_span"]["start"],
        "end": step["name_span"]["start"] + 1,
    }
    assert CLEAN[step["name_span"]["start"] : step["name_span"]["end"]] == "a"
    assert step["span"]["line"] == 4 and step["prompt"]["value"] == "hi"
    assert step["output_schema"] == {
        "type": "object",
        "properties": {"x": {"type": "integer"}},
        "required": ["x"],
        "additionalProperties": False,
    }
    assert ir["unit_fields"] == [{"name": "trial", "type": {"type": "integer"}, "origin": "trial"}]


@pytest.mark.parametrize("path", runnable_examples(), ids=lambda p: p.stem)
def test_emit_ir_of_every_example(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    code, out, _ = octoc("check", "--emit", "ir", f"examples/{path.name}")
    assert code == 0
    ir = json.loads(out)
    assert ir["order"] and sorted(ir["order"]) == sorted(s["name"] for s in ir["steps"])
    for step in ir["steps"]:
        assert step["span"]["line"] >= 1 and step["name_span"]["file"] == f"examples/{path.name}"
        assert step["output_schema"]["type"] == "object"


def test_emit_ir_with_errors_prints_diagnostics_then_the_ir(files: Path) -> None:
    code, out, _ = octoc("check", "--emit", "ir", "errors.octo")
    assert code == 1
    head, _, rest = out.partition("\n\n{")
    assert head.startswith("errors.octo:6:23: error[E0103]")
    assert json.loads("{" + rest)["file"] == "errors.octo"
    doc = json.loads(octoc("check", "--json", "--emit", "ir", "errors.octo")[1])
    assert doc["files"][0]["ir"]["steps"][0]["name"] == "a"


def test_emit_ir_of_a_file_that_does_not_parse(files: Path) -> None:
    (files / "broken.octo").write_text("pipeline p\nunits u {\n")
    code, out, _ = octoc("check", "--json", "--emit", "ir", "broken.octo")
    assert code == 1
    (entry,) = json.loads(out)["files"]
    assert "ir" not in entry and entry["diagnostics"][0]["code"] == "E0004"


# ---------------------------------------------------------------- the installed command


def test_python_dash_m_octolang_runs_the_same_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "octolang", "check", "--json", "tests/fixtures/broken/graph_cycle.octo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    (entry,) = json.loads(result.stdout)["files"]
    assert [d["code"] for d in entry["diagnostics"]] == ["E0701"]
