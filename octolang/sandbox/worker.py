"""Worker processes for compute code: the parent side (a pool forked per step, batches
sent, a wall deadline per unit, workers killed and replaced) and the child's loop.

The child enters the boundary (limits.py) before it touches a job. Jobs go down as pickles
(the parent is trusted); results come back as text of bounded length, one line a job
(what `handle` returned: the caller parses it), never as pickles, so a worker whose code
got past the policy cannot run code in the parent. While
a job runs, the child writes its position in the batch and its start time into a shared
page; the parent reads it to kill a unit stuck past its deadline (a C call that ignores
SIGALRM), fails that unit alone, and sends the rest of the batch to another worker.
Results go by job index, so they do not depend on the number of workers.
"""

from __future__ import annotations

import gc
import mmap
import os
import signal
import struct
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing import Pipe
from multiprocessing.connection import Connection, wait
from typing import Any, TypeVar

from octolang.sandbox.limits import SandboxUnavailable, WorkerLimits, allow_cpu, enter_boundary

J = TypeVar("J")

# One aligned 64-bit word (read and written whole): how many jobs of the batch have started
# (0: none yet), or -1 once the batch is done. The parent times a value from when it first
# sees it, on its own clock.
_PROGRESS = struct.Struct("q")
MAX_BATCH = 256
FLUSH_CHARS = 8_000_000  # a batch's outcomes go up in several messages past this size
POLL_SECONDS = 0.1
STILLBORN_LIMIT = 3  # workers in a row that die before their first unit: the boundary is broken


