"""The run state: one SQLite database per run, the source of truth.

`RunStore` is also the interface of every store: `PgRunStore` (pg_store.py) keeps a run in
PostgreSQL behind the same methods, and `reader`/`open_existing` open either from where the
state is (a file's path, or a `postgresql://` locator: `pg_store.locator`).

Every change the runner makes is one transaction, so a `kill -9` at any instant leaves
the state as it was before or after a change, never between. WAL journaling with
`synchronous=NORMAL` is durable against process crashes (only a power loss may drop
the last transactions, which the runner then redoes; providers are reconciled by key).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    id TEXT PRIMARY KEY, ordinal INTEGER NOT NULL UNIQUE, fields TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending', reason TEXT, failed_step TEXT, rng BLOB);
CREATE TABLE IF NOT EXISTS results (
    unit_id TEXT NOT NULL, step TEXT NOT NULL, output TEXT NOT NULL, attempt INTEGER NOT NULL,
    PRIMARY KEY (unit_id, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS attempts (
    unit_id TEXT NOT NULL, step TEXT NOT NULL, attempt INTEGER NOT NULL, generation INTEGER NOT NULL,
    status TEXT NOT NULL, custom_id TEXT NOT NULL UNIQUE, chunk TEXT, request TEXT NOT NULL,
    feedback TEXT, response TEXT, output TEXT, problems TEXT, kind TEXT, usage TEXT, cost TEXT,
    created_at REAL NOT NULL, finished_at REAL,
    PRIMARY KEY (unit_id, step, attempt));
CREATE INDEX IF NOT EXISTS attempts_open ON attempts (status) WHERE status IN ('queued', 'submitted');
CREATE INDEX IF NOT EXISTS attempts_chunk ON attempts (chunk);
CREATE TABLE IF NOT EXISTS generations (
    unit_id TEXT NOT NULL, step TEXT NOT NULL, generation INTEGER NOT NULL, feedback TEXT,
    PRIMARY KEY (unit_id, step)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gates (
    unit_id TEXT NOT NULL, gate INTEGER NOT NULL, retries INTEGER NOT NULL DEFAULT 0,
    passed INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (unit_id, gate)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, step TEXT NOT NULL, provider TEXT NOT NULL, status TEXT NOT NULL,
    batch_id TEXT, requests INTEGER NOT NULL, created_at REAL NOT NULL, submitted_at REAL,
    finished_at REAL, error TEXT);
"""


class StoreError(Exception):
    """The state cannot be read or written (read-only folder, full disk, corrupt file)."""


class StateUnusable(StoreError):
    """The run's state is damaged, gone or cannot be written: the run stops (exit 6) and is
    never replaced by a new one without `--fresh`."""


# Meta values of many kilobytes, read only where needed (`meta_value`): the kept reports
# (kept_reports.py) and the run's copy of its program (program_copy.py).
LARGE_META = ("kept_reports", "program")


def _explain(exc: sqlite3.Error, path: str) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return (
            f"the run folder is read-only: cannot write {path} (`octoc status` and `report` still read it); "
            "make it writable and run again (nothing saved was lost)"
        )
    if "disk is full" in text or "database or disk is full" in text:
        return f"the disk is full: cannot write {path}; free some space and run again (nothing was lost)"
    if "not a database" in text or "malformed" in text or "no such table" in text:
        return (
            f"the run state {path} is damaged ({text}); nothing was changed. Restore it from a copy, "
            "or start a new run with `--fresh` (the damaged run stays in its folder)"
        )
    if "locked" in text:
        return f"another octoc process is using {path}; wait for it to finish"
    return f"cannot use the run state {path}: {text}"


def _error(exc: sqlite3.Error, path: str) -> StoreError:
    text = str(exc)
    unusable = (
        "readonly",
        "read-only",
        "not a database",
        "malformed",
        "no such table",
        "disk is full",
        "unable to open",
    )
    if any(word in text for word in unusable):
        return StateUnusable(_explain(exc, path))
    return StoreError(_explain(exc, path))


