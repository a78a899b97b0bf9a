"""The answer store: every answer a provider returned, kept beside the runs
(`.octo/answers.sqlite`) and served again, without a request, to a request made again.

Content-addressed: an answer's key is the digest of (unit id, the request part of the step's
fingerprint, attempt, the exact request body, the model as called). So a second run of an
unchanged step is answered from here across `--fresh`, a deleted run folder or a moved
project, and repeated trials of one prompt stay distinct answers (the unit id is in the
key). The mock goes through the same path. Nothing secret is kept: a request body holds
the prompt and the sampling settings, never a key (keys are read from the environment by
the provider clients, which never see this file).

A served answer is taken in like any other (checked against the step's type and rules as
they are now) and recorded in the run as an attempt that cost nothing, with what it cost
when it was paid in `reused` (runtime/reuse.py reads that table for status and reports).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from octolang import ir
from octolang.providers.base import Result

ANSWERS_FILE = "answers.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY, unit_id TEXT NOT NULL, step TEXT NOT NULL, model TEXT NOT NULL,
    text TEXT NOT NULL, usage TEXT, raw TEXT, cost TEXT, run_id TEXT,
    created_at REAL NOT NULL, used_at REAL NOT NULL, uses INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS answers_used ON answers (used_at);
"""
# The run's record of what it did not pay for: answers served by the store, results taken
# over from an earlier run. Made in every run this code writes; absent from older runs.
REUSED_SCHEMA = """
CREATE TABLE IF NOT EXISTS reused (
    unit_id TEXT NOT NULL, step TEXT NOT NULL, attempt INTEGER NOT NULL, source TEXT NOT NULL,
    from_run TEXT, saved TEXT, PRIMARY KEY (unit_id, step, attempt));
"""


def answers_path(runs_root: str) -> str:
    """Where the answer store of a folder of runs is: beside it (`.octo/answers.sqlite`)."""
    return os.path.join(os.path.dirname(os.path.abspath(runs_root)), ANSWERS_FILE)


