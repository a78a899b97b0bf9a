"""The offline mock provider: a simulated batch service, deterministic and free.

It keeps its own durable ledger (a SQLite file in the run folder), like a remote
service would: batches are found again by their chunk key after a crash, and every
execution of a request is counted, so tests can prove no request was paid twice.
Batches end on the poll after the one that first sees them running.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Literal

from octolang.providers.base import Request, Result

DEFAULT_INVALID_RATE = 0.1


class MockProvider:
    name = "mock"

    def __init__(self, ledger_path: str, *, seed: int, invalid_rate: float = DEFAULT_INVALID_RATE) -> None:
        self.seed = seed
        self.invalid_rate = invalid_rate
        self.db = sqlite3.connect(ledger_path, isolation_level=None, timeout=30.0)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, chunk_key TEXT UNIQUE NOT NULL,
                                                polls INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE IF NOT EXISTS requests (custom_id TEXT PRIMARY KEY, batch_id TEXT NOT NULL,
                                                 text TEXT NOT NULL, usage TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS executions (custom_id TEXT NOT NULL, batch_id TEXT NOT NULL);
        """)

    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024

    def encode(self, request: Request) -> bytes:
        return (json.dumps({"custom_id": request.custom_id, "body": request.body}) + "\n").encode()

    def find_batch(self, chunk_key: str, *, count: int = 0, since: float = 0.0) -> str | None:
        row = self.db.execute("SELECT id FROM batches WHERE chunk_key = ?", (chunk_key,)).fetchone()
        return str(row[0]) if row else None

    def submit_batch(self, chunk_key: str, requests: list[Request]) -> str:
        from octolang.providers.mock_answers import mock_answer, mock_usage

        existing = self.find_batch(chunk_key, count=len(requests))
        if existing is not None:
            return existing
        batch_id = f"mockbatch_{chunk_key}"
        rows = []
        for request in requests:
            body = request.body
            key = f"{body.get('unit_key', request.custom_id)}"
            text = mock_answer(
                body.get("schema") or {},
                key=key,
                seed=self.seed,
                invalid_rate=float(body.get("invalid_rate", self.invalid_rate)),
            )
            usage = mock_usage((body.get("system") or "") + body.get("prompt", ""), text)
            rows.append((request.custom_id, batch_id, text, json.dumps(usage)))
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("INSERT INTO batches (id, chunk_key) VALUES (?, ?)", (batch_id, chunk_key))
            self.db.executemany("INSERT OR REPLACE INTO requests VALUES (?, ?, ?, ?)", rows)
            self.db.executemany("INSERT INTO executions VALUES (?, ?)", [(r[0], batch_id) for r in rows])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return batch_id

    def poll(self, batch_id: str) -> Literal["running", "ended", "failed"]:
        self.db.execute("UPDATE batches SET polls = polls + 1 WHERE id = ?", (batch_id,))
        row = self.db.execute("SELECT polls FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            return "failed"
        return "ended" if row[0] >= 2 else "running"

    def fetch(self, batch_id: str) -> list[Result]:
        rows = self.db.execute(
            "SELECT custom_id, text, usage FROM requests WHERE batch_id = ? ORDER BY custom_id DESC", (batch_id,)
        ).fetchall()
        return [
            Result(
                custom_id=cid,
                status="ok",
                text=text,
                usage=json.loads(usage),
                raw=json.dumps({"custom_id": cid, "text": text, "usage": json.loads(usage)}),
            )
            for cid, text, usage in rows
        ]

    def cancel(self, batch_id: str) -> None:
        self.db.execute("UPDATE batches SET polls = 99 WHERE id = ?", (batch_id,))

    def executions(self) -> tuple[int, int]:
        """(requests executed, of which executed more than once): the bill, and double billing."""
        total = self.db.execute("SELECT COUNT(*) FROM executions").fetchone()[0]
        distinct = self.db.execute("SELECT COUNT(DISTINCT custom_id) FROM executions").fetchone()[0]
        return int(total), int(total - distinct)

    def close(self) -> None:
        self.db.close()
