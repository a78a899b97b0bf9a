"""Run folders: where a run lives, finding the latest run of a file, refusing to resume
a run whose pipeline has changed."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Any

from octolang import ir
from octolang.runtime.store import RunStore, StoreError

STATE_FILE = "state.sqlite"


def default_runs_root(pipeline_file: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(pipeline_file)), ".octo", "runs")


def _strip_spans(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_spans(v)
            for k, v in value.items()
            if k
            not in (
                "span",
                "name_span",
                "attr_span",
                "value_span",
                "provider_span",
                "model_id_span",
                "model_span",
                "target_span",
                "key_span",
                "trials_span",
                "budget_span",
                "anchors",
                "first_line",
                "file",
                "source_path",
            )
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

    @property
    def state_path(self) -> str:
        return os.path.join(self.folder, STATE_FILE)


def list_runs(root: str, pipeline_file: str | None = None) -> list[RunInfo]:
    """Runs under `root`, oldest first; only those of `pipeline_file` when given."""
    if not os.path.isdir(root):
        return []
    wanted = os.path.abspath(pipeline_file) if pipeline_file else None
    runs = []
    for name in sorted(os.listdir(root)):
        folder = os.path.join(root, name)
        state = os.path.join(folder, STATE_FILE)
        if not os.path.isfile(state):
            continue
        try:
            store = RunStore(state)
            try:
                meta = store.meta()
            finally:
                store.close()
        except StoreError:
            continue
        if wanted is None or meta.get("file") == wanted:
            runs.append(RunInfo(name, folder, meta))
    runs.sort(key=lambda r: (r.meta.get("created_at", 0), r.id))
    return runs


def new_run_folder(root: str, program: ir.Program) -> RunInfo:
    name = program.pipeline.name if program.pipeline else "pipeline"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    run_id = f"{name}-{stamp}-{secrets.token_hex(2)}"
    folder = os.path.join(root, run_id)
    os.makedirs(folder, exist_ok=False)
    return RunInfo(run_id, folder, {})
