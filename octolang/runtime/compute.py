"""Running `compute` steps: code compiled once per step in the runner, run per unit in
worker processes forked after compiling (octolang/sandbox/worker.py), each inside the OS
boundary. Each unit's `rng` is its own stream, so the results do not depend on how units
are split between processes, nor on a batch being run again after a worker was killed."""

from __future__ import annotations

import ast
import base64
import json
from collections.abc import Sequence
from typing import Any, NamedTuple

from octolang import ir
from octolang.check.scope import program_fields
from octolang.runtime.llm_output import compile_rules, conformance, validate_schema
from octolang.sandbox import SandboxTimeout, TimeLimit, UnitRandom, as_record, code_free_names, compile_code, freeze
from octolang.sandbox.limits import WorkerLimits
from octolang.sandbox.output import cut, describe_failure, serialise
from octolang.sandbox.rng import stream_seeds
from octolang.sandbox.worker import run_in_workers

DEFAULT_TIMEOUT = 10.0
# The worker's own SIGALRM stops Python code at `timeout`; the parent kills a worker whose
# unit is still running this much later (a long C call does not see the signal).
DEADLINE_GRACE = 0.5


class ComputeJob(NamedTuple):  # a tuple: pickled to the workers in a few bytes and quickly
    unit_id: str
    context: dict[str, Any]  # unit fields under "unit", upstream outputs by step name
    rng_state: bytes | None


class ComputeOutcome(NamedTuple):
    unit_id: str
    output: dict[str, Any] | None
    error: str | None
    rng_state: bytes | None
    text: str | None = None  # the output as compact JSON, as the worker wrote it and the store keeps it


def reads_rng(step: ir.StepDecl) -> bool:
    """Whether a compute step's code uses `rng` (its generator is made only then)."""

    return step.kind == "compute" and step.code is not None and "rng" in code_free_names(ast.parse(step.code.value))


