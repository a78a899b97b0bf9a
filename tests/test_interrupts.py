"""A signal that lands where Python cannot raise it (a weakref callback) is kept and
raised at the runner's next safe point, not printed as "Exception ignored" and lost."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import os, signal, time, weakref
from octolang import interrupts
interrupts.install()
class Thing: pass
thing = Thing()
def callback(ref):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)  # the handler runs here, inside the callback, where it cannot raise
keep = weakref.ref(thing, callback)
del thing
print("went on")
try:
    interrupts.raise_pending()
except interrupts.Terminated:
    print("raised at the safe point")
"""


def test_a_sigterm_in_a_callback_is_raised_at_the_next_safe_point() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == ["went on", "raised at the safe point"]
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr, done.stderr
