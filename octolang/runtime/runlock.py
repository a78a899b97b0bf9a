"""One writer per run: an OS lock on the run folder, and a lease in the state that names
the holder.

The lock is `fcntl.flock` on the file `lock` in the run folder, taken by the process that
moves the run (`octoc run`, `tick`, `cancel`) and held until it exits: the kernel releases
it when the process dies, whatever kills it. The lease (`meta.lease`: pid, host, start,
last heartbeat) is what another process reads to say who holds the run, and, when the
lock is free but a lease is left, that the last writer died without closing the run.
Creating runs is serialised by the same kind of lock on the folder of runs itself.
Readers (status, report, inspect, runs) take neither.

`octoc cancel` on a run another process writes cannot take the lock; it leaves the file
`cancel-request` in the run folder instead, and the writer acts on it before it sends
anything more (before each chunk, each tick, and while it waits for batches).

A run kept in PostgreSQL has no lock file: its writer holds a lease in the database
(pg_lease.py), and a cancel request is a column of that lease's row; the functions below
take the run's `state` locator for it.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from octolang.runtime.leases import is_live
from octolang.runtime.store import StateUnusable, is_postgres

LOCK_FILE = "lock"
CANCEL_REQUEST = "cancel-request"


class RunBusy(Exception):
    """Another live process writes this run (in `folder`)."""

    def __init__(self, message: str, folder: str = "", state: str | None = None) -> None:
        super().__init__(message)
        self.folder = folder
        self.state = state  # a PostgreSQL run's locator


def lease() -> dict[str, Any]:
    """This process's lease, to be stored in the run's meta."""
    stamp = time.time()
    return {"pid": os.getpid(), "host": socket.gethostname(), "started_at": stamp, "heartbeat": stamp}


def run_state(meta: dict[str, Any], counts: dict[str, int]) -> str:
    """What a run is doing, from its meta and its units' counts by status: running (a live
    process holds it), paused, cancelled, unfinished (nobody runs it; `octoc run` goes on)
    or finished."""
    if is_live(meta.get("lease")):
        return "running"
    if isinstance(meta.get("paused"), dict):
        return "paused"
    if counts.get("pending") or not counts:
        return "cancelled" if meta.get("cancelled_at") is not None else "unfinished"
    return "finished"


def open_lock(folder: str) -> int:
    """A descriptor of the run folder's lock file, made if missing (a run made before locks)."""
    path = os.path.join(folder, LOCK_FILE)
    try:
        return os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise StateUnusable(
                f"the run folder {folder} is read-only: octoc run cannot write its state there "
                "(`octoc status` and `report` still read it); make it writable and run again"
            ) from exc
        raise StateUnusable(f"cannot open the run's lock {path}: {exc.strerror or exc}") from exc


def try_lock(fd: int, *, wait: bool) -> bool:
    """Take the exclusive lock on `fd`; False when another process holds it and not `wait`."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise StateUnusable(f"cannot lock the run: {exc.strerror or exc}") from exc
    return True


@contextmanager
def creating(root: str) -> Iterator[None]:
    """Hold the folder of runs while a process finds or makes its run: two `octoc run` started
    at the same instant on a file without a run make one run."""
    try:
        fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise StateUnusable(f"cannot open the folder of runs {root}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def request_cancel(folder: str, state: str | None = None) -> None:
    """Ask the live writer of the run in `folder` (or PostgreSQL run `state`) to cancel it
    (see `cancel_requested`)."""
    if is_postgres(state):
        from octolang.runtime import pg_lease

        pg_lease.request_cancel(str(state))
        return
    path = os.path.join(folder, CANCEL_REQUEST)
    partial = f"{path}.{os.getpid()}"
    with open(partial, "w", encoding="utf-8") as out:
        out.write(f"{os.getpid()} {socket.gethostname()} {time.time()}\n")
    os.replace(partial, path)


def cancel_requested(folder: str, state: str | None = None, db: Any = None) -> bool:
    if is_postgres(state):
        from octolang.runtime import pg_lease

        return pg_lease.cancel_requested(str(state), db)
    return os.path.exists(os.path.join(folder, CANCEL_REQUEST))


def clear_cancel_request(folder: str, state: str | None = None, db: Any = None) -> None:
    if is_postgres(state):
        from octolang.runtime import pg_lease

        pg_lease.clear_cancel_request(str(state), db)
        return
    try:
        os.unlink(os.path.join(folder, CANCEL_REQUEST))
    except FileNotFoundError:
        pass
