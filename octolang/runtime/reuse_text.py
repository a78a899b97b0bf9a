"""What reuse looks like to the user: the plan (before a run, in `octoc check`), the
estimate of the new spend only, and what a run took over (status, report, inspect)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from octolang.runtime.reuse import ReusePlan
from octolang.runtime.store import RunStore, StoreError


def new_spend(estimate: Any, plan: ReusePlan) -> Any:
    """The estimate of what the run will send: each llm step's figures times the share of
    units it runs (an estimate without llm steps is None and stays so)."""
    if estimate is None:
        return None
    steps = []
    for step in estimate.steps:
        share = plan.run_share(step.step)
        factor = Decimal(str(round(share, 6)))
        steps.append(
            dataclasses.replace(
                step,
                units=round(step.units * share),
                calls=round(step.calls * share),
                retry_calls=step.retry_calls * share,
                gate_calls=step.gate_calls * share,
                input_tokens=round(step.input_tokens * share),
                input_tokens_low=round(step.input_tokens_low * share),
                input_tokens_high=round(step.input_tokens_high * share),
                cost_batch=step.cost_batch * factor,
                cost_realtime=step.cost_realtime * factor,
                extra_batch=step.extra_batch * factor,
                extra_realtime=step.extra_realtime * factor,
                upper_cost=step.upper_cost * factor,
            )
        )
    return dataclasses.replace(estimate, steps=steps)


def plan_text(plan: ReusePlan, estimate: Any = None) -> str:
    """`reusing run X (6 units found): reuse line for 6 units; run review for 6 units, $0.0019`."""
    from octolang.cost.render import money

    parts = []
    for line in plan.lines():
        if line.startswith("run ") and estimate is not None:
            step = estimate.step(line.split()[1])
            if step is not None:
                line += f", {money(step.cost)}"
        parts.append(line)
    saved = sum((s.saved for s in plan.steps.values()), Decimal(0))
    head = f"reusing run {plan.from_run} ({plan.units:,} of its units found)"
    tail = f"; saves {money(saved)} paid then" if saved else ""
    new = f"; new spend estimated {money(estimate.total)}" if estimate is not None else ""
    return f"{head}: " + "; ".join(parts or ["nothing to take over"]) + new + tail


@dataclass
class ReuseAccount:
    """What a run did not pay for: per step, answers taken over from an earlier run or served
    by the answer store, the runs they came from, and what they cost when paid."""

    steps: dict[str, dict[str, int]] = field(default_factory=dict)  # step -> source -> units
    runs: list[str] = field(default_factory=list)
    saved: Decimal = Decimal(0)
    taken_from: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "taken_over_from": self.taken_from,
            "steps": self.steps,
            "from_runs": self.runs,
            "saved_usd": str(self.saved),
        }

    def lines(self) -> list[str]:
        from octolang.cost.render import money

        if not self.steps:
            return []
        words = {"run": "taken over", "checked": "checked again", "answers": "from the answer store"}
        parts = []
        for step, sources in self.steps.items():
            said = ", ".join(f"{n:,} unit{'' if n == 1 else 's'} {words.get(k, k)}" for k, n in sources.items())
            parts.append(f"  {step}: {said}")
        origin = f" (from run {', '.join(self.runs)})" if self.runs else ""
        return [f"reused{origin}, saving {money(self.saved)}:", *parts]


def reuse_account(store: RunStore) -> ReuseAccount:
    """The run's `reused` table summed up (empty for a run made before it existed)."""
    account = ReuseAccount(taken_from=store.meta_value("takeover_from"))
    try:
        rows = store.query(
            "SELECT step, source, COUNT(DISTINCT unit_id), SUM(CAST(saved AS REAL)) FROM reused GROUP BY step, source"
        )
        runs = store.query("SELECT DISTINCT from_run FROM reused WHERE from_run IS NOT NULL ORDER BY from_run")
        saved = store.query("SELECT saved FROM reused")
    except StoreError:
        return account
    for step, source, units, _ in rows:
        account.steps.setdefault(step, {})[source] = int(units)
    account.runs = [r[0] for r in runs]
    account.saved = sum((Decimal(s or "0") for (s,) in saved), Decimal(0))
    return account


def unit_reuse(store: RunStore, unit_id: str) -> dict[tuple[str, int], tuple[str, str | None]]:
    """(step, attempt) -> (source, run it came from) for one unit's reused attempts."""
    try:
        rows = store.query("SELECT step, attempt, source, from_run FROM reused WHERE unit_id = ?", (unit_id,))
    except StoreError:
        return {}
    return {(step, int(attempt)): (source, from_run) for step, attempt, source, from_run in rows}
