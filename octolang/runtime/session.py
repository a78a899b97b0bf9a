"""Opening a run (new or resumed) and driving it tick by tick."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from octolang import __version__, ir
from octolang.interrupts import raise_pending
from octolang.paths import open_regular
from octolang.providers.registry import ProviderPool, ProviderSettings, missing_keys
from octolang.runtime.context import RunContext
from octolang.runtime.program_copy import program_record
from octolang.runtime.runlock import (
    RunBusy,
    cancel_requested,
    clear_cancel_request,
    creating,
    describe_holder,
    is_live,
    lease,
    open_lock,
    try_lock,
)
from octolang.runtime.runner import Runner, RunOptions, TickResult
from octolang.runtime.runs import (
    STATE_FILE,
    RunInfo,
    RunRefused,
    choose_run,
    clear_unfinished_creations,
    describe_changes,
    file_from_root,
    new_run_id,
    program_fingerprint,
)
from octolang.runtime.store import RunStore, StoreError, now
from octolang.runtime.takeover import run_facts
from octolang.runtime.unitset import Unit, enumerate_units, explain_changed

UNIT_BATCH = 20_000
_COMPACT = json.JSONEncoder(separators=(",", ":"))


@dataclass
class Session:
    info: RunInfo
    store: RunStore
    runner: Runner
    resumed: bool
    lock_fd: int
    lease: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # said once when the run opens (a writer that died)

    def heartbeat(self) -> None:
        """The end of a tick: the time of the last tick and the lease's heartbeat."""
        self.lease["heartbeat"] = now()
        with self.store.transaction(stamp=False) as db:
            self.store.set_meta(db, updated_at=now(), lease=self.lease)

    def close(self) -> None:
        try:
            self.runner.providers.close()
            if self.runner.ctx.answers is not None:
                self.runner.ctx.answers.close()
            try:
                with self.store.transaction(stamp=False) as db:
                    self.store.set_meta(db, lease=None)  # closed cleanly: the next writer has nothing to report
            except StoreError:
                pass  # the state is gone or cannot be written: already said by whoever found out
            self.store.close()
        finally:
            os.close(self.lock_fd)  # releases the run's lock


def open_session(
    program: ir.Program,
    file: str,
    *,
    runs_root: str,
    fresh: bool,
    options: RunOptions,
    run_id: str | None = None,
    wait: bool = False,
    keep_sample: bool = True,
    edited: str = "refuse",
) -> Session:
    """Open FILE's run to write it: run `run_id`, else FILE's latest, else (or with `fresh`) a
    new one. The run's lock is held until `Session.close` (or the process's end); another
    writer makes this raise RunBusy, or wait for it with `wait`. Without `keep_sample`, a run
    started with `--max-units` gets the rest of its units unless `options.max_units` says.
    When FILE changed since its latest run, `edited` says what happens: "refuse" (the run is
    not resumed: RunRefused), or "new run" (`octoc run`: a new run that takes over the old
    one's unchanged results, takeover.py)."""
    file = os.path.abspath(file)
    missing = [] if options.dry_run else missing_keys(used_models(program, options))
    if missing:  # before any folder or state exists: nothing to clean up, nothing half-started
        raise RunRefused("\n".join(missing))
    fingerprint = program_fingerprint(program)
    pipeline = program.pipeline.name if program.pipeline else None
    try:
        os.makedirs(runs_root, exist_ok=True)
    except OSError as exc:
        raise RunRefused(f"cannot create a run folder under {runs_root}: {exc.strerror or exc}") from exc
    with creating(runs_root):
        clear_unfinished_creations(runs_root)
        info = None if fresh and run_id is None else choose_run(runs_root, file, pipeline, run_id)
        previous = None
        changed = info is not None and describe_changes(info.meta.get("fingerprint", {}), fingerprint)
        if info is not None and run_id is None and edited == "new run" and changed:
            previous, info = info, None  # FILE was edited: a new run, taking over what did not change
        if info is None:
            info, lock_fd = _create(runs_root, program, file, fingerprint, options, previous)
            resumed, locked = False, True
        else:
            lock_fd = open_lock(info.folder)
            resumed, locked = True, try_lock(lock_fd, wait=False)
    try:
        if not locked:
            if not wait:
                locked = _busy(info, file, lock_fd)
            if not locked:
                try_lock(lock_fd, wait=True)
        store = RunStore.open_existing(info.state_path)
    except BaseException:
        os.close(lock_fd)
        raise
    try:
        return _open_locked(program, file, runs_root, info, store, lock_fd, fingerprint, options, resumed, keep_sample)
    except BaseException:
        store.close()
        os.close(lock_fd)
        raise


