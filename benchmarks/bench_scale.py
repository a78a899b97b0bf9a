"""Compute steps through the executors: the drunken sailor at 600,000 units through
`local`, `ray` and `dask` on this machine's cores.

    python benchmarks/bench_scale.py [--units 600000] [--workers 2] [--million]

Each engine's `octoc run` is its own process (the coordinator), measured with `os.wait4`:
wall time, and peak RSS, which for a reaped process covers it and the descendants it
reaped (an engine's local instance among them), so the coordinator's own high-water mark
(`VmHWM`, read from /proc while it runs) is shown too. The `octoc report --json` of every
engine must be byte-identical to local's. `--million` adds 1,000,000 units through Ray.

Targets (issue 15): each engine's wall time <= 1.5x local's on the same cores; the
coordinator under 1 GB at 1,000,000 units.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "drunken_sailor.octo"
STARTS = 3  # `vary start in [2, 5, 8]`


@dataclass
class Measure:
    wall: float
    rss_mb: float  # the process and the descendants it reaped (os.wait4)
    hwm_mb: float  # the coordinator's own peak, from /proc/PID/status while it ran


def _hwm(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def measure(command: list[str], cwd: str) -> Measure:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        peak = [0.0]
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.2):
                peak[0] = max(peak[0], _hwm(process.pid))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        watcher.join()
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            output.seek(0)
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output.read().decode()}")
    return Measure(wall, usage.ru_maxrss / 1024, peak[0])


def pipeline(units: int) -> str:
    scaled, count = re.subn(r"trials \d+", f"trials {units // STARTS}", EXAMPLE.read_text())
    assert count == 1, "the example's `trials` line moved"
    return scaled


def run_engine(units: int, executor: str, workers: int) -> tuple[Measure, str]:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "sailor.octo").write_text(pipeline(units))
        command = [sys.executable, "-m", "octolang", "run", "sailor.octo", "--workers", str(workers)]
        measured = measure([*command, "--executor", executor], folder)
        report = subprocess.run(
            [sys.executable, "-m", "octolang", "report", "sailor.octo", "--json"],
            cwd=folder,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return measured, report


def show(units: int, executor: str, measured: Measure, local: Measure | None, same: bool | None) -> None:
    ratio = f"{measured.wall / local.wall:5.2f}x local" if local else "     (base)"
    identical = "" if same is None else ("  report identical" if same else "  REPORT DIFFERS")
    print(
        f"{units:>9,} units  {executor:<5}  wall {measured.wall:7.1f} s  {ratio}"
        f"  coordinator peak {measured.hwm_mb:6.0f} MB  (with reaped children {measured.rss_mb:6.0f} MB){identical}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=600_000, help="sailors (a multiple of 3)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes or tasks at once")
    parser.add_argument("--engines", default="local,ray,dask", help="comma-separated executors; local first")
    parser.add_argument("--million", action="store_true", help="add 1,000,000 units through Ray")
    args = parser.parse_args()
    python = sys.version.split()[0]
    print(f"drunken sailor, {os.cpu_count()} CPUs, --workers {args.workers}, python {python}", flush=True)
    local: Measure | None = None
    expected: str | None = None
    failed = False
    for executor in [e for e in args.engines.split(",") if e]:
        measured, report = run_engine(args.units, executor, args.workers)
        same = None if expected is None else report == expected
        failed |= same is False
        show(args.units, executor, measured, local, same)
        if executor == "local":
            local, expected = measured, report
    if args.million:
        measured, _ = run_engine(1_000_000, "ray", args.workers)
        show(1_000_000, "ray", measured, None, None)
    if failed:
        raise SystemExit("an executor's report differs from local's")


if __name__ == "__main__":
    main()
