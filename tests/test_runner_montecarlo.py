"""The drunken sailor, run for real: statistically right, and reproducible to the byte
across re-runs, worker counts and kill -9 + resume."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from octolang.stats import chi_square_gof
from tests.conftest import octoc

ROOT = Path(__file__).resolve().parents[1]
SAILOR = ROOT / "examples" / "drunken_sailor.octo"


def sailor_copy(tmp_path: Path, seed: int, trials: int = 2000) -> Path:
    text = SAILOR.read_text()
    text = re.sub(r"^seed \d+", f"seed {seed}", text, flags=re.MULTILINE)
    text = re.sub(r"trials \d+", f"trials {trials}", text)
    path = tmp_path / "sailor.octo"
    path.write_text(text)
    return path


def report_json(path: Path, *extra: str) -> dict[str, object]:
    result = octoc("report", path.name, "--json", *extra, cwd=path.parent)
    return json.loads(result.stdout)


@pytest.mark.parametrize("seed", [1, 42, 2026])
def test_reach_probability_is_k_over_n(tmp_path: Path, seed: int) -> None:
    path = sailor_copy(tmp_path, seed)
    octoc("run", path.name, "--fresh", cwd=tmp_path)
    data = report_json(path)
    groups = data["reports"][0]["groups"]  # type: ignore[index]
    assert [g["key"]["unit.start"] for g in groups] == [2, 5, 8]
    for group in groups:
        k = group["key"]["unit.start"]
        p = group["statistics"]["p_ship"]
        assert group["done"] == 2000 and group["failed"] == 0
        assert p["low"] <= k / 10 <= p["high"], (seed, k, p)
        ships = round(p["value"] * p["n"])
        _, _, p_value = chi_square_gof([ships, p["n"] - ships], [k / 10, 1 - k / 10])
        assert p_value > 0.001, (seed, k, ships)


def test_same_seed_same_bytes_across_runs_and_workers(tmp_path: Path) -> None:
    path = sailor_copy(tmp_path, 42, trials=1000)
    octoc("run", path.name, "--fresh", "--workers", "1", cwd=tmp_path)
    one = octoc("report", path.name, "--json", cwd=tmp_path).stdout
    octoc("run", path.name, "--fresh", "--workers", "2", cwd=tmp_path)
    two = octoc("report", path.name, "--json", cwd=tmp_path).stdout
    octoc("run", path.name, "--fresh", cwd=tmp_path)
    again = octoc("report", path.name, "--json", cwd=tmp_path).stdout
    assert one == two == again
    other = sailor_copy(tmp_path, 43, trials=1000)
    octoc("run", other.name, "--fresh", cwd=tmp_path)
    assert octoc("report", other.name, "--json", cwd=tmp_path).stdout != one


def test_killed_and_resumed_gives_the_same_bytes(tmp_path: Path) -> None:
    reference_dir = tmp_path / "reference"
    killed_dir = tmp_path / "killed"
    reference_dir.mkdir()
    killed_dir.mkdir()
    reference = sailor_copy(reference_dir, 7, trials=1500)
    octoc("run", reference.name, cwd=reference_dir)
    expected = octoc("report", reference.name, "--json", cwd=reference_dir).stdout
    path = killed_dir / "sailor.octo"
    shutil.copy(reference, path)
    delays = [0.05, 0.2, 0.4, 0.6, 0.9]
    for delay in delays:
        process = subprocess.Popen(
            [sys.executable, "-m", "octolang", "run", path.name],
            cwd=killed_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    octoc("run", path.name, cwd=killed_dir)
    assert octoc("report", path.name, "--json", cwd=killed_dir).stdout == expected
