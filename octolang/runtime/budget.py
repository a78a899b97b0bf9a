"""The budget: no chunk is submitted if actual spend plus what is in flight plus the
chunk's own worst case would pass it."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from octolang import ir
from octolang.pricing import usage_cost
from octolang.runtime.store import RunStore

# Without the cost estimator's token counts, a request's worst case is its model's
# max_tokens of output plus this many input tokens.
WORST_INPUT_TOKENS = 4000
DEFAULT_MAX_TOKENS = 4096


def spent(store: RunStore) -> Decimal:
    total = Decimal(0)
    for (cost,) in store.query("SELECT cost FROM attempts WHERE cost IS NOT NULL"):
        total += Decimal(cost)
    return total


def worst_case(model: ir.ModelDecl, requests: int) -> Decimal:
    max_out = int(model.setting("max_tokens", DEFAULT_MAX_TOKENS))
    return requests * usage_cost(model, {"input_tokens": WORST_INPUT_TOKENS, "output_tokens": max_out})


class BudgetGuard:
    def __init__(self, store: RunStore, budget: Decimal | None, model_of: Callable[[str], ir.ModelDecl | None]) -> None:
        self.budget = budget
        self.store = store
        self.model_of = model_of
        self._committed: Decimal | None = None

    def admit(self, model: ir.ModelDecl, step: ir.StepDecl, requests: int) -> str | None:
        """None to go ahead, or why not."""
        if self.budget is None:
            return None
        if self._committed is None:
            self._committed = spent(self.store) + self._in_flight()
        cost = worst_case(model, requests)
        if self._committed + cost > self.budget:
            return (
                f"budget ${self.budget} reached: spent and in flight ${self._committed:.4f}, the next "
                f"{requests} requests of `{step.name}` could cost up to ${cost:.4f}; "
                "run again with a higher `--budget` to go on"
            )
        self._committed += cost
        return None

    def _in_flight(self) -> Decimal:
        total = Decimal(0)
        for step_name, count in self.store.query(
            "SELECT step, COUNT(*) FROM attempts WHERE status IN ('queued', 'submitted') GROUP BY step"
        ):
            model = self.model_of(step_name)
            if model is not None:
                total += worst_case(model, int(count))
        return total
