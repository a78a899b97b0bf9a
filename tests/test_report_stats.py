"""Reports from unit outcomes: groups, statistics with intervals, failed units counted,
the same bytes for the same outcomes in any order."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from syrupy.assertion import SnapshotAssertion

from octolang.compiler import compile_source, read_source
from octolang.runtime.reports import (
    UnitOutcome,
    compile_reports,
    compute_reports,
    reports_csv,
    reports_json,
    reports_table,
)
from octolang.source import SourceFile
from octolang.stats import mean_t, proportion_wilson

ROOT = Path(__file__).resolve().parents[1]
SAILOR = compile_source(read_source(str(ROOT / "examples" / "drunken_sailor.octo"))).program
assert SAILOR is not None


def outcomes() -> list[UnitOutcome]:
    """Start 2: 3 ship of 5; start 5: 2 done (1 ship), 1 failed, 1 pending."""
    units = []
    plan: dict[int, list[Any]] = {
        2: [("ship", 10), ("water", 4), ("ship", 20), ("ship", 16), ("water", 2)],
        5: [("ship", 30), ("water", 12), "failed", "pending"],
    }
    for start, walks in plan.items():
        for trial, walk in enumerate(walks, start=1):
            fields = {"start": start, "trial": trial}
            uid = f"start={start}/trial={trial}"
            if walk in ("failed", "pending"):
                units.append(UnitOutcome(uid, fields, walk, {}, "boom" if walk == "failed" else None))
            else:
                units.append(UnitOutcome(uid, fields, "done", {"walk": {"outcome": walk[0], "steps": walk[1]}}))
    return units


def compute(units: list[UnitOutcome]) -> Any:
    assert SAILOR is not None
    return compute_reports(SAILOR, compile_reports(SAILOR, "sailor.octo"), units)


def test_groups_statistics_and_counts() -> None:
    result = compute(outcomes())
    [report] = result.reports
    assert report.group_by == ["unit.start"]
    two, five = report.groups
    assert two.key == {"unit.start": 2} and five.key == {"unit.start": 5}
    assert (two.units, two.done, two.failed, two.pending) == (5, 5, 0, 0)
    assert (five.units, five.done, five.failed, five.pending) == (4, 2, 1, 1)
    p = two.statistics["p_ship"]
    expected = proportion_wilson([True, False, True, True, False])
    assert (p.value, p.low, p.high, p.n, p.kind) == (0.6, expected.low, expected.high, 5, "proportion")
    steps = two.statistics["mean_steps"]
    mean = mean_t([10, 4, 20, 16, 2])
    assert (steps.value, steps.low, steps.high) == (10.4, mean.low, mean.high)
    assert two.statistics["theory"].value == 0.2 and five.statistics["theory"].value == 0.5
    assert five.statistics["p_ship"].n == 2  # the failed and pending units are not in it


def test_same_outcomes_in_any_order_give_the_same_bytes() -> None:
    units = outcomes()
    expected = reports_json(compute(units))
    for seed in range(5):
        shuffled = units[:]
        random.Random(seed).shuffle(shuffled)
        assert reports_json(compute(shuffled)) == expected


def test_json_has_no_run_specific_data() -> None:
    data = json.loads(reports_json(compute(outcomes())))
    assert data["version"] == 1 and data["pipeline"] == "drunken_sailor"
    assert set(data["reports"][0]["groups"][0]) == {
        "key",
        "units",
        "done",
        "failed",
        "skipped",
        "pending",
        "statistics",
    }


def test_csv_and_table(snapshot: SnapshotAssertion) -> None:
    result = compute(outcomes())
    csv_text = reports_csv(result)
    assert csv_text.splitlines()[0] == (
        "report,unit.start,units,done,failed,skipped,p_ship,p_ship_low,p_ship_high,"
        "mean_steps,mean_steps_low,mean_steps_high,theory,theory_low,theory_high"
    )
    assert reports_table(result) == snapshot
    assert reports_json(result) == snapshot


def test_grouping_by_a_step_output_puts_units_without_it_in_a_none_group() -> None:
    text = (ROOT / "examples" / "drunken_sailor.octo").read_text()
    text = text[: text.index("report by_start")] + "report by_outcome {\n  group by walk.outcome\n  n = count()\n}\n"
    source = SourceFile("by_outcome.octo", text)
    program = compile_source(source).program
    assert program is not None
    result = compute_reports(program, compile_reports(program, "by_outcome.octo"), outcomes())
    groups = {g.key["walk.outcome"]: g for g in result.reports[0].groups}
    assert set(groups) == {"ship", "water", None}
    assert (groups["ship"].done, groups["water"].done) == (4, 3)
    assert (groups[None].failed, groups[None].pending, groups[None].done) == (1, 1, 0)
    json.loads(reports_json(result))  # a key of None is plain JSON, not an internal sentinel


def test_an_int_too_large_for_a_float_is_left_out_with_a_note() -> None:
    """10**400 as a step's output (a compute step may return it) used to be an
    OverflowError in every `octoc report`."""
    units = outcomes()
    units[0] = UnitOutcome(units[0].unit_id, units[0].fields, "done", {"walk": {"outcome": "ship", "steps": 10**400}})
    result = compute(units)
    steps = result.reports[0].groups[0].statistics["mean_steps"]
    assert (steps.n, steps.missing, steps.note) == (4, 1, "left out 1 value too large for a float")
    assert steps.value == mean_t([4, 20, 16, 2]).value
    assert json.loads(reports_json(result))["reports"][0]["groups"][0]["statistics"]["mean_steps"]["note"] == (
        "left out 1 value too large for a float"
    )
    assert "  mean_steps: left out 1 value too large for a float" in reports_table(result).splitlines()
    # Statistics without such a value keep their JSON as it was (no "note" key).
    assert "note" not in json.loads(reports_json(result))["reports"][0]["groups"][1]["statistics"]["mean_steps"]
