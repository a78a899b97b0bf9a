"""The dependency graph: run order, cycles, gates that send units back the right way, unused steps."""

from __future__ import annotations

from tests.conftest import assert_clean, codes, compile_at, expect

HEAD = 'pipeline p\nmodel m = mock "m"\nunits u { trials 2 }\n'  # lines 1-3


def step(name: str, reads: str = "x") -> str:
    """Four lines: `step NAME` on the first, its prompt (reading `reads`) on the second."""
    return f'step {name} = llm m {{\n  prompt "{reads}"\n  output {{ v: int }}\n}}\n'


def test_order_follows_dependencies_then_declaration() -> None:
    c = compile_at(
        HEAD
        + step("late", "{{ early.v }}")
        + step("early")
        + step("other")
        + "report r { n = mean(late.v) + mean(other.v) }\n"
    )
    assert_clean(c)
    assert c.program.order == ["early", "late", "other"]
    assert [s.depends_on for s in c.program.steps] == [["early"], [], []]


def test_a_cycle_of_three() -> None:
    c = compile_at(
        HEAD + step("a", "{{ c.v }}") + step("b", "{{ a.v }}") + step("c", "{{ b.v }}") + "report r { n = mean(c.v) }\n"
    )
    d = expect(c, "E0701", "steps depend on each other in a cycle: `a` -> `c` -> `b` -> `a`", (4, 6, 4, 7), text="a")
    assert sorted((lab.span.line, lab.span.col, lab.message) for lab in d.labels) == [
        (8, 6, "part of the cycle"),
        (12, 6, "part of the cycle"),
    ]
    assert codes(c) == ["E0701"]  # reported once, not once per step in it
    assert sorted(c.program.order) == ["a", "b", "c"]


def test_a_cycle_of_two() -> None:
    c = compile_at(HEAD + step("a", "{{ b.v }}") + step("b", "{{ a.v }}") + "report r { n = mean(b.v) }\n")
    expect(c, "E0701", "steps depend on each other in a cycle: `a` -> `b` -> `a`", (4, 6, 4, 7))


def test_a_gate_that_retries_a_downstream_step() -> None:
    c = compile_at(
        HEAD
        + step("a")
        + step("b", "{{ a.v }}")
        + step("c", "{{ b.v }}")
        + "gate a.v > 1 else retry c\nreport r { n = mean(c.v) }\n"
    )
    d = expect(
        c,
        "E0702",
        "the gate sends units back to `c`, which does not run before `a`",
        (16, 25, 16, 26),
        text="c",
        help="retry a step that `a` reads, directly or through other steps",
    )
    assert [(lab.span.line, lab.span.col, lab.message) for lab in d.labels] == [(4, 6, "`a` is judged here")]


def test_a_gate_that_retries_the_step_it_judges() -> None:
    c = compile_at(HEAD + step("a") + "gate a.v > 1 else retry a\nreport r { n = mean(a.v) }\n")
    expect(c, "E0702", "the gate sends units back to `a`, which is the step it judges", (8, 25, 8, 26))


def test_a_gate_that_retries_an_unrelated_step() -> None:
    c = compile_at(
        HEAD
        + step("a")
        + step("b", "{{ a.v }}")
        + step("side")
        + "gate b.v > 1 else retry side\nreport r { n = mean(b.v) }\n"
    )
    expect(c, "E0702", "the gate sends units back to `side`, which does not run before `b`", (16, 25, 16, 29))


def test_a_gate_that_retries_an_upstream_step_is_fine() -> None:
    c = compile_at(
        HEAD
        + step("a")
        + step("b", "{{ a.v }}")
        + step("c", "{{ b.v }}")
        + "gate c.v > 1 else retry a max 3 feedback c.v\nreport r { n = mean(c.v) }\n"
    )
    assert_clean(c)
    (gate,) = c.program.gates
    assert (gate.judges, gate.target, gate.max_retries) == (["c"], "a", 3)


def test_a_gate_reading_no_step_and_max_zero() -> None:
    c = compile_at(HEAD + step("a") + "gate 1 > 0 else skip\nreport r { n = mean(a.v) }\n")
    expect(c, "E0703", "this gate's condition reads no step", (8, 6, 8, 11), text="1 > 0")
    c = compile_at(
        HEAD + step("a") + step("b", "{{ a.v }}") + "gate b.v > 0 else retry a max 0\nreport r { n = mean(b.v) }\n"
    )
    expect(c, "E0705", "`max` must be at least 1", (12, 1, 12, 32))


def test_a_step_reading_itself() -> None:
    c = compile_at(HEAD + step("a", "{{ a.v }}") + "report r { n = mean(a.v) }\n")
    expect(
        c, "E0704", "step `a` reads its own output", (5, 14, 5, 15), text="a", label="this is the step being defined"
    )


def test_unused_steps_are_warnings() -> None:
    c = compile_at(HEAD + step("a") + step("spare") + "report r { n = mean(a.v) }\n")
    d = expect(c, "W0101", "nothing reads the output of step `spare`", (8, 6, 8, 11), text="spare")
    assert not d.is_error and c.ok


def test_a_gate_or_a_later_step_counts_as_reading() -> None:
    c = compile_at(HEAD + step("a") + step("b", "{{ a.v }}") + "gate b.v > 1 else skip\nreport r { n = count() }\n")
    assert_clean(c)
