"""A run's reports for the viewer: computed as `octoc report` computes them (runtime/
reports.py, over every unit), then kept in the run's cache database until the run moves
on, so that only the first view after a change pays for reading the units. Histograms
of numeric outputs are counted by SQLite. The same pass draws the running estimates: each
proportion or mean with its interval, read off its tallies at RUNNING_POINTS moments
spread over the units (in unit order), against the units it had counted then."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from octolang import ir
from octolang.runtime.reports import ReportTables, UnitOutcome, compile_reports, reports_json
from octolang.runtime.status import unit_outcomes
from octolang.runtime.store import RunStore

MAX_BINS = 30
RUNNING_POINTS = 100


def kept_reports(cache: sqlite3.Connection, version: str) -> dict[str, Any] | None:
    """The reports computed for this state of the run, if they were."""
    kept = cache.execute("SELECT version, value FROM kept WHERE key = 'reports'").fetchall()
    if kept and kept[0][0] == version:
        value: dict[str, Any] = json.loads(kept[0][1])
        return value
    return None


def reports(program: ir.Program, store: RunStore, cache: sqlite3.Connection, version: str) -> dict[str, Any]:
    """The report JSON (`octoc report --json`'s format) plus `histograms`."""
    value = kept_reports(cache, version)
    if value is not None:
        return value
    outcomes = (
        UnitOutcome(unit_id=uid, fields=fields, status=state, outputs=outputs, reason=reason)  # type: ignore[arg-type]
        for uid, fields, state, outputs, reason in unit_outcomes(store, records=True)
    )
    tables = ReportTables(program, compile_reports(program, program.file))
    total = int(store.query("SELECT COUNT(*) FROM units")[0][0])
    every = max(1, -(-total // RUNNING_POINTS))
    series: dict[tuple[str, str, str], list[list[Any]]] = {}
    for seen, outcome in enumerate(outcomes, 1):
        tables.add(outcome)
        if seen % every == 0 or seen == total:
            for report, metric, key, statistic in tables.running():
                points = series.setdefault((report, metric, json.dumps(key, sort_keys=True)), [])
                if statistic.value is not None and (not points or points[-1][0] != statistic.n):
                    points.append([statistic.n, statistic.value, statistic.low, statistic.high])
    computed: dict[str, Any] = json.loads(reports_json(tables.result()))
    computed["histograms"] = histograms(program, store)
    computed["running"] = [
        {"report": report, "metric": metric, "group": json.loads(key), "points": points}
        for (report, metric, key), points in sorted(series.items())
        if len(points) > 1
    ]
    cache.execute(
        "INSERT OR REPLACE INTO kept (key, version, value) VALUES ('reports', ?, ?)", (version, json.dumps(computed))
    )
    return computed


def numeric_outputs(program: ir.Program) -> list[tuple[str, str, bool]]:
    """(step, key, integer) for every numeric output key."""
    found = []
    for step in (program.step(n) for n in program.order):
        if step is None:
            continue
        for key, schema in (step.output_schema or {}).get("properties", {}).items():
            if schema.get("type") in ("integer", "number"):
                found.append((step.name, key, schema["type"] == "integer"))
    return found


def histograms(program: ir.Program, store: RunStore) -> list[dict[str, Any]]:
    out = []
    for step, key, integer in numeric_outputs(program):
        path = "$." + json.dumps(key)
        values = f"SELECT json_extract(output, '{path.replace(chr(39), chr(39) * 2)}') AS v FROM results WHERE step = ?"
        low, high, count = store.query(f"SELECT MIN(v), MAX(v), COUNT(v) FROM ({values})", (step,))[0]
        if not count:
            continue
        low, high = float(low), float(high)
        bins = min(MAX_BINS, int(high - low) + 1) if integer else MAX_BINS
        width = (high - low) / bins if high > low else 1.0
        if integer:
            width = max(1.0, float(-(-(high - low + 1) // bins)))
            bins = int(-(-(high - low + 1) // width))
        counts = dict(
            store.query(
                f"SELECT MIN(CAST((v - ?) / ? AS INTEGER), ?) AS b, COUNT(*) FROM ({values}) WHERE v IS NOT NULL "
                "GROUP BY b",
                (low, width, bins - 1, step),
            )
        )
        out.append(
            {
                "step": step,
                "key": key,
                "n": int(count),
                "bins": [[low + i * width, low + (i + 1) * width, int(counts.get(i, 0))] for i in range(bins)],
            }
        )
    return out
