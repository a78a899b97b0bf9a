"""kill -9 with batches in flight at a provider: the run resumed against the same
emulator gives the uninterrupted run's report, the emulator billed exactly the requests
it billed for the uninterrupted run, and it created one batch per chunk the run recorded."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import octoc
from tests.emulators.base import Faults
from tests.providers_e2e import chunks_sent, environment, npc_pipeline, serving

KILLS = 5
PROVIDERS = ["openai", "anthropic", "gemini"]


def faults() -> Faults:
    return Faults(malformed_rate=0.2, polls_to_end=3)


def reference(folder: Path, provider: str) -> tuple[str, int, list[str]]:
    """The uninterrupted run: its report, batches created, requests billed."""
    path = npc_pipeline(folder, provider, units=30)
    with serving(provider, seed=7, faults=faults()) as emulator:
        env = environment(provider, emulator)
        octoc("run", path.name, "--poll", "0.01", cwd=folder, env=env)
        report = octoc("report", path.name, "--json", cwd=folder, env=env).stdout
        return report, emulator.batches_created, sorted(emulator.billed)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_kill_9_with_batches_in_flight(tmp_path: Path, provider: str) -> None:
    (tmp_path / "ref").mkdir()
    (tmp_path / "killed").mkdir()
    expected, created, billed = reference(tmp_path / "ref", provider)
    folder = tmp_path / "killed"
    path = npc_pipeline(folder, provider, units=30)
    chooser = random.Random(f"kill-{provider}")
    with serving(provider, seed=7, faults=faults()) as emulator:
        env = environment(provider, emulator)
        kills = 0
        while kills < KILLS:
            process = subprocess.Popen(
                [sys.executable, "-m", "octolang", "run", path.name, "--poll", "0.01"],
                cwd=folder,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            # Each life is killed a random moment after it created a batch, whatever the load on
            # the machine (a fixed delay let a fast life finish the run before the first kill).
            created_before = emulator.batches_created
            deadline = time.monotonic() + 120
            while emulator.batches_created == created_before and process.poll() is None:
                assert time.monotonic() < deadline, "a life created no batch in 120 s"
                time.sleep(0.005)
            time.sleep(chooser.uniform(0.0, 0.5))
            if process.poll() is not None:
                break
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            kills += 1
        for point in ("after-submit", "mid-ingest"):
            crashed = subprocess.run(
                [sys.executable, "-m", "octolang", "run", path.name, "--poll", "0.01"],
                cwd=folder,
                env={**env, "OCTO_CRASH_AT": point},
                capture_output=True,
                timeout=240,
            )
            assert crashed.returncode in (-signal.SIGKILL, 0)
        octoc("run", path.name, "--poll", "0.01", cwd=folder, env=env)
        assert octoc("report", path.name, "--json", cwd=folder, env=env).stdout == expected
        assert sorted(emulator.billed) == billed  # the same requests paid, none twice
        # one batch per chunk the run recorded: no chunk was ever created twice at the provider
        assert emulator.batches_created == chunks_sent(folder)
        # Kills change how retries are grouped into chunks (a life may ingest one batch and die
        # before polling the next), so the count of batches may differ from the reference; the
        # requests in them may not.
        assert created == chunks_sent(tmp_path / "ref")
    assert kills >= 1, "the run finished before the first kill"
