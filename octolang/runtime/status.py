"""What a run has done so far: per-step counts, spend, unit outcomes (for reports)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

from octolang import ir
from octolang.runtime.pause import paused
from octolang.runtime.store import RunStore


@dataclass
class StepStatus:
    name: str
    kind: str
    done: int = 0
    failed: int = 0
    in_flight: int = 0
    retries: int = 0
    requests: int = 0
    spend: Decimal = Decimal(0)
    input_tokens: int = 0
    output_tokens: int = 0
    # why requests were sent again: answers that broke the schema or a rule, requests the
    # provider failed, expired or cancelled, and units a gate sent back to this step
    retried: dict[str, int] = field(default_factory=dict)


RETRY_REASONS = ("invalid", "provider_error", "expired", "cancelled", "gate")


@dataclass
class RunStatus:
    units: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    steps: list[StepStatus] = field(default_factory=list)
    batches_in_flight: int = 0
    paused: dict[str, Any] | None = None  # {cause, message, at} of a paused run (runtime/pause.py)

    @property
    def spend(self) -> Decimal:
        return sum((s.spend for s in self.steps), Decimal(0))

    def to_json(self) -> dict[str, Any]:
        return {
            "units": {
                "total": self.units,
                "done": self.done,
                "failed": self.failed,
                "skipped": self.skipped,
                "pending": self.pending,
            },
            "batches_in_flight": self.batches_in_flight,
            "paused": self.paused,
            "spend_usd": str(self.spend),
            "steps": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "done": s.done,
                    "failed": s.failed,
                    "in_flight": s.in_flight,
                    "retries": s.retries,
                    "requests": s.requests,
                    "input_tokens": s.input_tokens,
                    "output_tokens": s.output_tokens,
                    "spend_usd": str(s.spend),
                    "retried": {reason: s.retried.get(reason, 0) for reason in RETRY_REASONS},
                }
                for s in self.steps
            ],
        }


def run_status(program: ir.Program, store: RunStore) -> RunStatus:
    status = RunStatus()
    for state, count in store.query("SELECT status, COUNT(*) FROM units GROUP BY status"):
        status.units += count
        if state in ("done", "failed", "skipped", "pending"):
            setattr(status, state, count)
    by_step = {s.name: StepStatus(s.name, s.kind) for s in program.steps}
    for step, count in store.query("SELECT step, COUNT(*) FROM results GROUP BY step"):
        if step in by_step:
            by_step[step].done = count
    for step, count in store.query(
        "SELECT failed_step, COUNT(*) FROM units WHERE status = 'failed' GROUP BY failed_step"
    ):
        if step in by_step:
            by_step[step].failed = count
    for step, open_, retries, requests in store.query(
        "SELECT step, SUM(status IN ('queued', 'submitted')), SUM(attempt > 1), COUNT(*) FROM attempts GROUP BY step"
    ):
        if step in by_step:
            by_step[step].in_flight = int(open_ or 0)
            by_step[step].retries = int(retries or 0)
            by_step[step].requests = int(requests or 0)
    for step, invalid, failed, expired, cancelled in store.query(
        "SELECT step, SUM(status = 'invalid'), SUM(status = 'error'), "
        """SUM(status = 'error' AND problems LIKE '{"error": "expired%'), """
        """SUM(status = 'error' AND problems LIKE '{"error": "cancelled%') FROM attempts GROUP BY step"""
    ):
        if step in by_step:
            expired, cancelled = int(expired or 0), int(cancelled or 0)
            by_step[step].retried.update(
                invalid=int(invalid or 0),
                provider_error=int(failed or 0) - expired - cancelled,
                expired=expired,
                cancelled=cancelled,
            )
    for step, sent_back in store.query("SELECT step, SUM(generation) FROM generations GROUP BY step"):
        if step in by_step:
            by_step[step].retried["gate"] = int(sent_back or 0)
    for step, cost, usage in store.query("SELECT step, cost, usage FROM attempts WHERE cost IS NOT NULL"):
        if step in by_step:
            by_step[step].spend += Decimal(cost)
            tokens = json.loads(usage) if usage else {}
            by_step[step].input_tokens += int(tokens.get("input_tokens", 0))
            by_step[step].output_tokens += int(tokens.get("output_tokens", 0))
    status.steps = [by_step[name] for name in program.order if name in by_step]
    status.batches_in_flight = int(
        store.query("SELECT COUNT(*) FROM chunks WHERE status IN ('intent', 'submitted')")[0][0]
    )
    status.paused = paused(store)
    return status


def unit_outcomes(
    store: RunStore, *, records: bool = False
) -> Iterator[tuple[str, Mapping[str, Any], str, dict[str, Mapping[str, Any]], str | None]]:
    """(unit id, fields, status, accepted outputs by step, reason) for every unit, in unit
    order, streamed: one unit's rows at a time (results are read through their key).
    `records`: fields and outputs as read-only `Record`s (what expressions see), made
    while decoding."""
    from octolang.sandbox import record_from_json

    loads: Callable[[str], Any] = partial(json.loads, object_hook=record_from_json) if records else json.loads
    current: list[Any] | None = None
    for uid, fields, state, reason, step, output in store.stream(
        "SELECT u.id, u.fields, u.status, u.reason, r.step, r.output "
        "FROM units u LEFT JOIN results r ON r.unit_id = u.id ORDER BY u.ordinal"
    ):
        if current is None or current[0] != uid:
            if current is not None:
                yield current[0], loads(current[1]), current[2], current[4], current[3]
            current = [uid, fields, state, reason, {}]
        if step is not None:
            current[4][step] = loads(output)
    if current is not None:
        yield current[0], loads(current[1]), current[2], current[4], current[3]


# ------------------------------------------------------------ estimate against actual
ESTIMATE_KEY = "estimate"


def record_estimate(store: RunStore, estimate: Any) -> None:
    """Keep the estimate the run started with (JSON of `octolang.cost.estimate.Estimate`),
    so that status and report compare against what was promised; a resumed run keeps its first."""
    if ESTIMATE_KEY in store.meta():
        return
    with store.transaction() as db:
        store.set_meta(db, **{ESTIMATE_KEY: estimate.to_json()})


@dataclass
class StepAccount:
    """One llm step: what the estimate said, what was spent, and what is left to do."""

    name: str
    estimated_calls: int
    estimated_input: int
    estimated_output: int
    estimated_cost: Decimal
    requests: int
    input_tokens: int
    output_tokens: int
    spend: Decimal
    units_left: int
    remaining_cost: Decimal

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.name,
            "estimate": {
                "calls": self.estimated_calls,
                "input_tokens": self.estimated_input,
                "output_tokens": self.estimated_output,
                "cost_usd": str(self.estimated_cost),
            },
            "actual": {
                "requests": self.requests,
                "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens,
                "spend_usd": str(self.spend),
            },
            "units_left": self.units_left,
            "remaining_estimate_usd": str(self.remaining_cost),
        }


def step_accounts(program: ir.Program, store: RunStore) -> list[StepAccount]:
    """Estimate against actual per llm step. The estimate is the one recorded when the run
    started; a run without one (started by an older octoc) is estimated now, with the
    provider its requests went to. Remaining = the step's estimated cost per unit times the
    pending units that do not have the step's result yet."""
    llm = [s for s in (program.step(n) for n in program.order) if s is not None and s.kind == "llm"]
    if not llm:
        return []
    recorded = store.meta().get(ESTIMATE_KEY) or _estimate_now(program, store)
    estimates = {e["step"]: e for e in recorded.get("steps", [])}
    status = run_status(program, store)
    actual = {s.name: s for s in status.steps}
    accounts = []
    for step in llm:
        est = estimates.get(step.name, {})
        units = int(est.get("units", 0))
        cost = Decimal(est.get("cost_usd", "0"))
        calls = int(est.get("calls", 0))
        # retries and gates are expected extra calls: the actual counts every request made
        scale = (calls + float(est.get("retry_calls", 0)) + float(est.get("gate_calls", 0))) / calls if calls else 0.0
        pending = int(
            store.query(
                "SELECT COUNT(*) FROM units u WHERE u.status = 'pending' AND NOT EXISTS "
                "(SELECT 1 FROM results r WHERE r.unit_id = u.id AND r.step = ?)",
                (step.name,),
            )[0][0]
        )
        now_ = actual.get(step.name, StepStatus(step.name, step.kind))
        accounts.append(
            StepAccount(
                name=step.name,
                estimated_calls=round(calls * scale),
                estimated_input=round(int(est.get("input_tokens", 0)) * scale),
                estimated_output=round(int(est.get("output_tokens_expected", 0)) * scale),
                estimated_cost=cost,
                requests=now_.requests,
                input_tokens=now_.input_tokens,
                output_tokens=now_.output_tokens,
                spend=now_.spend,
                units_left=pending,
                remaining_cost=(cost * pending / units).quantize(Decimal("0.000001")) if units else Decimal(0),
            )
        )
    return accounts


def _estimate_now(program: ir.Program, store: RunStore) -> dict[str, Any]:
    from octolang.cost.estimate import estimate_cost

    rows = store.query("SELECT request FROM attempts LIMIT 1")
    provider = json.loads(rows[0][0]).get("provider") if rows else None
    mocked = provider == "mock"
    estimate = estimate_cost(program, limit=store.meta().get("max_units"), provider="mock" if mocked else None)
    result: dict[str, Any] = estimate.to_json()
    return result
