"""Compute-step speed through the real worker path: the drunken sailor's walk run by
`run_compute` (forked workers inside the OS boundary, jobs in batches, each unit's own
`rng` stream, its output serialised and checked against the schema) against the same walk
as a plain Python loop, in the same process.

    python benchmarks/bench_sandbox.py [--walkers 20000] [--workers 1]

Target (issue 10): the worker path no more than 3x slower than plain Python with one
worker (asteval, an interpreter of Python's AST, is about 200x slower on this loop).
Wall and CPU time are both printed: on a shared machine the CPU ratio (runner plus
workers against the plain loop) is the steadier figure.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from octolang.compiler import compile_source
from octolang.runtime.compute import CompiledStep, ComputeJob, run_compute
from octolang.source import SourceFile

PIPELINE = '''pipeline sailor "the walk"
seed 42
const PIER = 10
units sailors {
  vary start in [5]
  trials 2
}
step walk = compute {
  output { outcome: "ship" | "water", steps: int[0..] }
  code """
    pos = unit.start
    steps = 0
    while 0 < pos < PIER:
        pos += rng.choice([-1, 1])
        steps += 1
    return {"outcome": "ship" if pos == PIER else "water", "steps": steps}
  """
}
'''


def cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the workers, once a step ends)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def plain_walks(walkers: int, *, per_walker: bool) -> tuple[float, float]:
    """The same walk, written as anyone would: a loop, a list of dicts; one generator for
    all walkers, or (`per_walker`) a generator of its own for each, seeded with its number,
    as reproducible per-walker results need. Wall and CPU seconds."""
    cpu = cpu_seconds()
    start = time.perf_counter()
    rng = random.Random(42)
    results: list[dict[str, Any]] = []
    for walker in range(walkers):
        if per_walker:
            rng = random.Random(walker)
        pos = 5
        steps = 0
        while 0 < pos < 10:
            pos += rng.choice([-1, 1])
            steps += 1
        results.append({"outcome": "ship" if pos == 10 else "water", "steps": steps})
    return time.perf_counter() - start, cpu_seconds() - cpu


def compiled_step(folder: Path) -> CompiledStep:
    path = folder / "sailor.octo"
    path.write_text(PIPELINE, encoding="utf-8")
    compilation = compile_source(SourceFile(str(path), PIPELINE))
    program = compilation.program
    assert program is not None, compilation.diagnostics
    step = program.step("walk")
    assert step is not None
    return CompiledStep(step, program, str(path), seed=42)


def worker_walks(step: CompiledStep, walkers: int, workers: int) -> tuple[float, float]:
    jobs = [ComputeJob(f"start=5/trial={i}", {"unit": {"start": 5, "trial": i}}, None) for i in range(walkers)]
    cpu = cpu_seconds()
    start = time.perf_counter()
    outcomes = run_compute(step, jobs, workers)
    took = time.perf_counter() - start, cpu_seconds() - cpu
    failed = [o.error for o in outcomes if o.output is None]
    assert not failed, failed[:3]
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--walkers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        step = compiled_step(Path(folder))
        plain_walks(500, per_walker=False)
        worker_walks(step, 500, args.workers)
        singles, owns, boxes = [], [], []
        for _ in range(3):  # interleaved, so that a busy moment of the machine hits all three
            singles.append(plain_walks(args.walkers, per_walker=False))
            owns.append(plain_walks(args.walkers, per_walker=True))
            boxes.append(worker_walks(step, args.walkers, args.workers))
    single, single_cpu = min(w for w, _ in singles), min(c for _, c in singles)
    own, own_cpu = min(w for w, _ in owns), min(c for _, c in owns)
    boxed, boxed_cpu = min(w for w, _ in boxes), min(c for _, c in boxes)
    workers = f"{args.workers} worker{'s' if args.workers != 1 else ''}"
    print(f"walkers: {args.walkers:,} (start 5 on a pier of 10: 25 steps each on average)")
    print(f"plain loop, one generator:        {single:.3f} s wall, {single_cpu:.3f} s CPU")
    print(f"plain loop, a generator a walker: {own:.3f} s wall, {own_cpu:.3f} s CPU")
    print(f"worker path, {workers}: {boxed:.3f} s wall, {boxed_cpu:.3f} s CPU (runner and workers)")
    print(
        f"ratio worker path/plain, one generator:        {boxed / single:.2f}x wall, {boxed_cpu / single_cpu:.2f}x CPU"
    )
    print(
        f"ratio worker path/plain, a generator a walker: {boxed / own:.2f}x wall, {boxed_cpu / own_cpu:.2f}x CPU "
        "(target <= 3x)"
    )


if __name__ == "__main__":
    main()
