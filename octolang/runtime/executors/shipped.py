"""What a cluster's worker receives and runs: a step's source (`StepSource`: the step, the
consts and the fields the policy checks names against, as the checked IR's JSON) and
batches of `ComputeJob` (unit context, saved rng state). `run_batch` is the task a Ray or
Dask worker runs: it compiles the step once per worker process (the AST policy first, as
the coordinator does), then runs the batch through `run_compute`, so every unit runs in a
sandboxed process forked from the engine's worker, inside the same boundary and limits as
a local worker (octolang/sandbox/). A task is a pure function of its inputs: run twice (the
engine retrying it after a worker died), it gives the same outcomes."""

from __future__ import annotations

import hashlib
import pickle
from collections import OrderedDict
from collections.abc import Sequence
from typing import NamedTuple

from octolang import ir
from octolang.runtime.compute import CompiledStep, ComputeJob, ComputeOutcome, run_compute

# Compiled steps a worker process keeps (a run's compute steps, and a few runs' worth).
KEPT_STEPS = 16
_compiled: OrderedDict[str, CompiledStep] = OrderedDict()


class StepSource(NamedTuple):
    digest: str  # of everything below: the key of the worker's compiled step
    program: str  # the checked program's JSON, without its units, gates, reports or models
    step: str
    filename: str
    seed: int
    carry_rng: bool


def step_source(compiled: CompiledStep, program: ir.Program) -> StepSource:
    """What a worker needs to compile `compiled`'s step as the coordinator did."""
    trimmed = program.model_copy(update={"units": [], "gates": [], "reports": [], "models": []})
    text = trimmed.model_dump_json()
    parts = (text, compiled.step.name, compiled.filename, str(compiled.seed), str(compiled.carry_rng))
    digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return StepSource(digest, text, compiled.step.name, compiled.filename, compiled.seed, compiled.carry_rng)


def compiled_step(source: StepSource) -> CompiledStep:
    """The step of `source`, compiled on the first batch this worker process gets of it."""
    step = _compiled.get(source.digest)
    if step is not None:
        _compiled.move_to_end(source.digest)
        return step
    program = ir.Program.model_validate_json(source.program)
    decl = program.step(source.step)
    if decl is None or decl.kind != "compute":
        raise ValueError(f"the step source has no compute step `{source.step}`")
    step = CompiledStep(decl, program, source.filename, seed=source.seed, carry_rng=source.carry_rng)
    _compiled[source.digest] = step
    while len(_compiled) > KEPT_STEPS:
        _compiled.popitem(last=False)
    return step


def pack(jobs: Sequence[ComputeJob]) -> bytes:
    """A batch as one opaque value: the engines move it as bytes instead of walking every
    job's context for values of their own (Dask looks into nested lists and tuples)."""
    return pickle.dumps(list(jobs), protocol=pickle.HIGHEST_PROTOCOL)


def run_batch(source: StepSource, packed: bytes) -> list[ComputeOutcome]:
    """The task: the outcomes of the batch `pack` made, in its order, each unit run in a
    sandboxed process. (The batch comes from the coordinator, which the worker trusts as
    the engine itself does: the engines move every task's inputs as pickles.)"""
    return run_compute(compiled_step(source), pickle.loads(packed), 1)
