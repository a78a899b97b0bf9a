"""The llm steps' traffic with the providers: the part of a tick that renders requests,
records them, sends them, polls what is in flight, takes the answers in, and cancels.

Exactly-once submission: a chunk of requests is recorded (status `intent`, with every
request body) in one transaction *before* the provider is called, and the provider is
told the chunk's key. A crash after the call but before the batch id is recorded is
reconciled on the next tick by asking the provider for the batch with that key.

The provider stage of the runner (runner.py composes it with the compute and finishing
stages): it reads and writes the store, and takes what it shares with the other stages
from a `RunContext` (context.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from octolang import ir
from octolang.providers.base import BatchProvider, ProviderError, Request, Result
from octolang.providers.registry import KeyMissing, route_for
from octolang.runtime.answers import keep_chunk as keep_answers
from octolang.runtime.answers import serve as serve_stored
from octolang.runtime.context import RunContext, TickResult, crash_point
from octolang.runtime.ingest import ingest_chunk
from octolang.runtime.pause import forget_trouble, minutes, persistent, troubled
from octolang.runtime.requests import CompiledPrompt
from octolang.runtime.setbacks import Setbacks, cause_of
from octolang.runtime.snapshot import Snapshot, load_snapshot
from octolang.runtime.store import now

CHUNK_SIZE = 10_000
MAX_PROVIDER_ERRORS = 5


class ProviderTraffic(Setbacks):
    """The provider stage: `_submit` and `_collect` each tick, `cancel`."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.program = ctx.program
        self.store = ctx.store
        self.providers = ctx.providers
        self.options = ctx.options
        self.run_id = ctx.run_id
        self.steps = ctx.steps
        self.step_index = ctx.step_index
        self.consts = ctx.consts
        self.filename = ctx.filename
        self.model_for = ctx.model_for
        self._model_of_step = ctx.model_of_step
        self._ready = ctx.ready
        self._context = ctx.context
        self._records = ctx.records
        self._fail = ctx.fail
        self._prompts: dict[str, CompiledPrompt] = {}
        self._wire: dict[str, bytes] = {}  # encodings made while chunking, taken by the submission

    def cancelled(self) -> bool:
        return self.store.meta_value("cancelled_at") is not None

    def cancel(self) -> list[str]:
        """Stop spending: from now on no tick sends anything new, and every batch in flight
        (or created just before a crash) is asked to stop; its finished requests are still
        taken in by later ticks. A chunk never sent waits, as a provider failure of each of
        its requests, for the run to be resumed (`octoc run --resume-cancelled`)."""
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
                            self.ctx,
                            snap,
                            step,
                            chunk_id,
                            route,
                            [],
                            failed=True,
                            reason="cancelled before it was sent",
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
            stuck: tuple[str, str] | None = None
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
                    lost, first_lost = snap.lost.get((uid, step.name), (0, 0.0))
                    if lost and persistent(lost, first_lost):
                        stuck = (
                            f"{model.provider} failed the same request {lost} times in "
                            f"{minutes(now() - first_lost)} (`{step.name}` of unit {uid})",
                            str(details.get("error", "")),
                        )
                        break
                    if (errors or lost) and not self._backed_off(snap, uid, step.name, errors + lost):
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
                        # answered by unit id, never by position: more trials or rows change no other answer
                        body["unit_key"] = json.dumps([uid, step.name, attempt])
                        body["mock_seed"] = self.ctx.seed  # its answers come from the seed: part of the request
                    custom_id = f"u{snap.units[uid].ordinal}-s{self.step_index[step.name]}-a{attempt}"
                    requests.append((uid, attempt, gen, custom_id, body, feedback or ""))
            if stuck is not None:  # nothing is sent: the requests rendered so far are rendered again later
                self._pause(*stuck, result)
                return changed
            left = serve_stored(self.ctx, snap, step, model, requests)  # answered without a request
            changed = changed or len(left) < len(requests)
            requests = left
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
                if self.ctx.cancel_asked():  # the requests rendered so far are rendered again if resumed
                    return changed
                self._record_and_submit(step, model, route, chunk, snap, result)
                if result.provider_stop or result.paused:
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
        key = f"{self.run_id}:{chunk_id}"
        try:
            provider = self.providers.get(route, self.model_for(step))
            batch_id = None if recorded_now else provider.find_batch(key, count=len(requests), since=since)
            if batch_id is None and result.cancelled:  # the run was cancelled: nothing new goes out
                ingest_chunk(
                    self.ctx, snap, step, chunk_id, route, [], failed=True, reason="cancelled before it was sent"
                )
                result.progressed = True
                return None
            if batch_id is not None and result.cancelled:  # created before a crash: stop it too
                provider.cancel(batch_id)
            batch_id = batch_id or provider.submit_batch(key, requests)
        except KeyMissing as exc:
            result.provider_stop = str(exc)
            return None
        except ProviderError as exc:
            if exc.kind == "account":  # the chunk stays an intent, sent when the run goes on
                self._pause(exc.cause or str(exc), str(exc), result)
            elif exc.kind == "too_large" and len(requests) > 1:
                self._split(chunk_id, step, route, requests, snap, result)
            elif exc.request_fault or exc.kind == "too_large":  # count it against each request
                reason = f"the provider refused the batch: {exc}"
                ingest_chunk(self.ctx, snap, step, chunk_id, route, [], failed=True, reason=reason)
                result.progressed = True
            else:
                self._trouble(chunk_id, exc, result)
            return None
        crash_point("after-submit")
        self._record_batch(chunk_id, batch_id)
        return batch_id

    def _record_batch(self, chunk_id: str, batch_id: str) -> None:
        forget_trouble(self.store, chunk_id)
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

    # ------------------------------------------------------------ llm steps: collect
    def _collect(self, snap: Snapshot, result: TickResult) -> bool:
        ingested = False
        troubles = troubled(self.store)
        for chunk_id, step_name, route, status, batch_id, count, created in self.store.query(
            "SELECT id, step, provider, status, batch_id, requests, created_at FROM chunks "
            "WHERE status IN ('intent', 'submitted') ORDER BY created_at, id"
        ):
            if result.provider_stop or result.paused:
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
            if chunk_id in troubles:
                forget_trouble(self.store, chunk_id)
            if state == "running":
                result.in_flight += int(count)
                if getattr(provider, "calls_on_poll", False):
                    result.progressed = True  # realtime: the poll itself made calls; no remote to wait for
                continue
            reason = "the batch failed as a whole"
            failure = getattr(provider, "failure", None)  # the provider's own account, where it keeps one
            if state == "failed" and failure is not None and (detail := failure(batch_id)):
                reason += f": {detail}"
            stopped = [r for r in results if r.fault == "account"]
            ingest_chunk(
                self.ctx, snap, step, chunk_id, route, results, failed=state == "failed", reason=reason, requeue=stopped
            )
            keep_answers(self.ctx, step, chunk_id, results)  # for any later request made again
            ingested = True
            result.progressed = True
            if stopped:  # a billing error inside the results: those requests wait, unpaid, in a new chunk
                self._pause(cause_of(stopped[0].error or ""), stopped[0].error or "", result)
        return ingested

    def _chunk_open(self, chunk_id: str) -> bool:
        rows = self.store.query("SELECT status FROM chunks WHERE id = ?", (chunk_id,))
        return bool(rows) and rows[0][0] in ("intent", "submitted")


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