def _open_locked(
    program: ir.Program,
    file: str,
    runs_root: str,
    info: RunInfo,
    store: RunStore,
    lock_fd: int,
    fingerprint: dict[str, str],
    options: RunOptions,
    resumed: bool,
    keep_sample: bool,
) -> Session:
    info.meta = store.meta()
    changes = describe_changes(info.meta.get("fingerprint", {}), fingerprint)
    if changes:
        raise RunRefused(
            f"{os.path.basename(file)} has changed since run {info.id} started: "
            + "; ".join(changes)
            + ".\nResuming would mix results of two different pipelines. Start a new run with `--fresh` "
            "(the old run stays in its folder), or undo the change."
        )
    notes = []
    held = info.meta.get("lease")
    if resumed and isinstance(held, dict):
        notes.append(
            f"the last process that ran {info.id} ({describe_holder(held)}) stopped without closing it "
            "(killed or crashed); going on from its last saved state"
        )
    if options.max_units is None and keep_sample:  # a tick goes on with the sample; `octoc run` adds the rest
        options.max_units = info.meta.get("max_units")
    mine = lease()
    with store.transaction() as db:  # the run is found from where FILE is now, wherever it was made
        store.set_meta(
            db,
            lease=mine,
            file=file,
            file_from_root=file_from_root(file, runs_root),
            max_units=options.max_units,
            program=program_record(program, _text_of(file)),  # what readers read the run with
        )
    info.meta = store.meta()
    _add_units(store, program, options.max_units)
    providers = ProviderPool(ProviderSettings(folder=info.folder, dry_run=options.dry_run), seed=int(info.meta["seed"]))
    context = RunContext(
        program,
        store,
        providers,
        options,
        run_id=info.id,
        seed=int(info.meta["seed"]),
        filename=file,
        cancel_asked=lambda: cancel_requested(info.folder),
    )
    from octolang.runtime.takeover import attach

    context.reuse_plan = attach(context, store, runs_root)  # answers and results taken over (takeover.py)
    runner = Runner(context)
    return Session(info, store, runner, resumed, lock_fd, mine, notes)


def _text_of(file: str) -> str | None:
    """FILE's text as `octoc` read it to check it (None if it cannot be read again)."""
    try:
        with open(file, "rb") as handle:
            return handle.read().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


def _busy(info: RunInfo, file: str, lock_fd: int) -> bool:
    """Raise RunBusy naming the holder, from its lease (waited for a moment: a holder that has
    just taken the lock writes it right after). True when the holder let go meanwhile and the
    lock is now this process's."""
    held = None
    for _ in range(40):
        try:
            reader = RunStore.reader(info.state_path)
            try:
                held = reader.meta().get("lease")
            finally:
                reader.close()
        except StoreError:
            held = None
        if is_live(held):
            break
        if try_lock(lock_fd, wait=False):
            return True  # the holder closed the run while we looked
        time.sleep(0.05)
    name = os.path.basename(file)
    raise RunBusy(
        f"run {info.id} is being run by another octoc ({describe_holder(held)}); one process writes a run at a "
        f"time. Wait for it to finish, or pass `--wait` to go on when it does (`octoc status {name}` shows its "
        "progress meanwhile).",
        info.folder,
    )


def _create(
    root: str,
    program: ir.Program,
    file: str,
    fingerprint: dict[str, str],
    options: RunOptions,
    previous: RunInfo | None = None,
) -> tuple[RunInfo, int]:
    """A new run, made whole in `.new-<id>` and renamed into place once its metadata is
    committed: a kill at any moment leaves either no run or a complete one. Returns it locked.
    With `previous` (and reuse allowed), the run takes over its results and, for a file
    without `seed`, its seed."""
    takeover = previous if options.reuse and not options.dry_run else None
    run_id = new_run_id(program)
    while os.path.exists(os.path.join(root, run_id)):
        run_id = new_run_id(program)
    building = os.path.join(root, f".new-{run_id}")
    try:
        os.makedirs(building)
        lock_fd = open_lock(building)
    except OSError as exc:
        raise RunRefused(f"cannot create a run folder under {root}: {exc.strerror or exc}") from exc
    try:
        try_lock(lock_fd, wait=False)
        store = RunStore(os.path.join(building, STATE_FILE))
        seed = program.seed if program.seed is not None else secrets.randbelow(2**63)
        if takeover is not None and program.seed is None and "seed" in takeover.meta:
            seed = int(takeover.meta["seed"])
        try:
            with store.transaction() as db:
                store.set_meta(
                    db,
                    file=file,
                    file_from_root=file_from_root(file, root),
                    run_id=run_id,
                    created_at=now(),
                    seed=seed,
                    fingerprint=fingerprint,
                    octolang=__version__,
                    pipeline=program.pipeline.name if program.pipeline else None,
                    seed_given=program.seed is not None,
                    max_units=options.max_units,
                    lease=lease(),
                    takeover_from=takeover.id if takeover is not None else None,
                    **run_facts(program, options.provider),
                )
        finally:
            store.close()
        folder = os.path.join(root, run_id)
        os.rename(building, folder)
        _sync_folder(root)
    except BaseException:
        os.close(lock_fd)
        shutil.rmtree(building, ignore_errors=True)
        raise
    return RunInfo(run_id, folder, {}), lock_fd


