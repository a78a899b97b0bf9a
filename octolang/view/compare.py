"""Two runs side by side: each report's statistics with their difference and whether it
is significant (a two-sided z test at 5%, from the values and their intervals), and the
units whose outputs differ (the two states joined in SQL, a page at a time)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from octolang import stats
from octolang.runtime.store import RunStore

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


def _standard_error(s: dict[str, Any]) -> float | None:
    value, n = s.get("value"), s.get("n")
    if not isinstance(value, (int, float)) or not n:
        return None
    if s.get("kind") == "proportion":
        return math.sqrt(max(value * (1 - value), 0.0) / n)
    if s.get("kind") == "mean" and s.get("low") is not None and s.get("high") is not None and n > 1:
        t = stats.t_quantile(0.975, n - 1)
        return (float(s["high"]) - float(s["low"])) / (2 * t) if t else None
    return None


def p_value(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """Two-sided p of the difference a - b; None for statistics without a standard error
    (counts, percentiles, expressions)."""
    se_a, se_b = _standard_error(a), _standard_error(b)
    if se_a is None or se_b is None:
        return None
    spread = math.sqrt(se_a**2 + se_b**2)
    diff = float(a["value"]) - float(b["value"])
    if spread == 0:
        return 1.0 if diff == 0 else 0.0
    return math.erfc(abs(diff) / spread / math.sqrt(2))


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


def differing_outputs(
    store: RunStore, other_state: str, page: int, size: int = 50
) -> tuple[list[DifferingOutput], bool]:
    """Units (by id) whose output of a step differs between this run and the run whose
    state is `other_state`; one page, and whether there are more."""
    store.db.execute("ATTACH DATABASE ? AS other", (f"file:{quote(other_state)}?mode=ro",))
    try:
        rows = store.query(
            "SELECT u.id, u.ordinal, r.step, r.output, o.output FROM units u "
            "JOIN results r ON r.unit_id = u.id JOIN other.results o ON o.unit_id = r.unit_id AND o.step = r.step "
            "WHERE r.output != o.output ORDER BY u.ordinal, r.step LIMIT ? OFFSET ?",
            (size + 1, (max(page, 1) - 1) * size),
        )
    finally:
        store.db.execute("DETACH DATABASE other")
    return [DifferingOutput(*row) for row in rows[:size]], len(rows) > size
