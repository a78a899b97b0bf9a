"""What the pages show, read from a run's state in SQL: counts and sums are aggregated by
SQLite, lists come a page at a time (LIMIT/OFFSET on the unit ordinal's index)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from octolang import ir
from octolang.runtime.status import RETRY_REASONS, RunStatus, StepStatus
from octolang.runtime.store import RunStore

PAGE_SIZE = 50
STATUSES = ("done", "failed", "skipped", "pending")


def estimated_cost(meta: dict[str, Any]) -> Decimal | None:
    estimate = meta.get("estimate")
    if not isinstance(estimate, dict):
        return None
    return sum((Decimal(str(s.get("cost_usd", "0"))) for s in estimate.get("steps", [])), Decimal(0))


@dataclass
class Funnel:
    """One step of a run: what `octoc status` counts, plus reuse and estimate."""

    status: StepStatus
    estimate: Decimal | None = None
    retried: dict[str, int] = field(default_factory=dict)


@dataclass
class FailureGroup:
    status: str
    step: str | None
    reason: str | None
    count: int


@dataclass
class Summary:
    """What the runs list and a run's page show, from one pass over the units and one
    over the results and attempts."""

    counts: dict[str, int]
    groups: list[FailureGroup]
    status: RunStatus


def summary(program: ir.Program | None, store: RunStore, groups: int = 50) -> Summary:
    counts: dict[str, int] = {}
    failed_by_step: dict[str, int] = {}
    found = []
    for state, step, reason, count in store.query(
        "SELECT status, failed_step, reason, COUNT(*) FROM units GROUP BY status, failed_step, reason"
    ):
        counts[state] = counts.get(state, 0) + int(count)
        if state == "failed" and step is not None:
            failed_by_step[step] = failed_by_step.get(step, 0) + int(count)
        if state in ("failed", "skipped"):
            found.append(FailureGroup(state, step, reason, int(count)))
    found.sort(key=lambda g: (-g.count, g.reason or ""))
    return Summary(counts, found[:groups], step_status(program, store, counts, failed_by_step))


def step_status(
    program: ir.Program | None, store: RunStore, counts: dict[str, int], failed_by_step: dict[str, int]
) -> RunStatus:
    """The counts `octoc status` shows (runtime/status.py's RunStatus), every sum done in SQL."""
    status = RunStatus()
    for state, count in counts.items():
        status.units += count
        if state in STATUSES:
            setattr(status, state, count)
    names = list(program.order) if program is not None else []
    kinds = {s.name: s.kind for s in program.steps} if program is not None else {}
    seen = [s for (s,) in store.query("SELECT DISTINCT step FROM results UNION SELECT DISTINCT step FROM attempts")]
    names += [s for s in sorted(seen) if s not in names]
    by_step = {n: StepStatus(n, kinds.get(n, "llm" if n in seen else "compute")) for n in names}
    for step, count in store.query("SELECT step, COUNT(*) FROM results GROUP BY step"):
        if step in by_step:
            by_step[step].done = int(count)
    for step, count in failed_by_step.items():
        if step in by_step:
            by_step[step].failed = count
    for row in store.query(
        "SELECT step, SUM(status IN ('queued', 'submitted')), SUM(attempt > 1), COUNT(*), SUM(status = 'invalid'), "
        "SUM(status = 'error'), "
        """SUM(status = 'error' AND problems LIKE '{"error": "expired%'), """
        """SUM(status = 'error' AND problems LIKE '{"error": "cancelled%'), """
        "SUM(json_extract(usage, '$.input_tokens')), SUM(json_extract(usage, '$.output_tokens')), "
        "group_concat(cost, ' ') FROM attempts GROUP BY step"
    ):
        step, open_, retries, requests, invalid, errors, expired, cancelled, tokens_in, tokens_out, costs = row
        if step not in by_step:
            continue
        s = by_step[step]
        s.in_flight, s.retries, s.requests = int(open_ or 0), int(retries or 0), int(requests or 0)
        expired, cancelled = int(expired or 0), int(cancelled or 0)
        s.retried.update(
            invalid=int(invalid or 0),
            provider_error=int(errors or 0) - expired - cancelled,
            expired=expired,
            cancelled=cancelled,
        )
        s.input_tokens, s.output_tokens = int(tokens_in or 0), int(tokens_out or 0)
        s.spend = sum((Decimal(c) for c in (costs or "").split()), Decimal(0))
    for step, sent_back in store.query("SELECT step, SUM(generation) FROM generations GROUP BY step"):
        if step in by_step:
            by_step[step].retried["gate"] = int(sent_back or 0)
    for s in by_step.values():
        s.retried = {reason: s.retried.get(reason, 0) for reason in RETRY_REASONS}
    status.steps = list(by_step.values())
    status.batches_in_flight = int(
        store.query("SELECT COUNT(*) FROM chunks WHERE status IN ('intent', 'submitted')")[0][0]
    )
    paused = store.meta().get("paused")
    status.paused = paused if isinstance(paused, dict) else None
    return status


def step_estimates(meta: dict[str, Any]) -> dict[str, Decimal]:
    estimate = meta.get("estimate")
    if not isinstance(estimate, dict):
        return {}
    return {str(s["step"]): Decimal(str(s.get("cost_usd", "0"))) for s in estimate.get("steps", []) if "step" in s}


@dataclass
class UnitFilter:
    status: str | None = None
    step: str | None = None
    reason: str | None = None
    field: str | None = None
    value: str | None = None
    q: str | None = None

    def clauses(self, search_table: str | None, paging: bool = False) -> tuple[list[str], list[Any]]:
        """SQL conditions on `units u`. `paging`: for a page, read in unit order until it is
        full: a unit's results are looked up one unit at a time (stops early when many
        match); for a count, the step's results are read once."""
        where: list[str] = []
        args: list[Any] = []
        if self.status:
            where.append("u.status = ?")
            args.append(self.status)
        if self.step:
            if paging:
                where.append(
                    "(u.failed_step = ? OR EXISTS (SELECT 1 FROM results r WHERE r.unit_id = u.id AND r.step = ?))"
                )
            else:
                where.append("(u.failed_step = ? OR u.id IN (SELECT unit_id FROM results WHERE step = ?))")
            args += [self.step, self.step]
        if self.reason:
            where.append("u.reason = ?")
            args.append(self.reason)
        if self.field and self.value is not None:
            name, _, key = self.field.partition(".")
            # a cheap test of the JSON text first (the value's text must be in it), then the exact one
            needle = self.value if self.value.isascii() and not set(self.value) & set('"\\') else ""
            if name == "unit" and key:
                where.append("instr(u.fields, ?) > 0 AND CAST(json_extract(u.fields, ?) AS TEXT) = ?")
                args += [needle, _json_path(key), _as_text(self.value)]
            elif key and paging:
                where.append(
                    "EXISTS (SELECT 1 FROM results r WHERE r.unit_id = u.id AND r.step = ? "
                    "AND instr(r.output, ?) > 0 AND CAST(json_extract(r.output, ?) AS TEXT) = ?)"
                )
                args += [name, needle, _json_path(key), _as_text(self.value)]
            elif key:
                where.append(
                    "u.id IN (SELECT unit_id FROM results WHERE step = ? AND instr(output, ?) > 0 "
                    "AND CAST(json_extract(output, ?) AS TEXT) = ?)"
                )
                args += [name, needle, _json_path(key), _as_text(self.value)]
        if self.q and search_table:
            where.append(f"u.id IN (SELECT unit_id FROM {search_table} WHERE fts MATCH ?)")
            args.append(match_expression(self.q))
        return where, args

    @property
    def search_only(self) -> bool:
        return bool(self.q) and not (self.status or self.step or self.reason or self.field)

    def params(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


def match_expression(text: str) -> str:
    """The words a user typed as an FTS5 query: every word must appear (each one quoted,
    so that punctuation and FTS5's operators are plain text)."""
    words = [w.replace('"', '""') for w in text.split()]
    return " ".join(f'"{w}"' for w in words) or '""'


def _json_path(key: str) -> str:
    return "$." + json.dumps(key)


def _as_text(value: str) -> str:
    # JSON booleans read back as 1 and 0 by json_extract
    return {"true": "1", "false": "0"}.get(value, value)


@dataclass
class UnitRow:
    ordinal: int
    id: str
    status: str
    failed_step: str | None
    reason: str | None
    fields: dict[str, Any]
    snippet: str | None = None


COUNT_CAP = 10_000  # past this many units a filter's count says "more than"


def count_units(store: RunStore, filters: UnitFilter, search_table: str | None = None) -> int:
    """How many units pass the filters, counted up to COUNT_CAP + 1 (all of them without
    a filter: the count of a table is cheap)."""
    if not filters.params():
        return int(store.query("SELECT COUNT(*) FROM units")[0][0])
    if filters.search_only and search_table:
        query = f"SELECT DISTINCT unit_id FROM {search_table} WHERE fts MATCH ? LIMIT ?"
        args: list[Any] = [match_expression(filters.q or ""), COUNT_CAP + 1]
    else:
        where, args = filters.clauses(search_table)
        condition = (" WHERE " + " AND ".join(where)) if where else ""
        query = f"SELECT 1 FROM units u{condition} LIMIT ?"
        args = [*args, COUNT_CAP + 1]
    return int(store.query(f"SELECT COUNT(*) FROM ({query})", args)[0][0])


_COLUMNS = "u.ordinal, u.id, u.status, u.failed_step, u.reason, u.fields"


def units_page(
    store: RunStore, filters: UnitFilter, page: int, search_table: str | None = None, size: int = PAGE_SIZE
) -> list[UnitRow]:
    """One page of units (from 1) that pass the filters, in unit order; a search alone
    lists the units in the order of their first matching request, read from the index."""
    offset = (max(page, 1) - 1) * size
    if filters.search_only and search_table:
        ids = [
            uid
            for (uid,) in store.query(
                f"SELECT DISTINCT unit_id FROM {search_table} WHERE fts MATCH ? LIMIT ? OFFSET ?",
                (match_expression(filters.q or ""), size, offset),
            )
        ]
        marks = ", ".join("?" * len(ids))
        found = {row[1]: row for row in store.query(f"SELECT {_COLUMNS} FROM units u WHERE u.id IN ({marks})", ids)}
        rows = [found[uid] for uid in ids if uid in found]
    else:
        where, args = filters.clauses(search_table, paging=True)
        condition = (" WHERE " + " AND ".join(where)) if where else ""
        rows = store.query(
            f"SELECT {_COLUMNS} FROM units u{condition} ORDER BY u.ordinal LIMIT ? OFFSET ?", [*args, size, offset]
        )
    return [UnitRow(o, i, s, f, r, json.loads(fields)) for o, i, s, f, r, fields in rows]


@dataclass
class Attempt:
    step: str
    attempt: int
    status: str
    system: str | None
    prompt: str
    response: str | None
    output: Any
    problems: list[str]
    feedback: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost: str | None
    model: str | None


@dataclass
class Story:
    ordinal: int
    id: str
    status: str
    reason: str | None
    failed_step: str | None
    fields: dict[str, Any]
    results: list[tuple[str, Any]]
    attempts: list[Attempt]
    gates: list[tuple[int, int, bool]]  # gate number, times it sent the unit back, passed


def story(store: RunStore, ordinal: int) -> Story | None:
    """A unit's whole story: what `octoc inspect` prints."""
    rows = store.query(
        "SELECT ordinal, id, status, reason, failed_step, fields FROM units WHERE ordinal = ?", (ordinal,)
    )
    if not rows:
        return None
    o, uid, status, reason, failed_step, fields = rows[0]
    results = [
        (step, json.loads(output))
        for step, output in store.query("SELECT step, output FROM results WHERE unit_id = ?", (uid,))
    ]
    attempts = []
    for step, attempt, a_status, request, response, output, problems, feedback, usage, cost in store.query(
        "SELECT step, attempt, status, request, response, output, problems, feedback, usage, cost "
        "FROM attempts WHERE unit_id = ? ORDER BY created_at, attempt",
        (uid,),
    ):
        body = json.loads(request)
        tokens = json.loads(usage) if usage else {}
        details = json.loads(problems) if problems else {}
        said = details.get("problems") or ([details["error"]] if details.get("error") else [])
        attempts.append(
            Attempt(
                step,
                attempt,
                a_status,
                body.get("system"),
                str(body.get("prompt", "")),
                response,
                json.loads(output) if output else None,
                [str(p) for p in said],
                feedback,
                tokens.get("input_tokens"),
                tokens.get("output_tokens"),
                cost,
                body.get("model"),
            )
        )
    gates = [
        (int(g), int(r), bool(p))
        for g, r, p in store.query("SELECT gate, retries, passed FROM gates WHERE unit_id = ? ORDER BY gate", (uid,))
    ]
    return Story(o, uid, status, reason, failed_step, json.loads(fields), results, attempts, gates)


def field_names(program: ir.Program | None, store: RunStore) -> list[str]:
    """What the units table can filter on: unit fields and step outputs (`unit.x`, `step.key`)."""
    if program is not None:
        names = [f"unit.{f.name}" for f in program.unit_fields]
        for step in (program.step(n) for n in program.order):
            if step is not None:
                names += [f"{step.name}.{k}" for k in (step.output_schema or {}).get("properties", {})]
        return names
    rows = store.query("SELECT fields FROM units ORDER BY ordinal LIMIT 1")
    return [f"unit.{k}" for k in json.loads(rows[0][0])] if rows else []
