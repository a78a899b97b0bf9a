"""Compute steps through the Ray and Dask executors give the report the local processes
give, byte for byte, however many workers and however the units are batched, and after a
worker is killed in the middle of a step (the engine runs its batch again; each unit is
committed once). Real engines: a Ray instance and a `distributed.LocalCluster` started by
`octoc run` itself, and a Dask scheduler started here that `--scheduler` points at. Outside
CI a machine without Ray or Dask skips these; `.ci/run` installs both (the `scale` extra) and
sets OCTO_CI, so there they fail when missing."""

from __future__ import annotations

import importlib.util
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import octoc

HAS_RAY = importlib.util.find_spec("ray") is not None
HAS_DASK = importlib.util.find_spec("distributed") is not None
needs_ray = pytest.mark.skipif(
    not HAS_RAY and not os.environ.get("OCTO_CI"), reason="Ray is not installed (pip install 'octolang[scale]')"
)
needs_dask = pytest.mark.skipif(
    not HAS_DASK and not os.environ.get("OCTO_CI"),
    reason="dask.distributed is not installed (pip install 'octolang[scale]')",
)


def pipeline(trials: int, work: int = 0) -> str:
    """Two random compute steps, the second continuing each unit's stream after the first
    (so saved rng states travel to the workers too) and reading the first's output."""
    return f'''pipeline engines "two random steps through an executor"
seed 7
const PIER = 10
const WORK = {work}
units sailors {{
  vary start in [2, 5, 8]
  trials {trials}
}}
step walk = compute {{
  output {{ outcome: "ship" | "water", steps: int[0..] }}
  code """
    pos = unit.start
    steps = 0
    while 0 < pos < PIER:
        pos += rng.choice([-1, 1])
        steps += 1
    return {{"outcome": "ship" if pos == PIER else "water", "steps": steps}}
  """
}}
step rest = compute {{
  output {{ nap: float, tired: bool }}
  code """
    spin = 0
    for i in range(WORK):
        spin += i % 7
    nap = rng.random() * walk.steps + spin * 0
    return {{"nap": nap, "tired": walk.steps > 20}}
  """
}}
report by_start {{
  group by unit.start
  p_ship = proportion(walk.outcome == "ship")
  mean_steps = mean(walk.steps)
  mean_nap = mean(rest.nap)
  tired = proportion(rest.tired)
}}
'''


def run_report(folder: Path, text: str, *options: str, env: dict[str, str] | None = None) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "p.octo").write_text(text)
    octoc("run", "p.octo", *options, cwd=folder, env=env)
    return octoc("report", "p.octo", "--json", cwd=folder).stdout


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> str:
    return run_report(tmp_path_factory.mktemp("local"), pipeline(400), "--workers", "1")


@needs_ray
@needs_dask
@pytest.mark.parametrize(
    "options",
    [
        ("--workers", "2"),
        ("--executor", "ray", "--workers", "2"),
        ("--executor", "ray", "--workers", "1"),
        ("--executor", "dask", "--workers", "2"),
        ("--executor", "dask", "--workers", "1"),
    ],
    ids=lambda o: "-".join(o[1::2]) if o[0] == "--executor" else "local-2",
)
def test_every_executor_gives_the_local_report_byte_for_byte(
    tmp_path: Path, reference: str, options: tuple[str, ...]
) -> None:
    assert run_report(tmp_path, pipeline(400), *options) == reference


@needs_ray
def test_the_file_chooses_the_executor_and_the_command_line_wins(tmp_path: Path, reference: str) -> None:
    text = pipeline(400).replace("seed 7\n", 'seed 7\nrun { executor = "dask", scheduler = "tcp://127.0.0.1:9" }\n')
    # The file's dask scheduler would not answer: `--executor ray` wins, and its address is not taken.
    assert run_report(tmp_path, text, "--executor", "ray", "--workers", "2") == reference


