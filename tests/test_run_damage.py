"""Damaged state is an error, never a new run: a state file truncated, overwritten or
emptied, a read-only run folder, a state file deleted mid-run. Each gives its message and
exit 6; `octoc runs` lists the run as damaged; `--fresh` is the way to a new run."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import octoc

ROOT = Path(__file__).resolve().parents[1]
SAILOR = ROOT / "examples" / "drunken_sailor.octo"
MOCK = ROOT / "tests" / "pipelines" / "mock_pipeline.octo"


def one_run(folder: Path) -> Path:
    [run] = (folder / ".octo" / "runs").iterdir()
    return run


def damage(state: Path, how: str) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    data = state.read_bytes()
    if how == "truncated":
        state.write_bytes(data[: len(data) // 3])
    elif how == "overwritten":
        state.write_bytes(b"not a database, says the backup tool " * 200)
    else:
        state.write_bytes(b"")


@pytest.mark.parametrize("how", ["truncated", "overwritten", "emptied"])
def test_a_damaged_state_is_an_error_and_never_a_new_run(tmp_path: Path, how: str) -> None:
    (tmp_path / "s.octo").write_text(SAILOR.read_text())
    octoc("run", "s.octo", "--max-units", "2000", cwd=tmp_path)
    run = one_run(tmp_path)
    damage(run / "state.sqlite", how)
    for command in (["status"], ["report"], ["run"], ["inspect", "s.octo", "start=2/trial=1"]):
        args = [command[0], "s.octo", *command[2:]] if command[0] == "inspect" else [command[0], "s.octo"]
        result = octoc(*args, cwd=tmp_path, check=False)
        assert result.returncode == 6, (command, result.stderr)
        assert "Traceback" not in result.stderr and "damaged" in result.stderr, result.stderr
        assert run.name in result.stderr or str(run) in result.stderr
        assert "no run of" not in result.stderr
    assert one_run(tmp_path) == run  # no new run was started
    listed = octoc("runs", cwd=tmp_path).stdout
    assert run.name in listed and "damaged" in listed
    fresh = octoc("run", "s.octo", "--max-units", "3", "--fresh", cwd=tmp_path)
    assert "started run" in fresh.stderr
    assert len(list((tmp_path / ".octo" / "runs").iterdir())) == 2


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """The run folder and its files made read-only: by mode for a normal user; for root,
    who writes through modes, by the immutable attribute (skipped where it cannot be set)."""
    paths = [folder, *folder.iterdir()]
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in paths}
        for p in paths:
            p.chmod(stat.S_IREAD | (stat.S_IEXEC if p.is_dir() else 0))
        try:
            yield
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    if shutil.which("chattr") is None:
        pytest.skip("root, and no chattr to make a folder read-only")
    done = subprocess.run(["chattr", "+i", *map(str, paths)], capture_output=True)
    try:
        if done.returncode != 0:
            pytest.skip(f"root, and the file system refuses chattr +i: {done.stderr!r}")
        yield
    finally:
        subprocess.run(["chattr", "-i", *map(str, paths)], capture_output=True)


def test_a_read_only_run_folder_is_read_and_the_writer_says_why(tmp_path: Path) -> None:
    (tmp_path / "s.octo").write_text(SAILOR.read_text())
    octoc("run", "s.octo", "--max-units", "5", cwd=tmp_path)
    run = one_run(tmp_path)
    expected = octoc("report", "s.octo", "--json", cwd=tmp_path).stdout
    with read_only(run):
        assert octoc("report", "s.octo", "--json", cwd=tmp_path).stdout == expected
        assert "units: 5 done" in octoc("status", "s.octo", cwd=tmp_path).stdout
        assert "finished" in octoc("runs", cwd=tmp_path).stdout
        octoc("inspect", "s.octo", "start=2/trial=1", cwd=tmp_path)
        refused = octoc("run", "s.octo", "--max-units", "8", cwd=tmp_path, check=False)
        assert refused.returncode == 6 and "Traceback" not in refused.stderr, refused.stderr
        assert "read-only" in refused.stderr
    assert len(list((tmp_path / ".octo" / "runs").iterdir())) == 1
    assert "units: 8 done" in octoc("run", "s.octo", "--max-units", "8", cwd=tmp_path).stderr


def test_a_state_file_deleted_mid_run_stops_the_run(tmp_path: Path) -> None:
    shutil.copy(MOCK, tmp_path / "p.octo")
    process = subprocess.Popen(
        [sys.executable, "-m", "octolang", "run", "p.octo", "--poll", "0.2"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        runs = tmp_path / ".octo" / "runs"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not [p for p in runs.glob("*/state.sqlite")]:
            time.sleep(0.01)
        time.sleep(0.5)  # the run is going: units in, chunks sent
        state = one_run(tmp_path) / "state.sqlite"
        state.unlink()
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 6, err
    assert "disappeared while the run was going" in err and "Traceback" not in err
    assert "report" not in out  # no empty report
    again = octoc("run", "p.octo", "--poll", "0", cwd=tmp_path, check=False)
    assert again.returncode == 6 and "cannot be read" in again.stderr and "--fresh" in again.stderr
    assert len(list((tmp_path / ".octo" / "runs").iterdir())) == 1  # never a new run
    assert "damaged" in octoc("runs", cwd=tmp_path).stdout
