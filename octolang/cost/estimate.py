"""The dry-run estimate: per llm step, how many calls, input and output tokens, and what
they cost in batch and realtime mode, before anything is sent.

Pure: a function of the checked program (and its data files, read as the runner reads
them). Every unit's prompts are rendered with the step's real templates; upstream
outputs are synthesised at their expected sizes (`sizes.py`); tokens are counted with
the shipped o200k encoding and converted per provider (`calibration.py`).
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from octolang import ir
from octolang.cost import calibration, sizes
from octolang.cost.exact import PROVIDERS as EXACT_PROVIDERS
from octolang.cost.exact import ExactCounter, ExactUnavailable, calibrate, sample
from octolang.cost.figures import Estimate, StepEstimate
from octolang.pricing import is_batch, price_for, prices_as_of, usage_cost

DEFAULT_FAILURE_RATE = 0.05  # share of answers that fail the schema or a rule (then retried)
DEFAULT_GATE_FAIL_RATE = 0.2  # share of gate verdicts that send a unit back
RENDER_SECONDS = 2.0  # one unit's prompt, while estimating
RENDER_MEMORY_BYTES = 1024 * 2**20  # what rendering may map beyond what octoc already does
RENDERS_PER_CLOCK = 256  # renders under one arming of the clock


def has_llm_steps(program: ir.Program) -> bool:
    return any(s.kind == "llm" for s in program.steps)


def estimate_cost(
    program: ir.Program,
    *,
    limit: int | None = None,
    provider: str | None = None,
    invalid_rate: float | None = None,
    exact: ExactCounter | None = None,
) -> Estimate:
    """The estimate for the program's llm steps over its units (the first `limit` with
    `--max-units`); `provider` replaces every model's provider, as `octoc run --provider` does.
    With `exact`, Claude and Gemini steps are calibrated on a sample counted by the
    provider (exact.py)."""
    from octolang.runtime.unitset import enumerate_units

    units = [u.fields for u in enumerate_units(program, limit)]
    steps = [s for s in (program.step(n) for n in program.order) if s is not None]
    gate_calls = _gate_calls(program, steps, len(units))
    result = Estimate([], [], prices_as_of())
    for step in steps:
        if step.kind != "llm":
            continue
        model = program.model(step.model or "")
        if model is None:
            continue
        if provider and model.provider != provider:
            model = model.model_copy(update={"provider": provider, "price": None})
        estimate = _step_estimate(program, step, model, units, gate_calls.get(step.name, 0.0), invalid_rate)
        result.steps.append(estimate)
        source = calibration.band_for(model.provider).source
        if exact is not None and model.provider in EXACT_PROVIDERS and estimate.calls:
            try:
                source = _calibrate(program, step, model, units, estimate, exact)
            except ExactUnavailable as exc:
                result.warnings.append(f"no exact count for `{step.name}` ({exc}): its band stands")
        if source not in result.tokenizers:
            result.tokenizers.append(source)
        if not estimate.priced:
            result.warnings.append(
                f"no price for {model.provider} `{model.model_id}` (model `{model.name}`): step `{step.name}` "
                f"is counted as $0; give one with `price in = $0.15/M, out = $0.60/M` on the model"
            )
        if estimate.unrendered:
            why = f" (rendering stopped: {estimate.render_stopped})" if estimate.render_stopped else ""
            result.warnings.append(
                f"{estimate.unrendered} prompt(s) of `{step.name}` could not be rendered and are not counted{why}"
            )
    return result


def _calibrate(
    program: ir.Program,
    step: ir.StepDecl,
    model: ir.ModelDecl,
    units: list[dict[str, Any]],
    estimate: StepEstimate,
    exact: ExactCounter,
) -> str:
    """The step's estimate scaled by what the provider counts for a sample of its requests."""
    from octolang.runtime.requests import CompiledPrompt

    picked = [units[i] for i in sample(len(units))]
    systems, prompts, _, _ = _render_all(program, step, model, picked)
    band = calibration.band_for(model.provider)
    fixed = request_overhead(step, model)
    estimated = [round(tokens * band.point) + fixed for tokens in _count(systems, prompts)]
    compiled = CompiledPrompt(step, model)
    bodies = [compiled.body(system, prompt) for system, prompt in zip(systems, prompts, strict=True)]
    label = calibrate(estimate, model, bodies, estimated, exact)
    _price(estimate, model)
    return label


def _gate_calls(program: ir.Program, steps: list[ir.StepDecl], units: int) -> dict[str, float]:
    """Expected extra calls per step from gates that send units back: each round re-runs the
    target and every step after it, and a unit goes round again with the gate's fail rate."""
    extra: dict[str, float] = {}
    for gate in program.gates:
        if gate.action != "retry" or gate.target is None:
            continue
        rounds = sum(DEFAULT_GATE_FAIL_RATE**k for k in range(1, gate.max_retries + 1))
        cleared = {gate.target} | _downstream(steps, gate.target)
        for name in cleared:
            extra[name] = extra.get(name, 0.0) + units * rounds
    return extra


