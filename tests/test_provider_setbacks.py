"""Setbacks that are no one's account: a chunk too large is split and sent again (the bill
is that of a run that never met the limit); a 5xx that never heals (a proxy's bug) pauses
the run after a bounded number of tries instead of looping, at batch creation, on
realtime calls and inside a batch's results; expiry is never counted toward a unit."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import octoc
from tests.emulators.base import Faults
from tests.providers_e2e import environment, npc_pipeline, serving, state

LIMIT = 4_000  # bytes per batch: 20 requests of about 650 bytes need three halvings
TRIES = 8  # octolang.runtime.pause.PERSISTENT_TRIES


def clean_bill(folder: Path, provider: str, units: int, mode: str = "batch") -> list[str]:
    folder.mkdir()
    path = npc_pipeline(folder, provider, units=units, mode=mode)
    with serving(provider, seed=3) as emulator:
        octoc("run", path.name, "--poll", "0.01", cwd=folder, env=environment(provider, emulator), timeout=120)
        return sorted(emulator.billed)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_a_chunk_too_large_is_split_and_sent_again_not_resent_unchanged(tmp_path: Path, provider: str) -> None:
    expected = clean_bill(tmp_path / "clean", provider, 20)
    folder = tmp_path / "small"
    folder.mkdir()
    path = npc_pipeline(folder, provider, units=20)
    with serving(provider, seed=3) as emulator:
        attribute = {"openai": "max_file_bytes", "anthropic": "max_batch_bytes", "gemini": "max_inline_bytes"}
        setattr(emulator, attribute[provider], LIMIT)
        run = octoc("run", path.name, "--poll", "0.01", cwd=folder, env=environment(provider, emulator), timeout=120)
        refused = [c for c in emulator.log if c[2] in (400, 413)]
        billed = sorted(emulator.billed)
    assert "found it too large" in run.stderr and "sent again in two halves" in run.stderr
    # per model (two here): the first chunk, then its two halves; later chunks are cut to fit
    assert 2 <= len(refused) <= 6, refused
    assert billed == expected, "a request was billed twice, or one is missing"
    db = state(folder)
    try:
        split = db.execute("SELECT COUNT(*) FROM chunks WHERE status = 'split'").fetchone()[0]
        refusals = db.execute("SELECT COUNT(*) FROM attempts WHERE problems LIKE '%refused the batch%'").fetchone()[0]
    finally:
        db.close()
    assert split >= 1 and refusals == 0


def test_a_single_request_too_large_is_its_own_fault(tmp_path: Path) -> None:
    path = npc_pipeline(tmp_path, "anthropic", units=2)
    with serving("anthropic", seed=3) as emulator:
        emulator.max_batch_bytes = 100  # no request fits
        env = {**environment("anthropic", emulator), "OCTO_PERSISTENT_SECONDS": "0"}
        run = octoc("run", path.name, "--poll", "0.01", cwd=tmp_path, env=env, timeout=120)
    assert run.returncode == 0
    status = json.loads(octoc("status", path.name, "--json", cwd=tmp_path, env=env).stdout)
    assert status["units"]["failed"] == 2
    db = state(tmp_path)
    try:
        reasons = [r for (r,) in db.execute("SELECT reason FROM units")]
    finally:
        db.close()
    assert all("the provider failed 5 times" in r and "413" in r for r in reasons), reasons


@pytest.mark.parametrize(
    ("mode", "broken", "most_calls"),
    [
        ("batch", "POST /v1/batches", TRIES),  # a create is never retried within the call after a 5xx
        ("realtime", "POST /v1/chat/completions", TRIES * 8 * 7),  # ticks x in flight x the call's tries
    ],
)
def test_a_5xx_that_never_heals_pauses_the_run_instead_of_looping(
    tmp_path: Path, mode: str, broken: str, most_calls: int
) -> None:
    expected = clean_bill(tmp_path / "clean", "openai", 6, mode)
    folder = tmp_path / "broken"
    folder.mkdir()
    path = npc_pipeline(folder, "openai", units=6, mode=mode)
    faults = Faults(broken=broken)
    with serving("openai", seed=3, faults=faults) as emulator:
        env = {**environment("openai", emulator), "OCTO_PERSISTENT_SECONDS": "0"}
        paused = octoc("run", path.name, "--poll", "0.01", cwd=folder, env=env, check=False, timeout=300)
        failing = [c for c in emulator.log if c[2] == 500]
        assert paused.returncode == 4, paused.stderr
        assert f"paused: openai kept failing: {TRIES} tries" in paused.stderr
        assert "answered 500" in paused.stderr and "Traceback" not in paused.stderr
        assert TRIES <= len(failing) <= most_calls
        assert emulator.billed == []
        status = json.loads(octoc("status", path.name, "--json", cwd=folder, env=env).stdout)
        assert status["units"]["failed"] == 0 and status["paused"]["cause"].startswith("openai kept failing")
        faults.broken = None  # the proxy is fixed
        octoc("run", path.name, "--poll", "0.01", cwd=folder, env=env, timeout=120)
        assert sorted(emulator.billed) == expected


def test_a_5xx_inside_the_results_is_never_counted_and_a_persistent_one_pauses(tmp_path: Path) -> None:
    path = npc_pipeline(tmp_path, "openai", units=2)
    with serving("openai", seed=3, faults=Faults(error_rate=1.0)) as emulator:
        env = {**environment("openai", emulator), "OCTO_PERSISTENT_SECONDS": "0"}
        paused = octoc("run", path.name, "--poll", "0.01", cwd=tmp_path, env=env, check=False, timeout=300)
    assert paused.returncode == 4, paused.stderr
    assert f"paused: openai failed the same request {TRIES} times" in paused.stderr
    status = json.loads(octoc("status", path.name, "--json", cwd=tmp_path, env=env).stdout)
    assert status["units"]["failed"] == 0 and status["units"]["pending"] == 2  # 8 errors, more than 5: not counted


def test_expiry_never_counts_toward_a_unit(tmp_path: Path) -> None:
    # seed 4: with half the requests expiring, one unit's first six requests for `line` all
    # expire (more than the 5 provider failures that fail a unit), then one is answered
    path = npc_pipeline(tmp_path, "openai", units=20)
    with serving("openai", seed=4, faults=Faults(expired_rate=0.5)) as emulator:
        env = environment("openai", emulator)
        octoc("run", path.name, "--poll", "0.01", cwd=tmp_path, env=env, timeout=300)
    db: sqlite3.Connection = state(tmp_path)
    try:
        most = db.execute(
            "SELECT MAX(n) FROM (SELECT COUNT(*) AS n FROM attempts WHERE step = 'line' AND status = 'error' "
            "AND problems LIKE '%expired%' GROUP BY unit_id)"
        ).fetchone()[0]
        failed = db.execute("SELECT COUNT(*) FROM units WHERE reason LIKE '%provider failed%'").fetchone()[0]
        pending = db.execute("SELECT COUNT(*) FROM units WHERE status = 'pending'").fetchone()[0]
    finally:
        db.close()
    assert most >= 6 and failed == 0 and pending == 0
