"""A fault storm in one run: 10% of requests errored, 5% expired, 2% malformed answers,
bursts of 429s, a 30-second outage of the whole service and then a restart of it. Every unit ends done or
failed with its reason, every billed request is in the run state, and the status says
what was retried."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from tests.conftest import octoc
from tests.emulators.base import Faults
from tests.providers_e2e import environment, npc_pipeline, paid_attempts, serving, state

OUTAGE_SECONDS = 30.0


def test_a_fault_storm_loses_nothing(tmp_path: Path) -> None:
    path = npc_pipeline(tmp_path, "openai", units=200)
    faults = Faults(error_rate=0.10, expired_rate=0.05, malformed_rate=0.02, polls_to_end=2, retry_after=0.02)
    with serving("openai", seed=13, faults=faults) as emulator:
        env = environment("openai", emulator)
        stop = threading.Event()
        outage_started: list[float] = []

        restarted: list[float] = []

        def weather() -> None:
            """429 bursts every half second; the outage once the first batches are in flight;
            a restart of the service (every connection dropped) a second after it ends."""
            while not stop.wait(0.5):
                with emulator.lock:
                    faults.storm = 12
                    if not outage_started and emulator.batches_created >= 2:
                        faults.outage_until = time.monotonic() + OUTAGE_SECONDS
                        outage_started.append(time.monotonic())
                if outage_started and not restarted and time.monotonic() > faults.outage_until + 1:
                    emulator.restart()
                    restarted.append(time.monotonic())

        storm = threading.Thread(target=weather, daemon=True)
        storm.start()
        try:
            run = octoc("run", path.name, "--poll", "0.05", cwd=tmp_path, env=env, timeout=400)
        finally:
            stop.set()
            storm.join()
        status = json.loads(octoc("status", path.name, "--json", cwd=tmp_path, env=env).stdout)
        billed = sorted(emulator.billed)
        calls = list(emulator.log)
    assert outage_started, "the outage never happened"
    assert restarted, "the run ended before the service restarted"
    assert sum(1 for _, _, code in calls if code == 429) > 10
    assert sum(1 for _, _, code in calls if code == 503) > 10
    assert "trying again on the next tick" in run.stdout + run.stderr
    units = status["units"]
    assert units["total"] == 200 and units["pending"] == 0
    assert units["done"] + units["failed"] + units["skipped"] == 200
    db = state(tmp_path)
    try:
        reasons = db.execute("SELECT reason FROM units WHERE status = 'failed'").fetchall()
        errored = db.execute("SELECT COUNT(*) FROM attempts WHERE status = 'error' AND step = 'line'").fetchone()[0]
        expired = db.execute("SELECT COUNT(*) FROM attempts WHERE problems LIKE '%expired%'").fetchone()[0]
    finally:
        db.close()
    assert all(reason and reason[0] for reason in reasons), "a failed unit without its reason"
    assert errored > 0 and expired > 0
    assert billed == paid_attempts(tmp_path), "a billed answer is missing from the run state, or was paid twice"
    line = next(s for s in status["steps"] if s["name"] == "line")
    retried = line["retried"]  # the status says what was retried, and why
    assert retried["provider_error"] > 0 and retried["expired"] > 0 and retried["invalid"] > 0
    assert retried["provider_error"] + retried["expired"] + retried["cancelled"] == errored
    assert line["retries"] >= errored // 2
