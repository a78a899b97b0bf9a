"""Monte Carlo against the plain Python loop: the drunken-sailor walk at 6k, 60k (and 600k) units.

    python benchmarks/bench_montecarlo.py [--sizes 6000,60000] [--big] [--repeat 1] [--workers N]

For each size, `octoc run` on examples/drunken_sailor.octo (its `trials` scaled so that the
three starts make that many units) and a plain Python loop doing the same walk (one
`random.Random` per unit, the same report: proportion and mean per start) run as separate
processes, interleaved (octoc, plain, octoc, plain, ... with `--repeat`). Each is measured
with `os.wait4` on its process: CPU (user + system, its reaped children included: the
compute workers) and peak RSS (the largest of the process and its children). Then
`octoc report` on the finished run, timed and measured the same way.

`--big` adds 600,000 units (about a minute of CPU or more); `OCTO_BENCH_BIG=1` does the same.
Targets (issue 13): CPU ratio <= 5x at 60k and 600k; peak RSS at 600k < 300 MB and
<= 1.2x the 60k figure; `octoc report` at 600k < 1 s and < 200 MB.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "drunken_sailor.octo"
STARTS = 3  # `vary start in [2, 5, 8]`

# The walk and the report a user would write by hand: one generator per unit.
PLAIN = """
import random, sys
units, seed, pier = int(sys.argv[1]), 42, 10
trials = units // 3
stats = {}
for start in (2, 5, 8):
    ships = steps_sum = 0
    for trial in range(1, trials + 1):
        rng = random.Random(seed * 1_000_003 + start * 10_000_019 + trial)
        pos, steps = start, 0
        while 0 < pos < pier:
            pos += rng.choice([-1, 1])
            steps += 1
        ships += pos == pier
        steps_sum += steps
    stats[start] = (ships / trials, steps_sum / trials)
for start, (p, m) in stats.items():
    print(start, round(p, 4), round(m, 2), start / pier)
"""


@dataclass
class Measure:
    wall: float
    cpu: float
    rss_mb: float


def measure(command: list[str], cwd: str) -> Measure:
    """Run `command`; wall, CPU of it and its reaped children, peak RSS (MB)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)  # reaped here, with its resource usage
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            output.seek(0)
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode}):\n{output.read().decode()}")
    return Measure(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def pipeline(units: int) -> str:
    text = EXAMPLE.read_text()
    scaled, count = re.subn(r"trials \d+", f"trials {units // STARTS}", text)
    assert count == 1, "the example's `trials` line moved"
    return scaled


def one_size(units: int, repeat: int, workers: str | None) -> None:
    octoc: list[Measure] = []
    plain: list[Measure] = []
    report: Measure | None = None
    for round_ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "sailor.octo"
            path.write_text(pipeline(units))
            run = [sys.executable, "-m", "octolang", "run", str(path)]
            if workers is not None:
                run += ["--workers", workers]
            pair = [("octoc", run), ("plain", [sys.executable, "-c", PLAIN, str(units)])]
            for name, command in pair if round_ % 2 == 0 else pair[::-1]:
                (octoc if name == "octoc" else plain).append(measure(command, folder))
            report = measure([sys.executable, "-m", "octolang", "report", str(path)], folder)

    def best(values: list[Measure]) -> Measure:
        return min(values, key=lambda m: m.cpu)

    o, p = best(octoc), best(plain)
    assert report is not None
    print(
        f"{units:>8,} units | octoc run: cpu {o.cpu:7.2f} s  wall {o.wall:7.2f} s  rss {o.rss_mb:6.0f} MB"
        f" | plain loop: cpu {p.cpu:6.2f} s  wall {p.wall:6.2f} s  rss {p.rss_mb:4.0f} MB"
        f" | ratio cpu {o.cpu / p.cpu:5.1f}x  wall {o.wall / p.wall:5.1f}x"
        f" | octoc report: wall {report.wall:5.2f} s  cpu {report.cpu:5.2f} s  rss {report.rss_mb:4.0f} MB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="6000,60000", help="comma-separated unit counts (multiples of 3)")
    parser.add_argument("--big", action="store_true", help="add 600,000 units (also OCTO_BENCH_BIG=1)")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds per size; the best CPU is shown")
    parser.add_argument("--workers", default=None, help="passed to `octoc run --workers` (default: octoc's own)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.big or os.environ.get("OCTO_BENCH_BIG") == "1":
        sizes.append(600_000)
    print(f"drunken sailor walk, {os.cpu_count()} CPUs, python {sys.version.split()[0]}", flush=True)
    for units in sizes:
        one_size(units, max(1, args.repeat), args.workers)


if __name__ == "__main__":
    main()
