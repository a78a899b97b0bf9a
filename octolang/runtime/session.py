"""Opening a run (new or resumed) and driving it tick by tick."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from octolang import __version__, ir
from octolang.providers.base import BatchProvider
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
        for provider in self.runner.providers.values():
            close = getattr(provider, "close", None)
            if close is not None:
                close()
        self.store.close()


def open_session(
    program: ir.Program, file: str, *, runs_root: str, fresh: bool, options: RunOptions, run_id: str | None = None
) -> Session:
    file = os.path.abspath(file)
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
            )
        info.meta = store.meta()
    _add_units(store, program, options.max_units)
    providers = _providers(program, options, info)
    runner = Runner(program, store, providers, options, run_id=info.id, seed=int(info.meta["seed"]), filename=file)
    return Session(info, store, runner, resumed)


def _add_units(store: RunStore, program: ir.Program, limit: int | None) -> None:
    """Insert the units the run does not have yet (all of them, or the first `limit`)."""
    have = int(store.query("SELECT COUNT(*) FROM units")[0][0])
    if limit is not None and have >= limit:
        return
    batch: list[tuple[str, int, str]] = []
    for unit in enumerate_units(program, limit):
        if unit.ordinal < have:
            continue
        batch.append((unit.id, unit.ordinal, json.dumps(unit.fields, separators=(",", ":"))))
        if len(batch) >= UNIT_BATCH:
            _insert(store, batch)
            batch = []
    if batch:
        _insert(store, batch)


def _insert(store: RunStore, rows: list[tuple[str, int, str]]) -> None:
    with store.transaction() as db:
        db.executemany("INSERT OR IGNORE INTO units (id, ordinal, fields) VALUES (?, ?, ?)", rows)


def _providers(program: ir.Program, options: RunOptions, info: RunInfo) -> dict[str, BatchProvider]:
    from octolang.providers.mock import MockProvider

    providers: dict[str, BatchProvider] = {}
    used = [program.model(s.model or "") for s in program.steps if s.kind == "llm"]
    names = {options.provider or m.provider for m in used if m is not None}
    for name in sorted(names):
        if name == "mock":
            providers[name] = MockProvider(
                os.path.join(info.folder, "mock_provider.sqlite"), seed=int(info.meta["seed"])
            )
        else:
            raise RunRefused(
                f"provider `{name}` cannot be called yet in this version of octoc; "
                "run with `--provider mock` to answer every prompt offline"
            )
    return providers


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
        if once or result.budget_stop:
            return result
        if session.runner.pending_units() == 0:
            return result
        if not result.progressed and result.in_flight == 0:
            return result  # nothing can move: reported by the caller as stuck units
        if not result.progressed:
            time.sleep(poll_interval)
