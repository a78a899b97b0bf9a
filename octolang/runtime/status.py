"""What a run has done so far: per-step counts, spend, unit outcomes (for reports)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from octolang import ir
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


@dataclass
class RunStatus:
    units: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    steps: list[StepStatus] = field(default_factory=list)
    batches_in_flight: int = 0

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
    return status


def unit_outcomes(store: RunStore) -> Iterator[tuple[str, dict[str, Any], str, dict[str, dict[str, Any]], str | None]]:
    """(unit id, fields, status, accepted outputs by step, reason) for every unit, in unit order."""
    outputs: dict[str, dict[str, dict[str, Any]]] = {}
    for uid, step, output in store.query("SELECT unit_id, step, output FROM results"):
        outputs.setdefault(uid, {})[step] = json.loads(output)
    for uid, fields, state, reason in store.query("SELECT id, fields, status, reason FROM units ORDER BY ordinal"):
        yield uid, json.loads(fields), state, outputs.get(uid, {}), reason
