"""kill -9 at random moments and at the two classic holes, then resume: the same
results as an uninterrupted run, and no request executed twice by the (mock) provider."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import octoc

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ROOT / "tests" / "pipelines" / "mock_pipeline.octo"
KILLS = 10


def ledger(folder: Path) -> tuple[int, int]:
    """(requests executed, requests executed more than once) from the mock's own ledger."""
    runs = sorted((folder / ".octo" / "runs").iterdir())
    assert len(runs) == 1
    db = sqlite3.connect(runs[0] / "mock_provider.sqlite")
    try:
        total = db.execute("SELECT COUNT(*) FROM executions").fetchone()[0]
        distinct = db.execute("SELECT COUNT(DISTINCT custom_id) FROM executions").fetchone()[0]
    finally:
        db.close()
    return total, total - distinct


def executions(folder: Path) -> int:
    """Requests the mock has executed so far in the run under `folder` (0 before it exists)."""
    try:
        [run] = (folder / ".octo" / "runs").iterdir()
        db = sqlite3.connect(f"file:{run / 'mock_provider.sqlite'}?mode=ro", uri=True, timeout=0.1)
        try:
            return int(db.execute("SELECT COUNT(*) FROM executions").fetchone()[0])
        finally:
            db.close()
    except (FileNotFoundError, ValueError, sqlite3.Error):
        return -1  # not made yet, or busy this instant: asked again


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, int]:
    """The uninterrupted run: its report and the requests it executed."""
    folder = tmp_path_factory.mktemp("reference")
    shutil.copy(PIPELINE, folder / "p.octo")
    octoc("run", "p.octo", "--poll", "0", cwd=folder)
    report = octoc("report", "p.octo", "--json", cwd=folder).stdout
    executed, twice = ledger(folder)
    assert twice == 0
    steps = {s["name"]: s for s in json.loads(octoc("status", "p.octo", "--json", cwd=folder).stdout)["steps"]}
    assert steps["draft"]["retries"] > 0 and steps["grade"]["retries"] > 0  # rule failures and the gate ran
    return report, executed


def test_kill_9_at_random_moments(tmp_path: Path, reference: tuple[str, int]) -> None:
    expected, executed = reference
    shutil.copy(PIPELINE, tmp_path / "p.octo")
    chooser = random.Random(20261124)
    kills = 0
    while kills < KILLS:
        process = subprocess.Popen(
            [sys.executable, "-m", "octolang", "run", "p.octo", "--poll", "0"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # Kills land across start-up, submission, polling and ingestion: every third life at a
        # random moment of its start-up, the others a random moment after the mock executed a
        # request for it, whatever the load on the machine (a delay measured against the
        # reference run let a life finish the run when the load dropped).
        if kills % 3 == 0:
            time.sleep(chooser.uniform(0.05, 0.4))
        else:
            before = max(executions(tmp_path), 0)
            deadline = time.monotonic() + 120
            while executions(tmp_path) <= before and process.poll() is None:
                assert time.monotonic() < deadline, "a life executed no request in 120 s"
                time.sleep(0.005)
            time.sleep(chooser.uniform(0.0, 0.1))
        if process.poll() is not None:
            break  # finished before this kill: enough has been interrupted, or the assert below says not
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
    assert kills >= KILLS, f"the run finished after {kills} kills; make the test pipeline bigger"
    octoc("run", "p.octo", "--poll", "0", cwd=tmp_path)
    assert octoc("report", "p.octo", "--json", cwd=tmp_path).stdout == expected
    assert ledger(tmp_path) == (executed, 0)


@pytest.mark.parametrize("point", ["after-submit", "mid-ingest"])
def test_kill_9_at_the_classic_holes(tmp_path: Path, reference: tuple[str, int], point: str) -> None:
    """After the provider accepted a batch but before its id was recorded; and inside the
    transaction that takes results in."""
    expected, executed = reference
    shutil.copy(PIPELINE, tmp_path / "p.octo")
    crashed = subprocess.run(
        [sys.executable, "-m", "octolang", "run", "p.octo", "--poll", "0"],
        cwd=tmp_path,
        capture_output=True,
        env={**os.environ, "OCTO_CRASH_AT": point},
        timeout=300,
    )
    assert crashed.returncode == -signal.SIGKILL
    octoc("run", "p.octo", "--poll", "0", cwd=tmp_path)
    assert octoc("report", "p.octo", "--json", cwd=tmp_path).stdout == expected
    assert ledger(tmp_path) == (executed, 0)