@dataclass
class _Worker:
    pid: int
    jobs: Connection  # parent -> child
    results: Connection  # child -> parent
    progress: mmap.mmap
    batch: list[int] = field(default_factory=list)  # job indices in flight
    received: int = 0  # how many of them have their outcome
    sent_at: float = 0.0
    seen: int = 0  # the progress word when last read, and since when it has had that value
    seen_at: float = 0.0

    def running(self, now: float) -> tuple[int, float]:
        """The position in the batch of the job that runs (-1: none) and since when."""
        (started,) = _PROGRESS.unpack_from(self.progress, 0)
        if started != self.seen:
            self.seen, self.seen_at = int(started), now
        return (self.seen - 1 if self.seen > 0 else -1), self.seen_at

    def kill(self) -> int:
        """SIGKILL and reap; the raw wait status."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(self.pid, 0)
        for closable in (self.jobs, self.results, self.progress):
            closable.close()
        return status


# The first byte of a child's message that says its boundary could not be set up (a
# result line never starts with it: results are JSON text, which escapes control bytes).
_SETUP_FAILED = b"\x00"


def _serve(
    handle: Callable[[Any], str], jobs: Connection, results: Connection, progress: mmap.mmap, limits: WorkerLimits
) -> None:
    """The child's loop: a batch in, its results out as lines (one message, or several
    when they are large), until EOF."""
    while True:
        try:
            batch = jobs.recv()
        except EOFError:
            return
        allow_cpu(limits.unit_seconds * len(batch) + 1.0)
        fragments: list[str] = []
        size = 0
        for position, job in enumerate(batch):
            _PROGRESS.pack_into(progress, 0, position + 1)
            fragment = handle(job)
            fragments.append(fragment)
            size += len(fragment)
            if size > FLUSH_CHARS and position + 1 < len(batch):
                results.send_bytes("\n".join(fragments).encode())
                fragments, size = [], 0
        _PROGRESS.pack_into(progress, 0, -1)
        results.send_bytes("\n".join(fragments).encode())


class WorkerPool:
    """Up to `size` workers forked from this process; each child runs `handle(job)` (one
    line of JSON text, never raising) under the limits."""

    def __init__(self, handle: Callable[[Any], str], size: int, limits: WorkerLimits, *, max_result_bytes: int) -> None:
        self.handle = handle
        self.size = size
        self.limits = limits
        self.max_result_bytes = max_result_bytes
        self.idle: list[_Worker] = []
        self.busy: list[_Worker] = []
        self.stillborn = 0

    def _spawn(self) -> _Worker:
        jobs_in, jobs_out = Pipe(duplex=False)
        results_in, results_out = Pipe(duplex=False)
        progress = mmap.mmap(-1, _PROGRESS.size)
        parent = os.getpid()
        # Signals wait until the child has ignored SIGINT: a Ctrl-C at this instant must not
        # give the child Python's handler (a traceback on the terminal).
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        try:
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child; measured through its results
                code = 0
                gc.freeze()  # the parent's objects: the child's collector leaves them (and their pages) alone
                try:
                    # Both are the parent's to handle: it stops the workers itself, and a
                    # worker killed by a group-wide SIGTERM would fail the unit it ran.
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                    signal.pthread_sigmask(signal.SIG_SETMASK, mask)
                    try:
                        enter_boundary(parent, (jobs_in.fileno(), results_out.fileno()), self.limits)
                    except Exception as exc:
                        results_out.send_bytes(_SETUP_FAILED + str(exc).encode("utf-8", "replace"))
                        code = 1
                    else:
                        _serve(self.handle, jobs_in, results_out, progress, self.limits)
                except BaseException:
                    code = 70
                finally:
                    os._exit(code)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        jobs_in.close()
        results_out.close()
        return _Worker(pid, jobs_out, results_in, progress)

    def send(self, batch: list[int], jobs: Sequence[Any]) -> None:
        worker = self.idle.pop() if self.idle else self._spawn()
        worker.batch = batch
        worker.received = 0
        worker.sent_at = worker.seen_at = time.monotonic()
        worker.seen = 0
        _PROGRESS.pack_into(worker.progress, 0, 0)
        self.busy.append(worker)
        try:
            worker.jobs.send([jobs[i] for i in batch])
        except OSError:
            pass  # the worker is gone; its results' EOF says so

    def can_take(self) -> bool:
        return bool(self.idle) or len(self.busy) < self.size

    def retire(self, worker: _Worker) -> int:
        self.busy.remove(worker)
        return worker.kill()

    def close(self) -> None:
        for worker in self.idle + self.busy:
            worker.kill()
        self.idle.clear()
        self.busy.clear()


def run_in_workers(
    jobs: Sequence[J],
    handle: Callable[[J], str],
    *,
    workers: int,
    deadline: float,
    limits: WorkerLimits,
    lost: Callable[[J, str], Any],
) -> list[Any]:
    """Each job's result line (bytes, as its worker sent it: not yet trusted), in the order
    of `jobs`. A job whose worker passes `deadline` seconds on it, or dies under it, gets
    `lost(job, why)` instead, with `why` "deadline" or a description of the death; its
    batch's other jobs run again elsewhere."""
    if not jobs:
        return []
    size = max(1, min(MAX_BATCH, len(jobs) // (max(1, workers) * 8)))
    queue: deque[list[int]] = deque(list(range(i, min(i + size, len(jobs)))) for i in range(0, len(jobs), size))
    per_job = limits.output_bytes + limits.message_chars * 6 + 8192  # JSON escapes at most 6 chars a char
    pool = WorkerPool(handle, min(max(1, workers), len(queue)), limits, max_result_bytes=per_job)
    results: list[Any] = [None] * len(jobs)
    try:
        while queue or pool.busy:
            while queue and pool.can_take():
                pool.send(queue.popleft(), jobs)
            ready = wait([w.results for w in pool.busy], timeout=_next_check(pool, deadline))
            for worker in [w for w in pool.busy if w.results in ready]:
                _take(pool, worker, jobs, results, queue, lost)
            now = time.monotonic()
            for worker in list(pool.busy):
                position, started = worker.running(now)
                late = position >= 0 and now - started > deadline
                stalled = now - worker.sent_at > deadline * len(worker.batch) + 5.0
                if late:
                    pool.retire(worker)
                    _lose(worker, position, "deadline", jobs, results, queue, lost)
                elif stalled:
                    _stalled(pool, worker, jobs, results, queue, lost)
    finally:
        pool.close()
    return results


def _stalled(
    pool: WorkerPool,
    worker: _Worker,
    jobs: Sequence[J],
    results: list[Any],
    queue: deque[list[int]],
    lost: Callable[[J, str], Any],
) -> None:
    """A worker silent far past its batch's deadlines: stuck before its first unit (its
    batch goes to another worker), or after its last (its units fail)."""
    before_first = worker.seen == 0
    pool.retire(worker)
    if before_first:
        pool.stillborn += 1
        if pool.stillborn >= STILLBORN_LIMIT:
            raise SandboxUnavailable("compute workers stop answering before their first unit")
        queue.appendleft(worker.batch[worker.received :])
        return
    for index in worker.batch[worker.received :]:
        results[index] = lost(jobs[index], "its worker process stopped answering")


def _next_check(pool: WorkerPool, deadline: float) -> float:
    now = time.monotonic()
    soonest = POLL_SECONDS
    for worker in pool.busy:
        position, started = worker.running(now)
        if position >= 0:
            soonest = min(soonest, started + deadline - now)
    return max(0.005, soonest)


def _take(
    pool: WorkerPool,
    worker: _Worker,
    jobs: Sequence[J],
    results: list[Any],
    queue: deque[list[int]],
    lost: Callable[[J, str], Any],
) -> None:
    left = len(worker.batch) - worker.received
    try:
        data = worker.results.recv_bytes(FLUSH_CHARS + pool.max_result_bytes + 65536)
        lines: list[bytes] | None = data.split(b"\n")
    except EOFError:
        position, _ = worker.running(time.monotonic())
        status = pool.retire(worker)
        if position < 0:
            pool.stillborn += 1
            if pool.stillborn >= STILLBORN_LIMIT:
                raise SandboxUnavailable(f"compute workers die before their first unit ({_death(status)})") from None
            queue.appendleft(worker.batch[worker.received :])
            return
        _lose(worker, position, _death(status), jobs, results, queue, lost)
        return
    except OSError:
        lines = None
    if lines is not None and data[:1] == _SETUP_FAILED:
        pool.retire(worker)
        raise SandboxUnavailable(data[1:].decode("utf-8", "replace"))
    if lines is None or not 0 < len(lines) <= left:
        pool.retire(worker)  # only code that got past the policy can garble the channel
        for index in worker.batch[worker.received :]:
            results[index] = lost(jobs[index], "sent a result the runner could not read")
        return
    pool.stillborn = 0
    for index, line in zip(worker.batch[worker.received :], lines, strict=False):
        results[index] = line
    worker.received += len(lines)
    if worker.received == len(worker.batch):
        pool.busy.remove(worker)
        pool.idle.append(worker)


def _lose(
    worker: _Worker,
    position: int,
    why: str,
    jobs: Sequence[J],
    results: list[Any],
    queue: deque[list[int]],
    lost: Callable[[J, str], Any],
) -> None:
    position = min(position, len(worker.batch) - 1)
    index = worker.batch[position]
    results[index] = lost(jobs[index], why)
    again = worker.batch[worker.received : position] + worker.batch[position + 1 :]
    if again:
        queue.appendleft(again)


def _death(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU:
            return "its worker process went over its CPU-time limit (SIGXCPU)"
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        return f"its worker process was killed by {name}"
    return f"its worker process exited with status {os.waitstatus_to_exitcode(status)}"
