"""The coordinator's lease on a run kept in PostgreSQL: one writer at a time, across machines.

The lease is a row of `octolang.leases`: a token (this process's, random), the holder (pid,
host, start), and an expiry by the database's clock. A writer takes it when nobody holds it
or the holder's expiry has passed; a thread renews it every third of its length; closing the
run gives it back. A coordinator killed with its machine stops renewing, and after the
expiry (`OCTO_LEASE_SECONDS`, 30 by default) another `octoc run --run ID --state ...` takes
over. Every write transaction checks the token under a share lock of the row
(`PgRunStore._check_lease`), so a writer that lost its lease (frozen past its expiry, cut
from the database) writes nothing more: two coordinators never both write.

`octoc cancel` on a run another process holds sets the row's `cancel_request`; the holder
acts on it as on the SQLite run's `cancel-request` file (`runlock.py`).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from octolang.runtime.pg_store import NOW, PgRunStore, connect, ensure_catalogue, shown, split_locator
from octolang.runtime.store import StateUnusable

DEFAULT_SECONDS = 30.0
SECONDS_VAR = "OCTO_LEASE_SECONDS"
_CREATING_LOCK = 0x6F63746F2  # the advisory lock held while a run is found or made


class LeaseHeld(Exception):
    """Another live coordinator holds the run's lease (`holder`: its lease, as `meta.lease`)."""

    def __init__(self, holder: dict[str, Any]) -> None:
        super().__init__("the run's lease is held")
        self.holder = holder


def lease_seconds() -> float:
    text = os.environ.get(SECONDS_VAR, "")
    try:
        value = float(text) if text else DEFAULT_SECONDS
    except ValueError:
        raise StateUnusable(f"{SECONDS_VAR}={text!r} is not a number of seconds") from None
    if not 0.5 <= value <= 86_400:
        raise StateUnusable(f"{SECONDS_VAR}={text} is out of range (0.5 to 86400 seconds)")
    return value


def take(state: str, holder: dict[str, Any], *, wait: bool, create: bool = False) -> PgRunStore:
    """The run's state open to write, its lease held (and renewed) by this process. Raises
    LeaseHeld naming the holder when it is live, unless `wait`: then waits for it to end
    (the store's `waited` says for whom: the holder's lease when it was first met)."""
    seconds = lease_seconds()
    token = secrets.token_hex(16)
    waited: dict[str, Any] | None = None
    while True:
        held = _try_take(state, token, holder, seconds)
        if held is None:
            break
        if not wait:
            raise LeaseHeld(held)
        waited = waited or held
        time.sleep(min(1.0, max(0.05, float(held.get("expires_in", 1.0)))))
    renewal = _Renewal(state, token, seconds)
    try:
        store = PgRunStore(state, lease_token=token, create=create)
    except BaseException:
        renewal.stop()
        raise
    store.on_close = renewal.stop
    store.waited = waited
    return store


def _try_take(state: str, token: str, holder: dict[str, Any], seconds: float) -> dict[str, Any] | None:
    """Take the lease if free or expired (None); else the live holder's lease."""
    url, run_id = split_locator(state)
    db = connect(url)
    try:
        ensure_catalogue(db)
        with db.transaction():
            db.execute("INSERT INTO octolang.leases (run_id) VALUES (%s) ON CONFLICT DO NOTHING", (run_id,))
            current, who, left = db.execute(
                f"SELECT token, holder, expires_at - {NOW} FROM octolang.leases WHERE run_id = %s FOR UPDATE",
                (run_id,),
            ).fetchone()
            if current is not None and left is not None and left > 0:
                return {**(json.loads(who) if who else {}), "expires_in": float(left)}
            db.execute(
                f"UPDATE octolang.leases SET token = %s, holder = %s, expires_at = {NOW} + %s WHERE run_id = %s",
                (token, json.dumps(holder), seconds, run_id),
            )
        return None
    finally:
        db.close()


class _Renewal:
    """The thread that renews the lease, on a connection of its own, until `stop`, which
    also gives the lease back. It stops renewing when the lease is no longer this process's
    (the next write transaction then says so)."""

    def __init__(self, state: str, token: str, seconds: float) -> None:
        self.url, self.run_id = split_locator(state)
        self.token, self.seconds = token, seconds
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._renew, name="octo-lease", daemon=True)
        self.thread.start()

    def _renew(self) -> None:
        db: Any = None
        while not self.stopped.wait(self.seconds / 3):
            try:
                if db is None:
                    db = connect(self.url)
                cursor = db.execute(
                    f"UPDATE octolang.leases SET expires_at = {NOW} + %s WHERE run_id = %s AND token = %s",
                    (self.seconds, self.run_id, self.token),
                )
                if cursor.rowcount == 0:
                    break  # taken over: never take it back from here
            except Exception:
                if db is not None:
                    db.close()
                db = None  # the database is away: try again next time; writes check the token meanwhile
        if db is not None:
            db.close()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        try:
            db = connect(self.url)
        except StateUnusable:
            return  # the lease expires by itself
        try:
            db.execute(
                "UPDATE octolang.leases SET token = NULL, holder = NULL, expires_at = NULL "
                "WHERE run_id = %s AND token = %s",
                (self.run_id, self.token),
            )
        except Exception:
            pass
        finally:
            db.close()


def request_cancel(state: str) -> None:
    _on_row(
        state, None, "UPDATE octolang.leases SET cancel_request = %s WHERE run_id = %s", f"{os.getpid()} {time.time()}"
    )


def cancel_requested(state: str, db: Any = None) -> bool:
    """The run's holder was asked to cancel it (on `db`, the holder's own connection, if given)."""
    rows = _on_row(state, db, "SELECT cancel_request FROM octolang.leases WHERE run_id = %s")
    return bool(rows and rows[0][0])


def clear_cancel_request(state: str, db: Any = None) -> None:
    _on_row(state, db, "UPDATE octolang.leases SET cancel_request = NULL WHERE run_id = %s")


def _on_row(state: str, db: Any, sql: str, *values: Any) -> list[Any]:
    url, run_id = split_locator(state)
    own = db is None
    db = connect(url) if own else db
    try:
        cursor = db.execute(sql, (*values, run_id))
        return list(cursor.fetchall()) if cursor.description else []
    finally:
        if own:
            db.close()


def describe(state: str) -> str:
    url, run_id = split_locator(state)
    return f"run {run_id} in {shown(url)}"


@contextmanager
def creating(url: str) -> Iterator[None]:
    """Hold the database's runs while a process finds or makes its run (as `runlock.creating`
    holds a folder of runs): a session advisory lock, which the server drops with the
    connection, whatever kills the process."""
    db = connect(url)
    try:
        ensure_catalogue(db)
        db.execute("SELECT pg_advisory_lock(%s)", (_CREATING_LOCK,))
        yield
    finally:
        db.close()
