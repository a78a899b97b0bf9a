"""Run identity: a run is found from where its file is relative to the folder of runs, so a
moved or copied project resumes its run; `--run ID` opens any run; a run is never replaced
by a new one without `--fresh`; making a run killed at any instant leaves no junk run."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import octoc

SAILOR = Path(__file__).resolve().parents[1] / "examples" / "drunken_sailor.octo"


def run_ids(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / ".octo" / "runs").iterdir())


def unit_count(folder: Path, run: str) -> int:
    db = sqlite3.connect(folder / ".octo" / "runs" / run / "state.sqlite")
    try:
        return int(db.execute("SELECT COUNT(*) FROM units").fetchone()[0])
    finally:
        db.close()


def test_a_moved_project_folder_resumes_its_run(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "s.octo").write_text(SAILOR.read_text())
    octoc("run", "s.octo", "--max-units", "5", cwd=project)
    [run] = run_ids(project)
    moved = tmp_path / "elsewhere" / "renamed-project"
    moved.parent.mkdir()
    project.rename(moved)
    status = octoc("status", "s.octo", cwd=moved)
    assert f"run {run} of s.octo" in status.stdout and "units: 5 done" in status.stdout
    listed = octoc("runs", cwd=moved).stdout
    assert run in listed and str(moved / "s.octo") in listed  # where the file is now
    resumed = octoc("run", "s.octo", "--max-units", "9", cwd=moved)
    assert f"resuming run {run}" in resumed.stderr
    assert run_ids(moved) == [run] and unit_count(moved, run) == 9
    # a copy (another machine) finds the same run, and each copy goes on on its own
    copy = tmp_path / "copy"
    shutil.copytree(moved, copy)
    assert f"resuming run {run}" in octoc("run", "s.octo", "--max-units", "12", cwd=copy).stderr
    assert unit_count(copy, run) == 12 and unit_count(moved, run) == 9


def test_run_id_opens_a_chosen_run(tmp_path: Path) -> None:
    (tmp_path / "s.octo").write_text(SAILOR.read_text())
    octoc("run", "s.octo", "--max-units", "3", cwd=tmp_path)
    [first] = run_ids(tmp_path)
    octoc("run", "s.octo", "--max-units", "4", "--fresh", cwd=tmp_path)
    [second] = [r for r in run_ids(tmp_path) if r != first]
    assert f"run {second}" in octoc("status", "s.octo", cwd=tmp_path).stdout  # the latest by default
    resumed = octoc("run", "s.octo", "--run", first, "--max-units", "6", cwd=tmp_path)
    assert f"resuming run {first}" in resumed.stderr
    assert unit_count(tmp_path, first) == 6 and unit_count(tmp_path, second) == 4
    assert "units: 6 done" in octoc("status", "s.octo", "--run", first, cwd=tmp_path).stdout
    missing = octoc("run", "s.octo", "--run", "nosuch", cwd=tmp_path, check=False)
    assert missing.returncode == 1 and "no run `nosuch` of s.octo found" in missing.stderr
    assert sorted(run_ids(tmp_path)) == sorted([first, second])


def test_an_unfinished_run_is_not_replaced_by_a_new_one(tmp_path: Path) -> None:
    """The file is renamed while its run is unfinished: `octoc run` names the run and asks
    for `--run ID` or `--fresh`; `--run ID` adopts it, and from then on it is the file's."""
    (tmp_path / "old.octo").write_text(SAILOR.read_text())
    octoc("run", "old.octo", "--max-units", "5", "--once", cwd=tmp_path)
    [run] = run_ids(tmp_path)
    db = sqlite3.connect(tmp_path / ".octo" / "runs" / run / "state.sqlite")
    db.execute("UPDATE units SET status = 'pending' WHERE ordinal = 4")  # one unit left to do
    db.commit()
    db.close()
    (tmp_path / "old.octo").rename(tmp_path / "new.octo")
    refused = octoc("run", "new.octo", cwd=tmp_path, check=False)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"run {run} of pipeline `drunken_sailor` is unfinished" in refused.stderr
    assert f"--run {run}" in refused.stderr and "--fresh" in refused.stderr
    assert run_ids(tmp_path) == [run]  # nothing new was made
    assert f"resuming run {run}" in octoc("run", "new.octo", "--run", run, "--once", cwd=tmp_path).stderr
    assert f"resuming run {run}" in octoc("run", "new.octo", "--once", cwd=tmp_path).stderr


def test_max_units_then_a_plain_run_adds_the_rest(tmp_path: Path) -> None:
    text = SAILOR.read_text().replace("trials 2000", "trials 4")
    (tmp_path / "s.octo").write_text(text)
    octoc("run", "s.octo", "--max-units", "5", cwd=tmp_path)
    octoc("tick", "s.octo", cwd=tmp_path)
    [run] = run_ids(tmp_path)
    assert unit_count(tmp_path, run) == 5  # a tick goes on with the sample
    result = octoc("run", "s.octo", cwd=tmp_path)
    assert f"resuming run {run}" in result.stderr and "units: 12 done" in result.stderr
    assert unit_count(tmp_path, run) == 12


def test_a_kill_while_a_run_is_made_leaves_no_junk_run(tmp_path: Path) -> None:
    """kill -9 within a few ms of the folder of runs appearing (where making a run used to
    leave a run folder without metadata, listed as `1970-01-01 ... finished 0 0` for ever)."""
    seed = 20261129
    print(f"seed {seed}")
    chooser = random.Random(seed)
    (tmp_path / "s.octo").write_text(SAILOR.read_text())
    runs = tmp_path / ".octo" / "runs"
    for life in range(20):
        process = subprocess.Popen(
            [sys.executable, "-m", "octolang", "run", "s.octo", "--max-units", "3"],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while not runs.is_dir() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(chooser.uniform(0, 0.03 if life % 2 else 0.3))  # in the making, or just after
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        for folder in runs.iterdir():  # a hidden `.new-*` folder, or a whole run
            assert folder.name.startswith(".new-") or (folder / "state.sqlite").is_file(), (life, folder)
        listed = octoc("runs", "s.octo", cwd=tmp_path).stdout
        assert "1970-01-01" not in listed and "damaged" not in listed, (life, listed)
        if [p for p in runs.iterdir() if not p.name.startswith(".")]:
            shutil.rmtree(runs)  # made whole: start over, to kill the making again
    octoc("run", "s.octo", "--max-units", "3", cwd=tmp_path)
    assert len(run_ids(tmp_path)) == 1  # leftovers of killed makings are gone
