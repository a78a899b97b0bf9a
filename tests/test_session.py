"""Opening and resuming runs: which units a resumed run has when the data file changed,
and refusals that leave nothing behind."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from tests.conftest import octoc

PIPELINE = """pipeline words
seed 1
units u from "words.csv" {{ {key} }}
step s = compute {{
  output {{ n: int }}
  code \"\"\"
    return {{"n": len(unit.word)}}
  \"\"\"
}}
report r {{ total = sum(s.n) }}
"""


def units(folder: Path) -> dict[str, str]:
    [run] = (folder / ".octo" / "runs").iterdir()
    db = sqlite3.connect(run / "state.sqlite")
    try:
        return dict(db.execute("SELECT id, fields FROM units WHERE status = 'done'").fetchall())
    finally:
        db.close()


def setup(tmp_path: Path, key: str, rows: list[str], header: str = "id,word") -> None:
    (tmp_path / "p.octo").write_text(PIPELINE.format(key=key))
    (tmp_path / "words.csv").write_text("\n".join([header, *rows]) + "\n")


def test_rows_inserted_anywhere_in_a_keyed_file_are_added_on_resume(tmp_path: Path) -> None:
    setup(tmp_path, "key id", ["a,apple", "c,cherry"])
    octoc("run", "p.octo", cwd=tmp_path)
    setup(tmp_path, "key id", ["a,apple", "b,banana", "c,cherry", "d,date"])
    result = octoc("run", "p.octo", cwd=tmp_path)
    assert "resuming" in result.stderr
    assert sorted(units(tmp_path)) == ["id=a", "id=b", "id=c", "id=d"]
    assert "21" in result.stdout  # 5 + 6 + 6 + 4 letters


def test_rows_shifted_in_a_file_without_key_refuse_the_resume(tmp_path: Path) -> None:
    setup(tmp_path, "", ["a,apple", "c,cherry"])
    octoc("run", "p.octo", cwd=tmp_path)
    setup(tmp_path, "", ["a,apple", "b,banana", "c,cherry"])
    result = octoc("run", "p.octo", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "data of 1 unit(s) changed" in result.stderr and "`key` column" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(units(tmp_path)) == 2  # the run is as it was


def test_a_missing_key_refuses_the_run_before_any_folder_exists(tmp_path: Path) -> None:
    (tmp_path / "p.octo").write_text(
        'pipeline p\nmodel m = openai "gpt-4.1-mini"\nunits u { trials 2 }\n'
        'step a = llm m { prompt "Say hi." output { text: string } }\nreport r { n = count() }\n'
    )
    result = octoc("run", "p.octo", cwd=tmp_path, check=False, env={**os.environ, "OPENAI_API_KEY": ""})
    assert result.returncode == 1
    assert "OPENAI_API_KEY" in result.stderr and "--provider mock" in result.stderr
    assert not (tmp_path / ".octo").exists()


SAILOR = Path(__file__).resolve().parents[1] / "examples" / "drunken_sailor.octo"


def test_a_sample_stays_a_sample_when_ticked_on(tmp_path: Path) -> None:
    (tmp_path / "s.octo").write_text(SAILOR.read_text())
    octoc("run", "s.octo", "--max-units", "5", "--once", cwd=tmp_path)
    octoc("tick", "s.octo", "--run-dir", ".octo/runs", "--json", cwd=tmp_path)
    assert len(units(tmp_path)) == 5


def test_status_of_an_unknown_run_says_none_is_found(tmp_path: Path) -> None:
    (tmp_path / "s.octo").write_text(SAILOR.read_text())
    result = octoc("status", "s.octo", "--run", "nope", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("no run `nope` of s.octo found")


def test_a_reader_that_stops_early_is_not_an_internal_error(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    (tmp_path / "s.octo").write_text(SAILOR.read_text())
    octoc("run", "s.octo", "--max-units", "3", cwd=tmp_path)
    [uid] = [u for u in units(tmp_path) if u.endswith("trial=1")][:1]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte, like `| head -0`
    reader = subprocess.run(
        [sys.executable, "-m", "octolang", "inspect", "s.octo", uid],
        cwd=tmp_path,
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
    )
    os.close(write_end)
    assert reader.returncode == 0, reader.stderr
    assert "internal error" not in reader.stderr and "Traceback" not in reader.stderr


def test_a_dry_run_writes_what_would_be_sent_and_leaves_no_run(tmp_path: Path) -> None:
    import json as _json
    import shutil

    examples = Path(__file__).resolve().parents[1] / "examples"
    shutil.copy(examples / "npc_dialogue.octo", tmp_path)
    shutil.copy(examples / "npcs.csv", tmp_path)
    result = octoc("run", "npc_dialogue.octo", "--dry-run", "--provider", "mock", cwd=tmp_path)
    assert "nothing was sent" in result.stdout
    paths = sorted((tmp_path / ".octo" / "dry-runs").glob("*/requests/*.jsonl"))
    by_step: dict[str, list[dict[str, object]]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            body = _json.loads(line)["body"]
            by_step.setdefault(body["schema_name"], []).append(body)
    npcs = len((tmp_path / "npcs.csv").read_text().splitlines()) - 1
    assert set(by_step) == {"line", "review"}  # the review step's requests too, on the mock's lines
    assert len(by_step["line"]) >= npcs and len(by_step["review"]) >= npcs
    assert not (tmp_path / ".octo" / "runs").exists()  # a later `octoc run` starts afresh