# ---------------------------------------------------------------- a worker killed mid-step
def _processes() -> dict[int, tuple[int, str]]:
    """Every process: its parent and its command line."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        found[int(entry)] = (parent, command)
    return found


def _descendants(root: int) -> dict[int, tuple[int, str]]:
    everything = _processes()
    out: dict[int, tuple[int, str]] = {}
    frontier = [root]
    while frontier:
        current = frontier.pop()
        for pid, (parent, command) in everything.items():
            if parent == current and pid not in out:
                out[pid] = (parent, command)
                frontier.append(pid)
    return out


def _results(folder: Path) -> int:
    states = list((folder / ".octo" / "runs").glob("*/state.sqlite"))
    if not states:
        return 0
    try:
        db = sqlite3.connect(f"file:{states[0]}?mode=ro", uri=True, timeout=5)
        try:
            return int(db.execute("SELECT COUNT(*) FROM results").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0


KILL_TRIALS = 200  # 600 units, two steps: 1,200 results


def _kill_mid_step(tmp_path: Path, options: tuple[str, ...], victim: str) -> tuple[str, int]:
    """Run with `options`, SIGKILL one of the run's engine workers (`victim`: "ray" or
    "dask") while the step runs; the report, and how many results were saved at the kill."""
    (tmp_path / "p.octo").write_text(pipeline(KILL_TRIALS, work=3000))
    process = subprocess.Popen(
        [sys.executable, "-m", "octolang", "run", "p.octo", *options],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    saved_at_kill = -1
    try:
        deadline = time.monotonic() + 120
        while saved_at_kill < 0 and process.poll() is None and time.monotonic() < deadline:
            family = _descendants(process.pid)
            if victim == "ray":  # a Ray worker running a batch (not the sandboxed process it forked)
                batches = {pid for pid, (_, command) in family.items() if command.startswith("ray::octolang-batch")}
                targets = [pid for pid in batches if family[pid][0] not in batches]
            else:  # a Dask worker process: spawned by the coordinator's nanny, once results come in
                targets = [
                    pid
                    for pid, (parent, command) in family.items()
                    if parent == process.pid and "spawn_main" in command and _results(tmp_path) > 0
                ]
            if targets:
                saved_at_kill = _results(tmp_path)
                os.kill(targets[0], signal.SIGKILL)
                break
            time.sleep(0.01)
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, f"exit {process.returncode}\n{out}\n{err}"
    return octoc("report", "p.octo", "--json", cwd=tmp_path).stdout, saved_at_kill


@pytest.fixture(scope="module")
def kill_reference(tmp_path_factory: pytest.TempPathFactory) -> str:
    return run_report(tmp_path_factory.mktemp("kill-local"), pipeline(KILL_TRIALS, work=3000), "--workers", "1")


@needs_ray
def test_a_ray_worker_killed_mid_step_changes_nothing(tmp_path: Path, kill_reference: str) -> None:
    report, saved = _kill_mid_step(tmp_path, ("--executor", "ray", "--workers", "2"), "ray")
    assert 0 <= saved < 2 * 3 * KILL_TRIALS, "no Ray worker was seen running a batch"
    assert report == kill_reference


@needs_dask
def test_a_dask_worker_killed_mid_step_changes_nothing(tmp_path: Path, kill_reference: str) -> None:
    report, saved = _kill_mid_step(tmp_path, ("--executor", "dask", "--workers", "2"), "dask")
    assert 0 < saved < 2 * 3 * KILL_TRIALS, "no Dask worker was killed while the step ran"
    assert report == kill_reference


# ---------------------------------------------------------------- an existing cluster
@pytest.fixture
def dask_cluster() -> Iterator[Any]:
    """A Dask scheduler (in this process) and two workers in their own processes."""
    import logging

    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    )
    try:
        yield cluster
    finally:
        cluster.close()


def _batches_run(cluster: Any) -> int:
    prefix = cluster.scheduler.task_prefixes.get("run_batch")
    return 0 if prefix is None else int(sum(prefix.state_counts.values()))


@needs_dask
def test_a_run_goes_to_an_existing_dask_scheduler(tmp_path: Path, reference: str, dask_cluster: Any) -> None:
    address = str(dask_cluster.scheduler_address)
    assert run_report(tmp_path, pipeline(400), "--executor", "dask", "--scheduler", address) == reference
    assert _batches_run(dask_cluster) > 0


@needs_dask
def test_the_files_run_block_sends_the_run_to_its_scheduler(tmp_path: Path, reference: str, dask_cluster: Any) -> None:
    block = f'run {{ executor = "dask", scheduler = "{dask_cluster.scheduler_address}" }}\n'
    assert run_report(tmp_path, pipeline(400).replace("seed 7\n", "seed 7\n" + block)) == reference
    assert _batches_run(dask_cluster) > 0


# ---------------------------------------------------------------- options
def test_an_address_is_for_ray_and_a_scheduler_for_dask(tmp_path: Path) -> None:
    (tmp_path / "p.octo").write_text(pipeline(2))
    result = octoc("run", "p.octo", "--address", "auto", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "--address is for --executor ray (this run's executor is local)" in result.stderr
    result = octoc("run", "p.octo", "--executor", "ray", "--scheduler", "tcp://127.0.0.1:1", cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "--scheduler is for --executor dask (this run's executor is ray)" in result.stderr
    assert not (tmp_path / ".octo").exists()


# ---------------------------------------------------------------- SIGTERM to the coordinator
@needs_ray
@needs_dask
@pytest.mark.parametrize("executor", ["ray", "dask"])
def test_sigterm_mid_step_saves_the_run_and_another_executor_finishes_it(
    tmp_path: Path, kill_reference: str, executor: str
) -> None:
    (tmp_path / "p.octo").write_text(pipeline(KILL_TRIALS, work=3000))
    process = subprocess.Popen(
        [sys.executable, "-m", "octolang", "run", "p.octo", "--executor", executor, "--workers", "2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _results(tmp_path) == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        saved = _results(tmp_path)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert 0 < saved < 2 * 3 * KILL_TRIALS, f"the run was not stopped mid-step ({saved} results)"
    assert process.returncode == 143, err
    assert "interrupted; the run is saved. Resume with `octoc run p.octo`." in err
    assert "Traceback" not in err, err
    octoc("run", "p.octo", "--executor", "local", cwd=tmp_path)  # resumed elsewhere: the same results
    assert octoc("report", "p.octo", "--json", cwd=tmp_path).stdout == kill_reference