class RunStore:
    """A run's state. `RunStore(path)` makes it or opens it to write; `open_existing` opens
    a run that must already be there (to write), `reader` opens one only to read."""

    def __init__(self, path: str, *, existing: bool = False) -> None:
        self.path = path
        self.inode: int | None = None
        try:
            if existing:
                folder = os.path.dirname(os.path.abspath(path))
                if not (os.access(folder, os.W_OK) and os.access(path, os.W_OK)) and os.path.exists(path):
                    raise sqlite3.OperationalError("attempt to write a readonly database")
                self.db = sqlite3.connect(_uri(path, "rw"), uri=True, isolation_level=None, timeout=30.0)
                _check_is_a_run(self.db, path)
            else:
                self.db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=OFF")
            self.db.executescript(_SCHEMA)
            self.inode = os.stat(path).st_ino
        except sqlite3.Error as exc:
            raise _error(exc, path) from exc
        except OSError as exc:
            raise StateUnusable(f"cannot open the run state {path}: {exc.strerror or exc}") from exc

    @classmethod
    def open_existing(cls, path: str) -> RunStore:
        """Open a SQLite run that must be there, to write (stores.open_writer opens either kind)."""
        return cls(path, existing=True)

    @classmethod
    def reader(cls, path: str) -> RunStore:
        """Open a SQLite run to read only: no lock, no write, works in a read-only folder
        (stores.open_reader opens either kind)."""
        store = cls.__new__(cls)
        store.path, store.inode = path, None
        try:
            try:
                store.db = sqlite3.connect(_uri(path, "ro"), uri=True, isolation_level=None, timeout=30.0)
                _check_is_a_run(store.db, path)
            except sqlite3.OperationalError as exc:
                if "unable to open" not in str(exc) or not os.path.isfile(path):
                    raise
                # a read-only folder without the WAL's files: nothing can be writing, read the file as it is
                store.db = sqlite3.connect(_uri(path, "ro") + "&immutable=1", uri=True, isolation_level=None)
                _check_is_a_run(store.db, path)
        except sqlite3.Error as exc:
            if "unable to open" in str(exc):
                raise StateUnusable(f"the run state {path} cannot be opened: it is missing or unreadable") from exc
            raise _error(exc, path) from exc
        return store

    def check_present(self) -> None:
        """Stop when the state file was deleted, moved or replaced under a live run: writes
        would go to a file nobody will read again."""
        if self.inode is None:
            return
        try:
            present = os.stat(self.path).st_ino == self.inode
        except OSError:
            present = False
        if not present:
            raise StateUnusable(
                f"the run state {self.path} disappeared while the run was going (deleted, moved or replaced); "
                "nothing more was written. If it was moved, put it back and run again; otherwise start a new run "
                "with `--fresh`"
            )

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self, *, stamp: bool = True) -> Iterator[Any]:
        """One transaction. Each bumps the meta `writes` (the state's stamp, which kept reports
        are checked against), but for the writer's own bookkeeping (`stamp=False`: its lease
        and heartbeat), which changes nothing a report or a reader reads."""
        self.check_present()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise _error(exc, self.path) from exc
        try:
            yield self.db
            if stamp:  # the count of committed transactions: a stamp of the state (kept_reports.py)
                self.db.execute(
                    "INSERT INTO meta (key, value) VALUES ('writes', '1') "
                    "ON CONFLICT(key) DO UPDATE SET value = CAST(meta.value AS INTEGER) + 1"
                )
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise _error(exc, self.path) from exc
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[Any]:
        try:
            return self.db.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise _error(exc, self.path) from exc

    def stream(self, sql: str, args: Iterable[Any] = (), batch: int = 2000) -> Iterator[Any]:
        """The rows of a query, read a batch at a time (for tables too large to hold)."""
        try:
            cursor = self.db.execute(sql, tuple(args))
            while rows := cursor.fetchmany(batch):
                yield from rows
        except sqlite3.Error as exc:
            raise _error(exc, self.path) from exc

    # ------------------------------------------------------------ meta
    def meta(self) -> dict[str, Any]:
        """The meta, but for its large values (LARGE_META: read them with `meta_value`)."""
        marks = ",".join("?" * len(LARGE_META))
        return {
            k: json.loads(v)
            for k, v in self.query(f"SELECT key, value FROM meta WHERE key NOT IN ({marks})", LARGE_META)
        }

    def meta_value(self, key: str) -> Any:
        """One value of the meta (None when missing), without decoding the others (the
        estimate and the kept reports can be large)."""
        rows = self.query("SELECT value FROM meta WHERE key = ?", (key,))
        return json.loads(rows[0][0]) if rows else None

    def set_meta(self, db: Any, **values: Any) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()]
        )


def is_postgres(state: str | None) -> bool:
    """`state` names a PostgreSQL database (`--state`, OCTO_STATE, a run's locator)."""
    return bool(state) and str(state).startswith(("postgresql://", "postgres://"))


def _uri(path: str, mode: str) -> str:
    from urllib.parse import quote

    return f"file:{quote(os.path.abspath(path))}?mode={mode}"


def _check_is_a_run(db: sqlite3.Connection, path: str) -> None:
    """A state file that exists but holds no run (emptied, overwritten) is damaged, not new."""
    try:
        rows = db.execute("SELECT value FROM meta WHERE key = 'run_id'").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        rows = []
    if not rows:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        raise StateUnusable(
            f"the run state {path} is damaged: {size:,} bytes and no run id in it; nothing was changed. "
            "Restore it from a copy, or start a new run with `--fresh` (the damaged run stays in its folder)"
        )


def now() -> float:
    return time.time()
