"""The estimate as a table for people (Infracost-style: a row per step, totals, the saving
of batch over realtime) and as the `estimate` object of `octoc check --json`."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from octolang.cost.figures import Estimate
from octolang.pricing import prices_file


def money(amount: Decimal) -> str:
    """Dollars with enough digits that a cheap step is not shown as $0.00."""
    if amount == 0:
        return "$0"
    if abs(amount) >= 100:
        return f"${amount:,.2f}"
    if abs(amount) >= Decimal("0.01"):
        return f"${amount:.4f}"
    return f"${amount:.6f}"


def _tokens(value: int, low: int, high: int) -> str:
    return f"{value:,}" if low == high else f"{value:,} ({low:,}-{high:,})"


def estimate_text(estimate: Estimate, budget: Decimal | None = None) -> str:
    headers = [
        "step",
        "model",
        "units",
        "calls",
        "+retry/gate",
        "input tokens",
        "output exp/upper",
        "batch",
        "realtime",
    ]
    rows = []
    for s in estimate.steps:
        rows.append(
            [
                s.step,
                f"{s.provider} {s.model} ({s.mode})",
                f"{s.units:,}",
                f"{s.calls:,}",
                f"{s.retry_calls:,.1f}/{s.gate_calls:,.1f}",
                _tokens(s.input_tokens, s.input_tokens_low, s.input_tokens_high),
                f"{s.output_tokens:,}/{s.output_tokens_upper:,}",
                money(s.cost_batch) + ("" if s.priced else " ?"),
                money(s.cost_realtime) + ("" if s.priced else " ?"),
            ]
        )
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    right = {2, 3, 4, 5, 6, 7, 8}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = ["  estimate (before the run; tokens counted offline, output at expected size)"]
    out.append("  " + line(headers))
    out.append("  " + line(["-" * w for w in widths]))
    out.extend("  " + line(r) for r in rows)
    extra_batch = sum((s.extra_batch for s in estimate.steps), Decimal(0))
    extra_realtime = sum((s.extra_realtime for s in estimate.steps), Decimal(0))
    first_calls = sum((s.cost_batch for s in estimate.steps), Decimal(0))
    first_realtime = sum((s.cost_realtime for s in estimate.steps), Decimal(0))
    out.append(f"  first calls             {money(first_calls)} batch, {money(first_realtime)} realtime")
    out.append(f"  retries and gates       {money(extra_batch)} batch, {money(extra_realtime)} realtime (expected)")
    out.append(
        f"  total                   {money(estimate.total)} in the models' modes "
        f"(all batch {money(estimate.total_batch)}, all realtime {money(estimate.total_realtime)}; "
        f"batch saves {money(estimate.total_realtime - estimate.total_batch)})"
    )
    out.append(
        f"  upper bound             {money(estimate.total_upper)} (every answer at max_tokens or its type's limit)"
    )
    user = prices_file()
    mine = f" (and the prices file {user[0]} first)" if user is not None and user[2] is None else ""
    out.append(f"  prices as of {estimate.prices_as_of}{mine}; tokens: {'; '.join(estimate.tokenizers)}")
    if budget is not None:
        verdict = "within it" if estimate.total <= budget else "ABOVE it: `octoc run` refuses without --over-budget"
        out.append(f"  budget {money(budget)}: the estimate is {verdict}")
    out.extend(f"  warning: {w}" for w in estimate.warnings)
    return "\n".join(out)


def estimate_json(estimate: Estimate, budget: Decimal | None = None) -> dict[str, Any]:
    data = estimate.to_json()
    data["budget_usd"] = None if budget is None else str(budget)
    data["over_budget"] = budget is not None and estimate.total > budget
    return data


def accounting_table(accounts: list[Any]) -> str:
    """Estimate against actual per llm step (`octolang.runtime.status.StepAccount`), and
    what the estimate says the rest will cost; empty for a pipeline without llm steps."""
    if not accounts:
        return ""
    headers = [
        "step",
        "calls est/actual",
        "input est/actual",
        "output est/actual",
        "cost est",
        "spent",
        "left",
        "to go",
    ]
    rows = [
        [
            a.name,
            f"{a.estimated_calls:,}/{a.requests:,}",
            f"{a.estimated_input:,}/{a.input_tokens:,}",
            f"{a.estimated_output:,}/{a.output_tokens:,}",
            money(a.estimated_cost),
            money(a.spend),
            f"{a.units_left:,}",
            money(a.remaining_cost),
        ]
        for a in accounts
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    spent = sum((a.spend for a in accounts), Decimal(0))
    estimated = sum((a.estimated_cost for a in accounts), Decimal(0))
    to_go = sum((a.remaining_cost for a in accounts), Decimal(0))
    out = ["cost: estimate against actual (expected calls incl. retries and gates; every request made)"]
    out.append("  " + line(headers))
    out.append("  " + line(["-" * w for w in widths]))
    out.extend("  " + line(r) for r in rows)
    out.append(
        f"  spent {money(spent)} of an estimated {money(estimated)}; the units left would cost about {money(to_go)}"
    )
    return "\n".join(out)