class CompiledStep:
    def __init__(
        self, step: ir.StepDecl, program: ir.Program, filename: str, *, seed: int, carry_rng: bool = False
    ) -> None:
        assert step.code is not None
        self.step = step
        self.filename = filename
        self.seed = seed
        self.params = ["unit", "rng", *step.depends_on, *(c.name for c in program.consts)]
        self.consts = {c.name: freeze(c.resolved) for c in program.consts}
        self.code = compile_code(
            step.code.value,
            filename=filename,
            first_line=step.code.first_line,
            params=self.params,
            name=step.name,
            fields=program_fields(program),
        )
        self.uses_rng = reads_rng(step)
        self.carry_rng = carry_rng and self.uses_rng  # a later step continues this unit's stream
        self.timeout = step.timeout_seconds or DEFAULT_TIMEOUT
        self.schema = step.output_schema or {}
        self.conforms = conformance(self.schema)
        self.rules = compile_rules(step, filename)
        self.limits = WorkerLimits(unit_seconds=self.timeout)
        self._limit: Any = None
        # Each new stream's seed, derived for all of a step's jobs at once before the
        # workers are forked (they inherit it): one NumPy pass instead of one per unit.
        self.stream_seeds: dict[str, int] = {}
        # What units need is imported and built here, once, not by every forked worker
        # inside its first unit's deadline: NumPy's SeedSequence for the streams, the
        # schema's validator (used to explain an invalid output).
        if self.uses_rng:
            UnitRandom.for_unit(seed, "")
        validate_schema({}, self.schema)

    # ------------------------------------------------------------ in the worker
    def handle(self, job: ComputeJob) -> str:
        """One job, in a worker: its outcome as one line of JSON, the output alone (an
        object) or, with an error or a stream to keep, `[output, error, rng]`. Never
        raises: whatever the code does, the unit gets an outcome."""
        if self._limit is None:  # the SIGALRM handler, installed once per worker
            self._limit = TimeLimit(self.timeout).__enter__()
        try:
            text, error, state = self._run(job, self._limit)
        except BaseException as exc:  # a unit's failure, whatever it raised
            text, error, state = None, self._describe(exc), None
        if error is None and state is None and text is not None:
            return text
        rng = base64.b64encode(state).decode() if state is not None else None
        return f"[{text or 'null'},{json.dumps(error)},{json.dumps(rng)}]"

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, SandboxTimeout):
            return self._late()
        if isinstance(exc, MemoryError):
            return f"step `{self.step.name}` went over its memory limit ({self.limits.memory_bytes >> 20:,} MB)"
        return describe_failure(exc, self.filename, self.limits)

    def _late(self) -> str:
        return f"step `{self.step.name}` ran longer than {self.timeout:g} s (set `timeout` on the step to allow more)"

    def _run(self, job: ComputeJob, limit: Any) -> tuple[str | None, str | None, bytes | None]:
        rng = None
        if self.uses_rng:
            if job.rng_state is not None:
                rng = UnitRandom.from_state(job.rng_state)
            else:
                derived = self.stream_seeds.get(job.unit_id)
                rng = UnitRandom(derived) if derived is not None else UnitRandom.for_unit(self.seed, job.unit_id)
        kwargs: dict[str, Any] = {"unit": as_record(job.context["unit"]), "rng": rng, **self.consts}
        for name in self.step.depends_on:
            kwargs[name] = as_record(job.context[name])
        value = limit.call(self.code, kwargs)
        if not isinstance(value, dict):
            kind = type(value).__name__
            return None, f"step `{self.step.name}` returned {kind}, not a dict of its output fields", None
        text, problem = serialise(value, self.limits)
        if text is None:
            return None, f"step `{self.step.name}` returned {problem}", None
        # Its type and rules are checked by the runner, on the value it reads from `text`.
        state = rng.state() if self.carry_rng and rng is not None else None
        return text, None, state

    def _invalid(self, job: ComputeJob, output: dict[str, Any]) -> str | None:
        """Why an output does not conform to the step's type or rules (in the parent)."""
        # jsonschema takes ~50 us a value: run it only to explain a value the quick check rejects.
        problems = [] if self.conforms(output) else validate_schema(output, self.schema)
        if not problems and self.rules.rules:
            context = {"unit": job.context["unit"], **{d: job.context[d] for d in self.step.depends_on}, **self.consts}
            problems = self.rules.failures(output, context)
        if not problems:
            return None
        text = cut("; ".join(problems), self.limits.message_chars)
        return f"step `{self.step.name}` returned an invalid output: {text}"

    # ------------------------------------------------------------ in the parent
    def outcome(self, job: ComputeJob, result: Any) -> ComputeOutcome:
        """A worker's result line for `job`, read and checked (a worker is not trusted:
        its output is parsed strictly, then held to the step's type and rules), or the
        outcome the parent made for a job whose worker was lost."""
        if isinstance(result, ComputeOutcome):
            return result
        text, end = "", -1
        try:
            text = result.decode("ascii")  # the worker's encoder escapes everything else
            parsed, end = _read_line(text)
        except (ValueError, RecursionError):
            pass
        if end != len(text):  # not one JSON value and nothing else
            return ComputeOutcome(job.unit_id, None, UNREADABLE, None)
        state: bytes | None = None
        stored: str | None = text
        if type(parsed) is not dict:  # an error, or an output with the stream to keep: [output, error, rng]
            if not isinstance(parsed, list) or len(parsed) != 3:
                return ComputeOutcome(job.unit_id, None, UNREADABLE, None)
            parsed, error, rng = parsed
            if not isinstance(parsed, dict):
                return ComputeOutcome(job.unit_id, None, cut(str(error or "its worker sent no output"), 4000), None)
            try:
                state = base64.b64decode(rng, validate=True) if isinstance(rng, str) else None
            except ValueError:
                return ComputeOutcome(job.unit_id, None, UNREADABLE, None)
            stored = None  # serialised again by the runner
        invalid = self._invalid(job, parsed)
        if invalid is not None:
            return ComputeOutcome(job.unit_id, None, invalid, None)
        return ComputeOutcome(job.unit_id, parsed, None, state, stored)

    def lost(self, job: ComputeJob, why: str) -> ComputeOutcome:
        """The outcome of a job whose worker was killed at the deadline or died under it."""
        if why == "deadline":
            return ComputeOutcome(job.unit_id, None, self._late(), None)
        return ComputeOutcome(job.unit_id, None, f"step `{self.step.name}` did not finish: {why}", None)


UNREADABLE = "its worker sent a result the runner could not read"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON data")


# A worker's line is parsed as strict JSON: `NaN` and `Infinity`, which Python's reader
# takes by default, are refused (a worker never writes them: its encoder refuses them).
_read_line = json.JSONDecoder(parse_constant=_refuse_constant).raw_decode


def run_compute(step: CompiledStep, jobs: Sequence[ComputeJob], workers: int) -> list[ComputeOutcome]:
    """Outcomes in the order of `jobs`, whatever the number of workers: every unit runs in
    a worker process inside the boundary (octolang/sandbox/limits.py)."""
    if step.uses_rng:
        fresh = [job.unit_id for job in jobs if job.rng_state is None]
        step.stream_seeds = dict(zip(fresh, stream_seeds(step.seed, fresh), strict=True))
    results = run_in_workers(
        jobs,
        step.handle,
        workers=workers,
        deadline=step.timeout + DEADLINE_GRACE,
        limits=step.limits,
        lost=step.lost,
    )
    return [step.outcome(job, result) for job, result in zip(jobs, results, strict=True)]
