"""Run folders: where a run lives, finding the latest run of a file, refusing to resume
a run whose pipeline has changed."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from typing import Any

from octolang import ir
from octolang.runtime.pg_store import list_metas, locator, shown, split_locator
from octolang.runtime.store import StateUnusable, StoreError, is_postgres
from octolang.runtime.stores import open_reader

STATE_FILE = "state.sqlite"
LOCAL_FOLDERS = ".postgresql"  # under a folder of runs: the local folders of runs kept in PostgreSQL


def local_folder(root: str, run_id: str) -> str:
    """A PostgreSQL run's folder on this machine (providers' ledgers, the viewer's cache):
    hidden from the SQLite runs beside it, as a folder starting with a dot."""
    return os.path.join(root, LOCAL_FOLDERS, run_id)


def default_runs_root(pipeline_file: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(pipeline_file)), ".octo", "runs")


def _strip_spans(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_spans(v)
            for k, v in value.items()
            if k not in ir.POSITION_FIELDS and k not in ("file", "source_path")
        }
    if isinstance(value, list):
        return [_strip_spans(v) for v in value]
    return value


def program_fingerprint(program: ir.Program) -> dict[str, str]:
    """A hash per declaration, without source positions: editing comments or spacing does
    not change it, editing a prompt does."""
    data = _strip_spans(program.model_dump(mode="json"))
    parts: dict[str, Any] = {
        "header": {k: data.get(k) for k in ("pipeline", "seed", "consts", "types")},
        "units": data.get("units"),
    }
    for model in data.get("models", []):
        parts[f"model {model['name']}"] = model
    for step in data.get("steps", []):
        parts[f"step {step['name']}"] = step
    for index, gate in enumerate(data.get("gates", [])):
        parts[f"gate {index + 1}"] = gate
    return {
        k: hashlib.sha256(json.dumps(v, sort_keys=True, default=str).encode()).hexdigest()[:16]
        for k, v in parts.items()
    }


def describe_changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    changes = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            changes.append(f"{key} was removed")
        elif key not in old:
            changes.append(f"{key} was added")
        elif old[key] != new[key]:
            changes.append(f"{key} changed")
    return changes


@dataclass
class RunInfo:
    id: str
    folder: str
    meta: dict[str, Any]
    damaged: str | None = None  # why the state cannot be read, for a run that is listed all the same
    state: str | None = None  # a PostgreSQL run's locator (pg_store.locator); None: the file in `folder`

    @property
    def state_path(self) -> str:
        """Where the state is, as `RunStore.reader` opens it. A PostgreSQL run still has a
        local `folder`, for what is local to a machine (providers' ledgers, the viewer's cache)."""
        return self.state or os.path.join(self.folder, STATE_FILE)

    @property
    def place(self) -> str:
        """Where the run is kept, for messages (a PostgreSQL URL is shown without its password)."""
        return shown(split_locator(self.state)[0]) if self.state else self.folder

    @property
    def pipeline(self) -> str | None:
        name = self.meta.get("pipeline")
        return str(name) if name is not None else None


def file_from_root(pipeline_file: str, root: str) -> str:
    """Where the pipeline file is, seen from the folder of runs (`../../p.octo`): what a
    run records to be found again after the project folder is moved or copied."""
    return os.path.relpath(os.path.abspath(pipeline_file), os.path.abspath(root))


def belongs_to(info: RunInfo, pipeline_file: str, root: str) -> bool:
    """A run is FILE's when FILE is where the run says, relative to the folder of runs (or,
    for a run made before runs recorded that, at its absolute path)."""
    if info.damaged is not None:
        return False
    if "file_from_root" in info.meta:
        return bool(info.meta["file_from_root"] == file_from_root(pipeline_file, root))
    return bool(info.meta.get("file") == os.path.abspath(pipeline_file))


def list_runs(
    root: str, pipeline_file: str | None = None, *, damaged: bool = False, state: str | None = None
) -> list[RunInfo]:
    """Runs under `root` (or in the PostgreSQL database `state`, their local folders under
    `root`), oldest first; only those of `pipeline_file` when given. With `damaged`, runs
    whose state cannot be read come too (last, with the reason)."""
    if is_postgres(state):
        return _list_postgres(root, pipeline_file, damaged, str(state))
    if not os.path.isdir(root):
        return []
    runs, broken = [], []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        if name.startswith(".") or not os.path.isdir(folder):
            continue  # `.new-*`: a run being made (or whose making was killed)
        state = os.path.join(folder, STATE_FILE)
        try:
            if not os.path.isfile(state):
                raise StoreError(
                    f"its state {state} is missing (deleted or moved); put it back, or start a new run with "
                    "`--fresh` (the folder stays)"
                )
            store = open_reader(state)
            try:
                meta = store.meta()
            finally:
                store.close()
        except StoreError as exc:
            broken.append(RunInfo(name, folder, {}, damaged=str(exc)))
            continue
        info = RunInfo(name, folder, meta)
        if pipeline_file is None or belongs_to(info, pipeline_file, root):
            runs.append(info)
    runs.sort(key=lambda r: (r.meta.get("created_at", 0), r.id))
    return runs + (broken if damaged else [])


def _list_postgres(root: str, pipeline_file: str | None, damaged: bool, url: str) -> list[RunInfo]:
    runs, broken = [], []
    for run_id, meta, why in list_metas(url):
        info = RunInfo(run_id, local_folder(root, run_id), meta or {}, damaged=why, state=locator(url, run_id))
        if why is not None:
            broken.append(info)
        elif pipeline_file is None or belongs_to(info, pipeline_file, root):
            runs.append(info)
    runs.sort(key=lambda r: (r.meta.get("created_at", 0), r.id))
    return runs + (broken if damaged else [])


def new_run_id(program: ir.Program) -> str:
    name = program.pipeline.name if program.pipeline else "pipeline"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return f"{name}-{stamp}-{secrets.token_hex(2)}"


def clear_unfinished_creations(root: str) -> None:
    """Remove `.new-*` folders: runs whose making was killed before they were renamed into
    place. Called with the folder of runs locked, so none of them is being made."""
    for name in os.listdir(root):
        if name.startswith(".new-"):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)


class RunRefused(Exception):
    """A run that cannot start, resume or be found, with the reason for the user."""


def _unfinished(info: RunInfo) -> bool:
    """Some unit pending, or no unit yet (a run killed right after it was made)."""
    try:
        store = open_reader(info.state_path)
        try:
            pending, total = store.query("SELECT COUNT(*) FILTER (WHERE status = 'pending'), COUNT(*) FROM units")[0]
        finally:
            store.close()
    except StoreError:
        return True
    return bool(pending) or not total


def choose_run(
    root: str, pipeline_file: str, pipeline: str | None, run_id: str | None, state: str | None = None
) -> RunInfo | None:
    """The run FILE resumes or reads: run `run_id` (any run under `root`, or in the
    PostgreSQL database `state`), else FILE's latest.

    None when FILE has no run. Refused rather than None when a run under `root` could be
    FILE's but cannot be read (its folder is named after the same pipeline), or when an
    unfinished run of the same pipeline was made from another file (a renamed file): a new
    run would silently replace it."""
    runs = list_runs(root, None, damaged=True, state=state)
    if run_id is not None:
        found = [r for r in runs if r.id == run_id]
        if not found:
            known = ", ".join(r.id for r in runs[-3:]) or "none"
            if is_postgres(state):
                root = shown(str(state))
            raise RunRefused(
                f"no run `{run_id}` of {os.path.basename(pipeline_file)} found under {root} "
                f"(latest there: {known}; `octoc runs` lists them)"
            )
        if found[0].damaged:
            raise StateUnusable(found[0].damaged)
        return found[0]
    mine = [r for r in runs if belongs_to(r, pipeline_file, root)]
    if mine:
        return mine[-1]
    name = os.path.basename(pipeline_file)
    prefix = f"{pipeline or 'pipeline'}-"
    for info in runs:
        if info.damaged and info.id.startswith(prefix):
            raise StateUnusable(f"run {info.id} may be the run of {name}, and it cannot be read: {info.damaged}")
    for info in reversed(runs):
        if not info.damaged and info.pipeline == pipeline and _unfinished(info):
            made_from = info.meta.get("file_from_root") or info.meta.get("file")
            raise RunRefused(
                f"run {info.id} of pipeline `{pipeline}` is unfinished, and was started from another file "
                f"({made_from}, seen from {root}). Resume it with `--run {info.id}`, or start a new run "
                "with `--fresh` (it stays in its folder)."
            )
    return None
