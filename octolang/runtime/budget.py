"""The budget, twice: before the run, `octoc run` refuses a pipeline whose estimate is
above it (unless told `--over-budget`); during the run, no chunk is submitted if actual
spend plus what is in flight plus the chunk's own worst case would pass it.

A request's worst case is its input plus its most output: `max_tokens`, or less when the
output type bounds the answer (the estimator's per-request upper bound). The input of a
request in flight is bounded by its recorded body's length; that of the next chunk is
bounded the same way when the runner passes its bodies to `admit`, else
`WORST_INPUT_TOKENS` (or the step's `input_bound`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from octolang import ir
from octolang.pricing import usage_cost
from octolang.runtime.store import RunStore

if TYPE_CHECKING:
    from octolang.cost.figures import Estimate

WORST_INPUT_TOKENS = 4000
DEFAULT_MAX_TOKENS = 4096
# Input tokens a provider adds to a recorded body's text: OpenAI's message framing (11),
# Anthropic's tool-use system prompt (313-346), with room to spare (docs/cost.md).
FRAMING_TOKENS = 400


def spent(store: RunStore) -> Decimal:
    total = Decimal(0)
    for (cost,) in store.query("SELECT cost FROM attempts WHERE cost IS NOT NULL"):
        total += Decimal(cost)
    return total


def output_bound(schema: Mapping[str, Any] | None, max_tokens: int, provider: str) -> int:
    """Most output tokens one request can bill: `max_tokens`, or the output type's bound
    in o200k tokens times the provider's high calibration factor (octolang/cost/)."""
    if not schema:
        return max_tokens
    import math

    from octolang.cost.calibration import band_for
    from octolang.cost.sizes import structural_upper
    from octolang.cost.tokens import count_tokens

    bound = structural_upper(dict(schema), count_tokens)
    return max_tokens if bound is None else min(max_tokens, math.ceil(bound * band_for(provider).high))


def worst_case(
    model: ir.ModelDecl, requests: int, *, schema: Mapping[str, Any] | None = None, input_tokens: int | None = None
) -> Decimal:
    max_out = int(model.setting("max_tokens", DEFAULT_MAX_TOKENS))
    usage = {
        "input_tokens": input_tokens if input_tokens is not None else WORST_INPUT_TOKENS,
        "output_tokens": output_bound(schema, max_out, model.provider),
    }
    return requests * usage_cost(model, usage)


def estimate_refusal(estimate: Estimate, budget: Decimal | None) -> str | None:
    """Why `octoc run` will not start (the estimate is above the budget), or None."""
    from octolang.cost.render import money

    if budget is None or estimate.total <= budget:
        return None
    steps = ", ".join(f"`{s.step}` {money(s.cost)}" for s in estimate.steps if s.cost)
    return (
        f"the estimate {money(estimate.total)} ({steps}; upper bound {money(estimate.total_upper)}) is above "
        f"the budget {money(budget)}; nothing was submitted. Raise `budget` in the file or pass a higher "
        "`--budget`, run a sample with `--max-units N`, or pass `--over-budget` to start anyway (the run "
        "still stops submitting before spend passes the budget). See `octoc check` for the estimate."
    )


class BudgetGuard:
    def __init__(
        self,
        store: RunStore,
        budget: Decimal | None,
        model_of: Callable[[str], ir.ModelDecl | None],
        *,
        input_bound: Mapping[str, int] | None = None,
    ) -> None:
        """`input_bound`: per step, the largest input of one request (the estimator's
        `max_input_per_call`); steps not in it use `WORST_INPUT_TOKENS`."""
        self.budget = budget
        self.store = store
        self.model_of = model_of
        self.input_bound = dict(input_bound or {})
        self._committed: Decimal | None = None

    def admit(
        self, model: ir.ModelDecl, step: ir.StepDecl, requests: int, bodies: list[dict[str, Any]] | None = None
    ) -> str | None:
        """None to go ahead, or why not. With the chunk's request `bodies`, their input is
        bounded by their length, as for requests in flight."""
        if self.budget is None:
            return None
        if self._committed is None:
            self._committed = spent(self.store) + self._in_flight()
        if bodies is not None:
            max_out = int(model.setting("max_tokens", DEFAULT_MAX_TOKENS))
            usage = {
                "input_tokens": sum(len(json.dumps(b)) for b in bodies) + len(bodies) * FRAMING_TOKENS,
                "output_tokens": len(bodies) * output_bound(step.output_schema, max_out, model.provider),
            }
            cost = usage_cost(model, usage)
        else:
            bound = self.input_bound.get(step.name)
            cost = worst_case(model, requests, schema=step.output_schema, input_tokens=bound)
        if self._committed + cost > self.budget:
            return (
                f"budget ${self.budget} reached: spent and in flight ${self._committed:.4f}, the next "
                f"{requests} requests of `{step.name}` could cost up to ${cost:.4f}; "
                "run again with a higher `--budget` to go on"
            )
        self._committed += cost
        return None

    def _in_flight(self) -> Decimal:
        """Worst case of the requests recorded and not yet answered. Their bodies are in the
        store, so their input is bounded without a tokenizer: a token of a byte-level BPE
        (o200k, Claude's, Gemini's with byte fallback) holds at least one byte, and the body's
        JSON (ASCII-escaped: at least as long as the text's UTF-8) holds the prompt, the
        system prompt and the schema; `FRAMING_TOKENS` covers what a provider adds."""
        total = Decimal(0)
        for step_name, count, length, request in self.store.query(
            "SELECT step, COUNT(*), SUM(LENGTH(request)), MIN(request) FROM attempts "
            "WHERE status IN ('queued', 'submitted') GROUP BY step"
        ):
            model = self.model_of(step_name)
            if model is None:
                continue
            schema = json.loads(request).get("schema") if request else None
            max_out = int(model.setting("max_tokens", DEFAULT_MAX_TOKENS))
            usage = {
                "input_tokens": int(length or 0) + int(count) * FRAMING_TOKENS,
                "output_tokens": int(count) * output_bound(schema, max_out, model.provider),
            }
            total += usage_cost(model, usage)
        return total


def run_estimate(
    program: ir.Program, *, provider: str | None, invalid_rate: float | None, max_units: int | None
) -> Estimate | None:
    """The estimate for the run as it will be made (`--provider`, `--max-units`), or None
    for a pipeline without llm steps (no tokenizer is loaded then)."""
    from octolang.cost.estimate import estimate_cost, has_llm_steps

    if not has_llm_steps(program):
        return None
    return estimate_cost(program, limit=max_units, provider=provider, invalid_rate=invalid_rate)
