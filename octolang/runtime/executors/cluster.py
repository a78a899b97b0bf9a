"""What the Ray and Dask executors share: a slice's jobs cut into batches, a bounded
number of them in flight (back-pressure: the coordinator never hands the engine more than
`IN_FLIGHT_PER_WORKER` batches a worker), outcomes taken as each batch comes back and
checked against the batch they answer. The engines themselves (ray_engine.py,
dask_engine.py) say how a batch is submitted, waited for and read.

A batch is a pure function of its inputs (shipped.py), so the engine may run it again
after a worker died (Ray's task retries, Dask's rescheduling of a lost worker's tasks);
the coordinator takes one result per batch, and commits each unit once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from octolang import ir
from octolang.runtime.compute import CompiledStep, ComputeJob, ComputeOutcome
from octolang.runtime.executors.base import ExecutorUnavailable
from octolang.runtime.executors.shipped import StepSource, pack, step_source

# A batch costs a round trip through the engine and a fork on the worker, so it is not cut
# small: a slow round trip (a busy scheduler) would make the compute stage's slices, timed
# to about 3 s, smaller, and smaller batches slower still.
MAX_BATCH_UNITS = 2_000
MIN_BATCH_UNITS = 250
BATCHES_PER_WORKER = 2  # a slice is cut in about this many batches a worker, so the last ones end together
IN_FLIGHT_PER_WORKER = 2  # one running, one waiting on each worker
WAIT_SECONDS = 0.2  # the longest the coordinator blocks in the engine: signals are handled between waits


def batch_units(jobs: int, parallelism: int) -> int:
    return max(MIN_BATCH_UNITS, min(MAX_BATCH_UNITS, math.ceil(jobs / (parallelism * BATCHES_PER_WORKER))))


class ClusterExecutor:
    """A compute executor over an engine's tasks; subclasses connect and submit."""

    name = "cluster"

    def __init__(self, program: ir.Program, *, workers: int | None = None) -> None:
        self.program = program
        self.workers = workers  # tasks running at once; None: the cluster's CPUs
        self.parallelism = 0  # known once started
        self._sources: dict[int, tuple[CompiledStep, StepSource]] = {}
        self._started = False

    # ------------------------------------------------------------ what an engine provides
    def _start(self) -> int:
        """Connect (or start a local cluster); the number of batches that run at once."""
        raise NotImplementedError

    def _submit(self, source: StepSource, packed: bytes) -> Any:
        """Submit `shipped.run_batch(source, packed)`; a handle to wait on."""
        raise NotImplementedError

    def _finished(self, handles: list[Any], timeout: float) -> list[Any]:
        """Those of `handles` that are done (after waiting up to `timeout` for one)."""
        raise NotImplementedError

    def _result(self, handle: Any) -> Any:
        """A finished batch's outcomes; raises ExecutorUnavailable (or SandboxUnavailable)."""
        raise NotImplementedError

    def _cancel(self, handles: list[Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ the loop
    def start(self) -> None:
        if not self._started:
            self.parallelism = max(1, self._start())
            self._started = True

    def source(self, step: CompiledStep) -> StepSource:
        kept = self._sources.get(id(step))
        if kept is None or kept[0] is not step:
            kept = self._sources[id(step)] = (step, step_source(step, self.program))
        return kept[1]

    def run(self, step: CompiledStep, jobs: Sequence[ComputeJob], workers: int) -> list[ComputeOutcome]:
        if not jobs:
            return []
        self.start()
        source = self.source(step)
        size = batch_units(len(jobs), self.parallelism)
        starts = range(0, len(jobs), size)
        answers: list[list[ComputeOutcome] | None] = [None] * len(starts)
        limit = self.parallelism * IN_FLIGHT_PER_WORKER
        in_flight: dict[Any, int] = {}
        following = 0
        try:
            while following < len(starts) or in_flight:
                while following < len(starts) and len(in_flight) < limit:
                    first = starts[following]
                    in_flight[self._submit(source, pack(jobs[first : first + size]))] = following
                    following += 1
                for handle in self._finished(list(in_flight), WAIT_SECONDS):
                    index = in_flight.pop(handle)
                    first = starts[index]
                    answers[index] = _checked(self._result(handle), jobs[first : first + size])
        finally:
            if in_flight:  # interrupted, or a batch failed: nothing more is computed for this slice
                self._cancel(list(in_flight))
        return [outcome for answer in answers if answer is not None for outcome in answer]


def _checked(outcomes: Any, batch: Sequence[ComputeJob]) -> list[ComputeOutcome]:
    """A batch's outcomes, one per job and in its order; a worker is not trusted to have
    answered the batch it was given."""
    if not isinstance(outcomes, list) or len(outcomes) != len(batch):
        raise ExecutorUnavailable("a worker answered a batch with outcomes that are not that batch's")
    pairs = zip(outcomes, batch, strict=True)
    if any(not isinstance(o, ComputeOutcome) or o.unit_id != job.unit_id for o, job in pairs):
        raise ExecutorUnavailable("a worker answered a batch with outcomes that are not that batch's")
    return outcomes
