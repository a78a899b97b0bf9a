"""Runs kept in PostgreSQL (`--state`, OCTO_STATE) against a real server (tests/pg_server.py):
the same reports as SQLite byte for byte, the readers, a coordinator killed with `kill -9`
taken over after its lease expires with nothing paid twice, two coordinators on one run,
and a coordinator frozen past its lease that writes nothing more."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from starlette.testclient import TestClient

from octolang.runtime.runs import list_runs
from octolang.runtime.store import RunStore
from octolang.runtime.stores import open_reader
from octolang.view.app import create_app
from octolang.view.site import Site
from tests.conftest import octoc
from tests.emulators.base import Faults
from tests.providers_e2e import environment, npc_pipeline, serving

ROOT = Path(__file__).resolve().parents[1]
SEED = 7  # the emulator's
LEASE = 2.0  # seconds: OCTO_LEASE_SECONDS in these tests, so that a takeover comes quickly
KILL_LEASE = 6.0  # after a kill, the lease left (2/3 of it at least) outlasts the test's look at it


def faults(polls: int = 3) -> Faults:
    return Faults(malformed_rate=0.2, polls_to_end=polls)


def reference(folder: Path, units: int = 30) -> tuple[str, list[str]]:
    """The uninterrupted SQLite run: its report, and the requests the emulator billed."""
    folder.mkdir()
    path = npc_pipeline(folder, "openai", units=units)
    with serving("openai", seed=SEED, faults=faults()) as emulator:
        env = environment("openai", emulator)
        octoc("run", path.name, "--poll", "0.01", cwd=folder, env=env)
        return octoc("report", path.name, "--json", cwd=folder, env=env).stdout, sorted(emulator.billed)


def the_run(folder: Path, state: str) -> tuple[str, RunStore]:
    """The one run in the database: its id, and its state open to read."""
    [info] = list_runs(str(folder / ".octo" / "runs"), state=state)
    return info.id, open_reader(info.state_path)


def lease_holder(state: str) -> dict[str, object] | None:
    """The live holder of the one run's lease (as readers see it), or None."""
    found = list_runs("/nonexistent", state=state)
    if not found:
        return None
    held = found[0].meta.get("lease")
    store = open_reader(found[0].state_path)
    try:
        held = store.meta().get("lease")
    finally:
        store.close()
    return held if isinstance(held, dict) and float(held.get("expires_in", 0)) > 0 else None


def settled(client: TestClient, url: str) -> str:
    """The viewer's page once what it computes in a worker is there."""
    for _ in range(300):
        page = client.get(url)
        assert page.status_code == 200, page.text
        if 'class="computing"' not in page.text and "counting" not in page.text:
            return page.text
        time.sleep(0.1)
    raise AssertionError(f"{url} is still computing")


def untimed(text: str) -> str:
    return re.sub(r'"created(_at)?": \d+', '"created": 0', text)


