"""Types of expressions (issue 17, findings 1 and 2): comparisons, arithmetic and aggregates
checked against the output types and unit fields; aggregates told apart from plain calls by
what they range over; the dicts code blocks return held against the output type."""

from __future__ import annotations

from typing import Any

import pytest

from octolang.runtime.reports import UnitOutcome, compile_reports, compute_reports
from tests.conftest import assert_clean, codes, compile_at, expect, needs_sandbox

HEAD = """pipeline p
model m = mock "m"
units u { vary people in [2, 23] trials 3 }
step check = llm m {
  prompt "Agree for {{ unit.people }}?"
  output { agree: bool, confidence: float[0..1], label: "spam" | "ham", score: int[0..10], words: list<string> }
}
"""  # lines 1-7


def with_report(*metrics: str, group: str = "") -> Any:
    """The metrics are lines 9, 10, ... of `report r`."""
    by = f"  group by {group}\n" if group else ""
    return compile_at(HEAD + "report r {\n" + by + "".join(f"  {m}\n" for m in metrics) + "}\n")


def test_a_bool_compared_with_a_string_in_a_gate_is_an_error() -> None:
    c = compile_at(HEAD + 'gate check.agree == "yes" else skip\nreport r { n = count() }\n')
    d = expect(c, "E0620", "`==` compares a `bool` with a `string`", (8, 6), text='check.agree == "yes"')
    assert "`true` or `false`" in d.help


def test_a_number_ordered_against_a_string_in_a_rule_is_an_error() -> None:
    c = compile_at(
        HEAD.replace("words: list<string> }", 'words: list<string> }\n  validate { confidence > "high" : "sure" }')
        + "report r { n = count() }\n"
    )
    expect(c, "E0620", "`>` compares a `float` with a `string`", (7, 14), text='confidence > "high"')


@pytest.mark.parametrize(
    "condition",
    [
        "check.agree == true",
        "check.confidence > 0.5 and check.score >= 3",
        'check.label == "spam"',
        'check.label in ["spam", "ham"]',
        "check.score == check.confidence",
        '"a" in check.words',
        "len(check.words) > unit.people",
        "not check.agree",
    ],
)
def test_well_typed_conditions_pass(condition: str) -> None:
    assert_clean(compile_at(HEAD + f"gate {condition} else skip\nreport r {{ n = count() }}\n"))


def test_a_literal_outside_an_enum_is_an_error_with_the_nearest_value() -> None:
    c = with_report('spam = proportion(check.label == "Spam")')
    d = expect(c, "E0621", '"Spam" is not a value of `"spam" | "ham"`', (9, 36), text='"Spam"')
    assert d.help == "did you mean `spam`?"
    c = compile_at(HEAD + 'gate check.label in ["spam", "eggs"] else skip\nreport r { n = count() }\n')
    expect(c, "E0621", '"eggs" is not a value of `"spam" | "ham"`', (8, 30), text='"eggs"')


def test_the_mean_of_a_string_enum_is_an_error_that_suggests_a_proportion() -> None:
    c = with_report("m = mean(check.label)")
    d = expect(c, "E0622", '`mean` of `"spam" | "ham"`: it takes numbers', (9, 12), text="check.label")
    assert d.help == 'count a value instead: `proportion(check.label == "spam")`'


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("s = sum(check.agree)", "`sum` of a `bool`: it takes numbers"),
        ("s = stdev(check.words)", "`stdev` of a `list<string>`: it takes numbers"),
        ("s = proportion(check.words)", "`proportion` of a `list<string>`: it takes a condition"),
    ],
)
def test_aggregates_of_the_wrong_kind(metric: str, message: str) -> None:
    c = with_report(metric)
    assert codes(c) == ["E0622"]
    assert c.diagnostics[0].message == message


def test_a_bool_used_as_a_number_is_an_error() -> None:
    c = with_report("s = mean(check.agree * check.confidence)")
    expect(c, "E0623", "a bool used as a number in `*`", (9, 12), text="check.agree")
    c = with_report('s = mean(check.score + "1")')
    expect(c, "E0623", "`+` cannot combine an `int` and a `string`", (9, 12), text='check.score + "1"')


def test_an_expression_with_an_unknown_name_gets_no_type_error_besides() -> None:
    c = with_report("s = mean(check.agre * 2)")
    assert codes(c) == ["E0103"]


def test_well_typed_metrics_pass() -> None:
    assert_clean(
        with_report(
            "a = mean(check.confidence * check.score)",
            "b = proportion(check.agree)",
            'c = count(check.label == "ham")',
            "d = mean(len(check.words))",
            "e = max(check.score) - min(check.score)",
            "f = percentile(check.confidence, 90)",
            "g = mean(sum(x for x in [check.score, 1]))",
            "h = count(check.words)",
        )
    )


def test_consts_and_vary_lists_are_typed_before_they_are_computed() -> None:
    c = compile_at(
        'pipeline p\nconst LIMIT = 3\nconst A = "a" > LIMIT\nconst B = true + 1\n'
        'units u { vary k in [1, "x" * 2.5] }\nstep s = compute { output { v: int } code "return {\\"v\\": 1}" }\n'
        "report r { v = mean(s.v) }\n"
    )
    expect(c, "E0620", "`>` compares a `string` with an `int`", (3, 11), text='"a" > LIMIT')
    expect(c, "E0623", "a bool used as a number in `+`", (4, 11), text="true")
    expect(c, "E0623", "`*` cannot combine a `string` and a `float`", (5, 25), text='"x" * 2.5')
    assert "E0503" not in codes(c)  # not also the Python error of computing them


