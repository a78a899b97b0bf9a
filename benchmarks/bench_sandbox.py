"""Compute-step speed: the drunken sailor's walk through the sandbox against the same
code as a plain Python function, in the same process.

    python benchmarks/bench_sandbox.py [--walkers 20000]

Target (issue 3): the sandbox no more than 3x slower than plain Python (asteval, an
interpreter of Python's AST, is about 200x slower here on this loop).
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from octolang.sandbox import Record, UnitRandom, compile_code

BODY = """pos = unit.start
steps = 0
while 0 < pos < PIER:
    pos += rng.choice([-1, 1])
    steps += 1
return {"outcome": "ship" if pos == PIER else "water", "steps": steps}
"""


def plain_walk(unit: Any, rng: random.Random, PIER: int) -> dict[str, Any]:
    pos = unit.start
    steps = 0
    while 0 < pos < PIER:
        pos += rng.choice([-1, 1])
        steps += 1
    return {"outcome": "ship" if pos == PIER else "water", "steps": steps}


def run(function: Any, walkers: int) -> float:
    unit = Record({"start": 5})
    generators = [UnitRandom.for_unit(42, f"start=5/trial={i}") for i in range(walkers)]
    start = time.perf_counter()
    for rng in generators:
        function(unit=unit, rng=rng, PIER=10)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--walkers", type=int, default=20_000)
    args = parser.parse_args()
    sandboxed = compile_code(BODY, filename="bench.octo", first_line=1, params=["unit", "rng", "PIER"], name="walk")
    run(plain_walk, 200)
    run(sandboxed, 200)
    plain = min(run(plain_walk, args.walkers) for _ in range(3))
    boxed = min(run(sandboxed, args.walkers) for _ in range(3))
    print(f"walkers: {args.walkers:,} (start 5 on a pier of 10: 25 steps each on average)")
    print(f"plain Python (baseline): {plain:.3f} s  = {args.walkers / plain:,.0f} walkers/s")
    print(f"sandboxed compute step:  {boxed:.3f} s  = {args.walkers / boxed:,.0f} walkers/s")
    print(f"ratio sandbox/plain: {boxed / plain:.2f}x  (target <= 3x)")


if __name__ == "__main__":
    main()
