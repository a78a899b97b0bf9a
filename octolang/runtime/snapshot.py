"""One read of the run state, shaped for the scheduler's decisions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from octolang.runtime.store import RunStore

Key = tuple[str, str]  # (unit id, step)


@dataclass
class UnitRow:
    ordinal: int
    fields: dict[str, Any]
    status: str
    reason: str | None


@dataclass
class Snapshot:
    units: dict[str, UnitRow] = field(default_factory=dict)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # step -> unit -> output
    open: dict[Key, int] = field(default_factory=dict)  # in-flight attempt number
    attempts: dict[Key, int] = field(default_factory=dict)  # highest attempt number
    generation: dict[Key, tuple[int, str | None]] = field(default_factory=dict)  # (gen, pending feedback)
    invalid: dict[Key, tuple[int, int, str | None]] = field(default_factory=dict)  # in this generation
    last_error: dict[Key, float] = field(default_factory=dict)  # when the latest provider error came back
    # errors that were the provider's fault (expiry, a 5xx inside the results): how many in
    # this generation, since when; never counted toward the unit, bounded by a pause
    lost: dict[Key, tuple[int, float]] = field(default_factory=dict)
    gates: dict[tuple[str, int], tuple[int, bool]] = field(default_factory=dict)  # (retries, passed)

    def done(self, unit: str, step: str) -> bool:
        outputs = self.results.get(step)
        return outputs is not None and unit in outputs


def load_snapshot(store: RunStore, steps: list[str], pending_only: bool = True) -> Snapshot:
    snap = Snapshot()
    where = " WHERE status = 'pending'" if pending_only else ""
    for uid, ordinal, fields, status, reason in store.query(
        f"SELECT id, ordinal, fields, status, reason FROM units{where} ORDER BY ordinal"
    ):
        snap.units[uid] = UnitRow(ordinal, json.loads(fields), status, reason)
    for step in steps:
        snap.results[step] = {}
    for uid, step, output in store.query("SELECT unit_id, step, output FROM results"):
        if uid in snap.units and step in snap.results:
            snap.results[step][uid] = json.loads(output)
    for uid, step, attempt in store.query(
        "SELECT unit_id, step, attempt FROM attempts WHERE status IN ('queued', 'submitted')"
    ):
        snap.open[(uid, step)] = attempt
    for uid, step, attempt in store.query("SELECT unit_id, step, MAX(attempt) FROM attempts GROUP BY unit_id, step"):
        snap.attempts[(uid, step)] = attempt
    for uid, step, gen, feedback in store.query("SELECT unit_id, step, generation, feedback FROM generations"):
        snap.generation[(uid, step)] = (gen, feedback)
    for uid, step, invalid, errors, lost, first_lost, last_error, problems in store.query(
        "SELECT a.unit_id, a.step, SUM(a.status = 'invalid'), "
        "SUM(a.status = 'error' AND json_extract(a.problems, '$.fault') IS NULL), "
        "SUM(a.status = 'error' AND json_extract(a.problems, '$.fault') IS NOT NULL), "
        "MIN(CASE WHEN json_extract(a.problems, '$.fault') IS NOT NULL THEN a.created_at END), "
        "MAX(CASE WHEN a.status = 'error' THEN a.finished_at END), "
        "(SELECT b.problems FROM attempts b WHERE b.unit_id = a.unit_id AND b.step = a.step "
        " ORDER BY b.attempt DESC LIMIT 1) "
        "FROM attempts a LEFT JOIN generations g ON g.unit_id = a.unit_id AND g.step = a.step "
        "WHERE a.generation = COALESCE(g.generation, 0) AND a.status IN ('invalid', 'error') "
        "GROUP BY a.unit_id, a.step"
    ):
        snap.invalid[(uid, step)] = (int(invalid or 0), int(errors or 0), problems)
        if lost:
            snap.lost[(uid, step)] = (int(lost), float(first_lost))
        if last_error is not None:
            snap.last_error[(uid, step)] = float(last_error)
    for uid, gate, retries, passed in store.query("SELECT unit_id, gate, retries, passed FROM gates"):
        snap.gates[(uid, gate)] = (retries, bool(passed))
    return snap
