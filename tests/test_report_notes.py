"""Report cells that say why they are empty, null statistics with their own kind and n, and a
footnote for a mean interval that runs outside its value's declared range (issue 17,
findings 2 and 4)."""

from __future__ import annotations

import json
from typing import Any

from syrupy.assertion import SnapshotAssertion

from octolang.runtime.reports import UnitOutcome, compile_reports, compute_reports, reports_json, reports_table
from tests.conftest import assert_clean, compile_at

PIPELINE = """pipeline notes
units u { vary k in [1, 2] trials 5000 }
step judge = compute {
  output { score: float?, confidence: float[0..1], label: string? }
  code "return {\\"score\\": None, \\"confidence\\": 0.5, \\"label\\": None}"
}
report r {
  group by unit.k
  avg = mean(judge.score)
  scaled = mean(judge.score) * 100
  letters = mean(len(judge.label))
  confidence = mean(judge.confidence)
  plain = sum([1, 2])
}
"""


def run(outputs: Any) -> Any:
    c = compile_at(PIPELINE)
    assert_clean(c)
    program = c.program
    units = [
        UnitOutcome(f"k={k}/t={t}", {"k": k, "trial": t}, "done", {"judge": outputs(k, t)})
        for k in (1, 2)
        for t in range(1, 5001)
    ]
    return compute_reports(program, compile_reports(program, "notes.octo"), units)


def nulls(k: int, t: int) -> dict[str, Any]:
    return {"score": None, "confidence": 0.5, "label": None}


def test_an_empty_cell_says_how_many_values_were_missing_and_why(snapshot: SnapshotAssertion) -> None:
    result = run(nulls)
    table = reports_table(result)
    assert "- (5,000 missing: the value is null)" in table
    assert "- (5,000 missing: TypeError: object of type 'NoneType' has no len())" in table
    assert table == snapshot


def test_a_null_statistic_keeps_its_own_kind_and_n() -> None:
    data = json.loads(reports_json(run(nulls)))
    stats = data["reports"][0]["groups"][0]["statistics"]
    assert stats["avg"] == {
        "value": None,
        "low": None,
        "high": None,
        "n": 0,
        "missing": 5000,
        "kind": "mean",
        "missing_reason": "the value is null",
    }
    assert (stats["scaled"]["kind"], stats["scaled"]["n"], stats["scaled"]["missing"]) == ("expression", 0, 5000)
    assert stats["plain"]["value"] == 3


def test_a_mean_interval_outside_the_declared_range_gets_a_footnote(snapshot: SnapshotAssertion) -> None:
    inside = reports_table(run(nulls))
    assert " *" not in inside and "declared range" not in inside
    program = compile_at(PIPELINE.replace("trials 5000", "trials 3")).program
    values = {1: [0.99, 0.4, 1.0], 2: [0.5, 0.5, 0.5]}
    units = [
        UnitOutcome(
            f"k={k}/t={t}",
            {"k": k, "trial": t},
            "done",
            {"judge": {"score": 1.0, "confidence": values[k][t - 1], "label": "ab"}},
        )
        for k in (1, 2)
        for t in (1, 2, 3)
    ]
    result = compute_reports(program, compile_reports(program, "notes.octo"), units)
    table = reports_table(result)
    assert "0.7967 [-0.05678, 1.65] *" in table
    assert "  * confidence: the interval runs outside the values' declared range 0..1 (1: n = 3)" in table
    one, two = json.loads(reports_json(result))["reports"][0]["groups"]
    assert one["statistics"]["confidence"]["declared_range"] == [0.0, 1.0]
    assert "declared_range" not in two["statistics"]["confidence"]  # [0.5, 0.5] is inside
    assert table == snapshot
