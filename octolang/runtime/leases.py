"""What a run's lease says: who holds it, and whether that holder is still alive. A lease
is written by the run's writer (runlock.py for a run in SQLite, pg_lease.py for one in
PostgreSQL) and read by everyone who names or waits for the writer."""

from __future__ import annotations

import os
import socket
import time
from typing import Any


def describe_holder(held: Any) -> str:
    """`pid 123 on host h, last seen 4 s ago`, from a stored lease (or a vaguer phrase)."""
    if not isinstance(held, dict) or "pid" not in held:
        return "another octoc process"
    if "expires_in" in held:  # a PostgreSQL run's lease (pg_lease.py): its expiry says it all
        left = float(held["expires_in"])
        until = f"its lease expires in {left:.0f} s" if left > 0 else "its lease has expired"
        return f"pid {held['pid']} on host {held.get('host', '?')}, {until}"
    ago = max(0.0, time.time() - float(held.get("heartbeat", time.time())))
    return f"pid {held['pid']} on host {held.get('host', '?')}, last seen {ago:.0f} s ago"


def is_live(held: Any) -> bool:
    """A lease whose process still exists (on another host: assumed to); a PostgreSQL run's
    lease, while it has not expired."""
    if not isinstance(held, dict) or "pid" not in held:
        return False
    if "expires_in" in held:
        return float(held["expires_in"]) > 0
    if held.get("host") != socket.gethostname():
        return True
    try:
        os.kill(int(held["pid"]), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError):
        return True
    return True
