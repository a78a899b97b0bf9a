"""Ctrl-C and SIGTERM, as exceptions the runner can stop on cleanly.

SIGTERM raises `Terminated`, a `KeyboardInterrupt`, so both unwind the same way: the
transaction in progress rolls back and what was committed stays. A signal that lands
while Python runs a callback it cannot raise from (a weakref callback, a `__del__`)
would be printed as "Exception ignored" and lost; it is kept instead, and raised at the
runner's next safe point (`raise_pending`: between ticks and between compute slices)."""

from __future__ import annotations

import signal
import sys
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop as for Ctrl-C (exit 143 instead of 130)."""


_pending: list[KeyboardInterrupt] = []


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def _keep_unraisable(unraisable: Any) -> None:
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        _pending.append(unraisable.exc_value)
        return
    sys.__unraisablehook__(unraisable)


def install() -> None:
    """SIGTERM raises `Terminated`; interrupts that land in callbacks are kept, not printed."""
    signal.signal(signal.SIGTERM, _terminate)
    sys.unraisablehook = _keep_unraisable


def raise_pending() -> None:
    """Raise an interrupt that landed where it could not be raised, if one did."""
    if _pending:
        raise _pending.pop()
