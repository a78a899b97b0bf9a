"""Reusing paid answers: the mock answers by unit id, incremental runs take over unchanged
steps' results, the answer store serves requests already paid for (runtime/reuse.py,
runtime/answers.py)."""

from __future__ import annotations

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
