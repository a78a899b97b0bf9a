"""What an estimate says: per llm step, its calls, tokens and costs in each mode, and the
totals. Data only, shared by the estimate (estimate.py), the exact counter (exact.py) and
the renderings (render.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass
class StepEstimate:
    step: str
    provider: str
    model: str
    mode: str  # "batch" or "realtime": the price the run pays
    units: int
    calls: int
    retry_calls: float
    gate_calls: float
    input_tokens: int
    input_tokens_low: int
    input_tokens_high: int
    max_input_per_call: int
    output_per_call: int
    output_upper_per_call: int
    priced: bool
    price_source: str
    cost_batch: Decimal = Decimal(0)
    cost_realtime: Decimal = Decimal(0)
    extra_batch: Decimal = Decimal(0)
    extra_realtime: Decimal = Decimal(0)
    upper_cost: Decimal = Decimal(0)
    unrendered: int = 0
    render_stopped: str = ""  # why rendering stopped at a bound, if it did

    @property
    def output_tokens(self) -> int:
        return self.calls * self.output_per_call

    @property
    def output_tokens_upper(self) -> int:
        return self.calls * self.output_upper_per_call

    @property
    def cost(self) -> Decimal:
        """What the run is expected to pay for this step in its mode, extra calls included."""
        if self.mode == "batch":
            return self.cost_batch + self.extra_batch
        return self.cost_realtime + self.extra_realtime

    @property
    def cost_per_call(self) -> Decimal:
        base = self.cost_batch if self.mode == "batch" else self.cost_realtime
        return base / self.calls if self.calls else Decimal(0)

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "provider": self.provider,
            "model": self.model,
            "mode": self.mode,
            "units": self.units,
            "calls": self.calls,
            "retry_calls": round(self.retry_calls, 2),
            "gate_calls": round(self.gate_calls, 2),
            "input_tokens": self.input_tokens,
            "input_tokens_low": self.input_tokens_low,
            "input_tokens_high": self.input_tokens_high,
            "max_input_tokens_per_call": self.max_input_per_call,
            "output_tokens_expected": self.output_tokens,
            "output_tokens_upper": self.output_tokens_upper,
            "priced": self.priced,
            "price_source": self.price_source,
            "cost_batch_usd": str(_cents(self.cost_batch)),
            "cost_realtime_usd": str(_cents(self.cost_realtime)),
            "extra_batch_usd": str(_cents(self.extra_batch)),
            "extra_realtime_usd": str(_cents(self.extra_realtime)),
            "cost_usd": str(_cents(self.cost)),
            "upper_cost_usd": str(_cents(self.upper_cost)),
        }


@dataclass
class Estimate:
    steps: list[StepEstimate]
    tokenizers: list[str]
    prices_as_of: str
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((s.cost for s in self.steps), Decimal(0))

    @property
    def total_batch(self) -> Decimal:
        return sum((s.cost_batch + s.extra_batch for s in self.steps), Decimal(0))

    @property
    def total_realtime(self) -> Decimal:
        return sum((s.cost_realtime + s.extra_realtime for s in self.steps), Decimal(0))

    @property
    def total_upper(self) -> Decimal:
        return sum((s.upper_cost for s in self.steps), Decimal(0))

    def step(self, name: str) -> StepEstimate | None:
        return next((s for s in self.steps if s.step == name), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "prices_as_of": self.prices_as_of,
            "tokenizers": self.tokenizers,
            "steps": [s.to_json() for s in self.steps],
            "totals": {
                "calls": sum(s.calls for s in self.steps),
                "extra_calls": round(sum(s.retry_calls + s.gate_calls for s in self.steps), 2),
                "input_tokens": sum(s.input_tokens for s in self.steps),
                "output_tokens_expected": sum(s.output_tokens for s in self.steps),
                "output_tokens_upper": sum(s.output_tokens_upper for s in self.steps),
                "cost_usd": str(_cents(self.total)),
                "cost_batch_usd": str(_cents(self.total_batch)),
                "cost_realtime_usd": str(_cents(self.total_realtime)),
                "batch_saving_usd": str(_cents(self.total_realtime - self.total_batch)),
                "upper_cost_usd": str(_cents(self.total_upper)),
            },
            "warnings": self.warnings,
        }


def _cents(amount: Decimal) -> Decimal:
    """Money shown to 1/10,000 of a cent; sums are kept exact until shown."""
    return amount.quantize(Decimal("0.000001"))