# ---------------------------------------------------------------- aggregates by what they range over


def test_a_sum_of_a_literal_list_is_a_plain_sum_and_one_over_a_group_key_too() -> None:
    c = with_report(
        "plain = sum([1, 2])",
        "exact = 1 - exp(sum([log((365 - k) / 365) for k in range(unit.people)]))",
        "top = max(unit.people, 3)",
        "agreed = count(check.agree)",
        group="unit.people",
    )
    assert_clean(c)
    program = c.program
    units = [
        UnitOutcome(
            f"p{people}-{t}",
            {"people": people, "trial": t},
            "done",
            {"check": {"agree": True, "confidence": 0.5, "label": "ham", "score": 1, "words": []}},
        )
        for people in (2, 23)
        for t in (1, 2, 3)
    ]
    [report] = compute_reports(program, compile_reports(program, "p.octo"), units).reports
    two, many = report.groups
    assert two.statistics["plain"].value == 3 and many.statistics["plain"].value == 3
    assert two.statistics["exact"].value == pytest.approx(1 / 365)
    assert many.statistics["exact"].value == pytest.approx(0.507297, abs=1e-6)
    assert many.statistics["top"].value == 23


def test_a_sum_over_a_unit_field_without_its_group_is_still_an_aggregate() -> None:
    c = with_report("exact = sum([k for k in range(unit.people)])")
    d = expect(c, "E0622", "`sum` of a `list<int>`: it takes numbers", (9, 15))
    assert "mean(sum(...))" in d.help


# ---------------------------------------------------------------- what code returns


CODE = """pipeline p
units u {{ vary word in ["abca", "xyz"] }}
step tally = compute {{
  output {{ distinct: int, note: string? }}
  code \"\"\"
    def helper():
        return {{"anything": 1}}
    {body}
  \"\"\"
}}
report r {{ avg = mean(tally.distinct) }}
"""  # `body` is line 8


@needs_sandbox
def test_a_misspelt_returned_field_is_an_error_with_did_you_mean() -> None:
    c = compile_at(CODE.format(body='return {"distnct": len(set(unit.word)), "note": None}'))
    d = expect(
        c,
        "E0624",
        "step `tally` returns a field `distnct` its output type does not have",
        (8, 13),
        text='"distnct"',
    )
    assert d.help == "did you mean `distinct`?"
    assert codes(c) == ["E0624"]  # not also the missing `distinct`


@needs_sandbox
def test_a_returned_dict_without_a_field_is_an_error() -> None:
    c = compile_at(CODE.format(body='return {"distinct": 1}'))
    expect(c, "E0625", "step `tally` returns a dict without the field `note`", (8, 12), text='{"distinct": 1}')


@needs_sandbox
@pytest.mark.parametrize(
    "body",
    [
        'return {"distinct": 1, "note": None}',
        "out = {}\n    return out",
        'extra = {"note": None}\n    return {"distinct": 2, **extra}',
        'if unit.word:\n        return {"distinct": 1, "note": "x"}\n    return {"note": None, "distinct": 0}',
    ],
)
def test_returns_the_checker_cannot_fault_pass(body: str) -> None:
    assert_clean(compile_at(CODE.format(body=body)))


LITERALS = """pipeline p
units u {{ vary start in [2, 5] }}
step walk = compute {{
  output {{ outcome: "ship" | "water", steps: int[0..], note: string?, ratio: float[0..1], ok: bool }}
  code \"\"\"
    {body}
  \"\"\"
}}
report r {{ p = proportion(walk.outcome == "ship") }}
"""  # `body` is line 6


@pytest.mark.parametrize(
    ("value", "message", "text", "help"),
    [
        (
            '"outcome": "ship" if unit.start > 3 else "watr"',
            'step `walk` returns "watr" for `outcome`, which is `"ship" | "water"`',
            '"watr"',
            "did you mean `water`?",
        ),
        ('"steps": -1', "step `walk` returns -1 for `steps`, which is `int[0..]`", "-1", "`steps` takes `int[0..]`"),
        ('"steps": 3.5', "step `walk` returns 3.5 for `steps`, which is `int[0..]`", "3.5", "`steps` takes `int[0..]`"),
        ('"ratio": 2', "step `walk` returns 2 for `ratio`, which is `float[0..1]`", "2", "`ratio` takes `float[0..1]`"),
        ('"note": 4', "step `walk` returns 4 for `note`, which is `string?`", "4", "`note` takes `string?`"),
        ('"ok": 1', "step `walk` returns 1 for `ok`, which is `bool`", "1", "write `True` or `False`"),
        (
            '"ok": None',
            "step `walk` returns None for `ok`, which is `bool`",
            "None",
            "declare the field optional, `ok: bool?`, to allow `None`",
        ),
    ],
)
def test_a_returned_literal_its_field_cannot_hold_is_an_error(value: str, message: str, text: str, help: str) -> None:
    fields = {"outcome": '"ship"', "steps": "3", "note": "None", "ratio": "0.5", "ok": "True"}
    name = value.split(":")[0].strip('"')
    entries = [value if f == name else f'"{f}": {v}' for f, v in fields.items()]
    c = compile_at(LITERALS.format(body="return {" + ", ".join(entries) + "}"))
    assert codes(c) == ["E0626"]
    d = c.diagnostics[0]
    assert (d.message, c.source.text[d.span.start : d.span.end], d.help) == (message, text, help)


def test_returned_literals_the_fields_can_hold_pass() -> None:
    body = 'return {"outcome": "water", "steps": 0, "note": "x" if unit.start else None, "ratio": 1, "ok": False}'
    assert_clean(compile_at(LITERALS.format(body=body)))
