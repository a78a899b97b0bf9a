"""The LLM examples end to end on the mock: validation failures retried with feedback,
the gate sending units back, every unit terminal, reports printed."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from tests.conftest import octoc

ROOT = Path(__file__).resolve().parents[1]


def state(folder: Path) -> sqlite3.Connection:
    [run] = (folder / ".octo" / "runs").iterdir()
    return sqlite3.connect(run / "state.sqlite")


def copy_example(tmp_path: Path, name: str, *data: str) -> Path:
    for item in (name, *data):
        shutil.copy(ROOT / "examples" / item, tmp_path / item)
    return tmp_path / name


def test_npc_dialogue_retries_and_gate(tmp_path: Path) -> None:
    path = copy_example(tmp_path, "npc_dialogue.octo", "npcs.csv")
    path.write_text(path.read_text().replace("pipeline npc_dialogue", "seed 11\npipeline npc_dialogue", 1))
    run = octoc("run", path.name, "--provider", "mock", "--mock-invalid-rate", "0.3", "--poll", "0", cwd=tmp_path)
    assert "report quality" in run.stdout
    status = json.loads(octoc("status", path.name, "--json", cwd=tmp_path).stdout)
    assert status["units"]["pending"] == 0 and status["units"]["total"] == 6
    db = state(tmp_path)
    try:
        invalid = db.execute("SELECT COUNT(*) FROM attempts WHERE status = 'invalid'").fetchone()[0]
        retried_with_feedback = db.execute(
            "SELECT COUNT(*) FROM attempts WHERE attempt > 1 AND feedback != ''"
        ).fetchone()[0]
        gate_feedback = db.execute(
            "SELECT COUNT(*) FROM attempts a JOIN generations g ON g.unit_id = a.unit_id AND g.step = a.step "
            "WHERE a.step = 'line' AND g.generation > 0 AND a.feedback = g.feedback"
        ).fetchone()[0]
    finally:
        db.close()
    assert invalid > 0, "no validation failure was exercised"
    assert retried_with_feedback > 0
    assert gate_feedback > 0, "the gate never sent a unit back to `line` with the review's reason"
    text = octoc("report", path.name, cwd=tmp_path).stdout
    assert "retried (requests sent again, and why)" in text and "  line: " in text and "invalid answer" in text
    report = json.loads(octoc("report", path.name, "--json", cwd=tmp_path).stdout)
    groups = report["reports"][0]["groups"]
    assert sum(g["units"] for g in groups) == 6
    assert sum(g["done"] + g["failed"] + g["skipped"] for g in groups) == 6


def test_blackjack_deals_plays_and_settles(tmp_path: Path) -> None:
    path = copy_example(tmp_path, "blackjack.octo")
    path.write_text(path.read_text().replace("trials 300", "trials 40"))
    run = octoc("run", path.name, "--provider", "mock", "--poll", "0", cwd=tmp_path)
    assert "report edge" in run.stdout
    db = state(tmp_path)
    try:
        counts = dict(db.execute("SELECT status, COUNT(*) FROM units GROUP BY status").fetchall())
        invalid = db.execute("SELECT COUNT(*) FROM attempts WHERE step = 'play' AND status = 'invalid'").fetchone()[0]
        settled = db.execute("SELECT COUNT(*) FROM results WHERE step = 'settle'").fetchone()[0]
    finally:
        db.close()
    assert counts.get("pending", 0) == 0 and sum(counts.values()) == 120
    assert invalid > 0 and settled == counts["done"]
    report = json.loads(octoc("report", path.name, "--json", cwd=tmp_path).stdout)
    edges = {g["key"]["unit.strategy"]: g["statistics"]["house_edge"]["value"] for g in report["reports"][0]["groups"]}
    assert set(edges) == {"basic", "mimic_dealer", "never_bust"}
    assert all(-1.5 <= edge <= 1.0 for edge in edges.values())
    story = octoc("inspect", path.name, "strategy=basic/trial=1", cwd=tmp_path).stdout
    assert "[prompt]" in story and "[raw response]" in story and "deal ->" in story


def test_qa_eval_gate_skips_units(tmp_path: Path) -> None:
    path = copy_example(tmp_path, "qa_eval.octo", "questions.jsonl")
    path.write_text(path.read_text().replace("answer.confidence >= 10", "answer.confidence >= 50"))
    octoc("run", path.name, "--provider", "mock", "--poll", "0", cwd=tmp_path)
    report = json.loads(octoc("report", path.name, "--json", cwd=tmp_path).stdout)
    groups = report["reports"][0]["groups"]
    assert sum(g["skipped"] for g in groups) > 0
    assert sum(g["units"] for g in groups) == 12
