"""Full-text search over prompts and answers: an FTS5 index in the run's cache database
(site.py), brought up to date before a search when the run has moved on, from the
attempts finished since the last pass (rows are replaced by their rowid, so reading one
twice is harmless). The run's own state is only read."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from octolang.runtime.store import RunStore

_BATCH = 5_000
_MARGIN = 120.0  # seconds
_SCHEMA = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5("
    "unit_id UNINDEXED, step UNINDEXED, prompt, answer, tokenize = 'unicode61')"
)


def ensure_index(cache: sqlite3.Connection, store: RunStore, version: str = "") -> int:
    """Index the attempts finished since the last call; how many were read. `version`:
    the run's state_version, when known: the same as last time, nothing is read."""
    cache.execute(_SCHEMA)
    rows = cache.execute("SELECT version, value FROM kept WHERE key = 'fts'").fetchall()
    if rows and version and rows[0][0] == version:
        return 0
    since = float(rows[0][1]) if rows and rows[0][1] is not None else -1.0
    added = 0
    newest = since
    cursor = store.db.execute(
        "SELECT rowid, unit_id, step, coalesce(json_extract(request, '$.system') || char(10), '') "
        "|| coalesce(json_extract(request, '$.prompt'), ''), coalesce(response, ''), finished_at FROM attempts "
        "WHERE finished_at IS NOT NULL AND finished_at >= ?",
        (since,),
    )
    while batch := cursor.fetchmany(_BATCH):
        cache.execute("BEGIN")
        cache.executemany(
            "INSERT OR REPLACE INTO fts (rowid, unit_id, step, prompt, answer) VALUES (?, ?, ?, ?, ?)",
            [row[:5] for row in batch],
        )
        newest = max(newest, *(float(row[5]) for row in batch))
        cache.execute("COMMIT")
        added += len(batch)
    # the next pass starts a little before the newest attempt read: one that finished just
    # before it but was committed after this pass began is indexed then (again is harmless)
    mark = newest - _MARGIN if added else since
    cache.execute("INSERT OR REPLACE INTO kept (key, version, value) VALUES ('fts', ?, ?)", (version, str(mark)))
    return added


@contextmanager
def attached(store: RunStore, cache_path: str) -> Iterator[str]:
    """The cache database attached to the run's read-only connection, for one query;
    yields the name to select the index from."""
    from urllib.parse import quote

    store.db.execute("ATTACH DATABASE ? AS cache", (f"file:{quote(cache_path)}?mode=ro",))
    try:
        yield "cache.fts"
    finally:
        store.db.execute("DETACH DATABASE cache")
