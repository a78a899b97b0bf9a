"""Reopening failed units (`octoc retry`): they become pending again in the same run, with
every answer already paid for kept.

A unit failed at an llm step starts a new generation of that step, so its failure count
starts again (the attempts so far stay in the run, with their answers and costs, and the
next attempt number follows them, so that no custom id is reused). Its gates' retry counts
start again too, so that a gate that gave up gets its retries back; a gate still false on
the answers the unit has sends it back as it would have. Compute steps simply run again.
"""

from __future__ import annotations

from dataclasses import dataclass

from octolang import ir
from octolang.runtime.store import RunStore


@dataclass
class Reopened:
    units: int
    by_step: dict[str, int]


def reopen_failed(store: RunStore, program: ir.Program, *, step: str | None, reason: str | None) -> Reopened:
    """Make the failed units (all; or those failed at `step`; or whose reason contains
    `reason`, case-insensitively) pending again, in one transaction."""
    rows = store.query("SELECT id, failed_step, reason FROM units WHERE status = 'failed' ORDER BY ordinal")
    chosen = [
        (uid, failed_step)
        for uid, failed_step, why in rows
        if (step is None or failed_step == step) and (reason is None or reason.lower() in (why or "").lower())
    ]
    by_step: dict[str, int] = {}
    with store.transaction() as db:
        for uid, failed_step in chosen:
            db.execute("UPDATE units SET status = 'pending', reason = NULL, failed_step = NULL WHERE id = ?", (uid,))
            db.execute("UPDATE gates SET retries = 0 WHERE unit_id = ? AND passed = 0", (uid,))
            decl = program.step(failed_step) if failed_step else None
            if decl is not None and decl.kind == "llm":
                db.execute(
                    "INSERT INTO generations (unit_id, step, generation, feedback) VALUES (?, ?, 1, NULL) "
                    "ON CONFLICT (unit_id, step) DO UPDATE SET generation = generations.generation + 1",
                    (uid, failed_step),
                )
            by_step[failed_step or "?"] = by_step.get(failed_step or "?", 0) + 1
    return Reopened(len(chosen), by_step)


def failure_summary(store: RunStore) -> list[tuple[str, str, int]]:
    """(step, reason, units) of the failed units, most frequent first, for choosing a filter."""
    counts: dict[tuple[str, str], int] = {}
    for failed_step, why in store.query("SELECT failed_step, reason FROM units WHERE status = 'failed'"):
        key = (failed_step or "?", (why or "").split(":", 1)[0][:80])
        counts[key] = counts.get(key, 0) + 1
    return sorted(((s, r, n) for (s, r), n in counts.items()), key=lambda t: (-t[2], t[0], t[1]))
