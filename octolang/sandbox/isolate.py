"""Running one call in a forked child under a wall deadline, a CPU limit and an
address-space bound, for what `octoc check` and `octoc lsp` must evaluate.

A signal cannot interrupt a single C call (`sum(range(10**13))`), and the language
server may evaluate off the main thread, where no SIGALRM arrives: a child process that
is killed at the deadline bounds both. The child sends back its result, pickled, through
a pipe; it never writes anywhere else. Without `fork` (not POSIX), the call runs here.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

try:  # imported here, not in the child: an import there could wait on a lock another thread held at fork
    import resource
except ImportError:  # not POSIX: no limits, and no fork either
    resource = None  # type: ignore[assignment]

MAX_RESULT_BYTES = 16 * 2**20
Outcome = Literal["ok", "error", "timeout", "memory", "too_large"]


@dataclass(frozen=True)
class Isolated:
    """What became of the call: its value (`ok`), the exception's type name and text
    (`error`), or which bound stopped it."""

    outcome: Outcome
    value: Any = None
    error_type: str = ""
    error_text: str = ""


def set_limits(cpu_seconds: float, memory_bytes: int) -> None:
    """OS limits for this process: CPU seconds (SIGXCPU at the soft limit, killed at the
    hard one) and address space beyond what the process already maps."""
    if resource is None:
        return
    cpu = max(1, int(cpu_seconds + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (_mapped_bytes() + memory_bytes, resource.RLIM_INFINITY))


@contextlib.contextmanager
def memory_bound(memory_bytes: int) -> Iterator[None]:
    """This process may map at most `memory_bytes` more while inside: an allocation past
    it raises MemoryError instead of exhausting the machine. The soft limit is restored
    on the way out (lowering and raising a soft limit below the hard one is allowed)."""
    if resource is None:
        yield
        return
    previous = resource.getrlimit(resource.RLIMIT_AS)
    mapped = _mapped_bytes()
    wanted = mapped + memory_bytes
    if not mapped or (previous[1] != resource.RLIM_INFINITY and wanted > previous[1]):
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (wanted, previous[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, previous)


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def run_isolated(function: Callable[[], Any], *, seconds: float, memory_bytes: int) -> Isolated:
    """`function()` in a forked child, killed after `seconds` of wall time."""
    if not hasattr(os, "fork"):
        return _outcome(function)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, exit without running the parent's cleanup
        status = 0
        try:
            os.close(read_end)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            set_limits(seconds, memory_bytes)
            data = _encode(_outcome(function))
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view) :]
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        data, finished = _read(read_end, pid, time.monotonic() + seconds)
    finally:
        os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if not finished:
        return Isolated("timeout")
    if data:
        try:
            result = pickle.loads(data)
        except Exception:
            result = None
        if isinstance(result, Isolated):
            return result
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
        return Isolated("timeout")
    if len(data) > MAX_RESULT_BYTES:
        return Isolated("too_large")
    return Isolated("memory")  # the child died without an answer: it could not allocate


def _read(fd: int, pid: int, deadline: float) -> tuple[bytes, bool]:
    """What the child writes until it closes the pipe; killed at the deadline (False)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        left = deadline - time.monotonic()
        ready = select.select([fd], [], [], max(left, 0))[0] if left > 0 else []
        if not ready:
            os.kill(pid, signal.SIGKILL)
            return b"", False
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return b"".join(chunks), True
        size += len(chunk)
        if size > MAX_RESULT_BYTES:
            os.kill(pid, signal.SIGKILL)
            return b"x" * (MAX_RESULT_BYTES + 1), True
        chunks.append(chunk)


def _outcome(function: Callable[[], Any]) -> Isolated:
    try:
        return Isolated("ok", function())
    except MemoryError:
        return Isolated("memory")
    except RecursionError as exc:
        return Isolated("error", error_type="RecursionError", error_text=_short(exc))
    except Exception as exc:
        return Isolated("error", error_type=type(exc).__name__, error_text=_short(exc))


def _short(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = ""
    return text if len(text) <= 300 else text[:300] + "..."


def _encode(result: Isolated) -> bytes:
    try:
        data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except (RecursionError, MemoryError, pickle.PicklingError, TypeError, ValueError):
        return pickle.dumps(Isolated("error", error_type="ValueError", error_text="the value cannot be stored"))
    if len(data) > MAX_RESULT_BYTES:
        return pickle.dumps(Isolated("too_large"))
    return data
