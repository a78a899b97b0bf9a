"""Bad inputs fail only what they touch, say where, and lose nothing."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import octoc

FAULTY = """pipeline faulty
seed 3
units u {{ trials 12 }}

step s = compute {{
  output {{ v: int }}
  timeout 300ms
  code \"\"\"
    x = unit.trial
    if x == 4:
        while True:
            pass
    if x % 5 == 0:
        return {{"v": 1 // (x - x)}}
    if x == 7:
        word = "seven"  # a value octoc check cannot see: the runtime refuses it
        return {{"v": word}}
    return {{"v": x}}
  \"\"\"
}}
report r {{
  n = count()
  total = sum(s.v)
}}
"""


def failures(folder: Path) -> dict[str, str]:
    [run] = (folder / ".octo" / "runs").iterdir()
    db = sqlite3.connect(run / "state.sqlite")
    try:
        return dict(db.execute("SELECT id, reason FROM units WHERE status = 'failed'").fetchall())
    finally:
        db.close()


def assert_same_as_an_untouched_run(folder: Path) -> None:
    reference = folder / "reference"
    reference.mkdir()
    shutil.copy(folder / "f.octo", reference / "f.octo")
    octoc("run", "f.octo", cwd=reference)
    expected = octoc("report", "f.octo", "--json", cwd=reference).stdout
    assert octoc("report", "f.octo", "--json", cwd=folder).stdout == expected


def test_a_failing_unit_fails_alone_and_says_where(tmp_path: Path) -> None:
    (tmp_path / "f.octo").write_text(FAULTY.format())
    octoc("run", "f.octo", cwd=tmp_path)
    failed = failures(tmp_path)
    assert set(failed) == {"trial=4", "trial=5", "trial=7", "trial=10"}
    assert "ran longer than 0.3 s" in failed["trial=4"]
    path = str(tmp_path / "f.octo")
    assert failed["trial=5"] == f"{path}:14: ZeroDivisionError: integer division or modulo by zero"
    assert "`v`: 'seven' is not of type 'integer'" in failed["trial=7"]
    report = json.loads(octoc("report", "f.octo", "--json", cwd=tmp_path).stdout)
    group = report["reports"][0]["groups"][0]
    assert (group["done"], group["failed"]) == (8, 4)
    assert group["statistics"]["total"]["value"] == 1 + 2 + 3 + 6 + 8 + 9 + 11 + 12


@pytest.mark.parametrize(("data", "message"), [(None, "E0201"), ('name,age\n"ann,3\n', "E0202")])
def test_bad_data_is_a_diagnostic_before_any_work(tmp_path: Path, data: str | None, message: str) -> None:
    if data is not None:
        (tmp_path / "people.csv").write_text(data)
    (tmp_path / "p.octo").write_text(
        'pipeline p\nunits u from "people.csv"\nstep s = compute {\n  output { ok: bool }\n'
        "  code \"return {'ok': True}\"\n}\nreport r { n = count() }\n"
    )
    result = octoc("run", "p.octo", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / ".octo").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files: the check needs a normal user")
def test_a_read_only_run_folder_is_reported_and_nothing_is_lost(tmp_path: Path) -> None:
    _read_only_round_trip(tmp_path)


def _read_only_round_trip(tmp_path: Path) -> None:
    (tmp_path / "f.octo").write_text(FAULTY.format())
    octoc("run", "f.octo", "--max-units", "3", cwd=tmp_path)
    [run] = (tmp_path / ".octo" / "runs").iterdir()
    modes = {p: p.stat().st_mode for p in [run, *run.iterdir()]}
    for p in modes:
        p.chmod(stat.S_IREAD | (stat.S_IEXEC if p.is_dir() else 0))
    try:
        result = octoc("run", "f.octo", cwd=tmp_path, check=False)
    finally:
        for p, mode in modes.items():
            p.chmod(mode)
    assert result.returncode == 6 and "Traceback" not in result.stderr
    assert "read-only" in result.stderr or "cannot" in result.stderr
    octoc("run", "f.octo", cwd=tmp_path)
    assert_same_as_an_untouched_run(tmp_path)


@pytest.mark.parametrize(
    ("error", "said"),
    [("database or disk is full", "the disk is full"), ("attempt to write a readonly database", "read-only")],
)
def test_a_write_failure_mid_run_is_reported_and_the_run_resumes(tmp_path: Path, error: str, said: str) -> None:
    """The disk fills up or the folder turns read-only (simulated: SQLite's own error from
    the store's 5th transaction; the real read-only case runs above for non-root users):
    one clean line, exit 6, and the next run finishes with the untouched run's results."""
    (tmp_path / "f.octo").write_text(FAULTY.format())
    (tmp_path / "full_disk.py").write_text(
        "import sqlite3, sys\n"
        "from octolang.runtime import store\n"
        "original = store.RunStore.transaction\n"
        "calls = [0]\n"
        "def failing(self, **options):\n"
        "    calls[0] += 1\n"
        "    if calls[0] == 5:\n"
        f"        raise store._error(sqlite3.OperationalError({error!r}), self.path)\n"
        "    return original(self, **options)\n"
        "store.RunStore.transaction = failing\n"
        "from octolang.cli import main\n"
        "sys.argv = ['octoc', 'run', 'f.octo']\n"
        "main()\n"
    )
    crashed = subprocess.run(
        [sys.executable, "full_disk.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert crashed.returncode == 6, crashed.stderr  # the state cannot be written
    assert said in crashed.stderr and "Traceback" not in crashed.stderr
    octoc("run", "f.octo", cwd=tmp_path)
    assert_same_as_an_untouched_run(tmp_path)


def test_a_changed_pipeline_is_not_resumed_but_run_anew(tmp_path: Path) -> None:
    (tmp_path / "f.octo").write_text(FAULTY.format())
    octoc("run", "f.octo", "--max-units", "2", cwd=tmp_path)
    (tmp_path / "f.octo").write_text(FAULTY.format() + "# a comment changes nothing\n")
    octoc("run", "f.octo", "--max-units", "3", cwd=tmp_path)
    (tmp_path / "f.octo").write_text(
        FAULTY.format()
        .replace('return {{"v": x}}', 'return {{"v": x + 1}}')
        .replace('return {"v": x}', 'return {"v": x + 1}')
    )
    changed = octoc("run", "f.octo", cwd=tmp_path, check=False)  # a new run, which runs the changed step
    assert "reusing run" in changed.stderr and "run s for" in changed.stderr and "started run" in changed.stderr
    runs = octoc("runs", "f.octo", cwd=tmp_path).stdout
    assert len([line for line in runs.splitlines() if line.startswith("faulty")]) == 2, runs
    octoc("run", "f.octo", "--fresh", cwd=tmp_path)
