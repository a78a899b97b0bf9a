"""The finishing stage of the runner: units with every step done and every gate passed
become `done`. It reads and writes the store through a `RunContext` (context.py).
"""

from __future__ import annotations

from octolang.runtime.context import RunContext
from octolang.runtime.snapshot import Snapshot


class FinishingStage:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    def finish(self, snap: Snapshot) -> bool:
        finished = [uid for uid, row in snap.units.items() if row.status == "pending"]
        for step in self.ctx.steps:
            outputs = snap.results.get(step.name, {})
            finished = [uid for uid in finished if uid in outputs]
        gates = snap.gates
        for gate in range(len(self.ctx.program.gates)):
            finished = [uid for uid in finished if gates.get((uid, gate), (0, False))[1]]
        if not finished:
            return False
        with self.ctx.store.transaction() as db:
            db.executemany("UPDATE units SET status = 'done' WHERE id = ?", [(u,) for u in finished])
        for uid in finished:
            snap.units[uid].status = "done"
        return True
