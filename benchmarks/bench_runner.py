"""Runner overhead: 100,000 units through two cheap compute steps, state persisted.

    python benchmarks/bench_runner.py [--units 100000] [--workers 1]

Runs `octoc run` in a fresh process and reports wall time and peak memory (max RSS),
beside a baseline measured in the same run: the same two step bodies called in a plain
Python loop over the same units, nothing persisted. Targets (issue 3): under 20 s end
to end and under 500 MB peak memory.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PIPELINE = """pipeline overhead "two cheap steps"
seed 1
units items {{ trials {units} }}
step a = compute {{
  output {{ x: int }}
  code "return {{'x': unit.trial * 2}}"
}}
step b = compute {{
  output {{ y: int }}
  code "return {{'y': a.x + 1}}"
}}
report totals {{
  n = count()
  mean_y = mean(b.y)
}}
"""


def baseline(units: int) -> float:
    def step_a(trial: int) -> dict[str, int]:
        return {"x": trial * 2}

    def step_b(a: dict[str, int]) -> dict[str, int]:
        return {"y": a["x"] + 1}

    start = time.perf_counter()
    results = [step_b(step_a(i)) for i in range(1, units + 1)]
    assert len(results) == units
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "overhead.octo"
        path.write_text(PIPELINE.format(units=args.units))
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "octolang", "run", str(path), "--workers", str(args.workers)],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"octoc run failed:\n{result.stdout}\n{result.stderr}")
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        state = sum(p.stat().st_size for p in Path(folder, ".octo").rglob("*") if p.is_file()) / 1e6
    plain = baseline(args.units)
    print(f"units: {args.units:,}, two compute steps, workers: {args.workers}")
    print(f"plain Python loop, nothing persisted (baseline): {plain:.2f} s")
    print(f"octoc run, state persisted: {wall:.2f} s wall  (target < 20 s), ratio {wall / plain:.0f}x the baseline")
    print(f"peak memory (max RSS of the run): {peak_mb:.0f} MB  (target < 500 MB); state on disk {state:.0f} MB")
    print(f"{args.units / wall:,.0f} units/s end to end")


if __name__ == "__main__":
    main()
