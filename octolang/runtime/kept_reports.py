"""A finished run's reports, kept in its state by the process that finished it.

Computing the reports reads every unit (runtime/reports.py): seconds on a run of hundreds
of thousands of units. The writer computes them anyway when a run finishes (it prints
them), so it keeps the three renderings (JSON, table, CSV) in the run's meta, with two
stamps that say when they are still the run's reports:

- `writes`, the run's count of committed transactions (the store bumps it in every one,
  runtime/store.py): any later change of the state (a resume, `octoc retry`, a tick)
  makes the kept reports stale;
- the reports' key, a digest of what decides them besides the state: octoc's version, the
  pipeline's name, its `report` declarations and its consts. Editing a report (which does
  not change the run's fingerprint) makes them stale too.

Stale or missing kept reports are computed again by whoever asks; only a writer keeps them.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from octolang import __version__, ir
from octolang.runtime.store import RunStore

if TYPE_CHECKING:
    from octolang.runtime.reports import ReportsResult

KEPT = "kept_reports"
WRITES = "writes"


def reports_key(program: ir.Program) -> str:
    parts = [
        __version__,
        program.pipeline.name if program.pipeline else "",
        json.dumps([r.model_dump(mode="json") for r in program.reports], sort_keys=True),
        json.dumps([c.model_dump(mode="json") for c in program.consts], sort_keys=True, default=str),
    ]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


def render(program: ir.Program, store: RunStore, computed: ReportsResult | None = None) -> tuple[str, str, str]:
    """The reports (JSON, table, CSV): `computed` (the writer's live tallies,
    runtime/live_reports.py), else computed from every unit of the run, streamed."""
    from octolang.runtime.reports import (
        UnitOutcome,
        compile_reports,
        compute_reports,
        reports_csv,
        reports_json,
        reports_table,
    )
    from octolang.runtime.status import unit_outcomes

    result = computed
    if result is None:
        outcomes = (  # streamed from the store: no unit is kept once its values are taken
            UnitOutcome(unit_id=uid, fields=fields, status=state, outputs=outputs, reason=reason)  # type: ignore[arg-type]
            for uid, fields, state, outputs, reason in unit_outcomes(store, records=True)
        )
        result = compute_reports(program, compile_reports(program, program.file), outcomes)
    return reports_json(result), reports_table(result), reports_csv(result)


def kept(program: ir.Program, store: RunStore) -> tuple[str, str, str] | None:
    """The kept reports, if they are still the run's."""
    value = store.meta_value(KEPT)
    if not isinstance(value, dict) or value.get("key") != reports_key(program):
        return None
    if value.get(WRITES) != store.meta_value(WRITES):
        return None
    text_json, table, csv_text = value.get("json"), value.get("table"), value.get("csv")
    if not (isinstance(text_json, str) and isinstance(table, str) and isinstance(csv_text, str)):
        return None  # not as a writer keeps them: computed again
    return text_json, table, csv_text


def reports(program: ir.Program, store: RunStore) -> tuple[str, str, str]:
    """The run's reports: the kept ones, else computed."""
    return kept(program, store) or render(program, store)


def keep(program: ir.Program, store: RunStore, computed: ReportsResult | None = None) -> tuple[str, str, str]:
    """The run's reports, kept in its state (the caller writes the run); `computed`: the
    writer's live tallies of every unit, if it has them."""
    found = kept(program, store)
    if found is not None:
        return found
    text_json, table, csv_text = render(program, store, computed)
    with store.transaction() as db:  # this transaction's own bump makes `writes` one more
        stamp = (store.meta_value(WRITES) or 0) + 1
        value = {"key": reports_key(program), WRITES: stamp, "json": text_json, "table": table, "csv": csv_text}
        store.set_meta(db, **{KEPT: value})
    return text_json, table, csv_text
