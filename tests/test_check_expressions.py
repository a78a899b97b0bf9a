"""Expressions in consts, rules, gates and reports: names, calls, aggregates and where they may go."""

from __future__ import annotations

import pytest

from tests.conftest import assert_clean, codes, compile_at, expect

HEAD = 'pipeline p\nmodel m = mock "m"\nunits u { vary k in [1, 2] trials 2 }\n'  # lines 1-3
STEP_A = 'step a = llm m {\n  prompt "a {{ unit.trial }}"\n  output { x: int, s: string, ok: bool }\n}\n'  # 4-7


def check(body: str):
    return compile_at(HEAD + STEP_A + body)


def test_a_report_with_every_aggregate_is_clean() -> None:
    c = check(
        "report r {\n  group by unit.k\n  where a.x > 0\n  n = count()\n  big = count(a.x > 5)\n"
        "  s = sum(a.x)\n  avg = mean(a.x)\n  sd = stdev(a.x)\n  md = median(a.x)\n"
        "  p90 = percentile(a.x, 90)\n  lo = min(a.x)\n  hi = max(a.x)\n  share = proportion(a.ok)\n"
        "  k2 = unit.k * 2\n  ratio = avg / (sd + 1)\n  rounded = round(mean(a.x * 1.5), 2)\n"
        '  long = proportion(len(a.s) > 10 and a.s != "x")\n}\n'
    )
    assert_clean(c)


def test_a_per_unit_value_outside_an_aggregate() -> None:
    c = check("report r { avg = mean(a.x) bad = a.x }\n")
    expect(
        c,
        "E0502",
        "`a.x` differs from unit to unit; report `r` needs an aggregate here",
        (8, 34, 8, 37),
        text="a.x",
        label="a per-unit value outside an aggregate",
        help="wrap it, e.g. `mean(a.x)`, or add it to `group by`",
    )


def test_a_unit_field_outside_an_aggregate_unless_grouped() -> None:
    c = check("report r { n = count() k = unit.k }\n")
    expect(c, "E0502", "`unit.k` differs from unit to unit; report `r` needs an aggregate here", (8, 28, 8, 34))
    assert_clean(check("report r { group by unit.k n = count() k = unit.k }\n"), allow=["W0101"])


def test_aggregate_mistakes() -> None:
    c = check(
        "report r { avg = mean(mean(a.x)) p = percentile(a.x) q = percentile(a.x, 120)"
        " c = count(a.x, 1) z = frob(a.x) }\n"
    )
    expect(c, "E0504", "`mean` inside another aggregate", (8, 23, 8, 27), text="mean")
    expect(
        c,
        "E0505",
        "`percentile` takes a value and a percentage, as `percentile(x, 90)`",
        (8, 38, 8, 53),
        text="percentile(a.x)",
    )
    expect(c, "E0505", "the percentage must be a number from 0 to 100", (8, 74, 8, 77), text="120")
    expect(c, "E0505", "`count` takes no argument or one condition", (8, 83, 8, 96))
    d = expect(c, "E0109", "unknown function `frob` in report `r`", (8, 101, 8, 105))
    listed = d.help.removeprefix("available: ").split(", ")
    assert len(listed) == len(set(listed)), "each function listed once"
    assert {"mean", "percentile", "len", "sqrt"} <= set(listed)


def test_aggregates_outside_reports() -> None:
    c = check(
        'step b = llm m { prompt "{{ a.s }}" output { y: int } validate { mean(y) > 1 : "no" } }\n'
        "report r { avg = mean(b.y) }\n"
    )
    expect(
        c,
        "E0501",
        "`mean` aggregates over units and belongs in a report",
        (8, 66, 8, 70),
        text="mean",
        help="use `mean(...)` inside `report name { ... }`",
    )
    c = check("gate proportion(a.ok) > 0.5 else skip\nreport r { avg = mean(a.x) }\n")
    expect(c, "E0501", "`proportion` aggregates over units and belongs in a report", (8, 6, 8, 16))


@pytest.mark.parametrize(
    ("const", "message", "where"),
    [
        ("1 / 0", "const `C` cannot be computed: ZeroDivisionError: division by zero", (8, 11, 8, 16)),
        ("undefined + 1", "const `C` can only use consts and literals, not `undefined`", (8, 11, 8, 24)),
        ("[1, 2][5]", "const `C` cannot be computed: IndexError: list index out of range", (8, 11, 8, 20)),
        ("10 ** 10 ** 10", "const `C` would take too long to compute", (8, 11, 8, 25)),
        ("2 ** 5000", "const `C` would take too long to compute", (8, 11, 8, 20)),
        ("[0] * 10000000", "const `C` would take too long to compute", (8, 11, 8, 25)),
        ("range", "const `C` must be a string, number, boolean or list, not function", (8, 11, 8, 16)),
    ],
)
def test_consts_that_cannot_be_computed(const: str, message: str, where: tuple[int, ...]) -> None:
    c = check(f"const C = {const}\nreport r {{ avg = mean(a.x) }}\n")
    expect(c, "E0503", message, where)


def test_consts_are_computed_in_order() -> None:
    c = check(
        'const A = 2\nconst B = A ** 3 + len("ab")\nconst L = [x * B for x in range(3)]\n'
        "report r { avg = mean(a.x) * B }\n"
    )
    assert_clean(c)
    assert [const.resolved for const in c.program.consts] == [2, 10, [0, 10, 20]]


def test_a_const_used_before_it_is_defined() -> None:
    c = check("const B = A + 1\nconst A = 1\nreport r { avg = mean(a.x) }\n")
    expect(c, "E0503", "const `B` can only use consts and literals, not `A`", (8, 11, 8, 16))


def test_unknown_fields_in_expressions() -> None:
    c = check("report r { where a.x > 1 avg = mean(a.x) w = mean(a.q) d = mean(a.x.real) }\n")
    expect(c, "E0103", "unknown field `q` on `a`", (8, 53, 8, 54), text="q", label="`a` outputs `x`, `s`, `ok`")
    expect(c, "E0404", "`a.x` is an int and has no field `real`", (8, 69, 8, 73), text="real")


def test_an_empty_report_is_a_warning() -> None:
    c = check("report r { }\n")
    d = expect(c, "W0107", "report `r` computes nothing", (8, 8, 8, 9))
    assert not d.is_error


def test_comprehensions_bind_their_targets() -> None:
    c = check("report r { c = mean(len([ch for ch in a.s if ch != zz])) }\n")
    expect(c, "E0106", "unknown name `zz` in report `r`", (8, 52, 8, 54))
    assert codes(c) == ["E0106"]