def _sync_folder(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass  # a file system that cannot sync a folder: the rename is still atomic


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
    changed: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    added: list[Unit] = []
    batch: list[tuple[str, int, str]] = []
    seen: set[str] = set()
    # Into a run without units, every unit goes in streaming: nothing is kept per unit (a
    # duplicate id shows as a row the insert ignored).
    fresh = not existing
    for unit in enumerate_units(program, limit):
        if not fresh:
            if unit.id in seen:  # the checker refuses such data (E0204, E0205); never merge two units into one
                raise RunRefused(f"two units have the id `{unit.id}`; run `octoc check` on the file")
            seen.add(unit.id)
        fields = _COMPACT.encode(unit.fields)  # json.dumps(fields, separators=(",", ":")), its encoder built once
        old = existing.get(unit.id)
        if old is None:
            if not fresh:
                added.append(unit)
            batch.append((unit.id, next_ordinal, fields))
            next_ordinal += 1
            if len(batch) >= UNIT_BATCH and not changed:
                _insert(store, batch)
                batch = []
        elif old != fields:
            changed.append((unit.id, json.loads(old), unit.fields))
    if changed:
        raise RunRefused(explain_changed(program.units[0], changed, added))
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
        before = db.total_changes
        db.executemany("INSERT OR IGNORE INTO units (id, ordinal, fields) VALUES (?, ?, ?)", rows)
        if db.total_changes - before < len(rows):  # an ignored row: its id was taken by another unit
            for uid, ordinal, _ in rows:
                if db.execute("SELECT ordinal FROM units WHERE id = ?", (uid,)).fetchone() != (ordinal,):
                    # the checker refuses such data (E0204, E0205); never merge two units into one
                    raise RunRefused(f"two units have the id `{uid}`; run `octoc check` on the file")


def used_models(program: ir.Program, options: RunOptions) -> list[ir.ModelDecl]:
    """The models the llm steps call, as the run will call them (`--provider mock` replaces all)."""
    if options.provider == "mock":
        return []
    names = sorted({s.model for s in program.steps if s.kind == "llm" and s.model})
    return [m for m in (program.model(n) for n in names) if m is not None]


def fewer_collections() -> Callable[[], None]:
    """Make Python's cycle collector run rarely while a run goes; returns what undoes it.

    A run builds many small containers that live for a page of units (rows, fields,
    outputs, jobs) and makes almost no reference cycles, so the collector's frequent
    passes would mostly walk them again and again (about a tenth of a compute-heavy run's
    CPU). What exists when the run starts (modules, the program) is frozen out of its
    passes, and forked workers inherit that, sharing those pages instead of copying them."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)

    def undo() -> None:
        gc.set_threshold(*threshold)
        gc.unfreeze()

    return undo


def drive(
    session: Session, *, once: bool, poll_interval: float, on_tick: Callable[[TickResult], None] | None = None
) -> TickResult:
    """Tick until every unit is terminal (or once). Returns the last tick's result."""
    while True:
        raise_pending()
        take_cancel_request(session)
        result = session.runner.tick()
        session.heartbeat()
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
            deadline = time.monotonic() + poll_interval
            while time.monotonic() < deadline and not cancel_requested(session.info.folder):
                time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def take_cancel_request(session: Session) -> list[str]:
    """Act on an `octoc cancel` that found this run busy: cancel it as that command would
    have, and leave what was done in the meta (`cancel_said`) for the command to print."""
    if not cancel_requested(session.info.folder):
        return []
    said = session.runner.cancel()
    with session.store.transaction() as db:
        session.store.set_meta(db, cancel_said=said)
    clear_cancel_request(session.info.folder)
    return said
