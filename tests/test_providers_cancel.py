"""`octoc cancel`: the batches in flight are asked to stop, nothing new is sent, what the
provider finished is still taken in, and `--resume-cancelled` goes on with the rest."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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


def test_cancel_reaches_the_process_running_the_run(tmp_path: Path) -> None:
    """`octoc cancel` while `octoc run` waits for its batch in another process: that process
    cancels the batch, sends nothing more, takes in what finished and stops; `octoc runs`
    shows the run as running, then cancelled."""
    path = npc_pipeline(tmp_path, "openai")
    with serving("openai", seed=5, faults=Faults(polls_to_end=1000)) as emulator:
        env = environment("openai", emulator)
        writer = subprocess.Popen(
            [sys.executable, "-m", "octolang", "run", path.name, "--poll", "0.5"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while emulator.batches_created == 0:  # the writer's batch is in flight
                assert time.monotonic() < deadline and writer.poll() is None
                time.sleep(0.05)
            assert " running " in octoc("runs", cwd=tmp_path, env=env).stdout
            cancelled = octoc("cancel", path.name, "--timeout", "30", cwd=tmp_path, env=env)
            _, err = writer.communicate(timeout=60)
        finally:
            writer.kill()
            writer.wait()
        [batch] = emulator.batches.values()  # type: ignore[attr-defined]
        assert f"asked to cancel batch {batch['id']}" in cancelled.stderr
        assert "cancelled by the process running it" in cancelled.stderr
        assert writer.returncode == 0, err
        assert "cancelled: nothing new was sent; 6 units left pending" in err
        assert batch["status"] == "cancelled" and emulator.batches_created == 1
        assert sorted(emulator.billed) == paid_attempts(tmp_path)
        assert not list((tmp_path / ".octo" / "runs").glob("*/cancel-request"))
        assert " cancelled " in octoc("runs", cwd=tmp_path, env=env).stdout


def test_cancel_of_a_silent_writer_times_out_and_the_request_stays(tmp_path: Path) -> None:
    """A process that holds the run and does not answer: `octoc cancel` exits 5 after its
    timeout, naming the holder; the request stays for the writer to act on."""
    path = npc_pipeline(tmp_path, "openai")
    with serving("openai", seed=5, faults=Faults(polls_to_end=1000)) as emulator:
        env = environment("openai", emulator)
        octoc("run", path.name, "--once", cwd=tmp_path, env=env)
        [run] = (tmp_path / ".octo" / "runs").iterdir()
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import fcntl, os, sys\n"
                f"fd = os.open({str(run / 'lock')!r}, os.O_RDONLY)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\n"
                "print('held', flush=True)\n"
                "sys.stdin.readline()\n",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            result = octoc("cancel", path.name, "--timeout", "0.5", cwd=tmp_path, env=env, check=False)
        finally:
            holder.kill()
            holder.wait()
        assert result.returncode == 5 and "has not answered in 0.5 s" in result.stderr
        assert (run / "cancel-request").exists()
        [batch] = emulator.batches.values()  # type: ignore[attr-defined]
        assert batch["status"] != "cancelling"  # nobody acted yet
        taken = octoc("run", path.name, "--poll", "0.01", cwd=tmp_path, env=env)  # the next writer acts on it
        assert "cancelled: nothing new was sent" in taken.stderr
        assert batch["status"] == "cancelled" and emulator.batches_created == 1
        assert not (run / "cancel-request").exists()
