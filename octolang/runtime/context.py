"""What the runner's stages share: the run (program, store, providers, options), the
step graph, and the questions every stage asks of a snapshot (is a unit ready for a step,
what does its step see). The stages (compute_stage.py, traffic.py, finishing.py) take one
`RunContext`; they import this module and never the runner or each other's callers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from octolang import ir
from octolang.providers.registry import ProviderPool
from octolang.runtime.snapshot import Snapshot
from octolang.runtime.store import RunStore

if TYPE_CHECKING:
    from octolang.runtime.executors import ComputeExecutor


@dataclass
class RunOptions:
    workers: int | None = None  # None: chosen per compute step by measuring its first units
    provider: str | None = None  # e.g. "mock": every model answered by it
    invalid_rate: float | None = None
    budget: Decimal | None = None
    max_units: int | None = None
    dry_run: bool = False  # write what would be sent to files, send nothing
    retry_backoff: float = 30.0  # seconds before a request the provider failed is sent again; doubles each time
    reuse: bool = True  # take over an earlier run's results and serve stored answers (`--no-reuse`: neither)
    executor: ComputeExecutor | None = None  # where compute steps run (runtime/executors/); None: local processes


@dataclass
class TickResult:
    progressed: bool = False
    in_flight: int = 0
    budget_stop: str | None = None
    provider_stop: str | None = None  # a provider refuses us (no key): the run cannot go on
    paused: str | None = None  # an account stop or a persistent error: the run waits for the user (runtime/pause.py)
    cancelled: bool = False  # `octoc cancel`: nothing new is sent; what is in flight is still taken in
    messages: list[str] = field(default_factory=list)


ComputeProgressHook = Callable[[str, int, int, float], None]  # step, units done, units ready, seconds so far


class RunContext:
    # Told after each committed slice of a compute step (progress.py shows it with an ETA).
    compute_progress: ComputeProgressHook | None = None

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
        cancel_asked: Callable[[], bool] = lambda: False,
    ) -> None:
        self.program = program
        self.store = store
        self.providers = providers
        self.options = options
        self.run_id = run_id
        self.seed = seed
        self.filename = filename
        self.cancel_asked = cancel_asked  # an `octoc cancel` waits for this writer (runlock.py)
        # the answer store and the steps' fingerprints its keys use (runtime/answers.py); None: not used
        self.answers: Any = None
        self.fingerprints: Any = None
        self.reuse_plan: Any = None  # what this opening took over from an earlier run (takeover.py)
        from octolang.runtime.executors import LocalExecutor

        self.executor: ComputeExecutor = options.executor or LocalExecutor()
        self.steps = [s for s in (program.step(n) for n in program.order) if s is not None]
        self.step_index = {s.name: i for i, s in enumerate(self.steps)}
        self.consts = {c.name: c.resolved for c in program.consts}
        self.downstream = {s.name: self.program.dependents(s.name) for s in self.steps}
        upstream = {s.name: self._upstream(s.name) for s in self.steps}
        self.gate_blocks = {
            s.name: [i for i, g in enumerate(program.gates) if any(j in upstream[s.name] for j in g.judges)]
            for s in self.steps
        }

    # ------------------------------------------------------------ graph helpers

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

    def model_of_step(self, name: str) -> ir.ModelDecl | None:
        step = self.program.step(name)
        return self.model_for(step) if step is not None and step.kind == "llm" else None

    # ------------------------------------------------------------ units in a snapshot
    def ready(self, snap: Snapshot, step: ir.StepDecl) -> list[str]:
        """The units of `snap` that can run `step` now: pending, not done or in flight,
        their dependencies done and the gates before it passed."""
        results = snap.results
        mine = results.get(step.name, {})
        ready = [uid for uid, row in snap.units.items() if row.status == "pending" and uid not in mine]
        if snap.open:
            name = step.name
            ready = [uid for uid in ready if (uid, name) not in snap.open]
        for dependency in step.depends_on:
            outputs = results.get(dependency, {})
            ready = [uid for uid in ready if uid in outputs]
        gates = snap.gates
        for gate in self.gate_blocks[step.name]:
            ready = [uid for uid in ready if gates.get((uid, gate), (0, False))[1]]
        return ready

    def context(self, snap: Snapshot, uid: str, steps: list[str]) -> dict[str, Any]:
        context: dict[str, Any] = {"unit": snap.units[uid].fields}
        for name in steps:
            context[name] = snap.results[name][uid]
        return context

    def records(self, context: dict[str, Any]) -> dict[str, Any]:
        from octolang.sandbox import Record

        return {k: Record(v) if isinstance(v, dict) else v for k, v in context.items()}

    def fail(self, db: Any, uid: str, step: str | None, reason: str, snap: Snapshot) -> None:
        db.execute("UPDATE units SET status = 'failed', reason = ?, failed_step = ? WHERE id = ?", (reason, step, uid))
        snap.units[uid].status = "failed"

    def pending_units(self) -> int:
        return int(self.store.query("SELECT COUNT(*) FROM units WHERE status = 'pending'")[0][0])


def crash_point(name: str) -> None:
    """Fault injection for the crash tests: `OCTO_CRASH_AT=after-submit` kills the process
    (SIGKILL, no cleanup) the first time it passes that point."""
    if os.environ.get("OCTO_CRASH_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