def answer_key(unit_id: str, fingerprint: str, attempt: int, body: dict[str, Any], model: str) -> str:
    data = json.dumps([unit_id, fingerprint, attempt, body, model], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


def model_identity(model: ir.ModelDecl) -> str:
    return f"{model.provider}:{model.model_id}"


@dataclass
class StoredAnswer:
    text: str
    usage: dict[str, Any]
    raw: str | None
    cost: Decimal
    run_id: str | None


@dataclass
class CacheStats:
    answers: int
    bytes: int
    paid: Decimal
    uses: int
    oldest: float | None
    newest: float | None


class AnswerStore:
    """One SQLite file, opened per run. Writes are small transactions of their own, so that a
    run killed at any instant leaves the store whole."""

    def __init__(self, path: str, *, read_only: bool = False) -> None:
        self.path = path
        if read_only:
            from urllib.parse import quote

            self.db = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, isolation_level=None, timeout=30.0)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def find(self, keys: list[str]) -> dict[str, StoredAnswer]:
        found: dict[str, StoredAnswer] = {}
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            marks = ",".join("?" * len(part))
            for key, text, usage, raw, cost, run_id in self.db.execute(
                f"SELECT key, text, usage, raw, cost, run_id FROM answers WHERE key IN ({marks})", part
            ):
                found[key] = StoredAnswer(text, json.loads(usage or "{}"), raw, Decimal(cost or "0"), run_id)
        return found

    def used(self, keys: list[str]) -> None:
        stamp = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "UPDATE answers SET used_at = ?, uses = uses + 1 WHERE key = ?", [(stamp, k) for k in keys]
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def keep(self, rows: list[tuple[Any, ...]]) -> None:
        """Rows of (key, unit id, step, model, text, usage, raw, cost, run id); a key kept
        already stays as it was (the first answer paid for is the one served)."""
        stamp = time.time()
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany(
                "INSERT INTO answers (key, unit_id, step, model, text, usage, raw, cost, run_id, created_at, used_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                [(*row, stamp, stamp) for row in rows],
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def stats(self) -> CacheStats:
        count, size, uses, oldest, newest = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(text) + COALESCE(LENGTH(raw), 0) + COALESCE(LENGTH(usage), 0)), 0), "
            "COALESCE(SUM(uses), 0), MIN(created_at), MAX(used_at) FROM answers"
        ).fetchone()
        paid = sum((Decimal(c or "0") for (c,) in self.db.execute("SELECT cost FROM answers")), Decimal(0))
        return CacheStats(int(count), int(size), paid, int(uses), oldest, newest)

    def prune(self, older_than: float | None) -> int:
        """Remove answers not used for `older_than` seconds (all of them when None)."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if older_than is None:
                removed = self.db.execute("DELETE FROM answers").rowcount
            else:
                removed = self.db.execute("DELETE FROM answers WHERE used_at < ?", (time.time() - older_than,)).rowcount
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("VACUUM")
        return int(removed)


Pending = tuple[str, int, int, str, dict[str, Any], str]  # (unit, attempt, generation, custom id, body, feedback)


def serve(ctx: Any, snap: Any, step: ir.StepDecl, model: ir.ModelDecl, requests: list[Pending]) -> list[Pending]:
    """Answer from the store every request it holds, in one transaction (recorded as a chunk
    of provider `answers` taken in at once); the requests left to send."""
    from octolang.runtime.ingest import ingest_chunk
    from octolang.runtime.store import now

    store: AnswerStore | None = ctx.answers
    if store is None or not requests or ctx.fingerprints is None:
        return requests
    fingerprint = ctx.fingerprints.steps[step.name].request
    identity = model_identity(model)
    keys = [answer_key(r[0], fingerprint, r[1], r[4], identity) for r in requests]
    found = store.find(keys)
    if not found:
        return requests
    served = [(r, found[k]) for r, k in zip(requests, keys, strict=True) if k in found]
    left = [r for r, k in zip(requests, keys, strict=True) if k not in found]
    chunk_id = f"{step.name}-{int(now() * 1000)}-{served[0][0][3]}-answers"
    created = now()
    results = [Result(custom_id=r[3], status="ok", text=a.text, usage=a.usage, raw=a.raw or a.text) for r, a in served]
    with ctx.store.transaction() as db:
        db.execute(
            "INSERT INTO chunks (id, step, provider, status, requests, created_at) "
            "VALUES (?, ?, 'answers', 'intent', ?, ?)",
            (chunk_id, step.name, len(served), created),
        )
        db.executemany(
            "INSERT INTO attempts (unit_id, step, attempt, generation, status, custom_id, chunk, request, "
            "feedback, created_at) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
            [
                (u, step.name, a, g, cid, chunk_id, json.dumps(body), fb, created)
                for (u, a, g, cid, body, fb), _ in served
            ],
        )
        db.executemany(
            "INSERT INTO reused (unit_id, step, attempt, source, from_run, saved) VALUES (?, ?, ?, 'answers', ?, ?) "
            "ON CONFLICT (unit_id, step, attempt) DO NOTHING",
            [(r[0], step.name, r[1], a.run_id, str(a.cost)) for r, a in served],
        )
        ingest_chunk(ctx, snap, step, chunk_id, "answers", results, failed=False, paid=False, db=db)
    store.used([k for k in keys if k in found])
    return left


def keep_chunk(ctx: Any, step: ir.StepDecl, chunk_id: str, results: list[Result]) -> None:
    """Keep every answer of an ingested chunk (valid or not: each was paid for)."""
    store: AnswerStore | None = ctx.answers
    if store is None or ctx.fingerprints is None or step.name not in ctx.fingerprints.steps:
        return
    answered = {r.custom_id: r for r in results if r.status == "ok" and r.text is not None}
    if not answered:
        return
    fingerprint = ctx.fingerprints.steps[step.name].request
    identity = model_identity(ctx.model_for(step))
    rows = []
    for uid, attempt, custom_id, request, cost in ctx.store.query(
        "SELECT unit_id, attempt, custom_id, request, cost FROM attempts WHERE chunk = ?", (chunk_id,)
    ):
        result = answered.get(custom_id)
        if result is None or result.text is None:
            continue
        key = answer_key(uid, fingerprint, int(attempt), json.loads(request), identity)
        rows.append(
            (
                key,
                uid,
                step.name,
                identity,
                result.text,
                json.dumps(result.usage),
                result.raw,
                str(cost or "0"),
                ctx.run_id,
            )
        )
    if rows:
        store.keep(rows)


def ensure_reused_table(db: sqlite3.Connection) -> None:
    db.execute(REUSED_SCHEMA)
