"""Running `compute` steps: code compiled once per step, run per unit in the sandbox,
on both cores when there are enough units. Each unit's `rng` is its own stream, so the
results do not depend on how units are split between processes."""

from __future__ import annotations

import ast
import json
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from octolang import ir

# Below this many units a step runs in-process: starting workers costs more than it saves.
PARALLEL_THRESHOLD = 2000
DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class ComputeJob:
    unit_id: str
    context: dict[str, Any]  # unit fields under "unit", upstream outputs by step name
    rng_state: bytes | None


@dataclass(frozen=True)
class ComputeOutcome:
    unit_id: str
    output: dict[str, Any] | None
    error: str | None
    rng_state: bytes | None


def reads_rng(step: ir.StepDecl) -> bool:
    """Whether a compute step's code uses `rng` (its generator is made only then)."""
    from octolang.sandbox import code_free_names

    return step.kind == "compute" and step.code is not None and "rng" in code_free_names(ast.parse(step.code.value))


class CompiledStep:
    def __init__(
        self, step: ir.StepDecl, program: ir.Program, filename: str, *, seed: int, carry_rng: bool = False
    ) -> None:
        from octolang.runtime.llm_output import compile_rules
        from octolang.sandbox import compile_code, freeze

        assert step.code is not None
        self.step = step
        self.filename = filename
        self.seed = seed
        self.params = ["unit", "rng", *step.depends_on, *(c.name for c in program.consts)]
        self.consts = {c.name: freeze(c.resolved) for c in program.consts}
        self.code = compile_code(
            step.code.value, filename=filename, first_line=step.code.first_line, params=self.params, name=step.name
        )
        self.uses_rng = reads_rng(step)
        self.carry_rng = carry_rng and self.uses_rng  # a later step continues this unit's stream
        self.timeout = step.timeout_seconds or DEFAULT_TIMEOUT
        self.schema = step.output_schema or {}
        self.rules = compile_rules(step, filename)

    def run_all(self, jobs: Sequence[ComputeJob]) -> list[ComputeOutcome]:
        from octolang.sandbox import TimeLimit

        with TimeLimit(self.timeout) as limit:
            return [self.run(job, limit) for job in jobs]

    def run(self, job: ComputeJob, limit: Any) -> ComputeOutcome:
        from octolang.runtime.llm_output import conforms, validate_schema
        from octolang.sandbox import Record, SandboxTimeout, UnitRandom, describe_exception

        rng = None
        if self.uses_rng:
            rng = (
                UnitRandom.from_state(job.rng_state)
                if job.rng_state is not None
                else UnitRandom.for_unit(self.seed, job.unit_id)
            )
        kwargs: dict[str, Any] = {"unit": Record(job.context["unit"]), "rng": rng, **self.consts}
        for name in self.step.depends_on:
            kwargs[name] = Record(job.context[name])
        try:
            value = limit.call(self.code, kwargs)
        except SandboxTimeout:
            return ComputeOutcome(
                job.unit_id,
                None,
                f"step `{self.step.name}` ran longer than {self.timeout:g} s (set `timeout` on the step to allow more)",
                None,
            )
        except Exception as exc:
            message, line = describe_exception(exc, self.filename)
            where = f"{self.filename}:{line}: " if line else ""
            return ComputeOutcome(job.unit_id, None, f"{where}{message}", None)
        if not isinstance(value, dict):
            return ComputeOutcome(
                job.unit_id,
                None,
                f"step `{self.step.name}` returned {type(value).__name__}, not a dict of its output fields",
                None,
            )
        try:
            output = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as exc:
            return ComputeOutcome(
                job.unit_id, None, f"step `{self.step.name}` returned a value that is not JSON data: {exc}", None
            )
        # jsonschema takes ~50 us a value: run it only to explain a value the quick check rejects.
        problems = [] if conforms(output, self.schema) else validate_schema(output, self.schema)
        if not problems and self.rules.rules:
            context = {"unit": job.context["unit"], **{d: job.context[d] for d in self.step.depends_on}, **self.consts}
            problems = self.rules.failures(output, context)
        if problems:
            return ComputeOutcome(
                job.unit_id, None, f"step `{self.step.name}` returned an invalid output: " + "; ".join(problems), None
            )
        state = rng.state() if self.carry_rng and rng is not None else None
        return ComputeOutcome(job.unit_id, output, None, state)


_WORKER_STEP: CompiledStep | None = None


def _init_worker(step: CompiledStep) -> None:
    global _WORKER_STEP
    _WORKER_STEP = step


def _run_chunk(jobs: list[ComputeJob]) -> list[ComputeOutcome]:
    assert _WORKER_STEP is not None
    return _WORKER_STEP.run_all(jobs)


def run_compute(step: CompiledStep, jobs: Sequence[ComputeJob], workers: int) -> list[ComputeOutcome]:
    """Outcomes in the order of `jobs`, whatever the number of workers."""
    if workers <= 1 or len(jobs) < PARALLEL_THRESHOLD:
        return step.run_all(jobs)
    size = max(200, len(jobs) // (workers * 8))
    chunks = [list(jobs[i : i + size]) for i in range(0, len(jobs), size)]
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(step,)) as pool:
        results = pool.map(_run_chunk, chunks)
    return [outcome for chunk in results for outcome in chunk]
