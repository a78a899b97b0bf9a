"""What the runner does when a provider sets it back (docs/providers.md, "Errors"): a
chunk too large is split and sent again, an account stop or an error that persists pauses
the run (runtime/pause.py), any other outage waits for a later tick.

Part of the provider stage: `ProviderTraffic` (traffic.py) takes these methods; they use
its state, declared below for the type checker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from octolang import ir
from octolang.providers.base import ProviderError, Request
from octolang.providers.registry import ProviderPool
from octolang.runtime.pause import minutes, note_trouble, pause_run, persistent
from octolang.runtime.snapshot import Snapshot
from octolang.runtime.store import RunStore, now

if TYPE_CHECKING:
    from octolang.runtime.context import TickResult


class Setbacks:
    store: RunStore
    providers: ProviderPool

    model_for: Callable[[ir.StepDecl], ir.ModelDecl]

    if TYPE_CHECKING:  # the traffic's own, used here

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
        ) -> str | None: ...

    def _split(
        self, chunk_id: str, step: ir.StepDecl, route: str, requests: list[Request], snap: Snapshot, result: TickResult
    ) -> None:
        """A chunk the provider found too large (413, or over its payload limit), never sent:
        its requests move into two new chunks, each sent now; the provider's byte limit for
        this run is lowered to half of what it refused, so that later chunks are cut to fit."""
        provider = self.providers.get(route, self.model_for(step))
        size = sum(len(r.wire or provider.encode(r)) for r in requests)
        provider.max_bytes = min(provider.max_bytes, max(1, size // 2))
        half = len(requests) // 2
        parts = {f"{chunk_id}.1": requests[:half], f"{chunk_id}.2": requests[half:]}
        created = now()
        with self.store.transaction() as db:
            db.execute(
                "UPDATE chunks SET status = 'split', finished_at = ?, error = ? WHERE id = ?",
                (created, f"too large ({size:,} bytes): split into {', '.join(parts)}", chunk_id),
            )
            for new_id, part in parts.items():
                db.execute(
                    "INSERT INTO chunks (id, step, provider, status, requests, created_at) "
                    "VALUES (?, ?, ?, 'intent', ?, ?)",
                    (new_id, step.name, route, len(part), created),
                )
                db.executemany(
                    "UPDATE attempts SET chunk = ? WHERE custom_id = ?", [(new_id, r.custom_id) for r in part]
                )
        result.messages.append(
            f"chunk {chunk_id}: {provider.name} found it too large ({len(requests)} requests, {size:,} bytes); "
            "sent again in two halves"
        )
        result.progressed = True
        for new_id, part in parts.items():
            self._send(new_id, step, route, part, created, snap, result, recorded_now=True)
            if result.paused or result.provider_stop:
                return

    def _pause(self, cause: str, message: str, result: TickResult) -> None:
        """Stop sending anything: the run is paused with its cause, nothing is failed."""
        pause_run(self.store, cause, message)
        result.paused = cause

    def _trouble(self, chunk_id: str, exc: ProviderError, result: TickResult) -> None:
        """The provider is unreachable or failing: keep the chunk as it is, try on a later tick;
        pause the run when the key or the account is refused (no tick will fix that), or when
        the error has persisted past a bounded number of tries and time."""
        if exc.kind == "account":
            self._pause(exc.cause or str(exc), str(exc), result)
            return
        tries, first = note_trouble(self.store, chunk_id, str(exc))
        if persistent(tries, first):
            cause = f"{str(exc).split(':', 1)[0]} kept failing: {tries} tries in {minutes(now() - first)}"
            self._pause(cause, f"chunk {chunk_id}: {exc}", result)
        else:
            result.messages.append(f"chunk {chunk_id}: {exc}; trying again on the next tick")


def cause_of(error: str) -> str:
    """The cause an account-stop error inside a batch's results carries in brackets."""
    start, end = error.rfind("["), error.rfind("]")
    return error[start + 1 : end].split("; ", 1)[0] if 0 <= start < end else error[:200]
