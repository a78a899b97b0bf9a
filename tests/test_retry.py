"""`octoc retry`: failed units are reopened in the same run (all, by step, by reason),
every paid answer is kept, and the next `octoc run` finishes them."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from tests.conftest import octoc

ROOT = Path(__file__).resolve().parents[1]


def setup(folder: Path) -> None:
    shutil.copy(ROOT / "examples" / "npc_dialogue.octo", folder / "npc.octo")
    shutil.copy(ROOT / "examples" / "npcs.csv", folder / "npcs.csv")


def attempts(folder: Path) -> list[tuple[str, str, int, str, str | None]]:
    [run] = (folder / ".octo" / "runs").iterdir()
    db = sqlite3.connect(run / "state.sqlite")
    try:
        rows = db.execute("SELECT unit_id, step, attempt, custom_id, cost FROM attempts ORDER BY custom_id").fetchall()
    finally:
        db.close()
    return rows


def status(folder: Path) -> dict[str, int]:
    units: dict[str, int] = json.loads(octoc("status", "npc.octo", "--json", cwd=folder).stdout)["units"]
    return units


def test_failed_units_are_reopened_in_the_same_run_keeping_every_paid_answer(tmp_path: Path) -> None:
    setup(tmp_path)
    octoc("run", "npc.octo", "--provider", "mock", "--mock-invalid-rate", "1", cwd=tmp_path)
    assert status(tmp_path)["failed"] == 6
    before = attempts(tmp_path)

    nothing = octoc("retry", "npc.octo", "--reason", "no such reason", cwd=tmp_path, check=False)
    assert nothing.returncode == 1 and "no matching failed units" in nothing.stderr
    assert "6 failed at `line`: step `line`" in nothing.stderr  # what there is to choose from
    unknown = octoc("retry", "npc.octo", "--step", "nosuch", cwd=tmp_path, check=False)
    assert unknown.returncode == 1 and "has no step `nosuch`" in unknown.stderr

    reopened = octoc("retry", "npc.octo", "--step", "line", "--reason", "NO VALID ANSWER", cwd=tmp_path)
    assert "reopened 6 failed units (6 at `line`)" in reopened.stderr
    assert status(tmp_path)["pending"] == 6 and attempts(tmp_path) == before  # nothing sent, nothing lost

    run = octoc("run", "npc.octo", "--provider", "mock", "--mock-invalid-rate", "0", cwd=tmp_path)
    assert "resuming" in run.stderr
    after = attempts(tmp_path)
    assert set(before) <= set(after)  # every earlier attempt, with its cost, is still there
    assert len({a[3] for a in after}) == len(after)  # no custom id was used twice
    assert status(tmp_path)["pending"] == 0 and status(tmp_path)["done"] >= 1
    assert len(list((tmp_path / ".octo" / "runs").iterdir())) == 1


def test_retry_by_step_leaves_the_other_failures(tmp_path: Path) -> None:
    setup(tmp_path)
    octoc("run", "npc.octo", "--provider", "mock", "--mock-invalid-rate", "1", cwd=tmp_path)
    other = octoc("retry", "npc.octo", "--step", "review", cwd=tmp_path, check=False)
    assert other.returncode == 1 and "no matching failed units" in other.stderr
    assert status(tmp_path)["failed"] == 6


def test_retry_with_nothing_failed_says_so(tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples" / "drunken_sailor.octo", tmp_path / "s.octo")
    octoc("run", "s.octo", "--max-units", "20", cwd=tmp_path)
    result = octoc("retry", "s.octo", cwd=tmp_path)
    assert "no failed units to reopen" in result.stderr


def test_retry_without_a_run_says_none_is_found(tmp_path: Path) -> None:
    setup(tmp_path)
    result = octoc("retry", "npc.octo", cwd=tmp_path, check=False)
    assert result.returncode == 1 and "no run of npc.octo found" in result.stderr


def test_retry_is_a_writer_and_waits_for_no_one(tmp_path: Path) -> None:
    """Another process writing the run (here: this test holding its lock) makes retry exit 5
    and change nothing."""
    import os

    from octolang.runtime.runlock import open_lock, try_lock

    setup(tmp_path)
    octoc("run", "npc.octo", "--provider", "mock", "--mock-invalid-rate", "1", cwd=tmp_path)
    [run] = (tmp_path / ".octo" / "runs").iterdir()
    lock = open_lock(str(run))
    try:
        assert try_lock(lock, wait=False)
        busy = octoc("retry", "npc.octo", cwd=tmp_path, check=False)
    finally:
        os.close(lock)
    assert busy.returncode == 5 and "another process is writing run" in busy.stderr
    assert status(tmp_path)["failed"] == 6
    assert "reopened 6 failed units" in octoc("retry", "npc.octo", cwd=tmp_path).stderr
