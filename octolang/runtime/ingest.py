"""Taking a finished chunk's results into the run state, one transaction per chunk:
each answer parsed and validated, matched to its unit by custom id, paid usage kept
whatever the verdict."""

from __future__ import annotations

import json
import sqlite3
from contextlib import nullcontext
from decimal import Decimal
from typing import Any

from octolang import ir
from octolang.pricing import usage_cost
from octolang.providers.base import Result
from octolang.runtime.context import RunContext, crash_point
from octolang.runtime.snapshot import Snapshot
from octolang.runtime.store import now

_RULES: dict[int, Any] = {}


def ingest_chunk(
    runner: RunContext,
    snap: Snapshot,
    step: ir.StepDecl,
    chunk_id: str,
    route: str,
    results: list[Result],
    *,
    failed: bool,
    reason: str = "the batch failed as a whole",
    requeue: list[Result] | None = None,
    paid: bool = True,
    db: sqlite3.Connection | None = None,
) -> None:
    """Take a chunk's results in. Requests in `requeue` (an account stop inside the results:
    never run, never billed) are neither answered nor failed: they move, with their attempt
    and custom id, into a new chunk recorded as an intent, sent when the run goes on.
    Answers not `paid` (served by the answer store, runtime/answers.py) cost nothing here;
    `db`: the caller's open transaction, which then holds this one's changes too."""
    from octolang.providers.registry import route_mode
    from octolang.runtime.llm_output import check_answer, compile_rules

    rules = _RULES.get(id(step))
    if rules is None:
        rules = _RULES[id(step)] = compile_rules(step, runner.filename)
    model = runner.model_for(step)
    batch = route_mode(route) == "batch"
    by_id = {r.custom_id: r for r in results}
    waiting = {r.custom_id for r in requeue or []}
    attempts = runner.store.query("SELECT unit_id, attempt, custom_id FROM attempts WHERE chunk = ?", (chunk_id,))
    finished = now()
    with nullcontext(db) if db is not None else runner.store.transaction() as db:
        if waiting:
            new_chunk = f"{step.name}-{int(finished * 1000)}-{min(waiting)}"
            db.execute(
                "INSERT INTO chunks (id, step, provider, status, requests, created_at, error) "
                "VALUES (?, ?, ?, 'intent', ?, ?, ?)",
                (new_chunk, step.name, route, len(waiting), finished, f"waits after an account stop in {chunk_id}"),
            )
            db.executemany(
                "UPDATE attempts SET chunk = ?, status = 'queued' WHERE custom_id = ?",
                [(new_chunk, cid) for cid in sorted(waiting)],
            )
        for uid, attempt, custom_id in attempts:
            if custom_id in waiting:
                continue
            result = by_id.get(custom_id)
            if result is None or result.status != "ok" or result.text is None:
                why = (
                    reason
                    if failed
                    else "the provider returned no result for this request"
                    if result is None
                    else f"{result.status}: {result.error or 'no answer'}"
                )
                # the provider's fault (expiry, a 5xx, no result at all) is sent again, never counted
                fault = None if failed else "provider" if result is None or result.status == "expired" else result.fault
                problems = json.dumps({"error": why, "fault": fault} if fault else {"error": why})
                db.execute(
                    "UPDATE attempts SET status = 'error', problems = ?, response = ?, finished_at = ? "
                    "WHERE unit_id = ? AND step = ? AND attempt = ?",
                    (problems, result.raw if result else None, finished, uid, step.name, attempt),
                )
                _count(snap, uid, step.name, error=True, problems=problems, counted=fault is None)
                continue
            cost = usage_cost(model, result.usage, batch=batch) if paid else Decimal(0)
            row = snap.units.get(uid)
            context: dict[str, Any] = {"unit": row.fields if row else {}}
            for dep in step.depends_on:
                context[dep] = snap.results.get(dep, {}).get(uid, {})
            context.update(runner.consts)
            check = check_answer(result.text, step.output_schema or {}, rules, context)
            if check.kind == "ok" and check.output is not None:
                output = json.dumps(check.output, separators=(",", ":"))
                db.execute(
                    "UPDATE attempts SET status = 'done', response = ?, output = ?, usage = ?, cost = ?, "
                    "kind = 'ok', finished_at = ? WHERE unit_id = ? AND step = ? AND attempt = ?",
                    (result.raw, output, json.dumps(result.usage), str(cost), finished, uid, step.name, attempt),
                )
                db.execute("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)", (uid, step.name, output, attempt))
                snap.results[step.name][uid] = check.output
            else:
                problems = json.dumps({"kind": check.kind, "problems": check.problems, "feedback": check.feedback()})
                db.execute(
                    "UPDATE attempts SET status = 'invalid', response = ?, problems = ?, kind = ?, "
                    "usage = ?, cost = ?, finished_at = ? WHERE unit_id = ? AND step = ? AND attempt = ?",
                    (
                        result.raw,
                        problems,
                        check.kind,
                        json.dumps(result.usage),
                        str(cost),
                        finished,
                        uid,
                        step.name,
                        attempt,
                    ),
                )
                _count(snap, uid, step.name, error=False, problems=problems)
            snap.open.pop((uid, step.name), None)
        db.execute(
            "UPDATE chunks SET status = ?, finished_at = ? WHERE id = ?",
            ("failed" if failed else "ended", finished, chunk_id),
        )
        crash_point("mid-ingest")  # inside the transaction: everything above must roll back


def _count(snap: Snapshot, uid: str, step: str, *, error: bool, problems: str, counted: bool = True) -> None:
    invalid, errors, _ = snap.invalid.get((uid, step), (0, 0, None))
    snap.invalid[(uid, step)] = (invalid + (0 if error else 1), errors + (1 if error and counted else 0), problems)
    if not counted:
        lost, first = snap.lost.get((uid, step), (0, now()))
        snap.lost[(uid, step)] = (lost + 1, first)
    snap.open.pop((uid, step), None)
