"""The interface every executor of compute steps has, and the local one.

An executor takes a slice of a compute step's jobs (unit context, saved rng state) and
gives back their outcomes in the same order; the compute stage (compute_stage.py) commits
them. It never touches the store: the coordinator (`octoc run`) stays the only writer of
the run's state, whichever executor runs the units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from octolang.runtime.compute import CompiledStep, ComputeJob, ComputeOutcome, run_compute

EXECUTORS = ("local", "ray", "dask")


class ExecutorUnavailable(Exception):
    """An executor that cannot run the step: its engine is not installed, its cluster cannot
    be reached, or it gave up on a batch past its own retries. What was committed stays."""


class ComputeExecutor(Protocol):
    name: str

    def run(self, step: CompiledStep, jobs: Sequence[ComputeJob], workers: int) -> list[ComputeOutcome]:
        """The outcomes of `jobs`, in their order. `workers`: the compute stage's choice
        of local processes (a cluster executor sizes itself by its cluster instead)."""
        ...

    def close(self) -> None:
        """Let go of the engine (a cluster this executor started is stopped)."""
        ...


class LocalExecutor:
    """Worker processes forked by the coordinator (octolang/sandbox/worker.py): the default."""

    name = "local"

    def run(self, step: CompiledStep, jobs: Sequence[ComputeJob], workers: int) -> list[ComputeOutcome]:
        return run_compute(step, jobs, workers)

    def close(self) -> None:
        pass
