"""Opening a run (new or resumed) and driving it tick by tick."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from octolang import __version__, ir
from octolang.paths import open_regular
from octolang.providers.registry import ProviderPool, ProviderSettings, missing_keys
from octolang.runtime.runner import Runner, RunOptions, TickResult
from octolang.runtime.runs import (
    STATE_FILE,
    RunInfo,
    describe_changes,
    list_runs,
    new_run_folder,
    program_fingerprint,
)
from octolang.runtime.store import RunStore, now
from octolang.runtime.unitset import enumerate_units

UNIT_BATCH = 20_000


class RunRefused(Exception):
    """A run that cannot start or resume, with the reason for the user."""


@dataclass
class Session:
    info: RunInfo
    store: RunStore
    runner: Runner
    resumed: bool

    def close(self) -> None:
        self.runner.providers.close()
        self.store.close()


def open_session(
    program: ir.Program, file: str, *, runs_root: str, fresh: bool, options: RunOptions, run_id: str | None = None
) -> Session:
    file = os.path.abspath(file)
    missing = [] if options.dry_run else missing_keys(used_models(program, options))
    if missing:  # before any folder or state exists: nothing to clean up, nothing half-started
        raise RunRefused("\n".join(missing))
    fingerprint = program_fingerprint(program)
    runs = list_runs(runs_root, file)
    if run_id is not None:
        runs = [r for r in runs if r.id == run_id]
        if not runs:
            raise RunRefused(f"no run `{run_id}` of {file} under {runs_root}")
    info = runs[-1] if runs and not fresh else None
    resumed = info is not None
    if info is not None:
        changes = describe_changes(info.meta.get("fingerprint", {}), fingerprint)
        if changes:
            raise RunRefused(
                f"{os.path.basename(file)} has changed since run {info.id} started: "
                + "; ".join(changes)
                + ".\nResuming would mix results of two different pipelines. Start a new run with `--fresh` "
                "(the old run stays in its folder), or undo the change."
            )
        store = RunStore(info.state_path)
    else:
        try:
            os.makedirs(runs_root, exist_ok=True)
            info = new_run_folder(runs_root, program)
        except OSError as exc:
            raise RunRefused(f"cannot create a run folder under {runs_root}: {exc.strerror or exc}") from exc
        store = RunStore(os.path.join(info.folder, STATE_FILE))
        seed = program.seed if program.seed is not None else secrets.randbelow(2**63)
        with store.transaction() as db:
            store.set_meta(
                db,
                file=file,
                run_id=info.id,
                created_at=now(),
                seed=seed,
                fingerprint=fingerprint,
                octolang=__version__,
                pipeline=program.pipeline.name if program.pipeline else None,
                seed_given=program.seed is not None,
                max_units=options.max_units,
            )
        info.meta = store.meta()
    if options.max_units is None:  # a sample stays a sample on resume unless told otherwise
        options.max_units = info.meta.get("max_units")
    _add_units(store, program, options.max_units)
    providers = ProviderPool(ProviderSettings(folder=info.folder, dry_run=options.dry_run), seed=int(info.meta["seed"]))
    runner = Runner(program, store, providers, options, run_id=info.id, seed=int(info.meta["seed"]), filename=file)
    return Session(info, store, runner, resumed)


def _add_units(store: RunStore, program: ir.Program, limit: int | None) -> None:
    """Insert the units the run does not have yet (all of them, or the first `limit`).

    Units are matched by id (key column, row number, vary values, trial): rows appended to
    the data file, or inserted anywhere when it has a key column, are added on resume. A
    unit whose fields changed under the same id refuses the resume: its results so far
    would belong to other data."""
    digest = _units_digest(program, limit)
    if store.meta().get("units_digest") == digest:
        return  # nothing changed since the last tick: skip reading every unit back
    existing = dict(store.query("SELECT id, fields FROM units"))
    next_ordinal = int(store.query("SELECT COALESCE(MAX(ordinal) + 1, 0) FROM units")[0][0])
    changed: list[str] = []
    batch: list[tuple[str, int, str]] = []
    for unit in enumerate_units(program, limit):
        fields = json.dumps(unit.fields, separators=(",", ":"))
        old = existing.get(unit.id)
        if old is None:
            batch.append((unit.id, next_ordinal, fields))
            next_ordinal += 1
            if len(batch) >= UNIT_BATCH:
                _insert(store, batch)
                batch = []
        elif old != fields:
            changed.append(unit.id)
    if changed:
        raise RunRefused(
            f"the data of {len(changed)} unit(s) changed since the run started (first: `{changed[0]}`): "
            "rows moved or were edited. Give the units a `key` column so that rows keep their identity, "
            "or start a new run with `--fresh`."
        )
    if batch:
        _insert(store, batch)
    with store.transaction() as db:
        store.set_meta(db, units_digest=digest)


def _units_digest(program: ir.Program, limit: int | None) -> str:
    decl = program.units[0]
    h = hashlib.sha256(json.dumps([limit, decl.model_dump(mode="json", exclude={"span"})], default=str).encode())
    if decl.source_path is not None:
        try:
            with open_regular(decl.source_path) as f:  # not a FIFO swapped in since the check
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
        except OSError:
            pass  # the units are read (and the error reported) by enumerate_units
    return h.hexdigest()


def _insert(store: RunStore, rows: list[tuple[str, int, str]]) -> None:
    with store.transaction() as db:
        db.executemany("INSERT OR IGNORE INTO units (id, ordinal, fields) VALUES (?, ?, ?)", rows)


def used_models(program: ir.Program, options: RunOptions) -> list[ir.ModelDecl]:
    """The models the llm steps call, as the run will call them (`--provider mock` replaces all)."""
    if options.provider == "mock":
        return []
    names = sorted({s.model for s in program.steps if s.kind == "llm" and s.model})
    return [m for m in (program.model(n) for n in names) if m is not None]


def drive(
    session: Session, *, once: bool, poll_interval: float, on_tick: Callable[[TickResult], None] | None = None
) -> TickResult:
    """Tick until every unit is terminal (or once). Returns the last tick's result."""
    while True:
        result = session.runner.tick()
        with session.store.transaction() as db:
            session.store.set_meta(db, updated_at=now())
        if on_tick is not None:
            on_tick(result)
        if once or result.budget_stop or result.provider_stop or result.paused:
            return result
        if result.cancelled and result.in_flight == 0:
            return result  # cancelled: what was in flight is taken in, nothing new is sent
        if session.runner.pending_units() == 0:
            return result
        if not result.progressed and result.in_flight == 0:
            return result  # nothing can move: reported by the caller as stuck units
        if not result.progressed:
            time.sleep(poll_interval)
