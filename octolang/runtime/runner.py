"""The runner: one tick reads the state, advances every unit as far as it can without
waiting, and persists; `run` repeats ticks until every unit is done, failed or skipped.

A tick is three stages, each reading and writing the store, composed here: the provider
stage (traffic.py: llm requests recorded before they are sent, batches polled and taken
in, cancellation), the compute stage (compute_stage.py: gates and compute steps) and the
finishing stage (finishing.py). What they share is a `RunContext` (context.py); the
stages import it and never the runner.
"""

from __future__ import annotations

from collections.abc import Callable

from octolang import ir
from octolang.providers.registry import ProviderPool
from octolang.runtime.compute_stage import ComputeStage
from octolang.runtime.context import RunContext, RunOptions, TickResult
from octolang.runtime.finishing import FinishingStage
from octolang.runtime.snapshot import load_snapshot
from octolang.runtime.store import RunStore
from octolang.runtime.traffic import ProviderTraffic

# A tick of a pipeline without llm steps reads and runs its pending units a page at a time.
PAGE_UNITS = 20_000


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
        self.ctx = RunContext(program, store, providers, options, run_id=run_id, seed=seed, filename=filename)
        self.program = program
        self.store = store
        self.providers = providers
        self.options = options
        self.traffic = ProviderTraffic(self.ctx)
        self.compute = ComputeStage(self.ctx)
        self.finishing = FinishingStage(self.ctx)

    @property
    def cancel_asked(self) -> Callable[[], bool]:
        return self.ctx.cancel_asked

    @cancel_asked.setter
    def cancel_asked(self, asked: Callable[[], bool]) -> None:
        self.ctx.cancel_asked = asked  # an `octoc cancel` waits for this writer

    def tick(self) -> TickResult:
        """Collect, then gates and compute steps until nothing moves, submit, finish: over
        every pending unit at once when the pipeline has llm steps (their requests are
        chunked across units), else page by page of PAGE_UNITS units (memory stays flat)."""
        result = TickResult(cancelled=self.traffic.cancelled())
        names = [s.name for s in self.ctx.steps]
        limit = None if any(s.kind == "llm" for s in self.ctx.steps) else PAGE_UNITS
        snap = load_snapshot(self.store, names, limit=limit)
        if self.traffic._collect(snap, result):
            snap = load_snapshot(self.store, names, limit=limit)
        while snap.units or limit is None:
            result.progressed = self.compute.advance(snap) or result.progressed
            if not result.cancelled and not result.paused:
                result.progressed = self.traffic._submit(snap, result) or result.progressed
            result.progressed = self.finishing.finish(snap) or result.progressed
            if limit is None:
                break
            last = max(row.ordinal for row in snap.units.values())
            snap = load_snapshot(self.store, names, after=last, limit=limit)
        return result

    def pending_units(self) -> int:
        return self.ctx.pending_units()

    def cancel(self) -> list[str]:
        return self.traffic.cancel()

    def resume_cancelled(self) -> None:
        self.traffic.resume_cancelled()


__all__ = ["RunOptions", "Runner", "TickResult"]