def _downstream(steps: list[ir.StepDecl], name: str) -> set[str]:
    out: set[str] = set()
    frontier = [name]
    while frontier:
        current = frontier.pop()
        for step in steps:
            if current in step.depends_on and step.name not in out:
                out.add(step.name)
                frontier.append(step.name)
    return out


def failure_rate(model: ir.ModelDecl, invalid_rate: float | None = None) -> float:
    """The mock's declared `invalid_rate` (or `--mock-invalid-rate`); a real model's declared
    `failure_rate`; else the default."""
    if model.provider == "mock":
        if invalid_rate is not None:
            return invalid_rate
        return float(model.setting("invalid_rate", 0.1))
    return float(model.setting("failure_rate", DEFAULT_FAILURE_RATE))


def _step_estimate(
    program: ir.Program,
    step: ir.StepDecl,
    model: ir.ModelDecl,
    units: list[dict[str, Any]],
    gate_calls: float,
    invalid_rate: float | None,
) -> StepEstimate:
    schema = step.output_schema or {}
    band = calibration.band_for(model.provider)
    systems, prompts, unrendered, stopped = _render_all(program, step, model, units)
    calls = len(units) - unrendered
    if model.provider == "mock":
        per_call = [math.ceil(len((s or "") + p) / 4) for s, p in zip(systems, prompts, strict=True)]
        fixed = 0
        answer = sizes.expected_answer(schema) if schema else sizes.filler_text(4 * sizes.DEFAULT_FREE_TEXT_TOKENS)
        output_per_call = max(1, math.ceil(len(answer) / 4))
    else:
        per_call = _count(systems, prompts)
        fixed = request_overhead(step, model)
        output_per_call = expected_output_tokens(step, model)
    text_total = sum(per_call)
    max_text = max(per_call, default=0)
    price = price_for(model)
    estimate = StepEstimate(
        step=step.name,
        provider=model.provider,
        model=model.model_id,
        mode="batch" if is_batch(model) else "realtime",
        units=len(units),
        calls=calls,
        retry_calls=calls * sum(failure_rate(model, invalid_rate) ** k for k in range(1, step.retry_limit + 1)),
        gate_calls=gate_calls,
        input_tokens=round(text_total * band.point) + fixed * calls,
        input_tokens_low=round(text_total * band.low) + fixed * calls,
        input_tokens_high=round(text_total * band.high) + fixed * calls,
        max_input_per_call=math.ceil(max_text * band.high) + fixed,
        output_per_call=output_per_call,
        output_upper_per_call=output_upper_tokens(step, model),
        priced=price is not None,
        price_source=price.source if price is not None else "unknown",
        unrendered=unrendered,
        render_stopped=stopped,
    )
    _price(estimate, model)
    return estimate


def _price(estimate: StepEstimate, model: ir.ModelDecl) -> None:
    usage = {"input_tokens": estimate.input_tokens, "output_tokens": estimate.output_tokens}
    estimate.cost_batch = usage_cost(model, usage, batch=True)
    estimate.cost_realtime = usage_cost(model, usage, batch=False)
    extra = Decimal(str(round(estimate.retry_calls + estimate.gate_calls, 4)))
    if estimate.calls:
        estimate.extra_batch = estimate.cost_batch * extra / estimate.calls
        estimate.extra_realtime = estimate.cost_realtime * extra / estimate.calls
    upper = {"input_tokens": estimate.input_tokens_high, "output_tokens": estimate.output_tokens_upper}
    estimate.upper_cost = usage_cost(model, upper, batch=estimate.mode == "batch")


def request_overhead(step: ir.StepDecl, model: ir.ModelDecl) -> int:
    """Input tokens every request of the step adds to its prompt text: message framing and
    the output schema, in the provider's own tokens (see calibration.py)."""
    from octolang.cost.tokens import count_tokens

    schema = step.output_schema or {}
    band = calibration.band_for(model.provider)
    if model.provider == "openai":
        messages = (2 if step.system else 1) * (calibration.MESSAGE_TOKENS + calibration.ROLE_TOKENS)
        schema_tokens = count_tokens(calibration.openai_schema_json(step.name, schema)) if schema else 0
        return messages + calibration.REPLY_PRIMING + schema_tokens
    if model.provider == "anthropic":
        if not schema:
            return 0
        tool = count_tokens(calibration.tool_json(step.name, schema))
        return math.ceil(tool * band.point) + calibration.ANTHROPIC_TOOL_PROMPT
    if schema:  # Gemini (and others): the schema as sent, counted like prompt text
        return math.ceil(count_tokens(json.dumps(schema, separators=(",", ":"))) * band.point)
    return 0


