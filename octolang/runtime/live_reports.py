"""The reports tallied while the run goes: each unit's values are added when the runner
sees the unit end (done, failed or skipped), from the fields and outputs it holds in its
snapshot, so that the run that finishes does not read and decode every unit again to
report (runtime/kept_reports.py).

The tallies are used only when they hold every unit of the run exactly once, with the
status the store has for it: the counts by status must equal the store's. A run that
went through several processes (a resume, `octoc retry`, ticks of `--once`) has units
this process never saw end, and is reported from the store instead. Tallies do not depend
on the order units come in (runtime/tallies.py), so both ways give the same bytes; a test
holds them to it on every example.
"""

from __future__ import annotations

from collections import Counter

from octolang import ir
from octolang.runtime.reports import ReportsResult, ReportTables, compile_reports
from octolang.runtime.snapshot import Snapshot
from octolang.runtime.store import RunStore
from octolang.sandbox import as_record as record

_ENDED = ("done", "failed", "skipped")


class LiveReports:
    def __init__(self, program: ir.Program) -> None:
        self.tables = ReportTables(program, compile_reports(program, program.file))
        self.taken = bytearray()  # by ordinal: 1 once the unit's values are in the tallies
        self.counts: Counter[str] = Counter()

    def take(self, snap: Snapshot) -> None:
        """Add the units of `snap` that have ended and are not in the tallies yet."""
        if not self.tables.compiled:
            return
        taken, add = self.taken, self.tables.add_unit
        results = [(step, outputs) for step, outputs in snap.results.items() if outputs]
        for uid, row in snap.units.items():
            status = row.status
            if status not in _ENDED:
                continue
            ordinal = row.ordinal
            if ordinal >= len(taken):
                taken.extend(bytes(max(ordinal + 1 - len(taken), len(taken))))
            elif taken[ordinal]:
                continue
            taken[ordinal] = 1
            self.counts[status] += 1
            add(record(row.fields), status, {step: record(by_unit[uid]) for step, by_unit in results if uid in by_unit})

    def result(self, store: RunStore) -> ReportsResult | None:
        """The reports from the tallies, if they hold every unit of the run as the store has it."""
        if not self.tables.compiled:
            return self.tables.result()
        stored = {status: count for status, count in store.query("SELECT status, COUNT(*) FROM units GROUP BY status")}
        if stored != dict(self.counts):
            return None
        return self.tables.result()
