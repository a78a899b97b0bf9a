"""Readers read a run with the run's own copy of its program (runtime/program_copy.py):
`status`, `report` and `inspect` need neither the units' data file nor a file that still
checks; `report` follows an edited file that checks (an edited report)."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import octoc

ROOT = Path(__file__).resolve().parents[1]


def qa_run(tmp_path: Path) -> None:
    for name in ("qa_eval.octo", "questions.jsonl"):
        shutil.copy(ROOT / "examples" / name, tmp_path / name)
    octoc("run", "qa_eval.octo", "--provider", "mock", cwd=tmp_path)


def test_status_report_and_inspect_do_not_read_the_units_data_again(tmp_path: Path) -> None:
    qa_run(tmp_path)
    before = octoc("status", "qa_eval.octo", "--json", cwd=tmp_path).stdout
    report = octoc("report", "qa_eval.octo", cwd=tmp_path).stdout
    (tmp_path / "questions.jsonl").rename(tmp_path / "moved.jsonl")  # checking the file would now fail
    assert octoc("check", "qa_eval.octo", cwd=tmp_path, check=False).returncode == 1
    assert octoc("status", "qa_eval.octo", "--json", cwd=tmp_path).stdout == before
    assert octoc("report", "qa_eval.octo", cwd=tmp_path).stdout == report
    story = octoc("inspect", "qa_eval.octo", "id=q1/style=direct", cwd=tmp_path)
    assert "id=q1/style=direct" in story.stdout


def test_a_file_with_an_error_is_still_read_with_the_runs_program(tmp_path: Path) -> None:
    qa_run(tmp_path)
    status = octoc("status", "qa_eval.octo", cwd=tmp_path).stdout
    report = octoc("report", "qa_eval.octo", "--json", cwd=tmp_path).stdout
    source = (tmp_path / "qa_eval.octo").read_text()
    broken_source = source.replace("step answer = llm student {", "step answer = llm student {{")
    (tmp_path / "qa_eval.octo").write_text(broken_source)
    assert octoc("status", "qa_eval.octo", cwd=tmp_path).stdout == status
    broken = octoc("report", "qa_eval.octo", "--json", cwd=tmp_path)
    assert broken.stdout == report
    assert "qa_eval.octo has errors (`octoc check qa_eval.octo`); read with the program run" in broken.stderr


def test_report_follows_an_edited_report_in_a_file_that_checks(tmp_path: Path) -> None:
    qa_run(tmp_path)
    source = (tmp_path / "qa_eval.octo").read_text()
    assert "report " in source
    name = source.split("report ", 1)[1].split()[0]
    (tmp_path / "qa_eval.octo").write_text(source.replace(f"report {name}", "report renamed_for_the_test"))
    assert "renamed_for_the_test" in octoc("report", "qa_eval.octo", "--json", cwd=tmp_path).stdout
