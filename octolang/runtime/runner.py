"""The runner: one tick reads the state, advances every unit as far as it can without
waiting, and persists; `run` repeats ticks until every unit is done, failed or skipped.

Exactly-once submission: a chunk of requests is recorded (status `intent`, with every
request body) in one transaction *before* the provider is called, and the provider is
told the chunk's key. A crash after the call but before the batch id is recorded is
reconciled on the next tick by asking the provider for the batch with that key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from octolang import ir
from octolang.expressions import compile_expression, scope_with
from octolang.providers.base import BatchProvider, ProviderError, Request, Result
from octolang.providers.registry import KeyMissing, ProviderPool, route_for
from octolang.runtime.compute import CompiledStep, ComputeJob, reads_rng, run_compute
from octolang.runtime.requests import CompiledPrompt
from octolang.runtime.snapshot import Snapshot, load_snapshot
from octolang.runtime.store import RunStore, now
from octolang.summary import expression_text

CHUNK_SIZE = 10_000
MAX_PROVIDER_ERRORS = 5


@dataclass
class RunOptions:
    workers: int = 1
    provider: str | None = None  # e.g. "mock": every model answered by it
    invalid_rate: float | None = None
    budget: Decimal | None = None
    max_units: int | None = None
    dry_run: bool = False  # write what would be sent to files, send nothing
    retry_backoff: float = 30.0  # seconds before a request the provider failed is sent again; doubles each time


@dataclass
class TickResult:
    progressed: bool = False
    in_flight: int = 0
    budget_stop: str | None = None
    provider_stop: str | None = None  # a provider refuses us (no key, key refused): the run cannot go on
    cancelled: bool = False  # `octoc cancel`: nothing new is sent; what is in flight is still taken in
    messages: list[str] = field(default_factory=list)


class Runner:
    def __init__(
        self,
        program: ir.Program,
        store: RunStore,
        providers: ProviderPool,
        options: RunOptions,
        *,
        run_id: str,
        seed: int,
        filename: str,
    ) -> None:
        self.program = program
        self.store = store
        self.providers = providers
        self.options = options
        self.run_id = run_id
        self.seed = seed
        self.filename = filename
        self.steps = [s for s in (program.step(n) for n in program.order) if s is not None]
        self.step_index = {s.name: i for i, s in enumerate(self.steps)}
        self.consts = {c.name: c.resolved for c in program.consts}
        self.downstream = {s.name: self._dependents(s.name) for s in self.steps}
        upstream = {s.name: self._upstream(s.name) for s in self.steps}
        self.gate_blocks = {
            s.name: [i for i, g in enumerate(program.gates) if any(j in upstream[s.name] for j in g.judges)]
            for s in self.steps
        }
        rng_steps = [s.name for s in self.steps if reads_rng(s)]
        self.rng_carry = set(rng_steps[:-1])  # persist the stream only where a later step continues it
        self.rng_resume = set(rng_steps[1:])
        self._compiled: dict[str, CompiledStep] = {}
        self._prompts: dict[str, CompiledPrompt] = {}
        self._wire: dict[str, bytes] = {}  # encodings made while chunking, taken by the submission
        self._gate_code = [
            (
                compile_expression(g.condition, filename),
                compile_expression(g.feedback, filename) if g.feedback else None,
            )
            for g in program.gates
        ]

    # ------------------------------------------------------------ graph helpers
    def _dependents(self, name: str) -> set[str]:
        out: set[str] = set()
        frontier = [name]
        while frontier:
            current = frontier.pop()
            for step in self.steps:
                if current in step.depends_on and step.name not in out:
                    out.add(step.name)
                    frontier.append(step.name)
        return out

    def _upstream(self, name: str) -> set[str]:
        out: set[str] = set()
        frontier = [name]
        while frontier:
            step = self.program.step(frontier.pop())
            for dep in step.depends_on if step else []:
                if dep not in out:
                    out.add(dep)
                    frontier.append(dep)
        return out

    def model_for(self, step: ir.StepDecl) -> ir.ModelDecl:
        model = self.program.model(step.model or "")
        assert model is not None
        if self.options.provider and model.provider != self.options.provider:
            model = model.model_copy(update={"provider": self.options.provider, "price": None})
        return model

    def _model_of_step(self, name: str) -> ir.ModelDecl | None:
        step = self.program.step(name)
        return self.model_for(step) if step is not None and step.kind == "llm" else None

    # ------------------------------------------------------------ the tick
    def tick(self) -> TickResult:
        result = TickResult(cancelled=self.cancelled())
        names = [s.name for s in self.steps]
        snap = load_snapshot(self.store, names)
        if self._collect(snap, result):
            snap = load_snapshot(self.store, names)
        while True:
            changed = self._gates(snap)
            changed = self._compute(snap) or changed
            if not changed:
                break
            result.progressed = True
        if not result.cancelled:
            result.progressed = self._submit(snap, result) or result.progressed
        result.progressed = self._finish(snap) or result.progressed
        return result

    def cancelled(self) -> bool:
        return self.store.meta().get("cancelled_at") is not None

    def cancel(self) -> list[str]:
        """Stop spending: from now on no tick sends anything new, and every batch in flight
        (or created just before a crash) is asked to stop; its finished requests are still
        taken in by later ticks. A chunk never sent waits, as a provider failure of each of
        its requests, for the run to be resumed (`octoc run --resume-cancelled`)."""
        from octolang.runtime.ingest import ingest_chunk

        with self.store.transaction() as db:
            self.store.set_meta(db, cancelled_at=now())
        snap = load_snapshot(self.store, [s.name for s in self.steps])
        said: list[str] = []
        for chunk_id, step_name, route, status, batch_id, count, created in self.store.query(
            "SELECT id, step, provider, status, batch_id, requests, created_at FROM chunks "
            "WHERE status IN ('intent', 'submitted') ORDER BY created_at, id"
        ):
            step = self.program.step(step_name)
            assert step is not None
            try:
                provider = self.providers.get(route, self.model_for(step))
                if status == "intent":
                    batch_id = provider.find_batch(f"{self.run_id}:{chunk_id}", count=int(count), since=created)
                    if batch_id is None:
                        ingest_chunk(
                            self, snap, step, chunk_id, route, [], failed=True, reason="cancelled before it was sent"
                        )
                        said.append(f"chunk {chunk_id}: never sent; its {count} requests wait for the run to resume")
                        continue
                    self._record_batch(chunk_id, batch_id)
                provider.cancel(batch_id)
            except (KeyMissing, ProviderError) as exc:
                said.append(f"chunk {chunk_id}: could not be cancelled: {exc}")
                continue
            said.append(f"chunk {chunk_id} ({count} requests): {provider.name} asked to cancel batch {batch_id}")
        return said

    def resume_cancelled(self) -> None:
        with self.store.transaction() as db:
            self.store.set_meta(db, cancelled_at=None)

    def pending_units(self) -> int:
        return int(self.store.query("SELECT COUNT(*) FROM units WHERE status = 'pending'")[0][0])

    # ------------------------------------------------------------ context
    def _context(self, snap: Snapshot, uid: str, steps: list[str]) -> dict[str, Any]:
        context: dict[str, Any] = {"unit": snap.units[uid].fields}
        for name in steps:
            context[name] = snap.results[name][uid]
        return context

    def _records(self, context: dict[str, Any]) -> dict[str, Any]:
        from octolang.sandbox import Record

        return {k: Record(v) if isinstance(v, dict) else v for k, v in context.items()}

    def _fail(self, db: Any, uid: str, step: str | None, reason: str, snap: Snapshot) -> None:
        db.execute("UPDATE units SET status = 'failed', reason = ?, failed_step = ? WHERE id = ?", (reason, step, uid))
        snap.units[uid].status = "failed"

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
        names = self._records(
            self._context(
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
            self._fail(db, uid, gate.judges[0] if gate.judges else None, text or "", snap)
        elif gate.action == "skip":
            db.execute(
                "UPDATE units SET status = 'skipped', reason = ? WHERE id = ?", (f"gate `{condition}` was false", uid)
            )
            snap.units[uid].status = "skipped"
        elif retries >= gate.max_retries:
            self._fail(
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
            cleared = {target} | self.downstream[target]
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

    # ------------------------------------------------------------ readiness
    def _ready(self, snap: Snapshot, step: ir.StepDecl) -> list[str]:
        ready = []
        blocks = self.gate_blocks[step.name]
        for uid, row in snap.units.items():
            if row.status != "pending" or snap.done(uid, step.name) or (uid, step.name) in snap.open:
                continue
            if not all(snap.done(uid, d) for d in step.depends_on):
                continue
            if any(not snap.gates.get((uid, g), (0, False))[1] for g in blocks):
                continue
            ready.append(uid)
        return ready

    # ------------------------------------------------------------ compute steps
    def _compute(self, snap: Snapshot) -> bool:
        changed = False
        for step in self.steps:
            if step.kind != "compute":
                continue
            ready = self._ready(snap, step)
            if not ready:
                continue
            changed = True
            compiled = self._compiled.get(step.name)
            if compiled is None:
                compiled = self._compiled[step.name] = CompiledStep(
                    step, self.program, self.filename, seed=self.seed, carry_rng=step.name in self.rng_carry
                )
            states: dict[str, bytes] = {}
            if step.name in self.rng_resume:
                states = {
                    uid: bytes(state)
                    for uid, state in self.store.query("SELECT id, rng FROM units WHERE rng IS NOT NULL")
                }
            jobs = [ComputeJob(uid, self._context(snap, uid, step.depends_on), states.get(uid)) for uid in ready]
            outcomes = run_compute(compiled, jobs, self.options.workers)
            with self.store.transaction() as db:
                done = [
                    (o.unit_id, step.name, json.dumps(o.output, separators=(",", ":")), 1)
                    for o in outcomes
                    if o.output is not None
                ]
                db.executemany("INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?)", done)
                if step.name in self.rng_carry:
                    db.executemany(
                        "UPDATE units SET rng = ? WHERE id = ?",
                        [(o.rng_state, o.unit_id) for o in outcomes if o.output is not None],
                    )
                for outcome in outcomes:
                    if outcome.output is None:
                        self._fail(db, outcome.unit_id, step.name, outcome.error or "failed", snap)
            for outcome in outcomes:
                if outcome.output is not None:
                    snap.results[step.name][outcome.unit_id] = outcome.output
        return changed

    # ------------------------------------------------------------ llm steps: submit
    def _submit(self, snap: Snapshot, result: TickResult) -> bool:
        from octolang.runtime.budget import BudgetGuard

        guard = BudgetGuard(self.store, self.options.budget or self.program.budget, self._model_of_step)
        self._wire.clear()  # what a stopped submission left
        changed = False
        for step in self.steps:
            if step.kind != "llm":
                continue
            ready = self._ready(snap, step)
            if not ready:
                continue
            model = self.model_for(step)
            prompt = self._prompts.get(step.name)
            if prompt is None:
                prompt = self._prompts[step.name] = CompiledPrompt(step, model)
            requests: list[tuple[str, int, int, str, dict[str, Any], str]] = []
            with self.store.transaction() as db:
                for uid in ready:
                    invalid, errors, problems = snap.invalid.get((uid, step.name), (0, 0, None))
                    details = json.loads(problems) if problems else {}
                    if invalid > step.retry_limit:
                        changed = True
                        self._fail(
                            db,
                            uid,
                            step.name,
                            f"step `{step.name}`: no valid answer after "
                            f"{invalid} tr{'y' if invalid == 1 else 'ies'}: " + "; ".join(details.get("problems", [])),
                            snap,
                        )
                        continue
                    if errors >= MAX_PROVIDER_ERRORS:
                        changed = True
                        self._fail(
                            db,
                            uid,
                            step.name,
                            f"step `{step.name}`: the provider failed {errors} times: {details.get('error', '')}",
                            snap,
                        )
                        continue
                    if errors and not self._backed_off(snap, uid, step.name, errors):
                        result.in_flight += 1  # waiting to be sent again, not stuck
                        continue
                    gen, gate_feedback = snap.generation.get((uid, step.name), (0, None))
                    feedback = details.get("feedback") if invalid else (gate_feedback or "")
                    attempt = snap.attempts.get((uid, step.name), 0) + 1
                    context = self._records(self._context(snap, uid, step.depends_on))
                    context.update(self.consts, feedback=feedback or "", attempt=attempt)
                    try:
                        body = prompt.render(context)
                    except Exception as exc:
                        changed = True
                        self._fail(
                            db,
                            uid,
                            step.name,
                            f"the prompt of `{step.name}` could not be rendered: {type(exc).__name__}: {exc}",
                            snap,
                        )
                        continue
                    if model.provider == "mock":
                        rate = self.options.invalid_rate
                        if rate is None:
                            rate = float(model.setting("invalid_rate", 0.1))
                        body["invalid_rate"] = rate
                    custom_id = f"u{snap.units[uid].ordinal}-s{self.step_index[step.name]}-a{attempt}"
                    requests.append((uid, attempt, gen, custom_id, body, feedback or ""))
            if not requests:
                continue
            stop = guard.admit(model, step, len(requests), [r[4] for r in requests])
            if stop is not None:
                result.budget_stop = stop
                return changed
            changed = True
            route = route_for(model, len(requests))
            try:
                provider = self.providers.get(route, model)
            except KeyMissing as exc:
                result.provider_stop = str(exc)
                return changed
            for chunk in _chunks(provider, requests, self._wire):
                self._record_and_submit(step, model, route, chunk, snap, result)
                if result.provider_stop:
                    return changed
        return changed

    def _record_and_submit(
        self,
        step: ir.StepDecl,
        model: ir.ModelDecl,
        route: str,
        requests: list[tuple[str, int, int, str, dict[str, Any], str]],
        snap: Snapshot,
        result: TickResult,
    ) -> None:
        chunk_id = f"{step.name}-{int(now() * 1000)}-{requests[0][3]}"
        created = now()
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO chunks (id, step, provider, status, requests, created_at) "
                "VALUES (?, ?, ?, 'intent', ?, ?)",
                (chunk_id, step.name, route, len(requests), created),
            )
            db.executemany(
                "INSERT INTO attempts (unit_id, step, attempt, generation, status, custom_id, chunk, request, "
                "feedback, created_at) VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                [
                    (uid, step.name, attempt, gen, cid, chunk_id, json.dumps(body), feedback, created)
                    for uid, attempt, gen, cid, body, feedback in requests
                ],
            )
        for uid, attempt, *_ in requests:
            snap.open[(uid, step.name)] = attempt
        result.in_flight += len(requests)
        sent = [Request(cid, body, self._wire.pop(cid, None)) for _, _, _, cid, body, _ in requests]
        self._send(chunk_id, step, route, sent, created, snap, result, recorded_now=True)

    def _send(
        self,
        chunk_id: str,
        step: ir.StepDecl,
        route: str,
        requests: list[Request],
        since: float,
        snap: Snapshot,
        result: TickResult,
        *,
        recorded_now: bool = False,
    ) -> str | None:
        """Submit a recorded chunk (or adopt the batch a crashed tick created); the batch id,
        or None when the provider could not be reached (the chunk stays an intent). A chunk
        `recorded_now`, by this process a moment ago, cannot have a batch yet: the provider
        is not asked for one."""
        from octolang.runtime.ingest import ingest_chunk

        key = f"{self.run_id}:{chunk_id}"
        try:
            provider = self.providers.get(route, self.model_for(step))
            batch_id = None if recorded_now else provider.find_batch(key, count=len(requests), since=since)
            if batch_id is None and result.cancelled:  # the run was cancelled: nothing new goes out
                ingest_chunk(self, snap, step, chunk_id, route, [], failed=True, reason="cancelled before it was sent")
                result.progressed = True
                return None
            if batch_id is not None and result.cancelled:  # created before a crash: stop it too
                provider.cancel(batch_id)
            batch_id = batch_id or provider.submit_batch(key, requests)
        except KeyMissing as exc:
            result.provider_stop = str(exc)
            return None
        except ProviderError as exc:
            if exc.request_fault:  # the provider refused the batch itself: count it against each request
                reason = f"the provider refused the batch: {exc}"
                ingest_chunk(self, snap, step, chunk_id, route, [], failed=True, reason=reason)
                result.progressed = True
            else:
                self._trouble(chunk_id, exc, result)
            return None
        crash_point("after-submit")
        self._record_batch(chunk_id, batch_id)
        return batch_id

    def _record_batch(self, chunk_id: str, batch_id: str) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE chunks SET status = 'submitted', batch_id = ?, submitted_at = ?, error = NULL WHERE id = ?",
                (batch_id, now(), chunk_id),
            )
            db.execute("UPDATE attempts SET status = 'submitted' WHERE chunk = ? AND status = 'queued'", (chunk_id,))

    def _backed_off(self, snap: Snapshot, uid: str, step: str, errors: int) -> bool:
        """Whether a request the provider failed `errors` times has waited long enough
        (exponential, up to ten minutes), so that a failing batch is not resent at once."""
        wait = min(self.options.retry_backoff * 2.0 ** (errors - 1), 600.0)
        return now() >= snap.last_error.get((uid, step), 0.0) + wait

    def _trouble(self, chunk_id: str, exc: ProviderError, result: TickResult) -> None:
        """The provider is unreachable or refuses us: keep the chunk as it is, try on a later tick;
        stop the run when the key is refused (no tick will fix that)."""
        with self.store.transaction() as db:
            db.execute("UPDATE chunks SET error = ? WHERE id = ?", (str(exc)[:500], chunk_id))
        if exc.status in (401, 403):
            result.provider_stop = str(exc)
        else:
            result.messages.append(f"chunk {chunk_id}: {exc}; trying again on the next tick")

    # ------------------------------------------------------------ llm steps: collect
    def _collect(self, snap: Snapshot, result: TickResult) -> bool:
        from octolang.runtime.ingest import ingest_chunk

        ingested = False
        for chunk_id, step_name, route, status, batch_id, count, created in self.store.query(
            "SELECT id, step, provider, status, batch_id, requests, created_at FROM chunks "
            "WHERE status IN ('intent', 'submitted') ORDER BY created_at, id"
        ):
            if result.provider_stop:
                break
            step = self.program.step(step_name)
            assert step is not None
            if status == "intent":  # recorded, then the process died or the provider was down: reconcile
                requests = [
                    Request(cid, json.loads(body))
                    for cid, body in self.store.query(
                        "SELECT custom_id, request FROM attempts WHERE chunk = ? ORDER BY custom_id", (chunk_id,)
                    )
                ]
                batch_id = self._send(chunk_id, step, route, requests, created, snap, result)
                if batch_id is None:
                    if self._chunk_open(chunk_id):
                        result.in_flight += int(count)
                    else:
                        ingested = True
                    continue
                result.messages.append(f"resumed chunk {chunk_id} ({len(requests)} requests)")
            try:
                provider = self.providers.get(route, self.model_for(step))
                state = provider.poll(batch_id)
                results: list[Result] = provider.fetch(batch_id) if state == "ended" else []
            except KeyMissing as exc:
                result.provider_stop = str(exc)
                break
            except ProviderError as exc:
                self._trouble(chunk_id, exc, result)
                result.in_flight += int(count)
                continue
            if state == "running":
                result.in_flight += int(count)
                if getattr(provider, "calls_on_poll", False):
                    result.progressed = True  # realtime: the poll itself made calls; no remote to wait for
                continue
            reason = "the batch failed as a whole"
            failure = getattr(provider, "failure", None)  # the provider's own account, where it keeps one
            if state == "failed" and failure is not None and (detail := failure(batch_id)):
                reason += f": {detail}"
            ingest_chunk(self, snap, step, chunk_id, route, results, failed=state == "failed", reason=reason)
            ingested = True
            result.progressed = True
        return ingested

    def _chunk_open(self, chunk_id: str) -> bool:
        rows = self.store.query("SELECT status FROM chunks WHERE id = ?", (chunk_id,))
        return bool(rows) and rows[0][0] in ("intent", "submitted")

    # ------------------------------------------------------------ finishing units
    def _finish(self, snap: Snapshot) -> bool:
        finished = []
        for uid, row in snap.units.items():
            if row.status != "pending":
                continue
            if all(snap.done(uid, s.name) for s in self.steps) and all(
                snap.gates.get((uid, i), (0, False))[1] for i in range(len(self.program.gates))
            ):
                finished.append(uid)
        if not finished:
            return False
        with self.store.transaction() as db:
            db.executemany("UPDATE units SET status = 'done' WHERE id = ?", [(u,) for u in finished])
        for uid in finished:
            snap.units[uid].status = "done"
        return True


def _chunks(
    provider: BatchProvider, requests: list[tuple[str, int, int, str, dict[str, Any], str]], wire: dict[str, bytes]
) -> Iterator[list[tuple[str, int, int, str, dict[str, Any], str]]]:
    """Requests cut into chunks the provider accepts: at most its request count and its bytes.
    Each request's encoding is left in `wire` (by custom id) for the submission to reuse."""
    limit = min(CHUNK_SIZE, provider.max_requests)
    chunk: list[tuple[str, int, int, str, dict[str, Any], str]] = []
    size = 0
    for request in requests:
        encoded = wire[request[3]] = provider.encode(Request(request[3], request[4]))
        length = len(encoded)
        if chunk and (len(chunk) >= limit or size + length > provider.max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(request)
        size += length
    if chunk:
        yield chunk


def crash_point(name: str) -> None:
    """Fault injection for the crash tests: `OCTO_CRASH_AT=after-submit` kills the process
    (SIGKILL, no cleanup) the first time it passes that point."""
    import os

    if os.environ.get("OCTO_CRASH_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def evaluate_code(code: Any, names: dict[str, Any]) -> Any:
    return eval(code, scope_with(names))


__all__ = ["RunOptions", "Runner", "TickResult", "crash_point"]
