"""Two runs side by side: each report's statistics with their difference and whether it
is significant (two-sided, at 5%: a two-proportion z test, or Welch's t test for means), and the
units whose outputs differ (the two states' results walked together in key order, a page
at a time: the two runs may be SQLite files or PostgreSQL schemas)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from octolang import stats
from octolang.runtime.store import RunStore
from octolang.runtime.stores import open_reader

LEVEL = 0.05


@dataclass
class Difference:
    report: str
    key: str
    metric: str
    a: Any
    b: Any
    difference: float | None
    p_value: float | None

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < LEVEL


def _mean_error(s: dict[str, Any]) -> float | None:
    """The standard error of a mean, from its t interval."""
    n = s.get("n") or 0
    if s.get("low") is None or s.get("high") is None or n < 2:
        return None
    return (float(s["high"]) - float(s["low"])) / (2 * stats.t_quantile(0.975, n - 1))


def p_value(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """Two-sided p of the difference a - b: the pooled two-proportion z test for
    proportions, Welch's t test for means (its standard errors from the intervals). None
    for other statistics (counts, percentiles, expressions) and values without n."""
    kind = a.get("kind")
    if kind != b.get("kind") or not all(isinstance(s.get("value"), (int, float)) for s in (a, b)):
        return None
    diff = float(a["value"]) - float(b["value"])
    if kind == "proportion":
        n_a, n_b = a.get("n") or 0, b.get("n") or 0
        if not n_a or not n_b:
            return None
        pooled = (a["value"] * n_a + b["value"] * n_b) / (n_a + n_b)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
        if spread == 0:
            return 1.0  # both all true or all false: no difference
        return math.erfc(abs(diff) / spread / math.sqrt(2))
    if kind == "mean":
        se_a, se_b = _mean_error(a), _mean_error(b)
        if se_a is None or se_b is None:
            return None
        variance = se_a**2 + se_b**2
        if variance == 0:
            return 1.0 if diff == 0 else 0.0
        df = variance**2 / (se_a**4 / (a["n"] - 1) + se_b**4 / (b["n"] - 1))
        return min(1.0, 2 * stats.t_sf(abs(diff) / math.sqrt(variance), df))
    return None


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[Difference]:
    """Every statistic of every group present in both runs' reports."""
    out = []
    reports_b = {r["name"]: r for r in b.get("reports", [])}
    for report in a.get("reports", []):
        other = reports_b.get(report["name"])
        if other is None:
            continue
        groups_b = {json.dumps(g["key"], sort_keys=True): g for g in other["groups"]}
        for group in report["groups"]:
            key = json.dumps(group["key"], sort_keys=True)
            match = groups_b.get(key)
            if match is None:
                continue
            label = ", ".join(f"{k} = {v}" for k, v in group["key"].items()) or "all units"
            for metric, s in group["statistics"].items():
                t = match["statistics"].get(metric)
                if t is None:
                    continue
                va, vb = s.get("value"), t.get("value")
                numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (va, vb))
                diff = float(va) - float(vb) if numeric else None
                out.append(Difference(report["name"], label, metric, s, t, diff, p_value(s, t)))
    return out


@dataclass
class DifferingOutput:
    unit: str
    ordinal: int
    step: str
    a: str
    b: str


_BY_KEY = "SELECT unit_id, step, output FROM results ORDER BY unit_id, step"


def _differing(mine: RunStore, theirs: RunStore) -> Iterator[tuple[str, str, str, str]]:
    """(unit, step, this output, the other's) where both have the step and the outputs
    differ: a merge of two streams in key order (byte order of the ids in both stores)."""
    a, b = mine.stream(_BY_KEY), theirs.stream(_BY_KEY)
    left, right = next(a, None), next(b, None)
    while left is not None and right is not None:
        if (left[0], left[1]) < (right[0], right[1]):
            left = next(a, None)
        elif (left[0], left[1]) > (right[0], right[1]):
            right = next(b, None)
        else:
            if left[2] != right[2]:
                yield left[0], left[1], left[2], right[2]
            left, right = next(a, None), next(b, None)


def differing_outputs(
    store: RunStore, other_state: str, page: int, size: int = 50
) -> tuple[list[DifferingOutput], bool]:
    """Units (by id) whose output of a step differs between this run and the run whose
    state is `other_state`; one page, in unit id order (both states' primary keys, walked
    together), and whether there are more."""
    other = open_reader(other_state)
    try:
        skip, rows = (max(page, 1) - 1) * size, []
        for row in _differing(store, other):
            if skip:
                skip -= 1
                continue
            rows.append(row)
            if len(rows) > size:
                break
    finally:
        other.close()
    ids = sorted({row[0] for row in rows[:size]})
    marks = ", ".join("?" * len(ids))
    ordinals = dict(store.query(f"SELECT id, ordinal FROM units WHERE id IN ({marks})", ids))
    found = [DifferingOutput(uid, int(ordinals.get(uid, -1)), step, a, b) for uid, step, a, b in rows[:size]]
    return found, len(rows) > size
