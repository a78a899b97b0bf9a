"""A paused run, and the errors that pause one.

A run is paused when going on would only fail or loop: an account stop (a key refused, a
quota used up, a spent credit balance, billing off), or a provider error that persists
past a bounded number of tries *and* a bounded time (a proxy that answers 500 for what
never heals). Nothing is failed: the pause is kept in the run's meta (`paused`: the cause,
the provider's message, when), `octoc run` exits 4 and names it, `octoc status` shows it,
and the next `octoc run` lifts it and goes on from where the run was.

Persistent trouble is counted per chunk in the meta (`troubles`: chunk id -> [tries, first
time]) and per request from its attempts (snapshot.lost); a success forgets it.
"""

from __future__ import annotations

import os
from typing import Any

from octolang.runtime.store import RunStore, now

PAUSED = "paused"
TROUBLES = "troubles"
PERSISTENT_TRIES = 8  # ticks (each with the HTTP client's own retries) before an error counts as persistent
DEFAULT_PERSISTENT_SECONDS = 900.0


def persistent_seconds() -> float:
    """How long an error must last (besides PERSISTENT_TRIES) to pause the run;
    `OCTO_PERSISTENT_SECONDS` shortens it (tests)."""
    try:
        return max(0.0, float(os.environ.get("OCTO_PERSISTENT_SECONDS", DEFAULT_PERSISTENT_SECONDS)))
    except ValueError:
        return DEFAULT_PERSISTENT_SECONDS


def persistent(tries: int, first: float) -> bool:
    return tries >= PERSISTENT_TRIES and now() - first >= persistent_seconds()


def pause_run(store: RunStore, cause: str, message: str) -> None:
    with store.transaction() as db:
        store.set_meta(db, **{PAUSED: {"cause": cause, "message": message, "at": now()}})


def paused(store: RunStore) -> dict[str, Any] | None:
    """The pause of a run ({cause, message, at}), or None."""
    value = store.meta_value(PAUSED)
    return value if isinstance(value, dict) else None


def lift_pause(store: RunStore) -> dict[str, Any] | None:
    """Lift the pause (the user says the cause is fixed); returns the one lifted."""
    before = paused(store)
    if before is not None:
        with store.transaction() as db:
            store.set_meta(db, **{PAUSED: None})
    return before


def note_trouble(store: RunStore, chunk_id: str, error: str) -> tuple[int, float]:
    """Count one more failed try of a chunk (its error kept on the chunk); (tries, since when)."""
    with store.transaction() as db:
        troubles: dict[str, list[float]] = store.meta_value(TROUBLES) or {}
        tries, first = troubles.get(chunk_id, [0, now()])
        troubles[chunk_id] = [int(tries) + 1, float(first)]
        store.set_meta(db, **{TROUBLES: troubles})
        db.execute("UPDATE chunks SET error = ? WHERE id = ?", (error[:500], chunk_id))
    return int(tries) + 1, float(first)


def troubled(store: RunStore) -> set[str]:
    """The chunks with errors counted toward a pause."""
    value = store.meta_value(TROUBLES)
    return set(value) if isinstance(value, dict) else set()


def forget_trouble(store: RunStore, chunk_id: str) -> None:
    if chunk_id not in troubled(store):
        return  # the common case: no write
    with store.transaction() as db:
        troubles: dict[str, list[float]] = store.meta_value(TROUBLES) or {}
        if troubles.pop(chunk_id, None) is not None:
            store.set_meta(db, **{TROUBLES: troubles})


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"
