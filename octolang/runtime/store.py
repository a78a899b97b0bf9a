"""The run state: one SQLite database per run, the source of truth.

Every change the runner makes is one transaction, so a `kill -9` at any instant leaves
the state as it was before or after a change, never between. WAL journaling with
`synchronous=NORMAL` is durable against process crashes (only a power loss may drop
the last transactions, which the runner then redoes; providers are reconciled by key).
"""

from __future__ import annotations

import json
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


def _explain(exc: sqlite3.Error, path: str) -> str:
    text = str(exc)
    if "readonly" in text or "read-only" in text:
        return f"the run folder is read-only: cannot write {path}"
    if "disk is full" in text or "database or disk is full" in text:
        return f"the disk is full: cannot write {path}; free some space and run again (nothing was lost)"
    if "not a database" in text or "malformed" in text:
        return f"{path} is not a readable run state ({text})"
    if "locked" in text:
        return f"another octoc process is using {path}; wait for it to finish"
    return f"cannot use the run state {path}: {text}"


class RunStore:
    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=OFF")
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(_explain(exc, path)) from exc

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(_explain(exc, self.path)) from exc
        try:
            yield self.db
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise StoreError(_explain(exc, self.path)) from exc
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
            raise StoreError(_explain(exc, self.path)) from exc

    # ------------------------------------------------------------ meta
    def meta(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.query("SELECT key, value FROM meta")}

    def set_meta(self, db: sqlite3.Connection, **values: Any) -> None:
        db.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [(k, json.dumps(v)) for k, v in values.items()]
        )


def now() -> float:
    return time.time()
