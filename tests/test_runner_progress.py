"""A long compute step commits as it goes: a kill in the middle keeps what the slices
before it computed, and the resumed run gives the same report as an uninterrupted one."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import octoc

UNITS = 9_000
PIPELINE = f'''pipeline slow "a compute step long enough to be killed in"
seed 11
units u {{
  vary k in [1, 2, 3]
  trials {UNITS // 3}
}}
step s = compute {{
  output {{ x: int }}
  code """
    x = 0
    for i in range(500):
        x += i % (unit.k + 2)
    return {{"x": x + rng.randint(0, 9)}}
  """
}}
report r {{
  group by unit.k
  mean_x = mean(s.x)
}}
'''


def saved_results(folder: Path) -> int:
    states = list((folder / ".octo" / "runs").glob("*/state.sqlite"))
    if not states:
        return 0
    try:
        db = sqlite3.connect(f"file:{states[0]}?mode=ro", uri=True, timeout=5)
        try:
            (count,) = db.execute("SELECT COUNT(*) FROM results WHERE step = 's'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0
    return int(count)


def test_a_kill_during_a_long_step_keeps_the_slices_already_committed(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "p.octo").write_text(PIPELINE)
    octoc("run", "p.octo", "--workers", "1", cwd=reference)
    expected = octoc("report", "p.octo", "--json", cwd=reference).stdout

    killed = tmp_path / "killed"
    killed.mkdir()
    (killed / "p.octo").write_text(PIPELINE)
    process = subprocess.Popen(
        [sys.executable, "-m", "octolang", "run", "p.octo", "--workers", "1"],
        cwd=killed,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120  # a bound against a hang, not a speed target
        while saved_results(killed) == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    kept = saved_results(killed)
    assert 0 < kept < UNITS, f"{kept} of {UNITS} results saved when the run was killed"

    octoc("run", "p.octo", "--workers", "1", cwd=killed)
    assert saved_results(killed) == UNITS
    assert octoc("report", "p.octo", "--json", cwd=killed).stdout == expected