def expected_output_tokens(step: ir.StepDecl, model: ir.ModelDecl) -> int:
    from octolang.cost.tokens import count_tokens

    schema = step.output_schema or {}
    band = calibration.band_for(model.provider)
    if not schema:
        return sizes.DEFAULT_FREE_TEXT_TOKENS
    expected = math.ceil(count_tokens(sizes.expected_answer(schema)) * band.point)
    return min(expected, output_upper_tokens(step, model))


def output_upper_tokens(step: ir.StepDecl, model: ir.ModelDecl) -> int:
    """Most output tokens a request can bill: `max_tokens`, or less when the output type's
    limits (string lengths, list sizes, enums) bound the answer."""
    from octolang.cost.tokens import count_tokens

    max_tokens = int(model.setting("max_tokens", sizes.DEFAULT_MAX_TOKENS))
    schema = step.output_schema or {}
    bound = sizes.structural_upper(schema, count_tokens) if schema else None
    if bound is not None:
        bound = math.ceil(bound * calibration.band_for(model.provider).high)
    return max_tokens if bound is None else min(max_tokens, bound)


def _render_all(
    program: ir.Program, step: ir.StepDecl, model: ir.ModelDecl, units: list[dict[str, Any]]
) -> tuple[list[str | None], list[str], int, str]:
    """Every unit's system and prompt text for the step's first attempt, as the runner
    renders them; upstream outputs at their expected sizes. Returns the system texts, the
    prompt texts, how many units could not be rendered, and why rendering stopped early if
    it did: a batch of `RENDERS_PER_CLOCK` renders past `RENDER_SECONDS`, a text past
    `MAX_PROMPT_CHARS` or `RENDER_MEMORY_BYTES` more memory stops the step's rendering
    (the template would do the same for every unit)."""
    from octolang.runtime.requests import CompiledPrompt
    from octolang.sandbox import Record, SandboxTimeout, TimeLimit
    from octolang.sandbox.isolate import memory_bound
    from octolang.templates import RenderTooLarge, render_flat

    prompt = CompiledPrompt(step, model)
    upstream: dict[str, Any] = {}
    for name in step.depends_on:
        dep = program.step(name)
        value = sizes.expected_value(dep.output_schema or {}) if dep is not None else {}
        upstream[name] = Record(value) if isinstance(value, dict) else value
    # One flat context, shared by every render, with only `unit` changing: Template.render
    # would copy the environment's globals into a new context per call, which is most of
    # the time of 100,000 small renders. The output is the same text.
    shared: dict[str, Any] = dict(prompt.prompt.globals)
    shared.update({c.name: c.resolved for c in program.consts}, **upstream, feedback="", attempt=1)
    rendered: list[tuple[str | None, str]] = []  # appended once per unit, whenever the clock strikes
    stopped = ""
    with TimeLimit(RENDER_SECONDS) as limit, memory_bound(RENDER_MEMORY_BYTES):
        try:
            for index, fields in enumerate(units):
                if index % RENDERS_PER_CLOCK == 0:  # a render stuck for RENDER_SECONDS is stopped, at
                    limit.arm()  # most that long after its batch began; arming per render costs a tenth more
                shared["unit"] = Record(fields)
                try:
                    text = render_flat(prompt.prompt, shared)
                    if prompt.system is None or prompt.fixed_system is not None:
                        system_text = prompt.fixed_system
                    else:
                        system_text = render_flat(prompt.system, shared)
                except (SandboxTimeout, RenderTooLarge, MemoryError):
                    raise
                except Exception:
                    continue
                rendered.append((system_text, text))
            limit.disarm()  # inside the `try`: a strike after the last render is caught too
        except SandboxTimeout:
            stopped = f"a prompt took more than {RENDER_SECONDS:g} s"
        except MemoryError:
            stopped = f"a prompt needed more than {RENDER_MEMORY_BYTES // 2**20} MB"
        except RenderTooLarge as exc:
            stopped = str(exc)
    # a render past a bound stops the step: the template would do the same for every unit
    systems = [system for system, _ in rendered]
    prompts = [text for _, text in rendered]
    failed = len(units) - len(rendered)
    return systems, prompts, failed, stopped


def _count(systems: list[str | None], prompts: list[str]) -> list[int]:
    """o200k counts of each request's texts; a text many units share (a system prompt, a
    prompt that reads only a `vary` value) is counted once."""
    from octolang.cost.tokens import count_tokens

    known: dict[str, int] = {}
    counts: list[int] = []
    for system, text in zip(systems, prompts, strict=True):
        count = known.get(text)
        if count is None:
            count = known[text] = count_tokens(text)
        if system:
            extra = known.get(system)
            if extra is None:
                extra = known[system] = count_tokens(system)
            count += extra
        counts.append(count)
    return counts