def start(folder: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "octolang", "run", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_a_run_in_postgresql_reports_and_reads_as_in_sqlite(tmp_path: Path, pg_state: str) -> None:
    expected, billed = reference(tmp_path / "ref")
    sqlite_results = octoc("results", "npc_dialogue.octo", "--jsonl", cwd=tmp_path / "ref").stdout
    sqlite_status = json.loads(octoc("status", "npc_dialogue.octo", "--json", cwd=tmp_path / "ref").stdout)
    folder = tmp_path / "pg"
    folder.mkdir()
    path = npc_pipeline(folder, "openai", units=30)
    with serving("openai", seed=SEED, faults=faults()) as emulator:
        env = {**environment("openai", emulator), "OCTO_STATE": pg_state}
        octoc("run", path.name, "--poll", "0.01", cwd=folder, env=env)
        assert sorted(emulator.billed) == billed
        assert octoc("report", path.name, "--json", cwd=folder, env=env).stdout == expected
        assert octoc("results", path.name, "--jsonl", cwd=folder, env=env).stdout == sqlite_results
        status = json.loads(octoc("status", path.name, "--json", cwd=folder, env=env).stdout)
        assert {**status, "run": ""} == {**sqlite_status, "run": ""}
        # the flag says the same as the variable; and nothing of the run is in a SQLite file
        plain = {k: v for k, v in env.items() if k != "OCTO_STATE"}
        assert octoc("report", path.name, "--json", "--state", pg_state, cwd=folder, env=plain).stdout == expected
        assert not list(folder.glob(".octo/runs/*/state.sqlite"))
        run_id, store = the_run(folder, pg_state)
        store.close()
        story = octoc("inspect", path.name, "name=npc00003", cwd=folder, env=env).stdout
        told = octoc("inspect", path.name, "name=npc00003", cwd=tmp_path / "ref").stdout
        assert untimed(story) == untimed(told)  # the same story, but for the emulator's clock in its answers
        listed = octoc("runs", path.name, "--state", pg_state, cwd=folder, env=plain).stdout
        assert run_id in listed and "finished" in listed
    site = Site(str(folder / ".octo" / "runs"), None, state=pg_state)
    with TestClient(create_app(site)) as client:
        assert run_id in client.get("/").text
        page = client.get(f"/run/{run_id}")
        assert page.status_code == 200 and "npc_dialogue" in page.text
        assert "report quality" in settled(client, f"/run/{run_id}/reports")
        assert "name=npc00003" in settled(client, f"/run/{run_id}/units")
        search = client.get(f"/run/{run_id}/units", params={"q": "Wind"})
        assert search.status_code == 501 and "not available for runs kept in PostgreSQL" in search.text


def test_a_state_that_is_not_a_postgresql_url_is_refused(tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples" / "drunken_sailor.octo", tmp_path)
    refused = octoc("run", "drunken_sailor.octo", "--state", "mysql://x/y", cwd=tmp_path, check=False)
    assert refused.returncode == 2
    assert "`mysql://x/y` is not a PostgreSQL URL" in refused.stderr
    away = octoc(
        "status", "drunken_sailor.octo", "--state", "postgresql://octo@127.0.0.1:9/none", cwd=tmp_path, check=False
    )
    assert away.returncode == 6
    assert away.stderr.startswith("octoc: cannot reach the PostgreSQL state at postgresql://127.0.0.1:9/none")
    assert "Traceback" not in away.stderr


def test_kill_9_is_taken_over_after_the_lease_expires(tmp_path: Path, pg_state: str) -> None:
    """One coordinator ("machine A") killed with kill -9 after it created a batch; its lease
    stays live; a second `octoc run --run ID --wait` started at once takes the run over when
    A's lease expires (waiting for it when it starts before: a loaded machine may start it
    after), finishes it, and equals the uninterrupted SQLite run, with no request billed
    twice. That a live lease is never taken is held by the two-coordinator tests."""
    expected, billed = reference(tmp_path / "ref")
    folder = tmp_path / "pg"
    folder.mkdir()
    path = npc_pipeline(folder, "openai", units=30)
    chooser = random.Random(f"pg-kill-{SEED}")  # the moment of the kill, after a batch was created
    with serving("openai", seed=SEED, faults=faults()) as emulator:
        env = {**environment("openai", emulator), "OCTO_STATE": pg_state, "OCTO_LEASE_SECONDS": str(KILL_LEASE)}
        first = start(folder, env, path.name, "--poll", "0.01")
        deadline = time.monotonic() + 120
        while emulator.batches_created == 0 and first.poll() is None:
            assert time.monotonic() < deadline, "machine A created no batch in 120 s"
            time.sleep(0.005)
        time.sleep(chooser.uniform(0.0, 0.3))
        assert first.poll() is None, "machine A finished before it was killed"
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        # the dead coordinator's lease outlives it: nobody may take the run until it expires
        assert (lease_holder(pg_state) or {}).get("pid") == first.pid
        run_id, store = the_run(folder, pg_state)
        store.close()
        second = octoc("run", path.name, "--run", run_id, "--wait", "--poll", "0.01", cwd=folder, env=env)
        assert f"the last process that ran {run_id} (pid {first.pid} on host" in second.stderr
        assert octoc("report", path.name, "--json", cwd=folder, env=env).stdout == expected
        assert sorted(emulator.billed) == billed  # the same requests paid, none twice
        _, store = the_run(folder, pg_state)
        try:
            sent = store.query("SELECT COUNT(*) FROM chunks WHERE batch_id IS NOT NULL")[0][0]
        finally:
            store.close()
        assert emulator.batches_created == sent  # no chunk was ever created twice at the provider


def test_two_coordinators_one_holds_the_lease_the_other_names_it(tmp_path: Path, pg_state: str) -> None:
    expected, billed = reference(tmp_path / "ref", units=12)
    folder = tmp_path / "pg"
    folder.mkdir()
    path = npc_pipeline(folder, "openai", units=12)
    with serving("openai", seed=SEED, faults=faults()) as emulator:
        env = {**environment("openai", emulator), "OCTO_STATE": pg_state, "OCTO_LEASE_SECONDS": str(LEASE)}
        first = start(folder, env, path.name, "--poll", "0.3")  # slow polls: it holds the run for a while
        deadline = time.monotonic() + 120
        while lease_holder(pg_state) is None:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline, "the first coordinator took no lease in 120 s"
            time.sleep(0.05)
        second = octoc("run", path.name, "--poll", "0.01", cwd=folder, env=env, check=False)
        assert second.returncode == 5, second.stderr
        assert f"is being run by another octoc (pid {first.pid} on host " in second.stderr
        assert "its lease expires in" in second.stderr
        third = start(folder, env, path.name, "--wait", "--poll", "0.01")
        assert first.wait(timeout=240) == 0
        assert third.wait(timeout=240) == 0
        assert octoc("report", path.name, "--json", cwd=folder, env=env).stdout == expected
        assert sorted(emulator.billed) == billed


def test_a_coordinator_frozen_past_its_lease_writes_nothing_more(tmp_path: Path, pg_state: str) -> None:
    """A is stopped (SIGSTOP) mid-run past its lease; B takes the run over; when A wakes, its
    next write is refused (exit 6), and B's finished run equals an uninterrupted one."""
    text = (
        (ROOT / "examples" / "drunken_sailor.octo").read_text(encoding="utf-8").replace("trials 2000", "trials 10000")
    )
    for name in ("ref", "pg"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "sailor.octo").write_text(text, encoding="utf-8")
    octoc("run", "sailor.octo", "--workers", "1", cwd=tmp_path / "ref")
    expected = octoc("report", "sailor.octo", "--json", cwd=tmp_path / "ref").stdout
    folder = tmp_path / "pg"
    env = {**os.environ, "OCTO_STATE": pg_state, "OCTO_LEASE_SECONDS": str(LEASE)}
    first = start(folder, env, "sailor.octo", "--workers", "1")
    deadline = time.monotonic() + 120
    while True:  # A is under way: some units are done
        assert time.monotonic() < deadline and first.poll() is None, "A made no progress"
        if list_runs(str(folder / ".octo" / "runs"), state=pg_state):
            _, store = the_run(folder, pg_state)
            try:
                if store.query("SELECT COUNT(*) FROM units WHERE status = 'done'")[0][0]:
                    break
            finally:
                store.close()
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGSTOP)
    try:
        second = start(folder, env, "sailor.octo", "--wait", "--workers", "1")
        deadline = time.monotonic() + LEASE * 10
        while (lease_holder(pg_state) or {}).get("pid") != second.pid and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(first.pid, signal.SIGCONT)
    assert second.wait(timeout=300) == 0, second.stderr.read() if second.stderr else ""
    assert first.wait(timeout=120) == 6
    assert "was taken over by another octoc" in (first.stderr.read() if first.stderr else "")
    assert octoc("report", "sailor.octo", "--json", cwd=folder, env=env).stdout == expected


def test_cancel_reaches_the_coordinator_through_the_database(tmp_path: Path, pg_state: str) -> None:
    """`octoc cancel --state` while another process holds the run's lease: the request goes
    through the lease row, the holder cancels its batch and stops; the run reads cancelled."""
    path = npc_pipeline(tmp_path, "openai")
    with serving("openai", seed=5, faults=Faults(polls_to_end=1000)) as emulator:
        env = {**environment("openai", emulator), "OCTO_STATE": pg_state}
        writer = start(tmp_path, env, path.name, "--poll", "0.5")
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
        assert "cancelled by the process running it" in cancelled.stderr
        assert writer.returncode == 0, err
        assert "cancelled: nothing new was sent; 6 units left pending" in err
        [batch] = emulator.batches.values()  # type: ignore[attr-defined]
        assert batch["status"] == "cancelled" and emulator.batches_created == 1
        assert " cancelled " in octoc("runs", cwd=tmp_path, env=env).stdout


def test_two_coordinators_started_at_once_make_one_run(tmp_path: Path, pg_state: str) -> None:
    """Two `octoc run` at the same instant on a file with no run in the database: one run is
    made (runs are found or made under an advisory lock), one process writes it, the other
    names it and exits 5 (or, if it came after the end, finds nothing left to do)."""
    for name in ("ref", "pg"):
        (tmp_path / name).mkdir()
        shutil.copy(ROOT / "examples" / "drunken_sailor.octo", tmp_path / name)
    octoc("run", "drunken_sailor.octo", "--workers", "1", cwd=tmp_path / "ref")
    expected = octoc("report", "drunken_sailor.octo", "--json", cwd=tmp_path / "ref").stdout
    folder = tmp_path / "pg"
    env = {**os.environ, "OCTO_STATE": pg_state}
    both = [start(folder, env, "drunken_sailor.octo", "--workers", "1") for _ in range(2)]
    codes = sorted(p.wait(timeout=300) for p in both)
    said = [p.stderr.read() if p.stderr else "" for p in both]
    assert codes in ([0, 5], [0, 0]), said
    if codes == [0, 5]:
        assert any("is being run by another octoc (pid " in text for text in said)
    assert len(list_runs(str(folder / ".octo" / "runs"), state=pg_state)) == 1
    assert octoc("report", "drunken_sailor.octo", "--json", cwd=folder, env=env).stdout == expected
