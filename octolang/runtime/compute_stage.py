"""The compute stage of the runner: gates of units whose judges are done, and compute
steps run for the ready units of a snapshot, slice by slice, in worker processes
(compute.py, octolang/sandbox/). It reads and writes the store and takes what it shares
with the other stages from a `RunContext` (context.py).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from octolang import ir
from octolang.expressions import compile_expression, scope_with
from octolang.interrupts import raise_pending
from octolang.runtime.compute import CompiledStep, ComputeJob, reads_rng
from octolang.runtime.context import RunContext
from octolang.runtime.snapshot import Snapshot
from octolang.summary import expression_text

# A compute step's ready units are run and committed in slices, so that a kill loses one
# slice at most: the first of FIRST_COMMIT_UNITS, then sized to take about COMMIT_SECONDS.
# Results do not depend on the slicing (each unit has its own stream).
FIRST_COMMIT_UNITS = 2000
MAX_COMMIT_UNITS = 100_000
COMMIT_SECONDS = 3.0
# Without `--workers`, a compute step's first PROBE_UNITS units run in one worker; the step
# is spread over more (up to AUTO_WORKERS, and the CPUs) only when they took more than
# PARALLEL_UNIT_SECONDS each and what is left would take more than PARALLEL_MIN_SECONDS:
# below that the runner's own work per unit (reading, sending, committing) is the bottleneck
# and more processes cost CPU without gaining time.
PROBE_UNITS = 100
PARALLEL_UNIT_SECONDS = 0.002
PARALLEL_MIN_SECONDS = 2.0
AUTO_WORKERS = 2
# Outputs are stored as compact JSON (the same text as `json.dumps(..., separators=(",", ":"))`).
_COMPACT = json.JSONEncoder(separators=(",", ":"))


class ComputeStage:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.program = ctx.program
        self.store = ctx.store
        self.steps = ctx.steps
        self.consts = ctx.consts
        rng_steps = [s.name for s in self.steps if reads_rng(s)]
        self.rng_carry = set(rng_steps[:-1])  # persist the stream only where a later step continues it
        self.rng_resume = set(rng_steps[1:])
        self._compiled: dict[str, CompiledStep] = {}
        self._slice_units: dict[str, int] = {}  # a compute step's slice size, as last measured
        self._workers: dict[str, int] = {}  # a compute step's workers, as its first units measured
        self._gate_code = [
            (
                compile_expression(g.condition, ctx.filename),
                compile_expression(g.feedback, ctx.filename) if g.feedback else None,
            )
            for g in ctx.program.gates
        ]

    def advance(self, snap: Snapshot) -> bool:
        """Gates and compute steps over `snap` until nothing moves; whether anything did."""
        progressed = False
        while self._gates(snap) | self._compute(snap):
            progressed = True
        return progressed

    # ------------------------------------------------------------ gates
    def _gates(self, snap: Snapshot) -> bool:
        changed = False
        for index, gate in enumerate(self.program.gates):
            updates: list[tuple[str, Any]] = []
            for uid, row in snap.units.items():
                if row.status != "pending":
                    continue
                retries, passed = snap.gates.get((uid, index), (0, False))
                if passed or not all(snap.done(uid, j) for j in gate.judges):
                    continue
                updates.append((uid, self._judge(snap, uid, index, gate, retries)))
            if not updates:
                continue
            changed = True
            with self.store.transaction() as db:
                for uid, verdict in updates:
                    self._apply_verdict(db, snap, uid, index, gate, verdict)
        return changed

    def _judge(self, snap: Snapshot, uid: str, index: int, gate: ir.GateDecl, retries: int) -> Any:
        condition, feedback = self._gate_code[index]
        names = self.ctx.records(
            self.ctx.context(
                snap,
                uid,
                gate.judges + [s.name for s in self.steps if s.name not in gate.judges and snap.done(uid, s.name)],
            )
        )
        names.update(self.consts)
        try:
            if evaluate_code(condition, names):
                return ("pass", None)
            text = str(evaluate_code(feedback, names)) if feedback is not None else ""
        except Exception as exc:
            return ("error", f"the gate `{expression_text(gate.condition)}` raised {type(exc).__name__}: {exc}")
        return ("fail", text or f"a reviewer rejected the answer (gate `{expression_text(gate.condition)}`)")

    def _apply_verdict(
        self, db: Any, snap: Snapshot, uid: str, index: int, gate: ir.GateDecl, verdict: tuple[str, str | None]
    ) -> None:
        kind, text = verdict
        retries, _ = snap.gates.get((uid, index), (0, False))
        condition = expression_text(gate.condition)
        if kind == "pass":
            db.execute("INSERT OR REPLACE INTO gates VALUES (?, ?, ?, 1)", (uid, index, retries))
            snap.gates[(uid, index)] = (retries, True)
        elif kind == "error":
            self.ctx.fail(db, uid, gate.judges[0] if gate.judges else None, text or "", snap)
        elif gate.action == "skip":
            db.execute(
                "UPDATE units SET status = 'skipped', reason = ? WHERE id = ?", (f"gate `{condition}` was false", uid)
            )
            snap.units[uid].status = "skipped"
        elif retries >= gate.max_retries:
            self.ctx.fail(
                db,
                uid,
                gate.target,
                f"gate `{condition}` still false after {gate.max_retries} "
                f"retr{'y' if gate.max_retries == 1 else 'ies'} of `{gate.target}`"
                f" (last feedback: {text})",
                snap,
            )
        else:
            target = gate.target or ""
            cleared = {target} | self.ctx.downstream[target]
            for step in cleared:
                gen, _ = snap.generation.get((uid, step), (0, None))
                note = text if step == target else None
                db.execute("INSERT OR REPLACE INTO generations VALUES (?, ?, ?, ?)", (uid, step, gen + 1, note))
                db.execute("DELETE FROM results WHERE unit_id = ? AND step = ?", (uid, step))
                snap.generation[(uid, step)] = (gen + 1, note)
                snap.results[step].pop(uid, None)
                snap.invalid.pop((uid, step), None)
            db.execute("INSERT OR REPLACE INTO gates VALUES (?, ?, ?, 0)", (uid, index, retries + 1))
            snap.gates[(uid, index)] = (retries + 1, False)
            for other, other_gate in enumerate(self.program.gates):
                if other != index and cleared & set(other_gate.judges):
                    kept = snap.gates.get((uid, other), (0, False))[0]
                    db.execute("INSERT OR REPLACE INTO gates VALUES (?, ?, ?, 0)", (uid, other, kept))
                    snap.gates[(uid, other)] = (kept, False)

    # ------------------------------------------------------------ compute steps
    def _compute(self, snap: Snapshot) -> bool:
        changed = False
        for step in self.steps:
            if step.kind != "compute":
                continue
            ready = self.ctx.ready(snap, step)
            if not ready:
                continue
            changed = True
            compiled = self._compiled.get(step.name)
            if compiled is None:
                compiled = self._compiled[step.name] = CompiledStep(
                    step, self.program, self.ctx.filename, seed=self.ctx.seed, carry_rng=step.name in self.rng_carry
                )
            size = self._slice_units.get(step.name, FIRST_COMMIT_UNITS)
            position = 0
            started = time.monotonic()
            while position < len(ready):  # committed slice by slice: a kill loses one slice at most
                workers = self._workers.get(step.name, self.ctx.options.workers)
                probe = workers is None  # the first units, in one worker, tell whether more pay
                part = ready[position : position + (PROBE_UNITS if probe else size)]
                began = time.monotonic()
                self._compute_slice(snap, step, compiled, part, workers or 1)
                raise_pending()
                position += len(part)
                if self.ctx.compute_progress is not None:
                    self.ctx.compute_progress(step.name, position, len(ready), time.monotonic() - started)
                took = max(time.monotonic() - began, 1e-3)
                if probe:
                    self._workers[step.name] = choose_workers(took / len(part), len(ready) - position)
                    continue
                size = max(FIRST_COMMIT_UNITS // 4, min(MAX_COMMIT_UNITS, int(len(part) * COMMIT_SECONDS / took)))
                self._slice_units[step.name] = size  # the next page goes on with the measured size
        return changed

    def _rng_states(self, step: ir.StepDecl, ready: list[str]) -> dict[str, bytes]:
        """The saved streams of `ready` units, for a step that continues an earlier one's."""
        if step.name not in self.rng_resume:
            return {}
        states: dict[str, bytes] = {}
        for start in range(0, len(ready), 500):
            part = ready[start : start + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT id, rng FROM units WHERE rng IS NOT NULL AND id IN ({marks})"
            states.update((uid, bytes(state)) for uid, state in self.store.query(sql, part))
        return states

    def _compute_slice(
        self, snap: Snapshot, step: ir.StepDecl, compiled: CompiledStep, ready: list[str], workers: int
    ) -> None:
        """Run `ready` units of a compute step and commit their outcomes in one transaction."""
        states = self._rng_states(step, ready)
        jobs = [ComputeJob(uid, self.ctx.context(snap, uid, step.depends_on), states.get(uid)) for uid in ready]
        outcomes = self.ctx.executor.run(compiled, jobs, workers)
        encode = _COMPACT.encode
        with self.store.transaction() as db:
            done = [(o.unit_id, step.name, o.text or encode(o.output), 1) for o in outcomes if o.output is not None]
            db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)", done)
            if step.name in self.rng_carry:
                db.executemany(
                    "UPDATE units SET rng = ? WHERE id = ?",
                    [(o.rng_state, o.unit_id) for o in outcomes if o.output is not None],
                )
            for outcome in outcomes:
                if outcome.output is None:
                    self.ctx.fail(db, outcome.unit_id, step.name, outcome.error or "failed", snap)
        for outcome in outcomes:
            if outcome.output is not None:
                snap.results[step.name][outcome.unit_id] = outcome.output


def choose_workers(unit_seconds: float, units_left: int) -> int:
    """Workers for the rest of a step, from the time its first units took each."""
    pays = unit_seconds > PARALLEL_UNIT_SECONDS and unit_seconds * units_left > PARALLEL_MIN_SECONDS
    return max(1, min(AUTO_WORKERS, os.cpu_count() or 1)) if pays else 1


def evaluate_code(code: Any, names: dict[str, Any]) -> Any:
    return eval(code, scope_with(names))
