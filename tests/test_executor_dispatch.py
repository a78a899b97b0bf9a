"""The loop the Ray and Dask executors share (octolang/runtime/executors/cluster.py), over
an engine that runs batches in this process and finishes them in a shuffled order (seed
printed): outcomes come back in the jobs' order, at most two batches a worker are ever in
flight, and a batch answered with another batch's outcomes stops the slice."""

from __future__ import annotations

import random
from typing import Any

import pytest

from octolang.compiler import compile_source
from octolang.runtime.compute import CompiledStep, ComputeJob, ComputeOutcome, run_compute
from octolang.runtime.executors import ExecutorUnavailable
from octolang.runtime.executors.cluster import IN_FLIGHT_PER_WORKER, ClusterExecutor, batch_units
from octolang.runtime.executors.shipped import StepSource, compiled_step, run_batch
from octolang.source import SourceFile

SEED = 20261130
TEXT = '''pipeline p
seed 3
units u { vary k in [1, 2] trials 600 }
step s = compute {
  output { x: float }
  code """
    return {"x": rng.random() * unit.k}
  """
}
report r { m = mean(s.x) }
'''


class ShuffledEngine(ClusterExecutor):
    """Batches run here, at once; each wait hands back a random few of those in flight."""

    name = "shuffled"

    def __init__(self, program: Any, workers: int, *, garble: bool = False) -> None:
        super().__init__(program, workers=workers)
        self.random = random.Random(SEED)
        self.garble = garble
        self.in_flight: dict[int, list[ComputeOutcome]] = {}
        self.most_in_flight = 0
        self.cancelled: list[int] = []
        self.sizes: list[int] = []

    def _start(self) -> int:
        return self.workers or 1

    def _submit(self, source: StepSource, packed: bytes) -> Any:
        handle = len(self.sizes)
        outcomes = run_batch(source, packed)
        self.sizes.append(len(outcomes))
        self.in_flight[handle] = outcomes[::-1] if self.garble else outcomes
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))
        return handle

    def _finished(self, handles: list[Any], timeout: float) -> list[Any]:
        return self.random.sample(handles, self.random.randint(1, len(handles)))

    def _result(self, handle: Any) -> Any:
        return self.in_flight.pop(handle)

    def _cancel(self, handles: list[Any]) -> None:
        self.cancelled += handles

    def close(self) -> None:
        pass


@pytest.fixture
def step() -> tuple[Any, CompiledStep, list[ComputeJob]]:
    program = compile_source(SourceFile("p.octo", TEXT)).program
    assert program is not None
    decl = program.step("s")
    assert decl is not None
    compiled = CompiledStep(decl, program, "p.octo", seed=3)
    jobs = [ComputeJob(f"u{i}", {"unit": {"k": 1 + i % 2, "trial": i}}, None) for i in range(1200)]
    return program, compiled, jobs


@pytest.mark.parametrize("workers", [1, 2, 5])
def test_outcomes_come_back_in_order_with_bounded_batches_in_flight(
    step: tuple[Any, CompiledStep, list[ComputeJob]], workers: int
) -> None:
    print(f"seed {SEED}")
    program, compiled, jobs = step
    engine = ShuffledEngine(program, workers)
    assert engine.run(compiled, jobs, 1) == run_compute(compiled, jobs, 1)
    assert engine.most_in_flight <= IN_FLIGHT_PER_WORKER * workers
    assert set(engine.sizes[:-1]) == {batch_units(len(jobs), workers)}
    assert sum(engine.sizes) == len(jobs)


def test_a_batch_answered_with_other_outcomes_stops_the_slice(
    step: tuple[Any, CompiledStep, list[ComputeJob]],
) -> None:
    program, compiled, jobs = step
    engine = ShuffledEngine(program, 2, garble=True)
    with pytest.raises(ExecutorUnavailable, match="not that batch's"):
        engine.run(compiled, jobs, 1)
    assert engine.cancelled  # what was still in flight is cancelled


def test_a_worker_compiles_a_step_once_from_its_source(step: tuple[Any, CompiledStep, list[ComputeJob]]) -> None:
    program, compiled, _ = step
    source = ShuffledEngine(program, 1).source(compiled)
    assert compiled_step(source) is compiled_step(source)
    assert compiled_step(source) is not compiled_step(source._replace(digest="another"))


def test_batches_are_sized_for_the_workers() -> None:
    assert batch_units(100, 2) == 250  # never tiny
    assert batch_units(20_000, 2) == 2_000  # never huge
    assert batch_units(4_000, 2) == 1_000  # about two a worker
