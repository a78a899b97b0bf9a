"""The runner: one tick reads the state, advances every unit as far as it can without
waiting, and persists; `run` repeats ticks until every unit is done, failed or skipped.

A tick is three stages, each reading and writing the store, composed here: the provider
stage (traffic.py: llm requests recorded before they are sent, batches polled and taken
in, cancellation), the compute stage (compute_stage.py: gates and compute steps) and the
finishing stage (finishing.py). What they share is a `RunContext` (context.py); the
stages import it and never the runner.
"""

from __future__ import annotations

from octolang.runtime.compute_stage import ComputeStage
from octolang.runtime.context import RunContext, RunOptions, TickResult
from octolang.runtime.finishing import FinishingStage
from octolang.runtime.live_reports import LiveReports
from octolang.runtime.snapshot import load_snapshot
from octolang.runtime.traffic import ProviderTraffic

# A tick of a pipeline without llm steps reads and runs its pending units a page at a time.
PAGE_UNITS = 20_000


class Runner:
    """A run's tick, composed of its stages, which share one RunContext."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.program = ctx.program
        self.store = ctx.store
        self.providers = ctx.providers
        self.options = ctx.options
        self.traffic = ProviderTraffic(ctx)
        self.compute = ComputeStage(ctx)
        self.finishing = FinishingStage(ctx)
        self.live = LiveReports(ctx.program)  # the reports, tallied as units end

    def tick(self) -> TickResult:
        """Collect, then gates and compute steps until nothing moves, submit, finish: over
        every pending unit at once when the pipeline has llm steps (their requests are
        chunked across units), else page by page of PAGE_UNITS units (memory stays flat)."""
        result = TickResult(cancelled=self.traffic.cancelled())
        names = [s.name for s in self.ctx.steps]
        limit = None if any(s.kind == "llm" for s in self.ctx.steps) else PAGE_UNITS
        snap = load_snapshot(self.store, names, limit=limit)
        if self.traffic._collect(snap, result):
            self.live.take(snap)  # units that ended as answers came in leave the next snapshot
            snap = load_snapshot(self.store, names, limit=limit)
        while snap.units or limit is None:
            result.progressed = self.compute.advance(snap) or result.progressed
            if not result.cancelled and not result.paused:
                result.progressed = self.traffic._submit(snap, result) or result.progressed
            result.progressed = self.finishing.finish(snap) or result.progressed
            self.live.take(snap)
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
