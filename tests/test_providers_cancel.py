"""`octoc cancel`: the batches in flight are asked to stop, nothing new is sent, what the
provider finished is still taken in, and `--resume-cancelled` goes on with the rest."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import octoc
from tests.emulators.base import Faults
from tests.providers_e2e import environment, npc_pipeline, paid_attempts, serving


def test_cancel_stops_spending_and_keeps_what_was_paid(tmp_path: Path) -> None:
    path = npc_pipeline(tmp_path, "openai")
    with serving("openai", seed=5, faults=Faults(polls_to_end=1000)) as emulator:
        env = environment("openai", emulator)
        octoc("run", path.name, "--once", cwd=tmp_path, env=env)  # `line` for 6 units, in flight
        assert emulator.batches_created == 1
        [batch] = emulator.batches.values()  # type: ignore[attr-defined]
        cancelled = octoc("cancel", path.name, cwd=tmp_path, env=env)
        assert f"asked to cancel batch {batch['id']}" in cancelled.stderr
        assert batch["status"] == "cancelling"

        taken_in = octoc("run", path.name, "--poll", "0.01", cwd=tmp_path, env=env)
        assert "cancelled: nothing new was sent; 6 units left pending" in taken_in.stderr
        assert batch["status"] == "cancelled" and emulator.batches_created == 1  # nothing new went out
        status = json.loads(octoc("status", path.name, "--json", cwd=tmp_path, env=env).stdout)
        assert status["cancelled_at"] is not None
        line = next(s for s in status["steps"] if s["name"] == "line")
        assert line["done"] == 3 and line["retried"]["cancelled"] == 3  # the finished half was kept
        assert sorted(emulator.billed) == paid_attempts(tmp_path)

        emulator.faults.polls_to_end = 1
        octoc("run", path.name, "--resume-cancelled", "--poll", "0.01", cwd=tmp_path, env=env)
        status = json.loads(octoc("status", path.name, "--json", cwd=tmp_path, env=env).stdout)
        billed = sorted(emulator.billed)
    assert status["cancelled_at"] is None and status["units"]["pending"] == 0
    assert billed == paid_attempts(tmp_path) and len(billed) == len(set(billed))


def test_cancel_without_a_run_says_so(tmp_path: Path) -> None:
    path = npc_pipeline(tmp_path, "openai")
    with serving("openai") as emulator:
        result = octoc("cancel", path.name, cwd=tmp_path, env=environment("openai", emulator), check=False)
    assert result.returncode == 1 and "nothing to cancel" in result.stderr
