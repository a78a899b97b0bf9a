"""`octoc results`: one row per unit; the Parquet and CSV files read back (pyarrow,
pandas) equal the JSON lines."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import octoc

ROOT = Path(__file__).resolve().parents[1]
pd = pytest.importorskip("pandas")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def qa_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("qa")
    for name in ("qa_eval.octo", "questions.jsonl"):
        shutil.copy(ROOT / "examples" / name, folder / name)
    path = folder / "qa_eval.octo"
    path.write_text(path.read_text().replace("pipeline qa_eval", "seed 5\npipeline qa_eval", 1))
    octoc("run", "qa_eval.octo", "--provider", "mock", "--mock-invalid-rate", "0.3", "--poll", "0", cwd=folder)
    return folder


def _jsonl(folder: Path) -> list[dict[str, Any]]:
    text = octoc("results", "qa_eval.octo", "--jsonl", cwd=folder).stdout
    return [json.loads(line) for line in text.splitlines()]


def test_one_row_per_unit_with_outputs_status_and_attempts(qa_run: Path) -> None:
    rows = _jsonl(qa_run)
    assert len(rows) == 12 and [r["ordinal"] for r in rows] == list(range(12))
    assert {r["status"] for r in rows} <= {"done", "failed", "skipped"}
    done = [r for r in rows if r["status"] == "done"]
    assert done and all(isinstance(r["grade.correct"], bool) and r["answer.answer"] for r in done)
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all(r["reason"] and r["failed_step"] in ("answer", "grade") for r in failed)
    for row in rows:
        assert row["attempts"] == row["answer.attempts"] + row["grade.attempts"]
        assert row["input_tokens"] > 0 and row["unit.question"]
    retried = [r for r in rows if r["attempts"] > 2]
    assert retried, "the mock's invalid answers made no retry"


def _same(a: Any, b: Any) -> bool:
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    return bool(a == b)


def test_parquet_and_csv_read_back_equal_the_jsonl(qa_run: Path) -> None:
    rows = _jsonl(qa_run)
    octoc("results", "qa_eval.octo", "--parquet", "-o", "r.parquet", cwd=qa_run)
    octoc("results", "qa_eval.octo", "--csv", "-o", "r.csv", cwd=qa_run)
    table = pq.read_table(qa_run / "r.parquet")
    assert table.column_names == list(rows[0])
    assert table.to_pylist() == rows
    frame = pd.read_csv(qa_run / "r.csv", dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(rows[0])
    for expected, (_, got) in zip(rows, frame.iterrows(), strict=True):
        for name, value in expected.items():
            text = got[name]
            if value is None:
                assert text == "", name
            elif isinstance(value, bool):
                assert text == str(value).lower(), name
            else:
                assert type(value)(text) == value, name
    # and read with pandas' own types, the numbers come back as numbers
    typed = pd.read_csv(qa_run / "r.csv")
    assert all(_same(a, b) for a, b in zip(typed["input_tokens"], [r["input_tokens"] for r in rows], strict=True))


def test_format_is_required_and_parquet_needs_a_file(qa_run: Path) -> None:
    none = octoc("results", "qa_eval.octo", cwd=qa_run, check=False)
    assert none.returncode == 2 and "--jsonl, --csv or --parquet" in none.stderr
    parquet = octoc("results", "qa_eval.octo", "--parquet", cwd=qa_run, check=False)
    assert parquet.returncode == 2 and "-o FILE.parquet" in parquet.stderr


def test_pages_of_units_give_the_same_rows(qa_run: Path) -> None:
    from octolang.compiler import compile_source, read_source
    from octolang.runtime import results
    from octolang.runtime.store import RunStore

    program = compile_source(read_source(str(qa_run / "qa_eval.octo"))).program  # type: ignore[arg-type]
    assert program is not None
    [run] = (qa_run / ".octo" / "runs").iterdir()
    store = RunStore.reader(str(run / "state.sqlite"))
    try:
        assert list(results.rows(program, store, page=5)) == list(results.rows(program, store)) == _jsonl(qa_run)
    finally:
        store.close()
