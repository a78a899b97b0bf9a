"""The runs a viewer shows: found under a folder of runs, each opened read-only, with the
program of its pipeline file (compiled once per file version) and a cache database beside
it for what is costly to recompute (the search index, the reports)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from octolang import ir
from octolang.runtime.runs import STATE_FILE, RunInfo, list_runs
from octolang.runtime.store import RunStore
from octolang.runtime.stores import open_reader

CACHE_FILE = "view-cache.sqlite"
KEPT_VALUES = 256  # values kept in memory (summaries, unit counts of a filter, graphs)
T = TypeVar("T")


@dataclass
class Run:
    info: RunInfo
    root: str

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def meta(self) -> dict[str, Any]:
        return self.info.meta

    @property
    def pipeline_file(self) -> str | None:
        meta = self.info.meta
        if "file_from_root" in meta:
            return os.path.normpath(os.path.join(self.root, str(meta["file_from_root"])))
        return str(meta["file"]) if meta.get("file") else None


class Site:
    """The runs under `root` (only FILE's when `pipeline_file` is given); with `state`, the
    runs in that PostgreSQL database (their local folders, for the viewer's cache, under `root`)."""

    def __init__(
        self,
        root: str,
        pipeline_file: str | None = None,
        allow_outside: tuple[str, ...] = (),
        state: str | None = None,
    ) -> None:
        self.root = os.path.abspath(root)
        self.state = state
        self.pipeline_file = os.path.abspath(pipeline_file) if pipeline_file else None
        self.allow_outside = allow_outside
        self._programs: dict[tuple[str, float], ir.Program | None] = {}
        self._kept: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.background = False  # live, slow values are computed by worker processes (work.py)

    def runs(self) -> list[Run]:
        """Newest first."""
        found = list_runs(self.root, self.pipeline_file, state=self.state)
        return [Run(info, self.root) for info in reversed(found)]

    def run(self, run_id: str) -> Run | None:
        if "/" in run_id or run_id.startswith(".") or not run_id:
            return None
        if self.state is not None:
            return next(
                (Run(i, self.root) for i in list_runs(self.root, None, state=self.state) if i.id == run_id), None
            )
        folder = os.path.join(self.root, run_id)
        if not os.path.isfile(os.path.join(folder, STATE_FILE)):
            return None
        store = open_reader(os.path.join(folder, STATE_FILE))
        try:
            meta = store.meta()
        finally:
            store.close()
        return Run(RunInfo(run_id, folder, meta), self.root)

    def prepare(self) -> None:
        """Compile every run's pipeline now (the first compilation imports the compiler),
        not in the first request that needs one."""
        for run in self.runs():
            self.program(run)

    def reader(self, run: Run) -> RunStore:
        return open_reader(run.info.state_path)

    def program(self, run: Run) -> ir.Program | None:
        """The run's pipeline, compiled from its file as it is now; None when the file is
        gone or no longer compiles (the pages that need it say so)."""
        path = run.pipeline_file
        if path is None or not os.path.isfile(path):
            return None
        key = (path, os.path.getmtime(path))
        with self._lock:
            if key not in self._programs:
                self._programs[key] = _compile(path, self.allow_outside)
            return self._programs[key]

    def kept(self, run: Run, name: str, compute: Callable[[], T]) -> T:
        """`compute()`, done once per state of the run (state_version) and kept in memory:
        what needs a pass over every unit is not read again while the run stands still."""
        key = (run.info.folder, name, state_version(run))
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                value: T = self._kept[key]
                return value
        value = compute()
        self.keep(key, value)
        return value

    def known(self, key: tuple[str, str, str]) -> tuple[Any] | None:
        """A kept value, in a 1-tuple (a value may be None), or None."""
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return (self._kept[key],)
        return None

    def keep(self, key: tuple[str, str, str], value: Any) -> None:
        with self._lock:
            self._kept[key] = value
            while len(self._kept) > KEPT_VALUES:
                self._kept.popitem(last=False)

    def cache(self, run: Run) -> sqlite3.Connection:
        """The run's cache database: `view-cache.sqlite` in the run folder, or, when that
        folder cannot be written, in the temporary folder. Never the run's state."""
        path = os.path.join(run.info.folder, CACHE_FILE)
        if not os.access(run.info.folder, os.W_OK):
            digest = hashlib.sha256(os.path.abspath(run.info.folder).encode()).hexdigest()[:16]
            path = os.path.join(tempfile.gettempdir(), f"octoc-view-{digest}.sqlite")
        db = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE IF NOT EXISTS kept (key TEXT PRIMARY KEY, version TEXT NOT NULL, value TEXT)")
        return db


def _compile(path: str, allow_outside: tuple[str, ...]) -> ir.Program | None:
    from octolang.compiler import compile_source, read_source
    from octolang.diagnostics import Diagnostic
    from octolang.paths import file_access

    source = read_source(path)
    if isinstance(source, Diagnostic):
        return None
    compilation = compile_source(source, file_access(allow_outside))
    if any(d.is_error for d in compilation.diagnostics):
        return None
    return compilation.program


def state_version(run: Run) -> str:
    """Changes whenever the run moves on, read without opening it: a writer's every commit
    goes to the state's write-ahead log (its size or time changes), a checkpoint to the
    state itself. What cached values are keyed by. A run in PostgreSQL: its count of writes
    and the time of its last tick, read from its meta."""
    if run.info.state is not None:
        store = open_reader(run.info.state_path)
        try:
            return f"{run.id}:{store.meta_value('writes')}:{store.meta_value('updated_at')}"
        finally:
            store.close()
    parts = [run.id]
    for suffix in ("", "-wal"):
        try:
            info = os.stat(run.info.state_path + suffix)
        except OSError:
            parts.append("-")
            continue
        parts.append(f"{info.st_ino}.{info.st_size}.{info.st_mtime_ns}")
    return ":".join(parts)
