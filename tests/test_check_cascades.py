"""Each mistake is told once (issue 17, finding 3): not again through its consequences, and a
delimiter left open is pointed at where it opens."""

from __future__ import annotations

from tests.conftest import codes, compile_at, expect

CASE = """pipeline p
model m = mock "m"
units u {{ vary people in [2, 23] trials 2 }}
type Verdict {{ guilty: bool, evidence: string }}
step judge = llm m {{
  prompt "Judge {{{{ unit.people }}}}."
  output {output}
  validate {{ len(evidence) > 3 : "say why" }}
}}
report r {{
  guilty = proportion(judge.guilty)
  {metric}
}}
"""  # `output` on line 7, `metric` on line 12


def test_a_misspelt_output_type_is_not_also_an_unknown_name_in_its_rules() -> None:
    c = compile_at(CASE.format(output="Verdit", metric="n = count()"))
    assert codes(c) == ["E0104"]  # not E0106 for `evidence`, nor W0104 for the `Verdict` it meant
    d = expect(c, "E0104", "unknown type `Verdit`", (7, 10))
    assert d.help == "did you mean `Verdict`?"


def test_a_rule_of_a_known_output_still_gets_its_unknown_names() -> None:
    c = compile_at(CASE.format(output="Verdict", metric="n = count()").replace("len(evidence)", "len(evidense)"))
    assert codes(c) == ["E0106"]


def test_a_type_unused_and_not_close_to_any_typo_is_still_warned() -> None:
    c = compile_at(CASE.format(output="Verdit", metric="n = count()").replace("type Verdict", "type Other"))
    assert sorted(codes(c)) == ["E0104", "W0104"]


def test_a_misspelt_unit_field_in_a_report_gets_no_advice_to_wrap_it() -> None:
    c = compile_at(CASE.format(output="Verdict", metric="size = unit.peple"))
    assert codes(c) == ["E0103"]  # not E0502's `wrap it, e.g. mean(unit.peple)`
    expect(c, "E0103", "unknown field `peple` on the units", (12, 15), help="did you mean `people`?")


def test_a_correct_per_unit_value_outside_an_aggregate_still_gets_e0502() -> None:
    c = compile_at(CASE.format(output="Verdict", metric="size = unit.people"))
    d = expect(c, "E0502", "`unit.people` differs from unit to unit; report `r` needs an aggregate here", (12, 10))
    assert d.help == "wrap it, e.g. `mean(unit.people)`, or add it to `group by`"


def test_a_missing_brace_is_noted_at_its_opening() -> None:
    c = compile_at('pipeline p\nunits u {\n  trials 2\n\nmodel m = mock "m"\n')
    d = expect(c, "E0001", "unexpected `model`", (5, 1))
    [label] = d.labels
    assert (label.span.line, label.span.col, label.message) == (2, 9, "opened here")
    assert d.help == "the `{` on line 2 is not closed: add `}` where it ends"


def test_a_missing_paren_is_noted_at_its_opening_past_strings_and_comments() -> None:
    c = compile_at(
        'pipeline p "a ( in a string"\nunits u { trials 2 }  # a { in a comment\n'
        'step a = compute { output { x: int } code """return {"x": (1}""" }\n'
        "report r {\n  avg = mean(a.x\n  n = count()\n}\n"
    )
    d = expect(c, "E0001", "unexpected `n`", (6, 3))
    [label] = d.labels
    assert (label.span.line, label.span.col) == (5, 13)
    assert "`(` on line 5" in d.help


def test_an_error_where_no_closer_fits_gets_no_note() -> None:
    c = compile_at("pipeline p\nunits u { trials }\n")
    d = expect(c, "E0001", "unexpected `}`", (2, 18))
    assert d.labels == ()
