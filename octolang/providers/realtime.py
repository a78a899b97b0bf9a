"""Realtime calls behind the batch interface.

The runner sees one kind of provider. A realtime "batch" is a chunk of requests kept
in a ledger (a SQLite file in the run folder): `submit_batch` only records them, each
`poll` makes calls (a bounded number at once) and records every answer the moment it
arrives, `fetch` reads the ledger. So a crash loses at most the calls in flight at that
instant (at most `concurrency` requests are sent again), and an answer that was paid
for is never asked for twice.

Calls stop early when the service is down or the account is stopped (the runner polls
again on a later tick, or pauses the run); a request the service refuses on its own (a
400, a 413) is recorded as that request's error.
"""

from __future__ import annotations

import json
import sqlite3
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from octolang.providers.base import BatchState, ProviderError, RealtimeClient, Request, Result

DEFAULT_CONCURRENCY = 8
POLL_SECONDS = 20.0  # work per poll, so that a tick returns and progress shows


class RealtimeBatch:
    max_requests = 10_000
    max_bytes = 1 << 62
    calls_on_poll = True

    def __init__(
        self,
        client: RealtimeClient,
        ledger_path: str,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.client = client
        self.name = client.name
        self.concurrency = max(1, concurrency)
        self.poll_seconds = poll_seconds
        self.db = sqlite3.connect(ledger_path, isolation_level=None, timeout=30.0, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS rt_batches (id TEXT PRIMARY KEY, chunk_key TEXT UNIQUE NOT NULL,
                                                   created_at REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS rt_requests (
                batch_id TEXT NOT NULL, custom_id TEXT NOT NULL, body TEXT NOT NULL,
                status TEXT NOT NULL DEFAULT 'pending', result TEXT, PRIMARY KEY (batch_id, custom_id));
        """)

    def encode(self, request: Request) -> bytes:
        return self.client.encode(request)

    def find_batch(self, chunk_key: str, *, count: int = 0, since: float = 0.0) -> str | None:
        row = self.db.execute("SELECT id FROM rt_batches WHERE chunk_key = ?", (chunk_key,)).fetchone()
        return str(row[0]) if row else None

    def submit_batch(self, chunk_key: str, requests: list[Request]) -> str:
        existing = self.find_batch(chunk_key)
        if existing is not None:
            return existing
        batch_id = f"rt_{chunk_key}"
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("INSERT INTO rt_batches VALUES (?, ?, ?)", (batch_id, chunk_key, time.time()))
            self.db.executemany(
                "INSERT INTO rt_requests (batch_id, custom_id, body) VALUES (?, ?, ?)",
                [(batch_id, r.custom_id, json.dumps(r.body)) for r in requests],
            )
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return batch_id

    def poll(self, batch_id: str) -> BatchState:
        if self.db.execute("SELECT 1 FROM rt_batches WHERE id = ?", (batch_id,)).fetchone() is None:
            return "failed"
        pending = [
            Request(cid, json.loads(body))
            for cid, body in self.db.execute(
                "SELECT custom_id, body FROM rt_requests WHERE batch_id = ? AND status = 'pending' ORDER BY custom_id",
                (batch_id,),
            )
        ]
        if pending:
            self._call_all(batch_id, pending)
        left = self.db.execute(
            "SELECT COUNT(*) FROM rt_requests WHERE batch_id = ? AND status = 'pending'", (batch_id,)
        ).fetchone()[0]
        return "running" if left else "ended"

    def _call_all(self, batch_id: str, pending: list[Request]) -> None:
        """Calls until done, the time for this poll is up, or the service is down."""
        deadline = time.monotonic() + self.poll_seconds
        queue = iter(pending)
        outage: ProviderError | None = None
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            running: dict[Future[Result], Request] = {}
            started = 0

            def refill() -> None:
                nonlocal started
                while len(running) < self.concurrency and outage is None:
                    if started and time.monotonic() >= deadline:
                        return  # at least one call a poll, so that every poll moves
                    request = next(queue, None)
                    if request is None:
                        return
                    running[pool.submit(self.client.call, request)] = request
                    started += 1

            refill()
            while running:
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    request = running.pop(future)
                    try:
                        self._record(batch_id, future.result())
                    except ProviderError as exc:
                        if exc.request_fault or exc.kind == "too_large":
                            self._record(batch_id, Result(request.custom_id, "error", error=str(exc)))
                        else:
                            outage = exc
                refill()
        if outage is not None:
            raise outage

    def _record(self, batch_id: str, result: Result) -> None:
        self.db.execute(
            "UPDATE rt_requests SET status = 'done', result = ? WHERE batch_id = ? AND custom_id = ?",
            (
                json.dumps(
                    {
                        "status": result.status,
                        "text": result.text,
                        "raw": result.raw,
                        "usage": result.usage,
                        "error": result.error,
                    }
                ),
                batch_id,
                result.custom_id,
            ),
        )

    def fetch(self, batch_id: str) -> list[Result]:
        out = []
        for cid, status, data in self.db.execute(
            "SELECT custom_id, status, result FROM rt_requests WHERE batch_id = ?", (batch_id,)
        ):
            if status == "pending":
                out.append(Result(cid, "cancelled", error="never sent"))
                continue
            if status == "cancelled":
                out.append(Result(cid, "cancelled", error="cancelled before it was sent"))
                continue
            r = json.loads(data)
            out.append(Result(cid, r["status"], text=r["text"], raw=r["raw"], usage=r["usage"], error=r["error"]))
        return out

    def cancel(self, batch_id: str) -> None:
        self.db.execute(
            "UPDATE rt_requests SET status = 'cancelled' WHERE batch_id = ? AND status = 'pending'", (batch_id,)
        )

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            close()
        self.db.close()
