"""The progress of a long compute step, with the time it has left (octolang/progress.py,
told by the compute stage after each committed slice)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from octolang.progress import ComputeProgress, duration
from tests.conftest import octoc

SLOW = """\
pipeline slow
units u {
  vary k in range(2300)
}
step work = compute {
  output { v: int }
  code \"\"\"
    return {"v": unit.k * 2}
  \"\"\"
}
report r {
  total = mean(work.v)
}
"""


def test_time_left_is_the_pace_so_far_applied_to_the_units_left() -> None:
    progress = ComputeProgress()
    progress.update("walk", 2_000, 6_000, 4.0)
    assert progress.running and progress.seconds_left() == 8.0
    assert progress.line() == "compute `walk`: 2,000 of 6,000 units (33%) in 4s, about 8s left"
    progress.update("walk", 6_000, 6_000, 12.4)
    assert not progress.running and progress.seconds_left() is None
    assert progress.line() == "compute `walk`: 6,000 of 6,000 units (100%) in 12s, done"
    shown = [duration(s) for s in (0.4, 59.6, 61, 3599, 3600, 7260)]
    assert shown == ["0s", "1m00s", "1m01s", "59m59s", "1h00m", "2h01m"]


def test_a_step_counts_on_over_pages_of_units() -> None:
    """A big run reaches the compute stage 20,000 units at a time: the step's count and its
    time left are the whole step's."""
    progress = ComputeProgress(units_left=lambda step: 29_900)  # asked after the first slice of 100
    progress.update("walk", 100, 20_000, 1.0)
    assert (progress.done, progress.ready) == (100, 30_000)
    progress.update("walk", 20_000, 20_000, 10.0)
    progress.update("other", 20_000, 20_000, 1.0)  # another step's page between
    progress.update("walk", 2_000, 10_000, 1.0)  # the next page of `walk`
    assert (progress.done, progress.ready, progress.seconds) == (22_000, 30_000, 11.0)
    assert progress.seconds_left() == 4.0
    assert progress.line() == "compute `walk`: 22,000 of 30,000 units (73%) in 11s, about 4s left"


def test_due_prints_at_most_once_per_period_and_not_for_short_steps() -> None:
    progress = ComputeProgress()
    progress.update("walk", 100, 6_000, 2.0)
    assert not progress.due(10)  # the step has run for less than the period
    progress.update("walk", 900, 6_000, 11.0)
    assert progress.due(10)
    progress.update("walk", 1_000, 6_000, 12.0)
    assert not progress.due(10)  # a line was printed less than 10 s ago


def test_a_long_compute_step_says_how_far_it_is_and_how_long_is_left(tmp_path: Path) -> None:
    (tmp_path / "slow.octo").write_text(SLOW)
    env = {**os.environ, "OCTO_PROGRESS_SECONDS": "0"}
    result = octoc("run", "slow.octo", cwd=tmp_path, env=env)
    lines = [line for line in result.stderr.splitlines() if line.startswith("compute `work`")]
    # slices: the first 100 units measure the step, then 2,000, then what is left
    done = [int(re.search(r": ([\d,]+) of", line).group(1).replace(",", "")) for line in lines]  # type: ignore[union-attr]
    assert done == [100, 2_100, 2_300], result.stderr
    assert all(" of 2,300 units " in line for line in lines)
    assert lines[0].endswith(" left") and "about " in lines[0] and lines[-1].endswith(", done")

    quiet = octoc("run", "slow.octo", "--fresh", "--json", cwd=tmp_path, env=env)
    assert "compute `work`" not in quiet.stderr
