"""A new run taking over an earlier run's results (the decisions are reuse.py's): the plan
shown before a run starts and by `octoc check`, and the copy made when the run is opened.

The copy is idempotent (every insert leaves a row already there as it is) and marked done
in the run's meta only once whole, so a run killed while it copies copies again when it is
opened next, before its first tick.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from octolang import ir
from octolang.check.fingerprints import Fingerprints, step_fingerprints
from octolang.runtime.answers import AnswerStore, answers_path, ensure_reused_table
from octolang.runtime.context import crash_point
from octolang.runtime.reuse import CHECK, REUSE, RUN, OldUnit, Planner, ReusePlan, StepPlan, UnitDecision
from octolang.runtime.runs import RunInfo, choose_run, describe_changes, list_runs, program_fingerprint
from octolang.runtime.store import RunStore, StoreError
from octolang.runtime.stores import open_reader


def run_facts(program: ir.Program, provider: str | None) -> dict[str, Any]:
    """What a run records so that a later run can take over from it."""
    return {
        "step_fingerprints": step_fingerprints(program, provider=provider).to_json(),
        "gate_targets": [g.target for g in program.gates],
    }


def open_answers(runs_root: str, *, read_only: bool = False) -> AnswerStore | None:
    path = answers_path(runs_root)
    if read_only and not os.path.isfile(path):
        return None
    try:
        return AnswerStore(path, read_only=read_only)
    except Exception:  # sqlite3.Error, OSError: a store that cannot be used is not used
        return None


def takeover_source(program: ir.Program, file: str, root: str, run_id: str | None = None) -> RunInfo | None:
    """The run a new run of FILE would take over: FILE's latest, when the file changed since
    it started and it recorded its fingerprints (a run made by an older octoc did not)."""
    pipeline = program.pipeline.name if program.pipeline else None
    try:
        info = choose_run(root, os.path.abspath(file), pipeline, run_id)
    except Exception:  # RunRefused, StoreError: the run command says why
        return None
    if info is None or Fingerprints.from_json(info.meta.get("step_fingerprints")) is None:
        return None
    if not describe_changes(info.meta.get("fingerprint", {}), program_fingerprint(program)):
        return None
    return info


def planner(
    program: ir.Program, old: RunInfo, answers: AnswerStore | None, provider: str | None, filename: str
) -> tuple[Planner, RunStore]:
    old_fps = Fingerprints.from_json(old.meta.get("step_fingerprints"))
    assert old_fps is not None
    store = open_reader(old.state_path)
    new = step_fingerprints(program, provider=provider)
    targets = list(old.meta.get("gate_targets") or [])
    return Planner(program, new, old_fps, store, targets, answers, provider=provider, filename=filename), store


def preview(
    program: ir.Program, file: str, root: str, *, provider: str | None, max_units: int | None
) -> ReusePlan | None:
    """The plan a new run of FILE would follow against FILE's latest run; None when there is
    nothing to take over. Reads only."""
    from octolang.runtime.unitset import enumerate_units

    old = takeover_source(program, file, root)
    if old is None:
        return None
    answers = open_answers(root, read_only=True)
    try:
        plan_of, store = planner(program, old, answers, provider, file)
        try:
            units = ((u.id, u.ordinal, u.fields) for u in enumerate_units(program, max_units))
            return _count(plan_of, units, old.id, write=None)
        finally:
            store.close()
    except StoreError:
        return None
    finally:
        if answers is not None:
            answers.close()


def take_over(
    program: ir.Program, store: RunStore, old_id: str, runs_root: str, answers: AnswerStore | None, ctx: Any
) -> ReusePlan | None:
    """Copy into the run (`store`) what it takes over from run `old_id`; the plan followed."""
    found = [r for r in list_runs(runs_root) if r.id == old_id]
    if not found:
        return None
    plan_of, old_store = planner(program, found[0], answers, ctx.options.provider, ctx.filename)
    try:
        units = (
            (uid, int(o), _loads(f))
            for uid, o, f in store.stream("SELECT id, ordinal, fields FROM units ORDER BY ordinal")
        )
        return _count(plan_of, list(units), old_id, write=(store, ctx.step_index))
    finally:
        old_store.close()


def _loads(text: str) -> dict[str, Any]:
    import json

    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def _count(
    plan_of: Planner,
    units: Iterator[tuple[str, int, dict[str, Any]]] | list[tuple[str, int, dict[str, Any]]],
    from_run: str,
    *,
    write: tuple[RunStore, dict[str, int]] | None,
) -> ReusePlan:
    plan = ReusePlan(from_run, {s.name: StepPlan() for s in plan_of.order})
    for page, old in plan_of.plan(iter(units)):
        for uid, _, decision in page:
            if uid in old:
                plan.units += 1
            _tally(plan, decision, old.get(uid))
        if write is not None:
            _copy(write[0], write[1], page, old, from_run)
            crash_point("mid-takeover")  # a page committed, the rest not: the next opening copies again
    return plan


def _tally(plan: ReusePlan, decision: UnitDecision, old: OldUnit | None) -> None:
    for name, action in decision.actions.items():
        counts = plan.steps[name]
        if action == REUSE:
            counts.reuse += 1
            counts.saved += (
                sum((_saved(old, name, row) for row in old.attempts.get(name, [])), Decimal(0)) if old else 0
            )
        elif action == CHECK and name in decision.accepted:
            counts.checked += 1
            counts.saved += sum((_saved(old, name, row) for row in decision.checked[name]), Decimal(0)) if old else 0
        else:
            counts.run += 1


def _saved(old: OldUnit, step: str, row: tuple[Any, ...]) -> Decimal:
    """What an attempt cost when it was paid (in the old run, or in the run it reused it from)."""
    earlier = old.reused.get((step, int(row[0])))
    if earlier is not None and earlier[1] is not None:
        return Decimal(earlier[1])
    return Decimal(row[10] or "0")


def _origin(old: OldUnit, step: str, attempt: int, from_run: str) -> str:
    earlier = old.reused.get((step, attempt))
    return earlier[0] if earlier is not None and earlier[0] else from_run


_INSERT_ATTEMPT = (
    "INSERT INTO attempts (unit_id, step, attempt, generation, status, custom_id, chunk, request, feedback, "
    "response, output, problems, kind, usage, cost, created_at, finished_at) "
    "VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, NULL, '0', ?, ?) ON CONFLICT DO NOTHING"
)
_INSERT_RESULT = "INSERT INTO results (unit_id, step, output, attempt) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
_INSERT_REUSED = (
    "INSERT INTO reused (unit_id, step, attempt, source, from_run, saved) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


def _copy(store: RunStore, step_index: dict[str, int], page: list[Any], old: dict[str, OldUnit], from_run: str) -> None:
    with store.transaction() as db:
        ensure_reused_table(db)
        for uid, ordinal, decision in page:
            before = old.get(uid)
            if before is None:
                continue
            for name, action in decision.actions.items():
                if action == RUN and name not in decision.checked:
                    continue
                rows = before.attempts.get(name, []) if action == REUSE else decision.checked.get(name, [])
                source = "run" if action == REUSE else "checked"
                for row in rows:
                    attempt, generation, status, request, feedback, response, output, problems, kind = row[:9]
                    custom_id = f"u{ordinal}-s{step_index[name]}-a{attempt}"
                    custom = (uid, name, attempt, generation, status, custom_id)
                    db.execute(
                        _INSERT_ATTEMPT, (*custom, request, feedback, response, output, problems, kind, *row[11:13])
                    )
                    db.execute(
                        _INSERT_REUSED,
                        (
                            uid,
                            name,
                            attempt,
                            source,
                            _origin(before, name, int(attempt), from_run),
                            str(_saved(before, name, row)),
                        ),
                    )
                if action == REUSE:
                    output, attempt = before.results[name]
                    if not rows:  # a compute step's result: no attempt, nothing paid, but taken over all the same
                        db.execute(
                            _INSERT_REUSED, (uid, name, attempt, "run", _origin(before, name, attempt, from_run), "0")
                        )
                    db.execute(
                        _INSERT_RESULT,
                        (uid, name, output, attempt),
                    )
                    if name in before.generations:
                        gen, note = before.generations[name]
                        db.execute(
                            "INSERT INTO generations (unit_id, step, generation, feedback) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT DO NOTHING",
                            (uid, name, gen, note),
                        )
                elif name in decision.accepted:
                    attempt = next(r[0] for r in rows if r[2] == "done")
                    db.execute(
                        _INSERT_RESULT,
                        (uid, name, decision.accepted[name], attempt),
                    )
            for index, (retries, passed) in decision.gates.items():
                db.execute(
                    "INSERT INTO gates (unit_id, gate, retries, passed) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (uid, index, retries, passed),
                )
            if decision.copy_rng and before.rng is not None:
                db.execute("UPDATE units SET rng = ? WHERE id = ?", (before.rng, uid))


def attach(ctx: Any, store: RunStore, runs_root: str) -> ReusePlan | None:
    """Give the run's context its fingerprints and answer store (unless `--no-reuse` or a dry
    run), record what a later run takes over by, and make the copy this run was made to take
    (once). The plan followed, when a copy was made now."""
    ctx.fingerprints = step_fingerprints(ctx.program, provider=ctx.options.provider)
    if ctx.options.reuse and not ctx.options.dry_run:
        ctx.answers = open_answers(runs_root)
    meta = store.meta()
    with store.transaction() as db:
        ensure_reused_table(db)
        if "step_fingerprints" not in meta:
            store.set_meta(db, **run_facts(ctx.program, ctx.options.provider))
    source = meta.get("takeover_from")
    if not source or meta.get("takeover_done"):
        return None
    plan = take_over(ctx.program, store, str(source), runs_root, ctx.answers, ctx)
    with store.transaction() as db:
        store.set_meta(db, takeover_done=True, reuse_plan=plan.to_json() if plan is not None else None)
    return plan
