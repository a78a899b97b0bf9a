"""Reusing paid answers: the mock answers by unit id, incremental runs take over unchanged
steps' results, the answer store serves requests already paid for (runtime/reuse.py,
runtime/answers.py)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from tests.conftest import octoc

MOCK = """pipeline trials_demo
seed 5
model m = mock "m" { invalid_rate = 0 }
units u {
  vary topic in ["salt", "rope"]
  trials TRIALS
}
step say = llm m {
  prompt "One word about {{ unit.topic }}."
  output { word: string, n: int[0..9] }
}
report r { n = mean(say.n) }
"""


def results_by_unit(folder: Path, step: str) -> dict[str, str]:
    runs = sorted((folder / ".octo" / "runs").iterdir())
    db = sqlite3.connect(runs[-1] / "state.sqlite")
    try:
        return dict(db.execute("SELECT unit_id, output FROM results WHERE step = ?", (step,)).fetchall())
    finally:
        db.close()


def test_the_mock_answers_by_unit_id_not_by_position(tmp_path: Path) -> None:
    """Raising `trials` adds units before others in the run's order; the units that were
    there keep their mock answers."""
    outputs = []
    for trials in (2, 3):
        folder = tmp_path / f"t{trials}"
        folder.mkdir()
        (folder / "p.octo").write_text(MOCK.replace("TRIALS", str(trials)))
        octoc("run", "p.octo", "--poll", "0", "--no-reuse", cwd=folder)
        outputs.append(results_by_unit(folder, "say"))
    small, large = outputs
    assert len(small) == 4 and len(large) == 6
    assert {uid: large[uid] for uid in small} == small


def executions(folder: Path) -> list[int]:
    """Requests the mock executed, per run of `folder` (oldest first)."""
    counts = []
    for run in sorted((folder / ".octo" / "runs").iterdir()):
        ledger = run / "mock_provider.sqlite"
        if not ledger.exists():
            counts.append(0)
            continue
        db = sqlite3.connect(ledger)
        try:
            counts.append(int(db.execute("SELECT COUNT(*) FROM executions").fetchone()[0]))
        finally:
            db.close()
    return counts


def test_the_answer_store_serves_across_fresh_runs_deleted_runs_and_a_moved_project(tmp_path: Path) -> None:
    project = tmp_path / "a"
    project.mkdir()
    (project / "p.octo").write_text(MOCK.replace("TRIALS", "3").replace("invalid_rate = 0", "invalid_rate = 0.3"))
    octoc("run", "p.octo", "--poll", "0", cwd=project)
    [paid] = executions(project)
    first = results_by_unit(project, "say")
    assert paid > 6 and len(first) == 6  # invalid answers were retried, and paid for
    # the same prompt for every trial of a topic: the unit id keeps their answers apart
    assert len({first[uid] for uid in first}) > 2

    octoc("run", "p.octo", "--poll", "0", "--fresh", cwd=project)
    assert executions(project) == [paid, 0] and results_by_unit(project, "say") == first

    shutil.rmtree(project / ".octo" / "runs")
    moved = tmp_path / "b"
    shutil.move(project, moved)
    octoc("run", "p.octo", "--poll", "0", cwd=moved)
    assert executions(moved) == [0] and results_by_unit(moved, "say") == first

    octoc("run", "p.octo", "--poll", "0", "--fresh", "--no-reuse", cwd=moved)
    assert executions(moved) == [0, paid] and results_by_unit(moved, "say") == first

    stats = octoc("cache", "stats", "p.octo", cwd=moved).stdout
    assert f"answers       {paid} " in stats, stats
    pruned = octoc("cache", "prune", "--older-than", "1d", cwd=moved).stdout
    assert "removed 0 answers not used for 1d" in pruned
    assert f"removed {paid} answers" in octoc("cache", "prune", "p.octo", cwd=moved).stdout
    octoc("run", "p.octo", "--poll", "0", "--fresh", cwd=moved)
    assert executions(moved) == [0, paid, paid]


TWICE = """step twice = compute {
  output { v: int }
  code "return {'v': say.n * FACTOR}"
}
report s { v = mean(twice.v) }
"""


def test_a_sample_run_then_an_edited_full_run_pays_only_the_new_units(tmp_path: Path) -> None:
    """The loop the reuse is for: a sample of 2 units, an edit downstream, then all 4 units:
    the new run takes over the sample's answers and sends only the other units'."""
    text = MOCK.replace("TRIALS", "2") + TWICE
    (tmp_path / "p.octo").write_text(text.replace("FACTOR", "2"))
    octoc("run", "p.octo", "--poll", "0", "--max-units", "2", cwd=tmp_path)
    (tmp_path / "p.octo").write_text(text.replace("FACTOR", "3"))
    second = octoc("run", "p.octo", "--poll", "0", cwd=tmp_path)
    assert "reuse say for 2 units" in second.stderr and "run say for 2 units" in second.stderr
    assert "run twice for 4 units" in second.stderr
    assert executions(tmp_path) == [2, 2]
    said = {u: json.loads(v)["n"] for u, v in results_by_unit(tmp_path, "say").items()}
    tripled = {u: json.loads(v)["v"] for u, v in results_by_unit(tmp_path, "twice").items()}
    assert len(said) == 4 and tripled == {u: n * 3 for u, n in said.items()}
    # the story of a unit of the sample says where its answer came from
    runs = sorted(p.name for p in (tmp_path / ".octo" / "runs").iterdir())
    db = sqlite3.connect(tmp_path / ".octo" / "runs" / runs[0] / "state.sqlite")
    try:
        [(sampled,)] = db.execute("SELECT id FROM units ORDER BY ordinal LIMIT 1").fetchall()
    finally:
        db.close()
    story = octoc("inspect", "p.octo", sampled, "--step", "say", cwd=tmp_path).stdout
    assert f"taken over from run {runs[0]}" in story, story
    status = json.loads(octoc("status", "p.octo", "--json", cwd=tmp_path).stdout)
    assert status["reuse"]["taken_over_from"] == runs[0] and status["reuse"]["steps"]["say"] == {"run": 2}


STREAM = """pipeline stream
seed 3
units u { trials 12 }
step a = compute { output { x: int } code "return {'x': rng.randint(0, 1000)}" }
step b = compute { output { y: int } code "return {'y': rng.randint(0, B)}" }
step c = compute { output { z: int } code "return {'z': rng.randint(0, C)}" }
report r { m = mean(a.x) + mean(b.y) + mean(c.z) }
"""


def outputs(folder: Path) -> dict[str, dict[str, str]]:
    return {step: results_by_unit(folder, step) for step in ("a", "b", "c")}


def test_steps_sharing_a_random_stream_equal_a_fresh_run_whatever_changes(tmp_path: Path) -> None:
    """Compute steps drawing from one unit's `rng` continue one stream: editing the last one
    reuses the others and hands it the saved stream; editing a middle one runs every one
    after the first again. Either way the results are those of a fresh run."""
    incremental = tmp_path / "inc"
    incremental.mkdir()
    (incremental / "s.octo").write_text(STREAM.replace("B", "10").replace("C", "10"))
    octoc("run", "s.octo", cwd=incremental)
    for edit, plan in (
        ({"B": "10", "C": "50"}, "reuse a for 12 units; reuse b for 12 units; run c for 12 units"),
        ({"B": "20", "C": "50"}, "run a for 12 units; run b for 12 units; run c for 12 units"),
    ):
        text = STREAM.replace("B", edit["B"]).replace("C", edit["C"])
        (incremental / "s.octo").write_text(text)
        second = octoc("run", "s.octo", cwd=incremental)
        assert plan in second.stderr, second.stderr
        fresh = tmp_path / f"fresh{edit['B']}{edit['C']}"
        fresh.mkdir()
        (fresh / "s.octo").write_text(text)
        octoc("run", "s.octo", "--no-reuse", cwd=fresh)
        assert outputs(incremental) == outputs(fresh)


WALK = """pipeline walk
seed 2
units u { trials 1200 }
step a = compute { output { x: int } code "return {'x': unit.trial * 2}" }
step b = compute { output { y: int } code "return {'y': a.x + K}" }
report r { m = mean(b.y) }
"""


def test_a_takeover_killed_midway_is_finished_by_the_next_run(tmp_path: Path) -> None:
    """Killed (SIGKILL) after the first page of units was copied: the next `octoc run` opens
    the new run, copies again (what is there stays as it is) and finishes it."""
    import os

    (tmp_path / "w.octo").write_text(WALK.replace("K", "1"))
    octoc("run", "w.octo", cwd=tmp_path)
    (tmp_path / "w.octo").write_text(WALK.replace("K", "5"))
    env = {**os.environ, "OCTO_CRASH_AT": "mid-takeover"}
    killed = octoc("run", "w.octo", cwd=tmp_path, env=env, check=False)
    assert killed.returncode == -9, killed.stderr
    runs = sorted((tmp_path / ".octo" / "runs").iterdir())
    assert len(runs) == 2
    db = sqlite3.connect(runs[1] / "state.sqlite")
    try:
        copied = db.execute("SELECT COUNT(*) FROM results WHERE step = 'a'").fetchone()[0]
    finally:
        db.close()
    assert 0 < copied < 1200  # one page went in before the kill
    octoc("run", "w.octo", cwd=tmp_path)
    assert sorted((tmp_path / ".octo" / "runs").iterdir()) == runs  # the same new run, finished
    a = {u: json.loads(v)["x"] for u, v in results_by_unit(tmp_path, "a").items()}
    b = {u: json.loads(v)["y"] for u, v in results_by_unit(tmp_path, "b").items()}
    assert len(a) == 1200 and b == {u: x + 5 for u, x in a.items()}
    db = sqlite3.connect(runs[1] / "state.sqlite")
    try:
        reused = db.execute("SELECT step, COUNT(*) FROM reused GROUP BY step").fetchall()
        done = db.execute("SELECT value FROM meta WHERE key = 'takeover_done'").fetchone()[0]
    finally:
        db.close()
    assert reused == [("a", 1200)] and done == "true"
    shown = octoc("status", "w.octo", cwd=tmp_path).stdout
    assert f"reused (from run {runs[0].name})" in shown and "a: 1,200 units taken over" in shown
