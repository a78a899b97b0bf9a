"""Names: duplicates, unknown names, fields, types, models, functions, reserved words, unused things."""

from __future__ import annotations

from tests.conftest import assert_clean, codes, compile_at, expect

HEAD = 'pipeline p\nmodel m = mock "m"\nunits u { trials 2 }\n'  # lines 1-3
STEP_A = 'step a = llm m {\n  prompt "hi {{ unit.trial }}"\n  output { x: int, s: string }\n}\n'  # lines 4-7
REPORT = "report r { avg = mean(a.x) }\n"


def check(body: str, head: str = HEAD):
    return compile_at(head + body)


def test_a_small_pipeline_is_clean() -> None:
    assert_clean(check(STEP_A + REPORT))


def test_npc_dialogue_field_typo_in_a_template() -> None:
    text = (
        "pipeline npc\n"
        'model writer = mock "w"\n'
        'type Line { text: string, tone: "warm" | "curt" }\n'
        "units npcs { trials 2 }\n"
        'step line = llm writer { prompt "Say hi." output Line }\n'
        "step review = llm writer {\n"
        '  prompt "Score this line: {{ line.txt }}"\n'
        "  output { score: int[1..10] }\n"
        "}\n"
        "report q { s = mean(review.score) }\n"
    )
    c = compile_at(text)
    d = expect(
        c,
        "E0103",
        "unknown field `txt` on `line`",
        (7, 36, 7, 39),
        text="txt",
        help="did you mean `text`?",
        label="`line` outputs `text`, `tone`",
    )
    assert d.is_error
    assert codes(c) == ["E0103"]


def test_duplicate_step_and_const_names() -> None:
    c = check(STEP_A + REPORT + "const a = 3\n")
    d = expect(c, "E0101", "`a` is defined twice", (9, 7, 9, 8), label="this const reuses the name")
    (first,) = d.labels
    assert (first.span.line, first.span.col, first.message) == (4, 6, "first defined here as a step")


def test_duplicate_statistic_in_a_report() -> None:
    c = check(STEP_A + "report r { n = count() n = mean(a.x) }\n")
    d = expect(c, "E0101", "`n` is defined twice", (8, 24, 8, 25), label="this statistic reuses the name")
    assert [(lab.span.line, lab.span.col) for lab in d.labels] == [(8, 12)]


def test_duplicate_models_types_and_reports_are_separate_kinds() -> None:
    c = check(STEP_A + REPORT + 'model m = mock "n"\ntype T { a: int }\ntype T { b: int }\nreport r { n = count() }\n')
    assert codes(c).count("E0101") == 3
    expect(c, "E0101", "`m` is defined twice", (9, 7), label="this model reuses the name")
    expect(c, "E0101", "`T` is defined twice", (11, 6), label="this type reuses the name")
    expect(c, "E0101", "`r` is defined twice", (12, 8), label="this report reuses the name")


def test_unknown_step_in_a_gate() -> None:
    c = check(STEP_A + REPORT + "gate a.x > 1 else retry aa\n")
    expect(c, "E0102", "unknown step `aa`", (9, 25, 9, 27), text="aa", help="did you mean `a`?")
    c = check(STEP_A + REPORT + "gate a.x > 1 else retry zzz\n")
    expect(c, "E0102", "unknown step `zzz`", (9, 25, 9, 28), help="steps: a")


def test_unknown_fields_names_and_types_in_one_prompt() -> None:
    c = check(
        'step b = llm m { prompt "{{ a.xx }} {{ unit.trail }} {{ foo }}" output Lien }\n'
        + STEP_A
        + REPORT
        + "type Line { t: string }\n"
    )
    expect(
        c,
        "E0103",
        "unknown field `xx` on `a`",
        (4, 31, 4, 33),
        text="xx",
        help="did you mean `x`?",
        label="`a` outputs `x`, `s`",
    )
    expect(
        c,
        "E0103",
        "unknown field `trail` on the units",
        (4, 45, 4, 50),
        text="trail",
        help="did you mean `trial`?",
        label="`unit` has `trial`",
    )
    expect(c, "E0106", "unknown name `foo` in the prompt of step `b`", (4, 57, 4, 60), text="foo")
    expect(c, "E0104", "unknown type `Lien`", (4, 72, 4, 76), text="Lien", help="did you mean `Line`?")
    assert "W0104" not in codes(c)  # `Line` is what `Lien` meant: told once, as E0104


def test_unknown_model() -> None:
    c = check('step b = llm mm { prompt "x" output { y: int } }\n' + STEP_A + REPORT)
    expect(c, "E0105", "unknown model `mm`", (4, 14, 4, 16), text="mm", help="did you mean `m`?")
    c = check('step b = llm gpt { prompt "x" output { y: int } }\n' + STEP_A + REPORT)
    expect(c, "E0105", "unknown model `gpt`", (4, 14), help='declare it: `model gpt = openai "gpt-4.1-mini"`')


def test_unknown_names_in_rules_and_functions() -> None:
    c = check(
        'const K = 2\nstep b = llm m { prompt "{{ a.x }} {{ K }}" output { y: int }'
        ' validate { lenn(y) > 1 : "m" \n  zz > K : "n" } }\n' + STEP_A + REPORT + "report q { n = mean(b.y) }\n"
    )
    expect(
        c,
        "E0109",
        "unknown function `lenn` in a rule of step `b`",
        (5, 74, 5, 78),
        text="lenn",
        help="did you mean `len`?",
    )
    expect(c, "E0106", "unknown name `zz` in a rule of step `b`", (6, 3, 6, 5), text="zz")


def test_rules_see_the_output_fields_as_bare_names() -> None:
    c = check(
        'step b = llm m { prompt "{{ a.s }}" output { y: int, t: string }'
        ' validate { y > 1 and len(t) < 9 and a.x > 0 : "m" } }\n' + STEP_A + "report q { n = mean(b.y) }\n"
    )
    assert_clean(c)


def test_reserved_names() -> None:
    c = check(
        'step unit = llm m { prompt "x" output { y: int } }\nconst rng = 1\ntype string { a: int }\n' + STEP_A + REPORT
    )
    expect(c, "E0111", "`unit` is a reserved name and cannot name a step", (4, 6, 4, 10))
    expect(c, "E0111", "`rng` is a reserved name and cannot name a const", (5, 7, 5, 10))
    expect(c, "E0111", "`string` is a built-in type and cannot be redeclared", (6, 6, 6, 12))


def test_unused_model_and_missing_pipeline_name_are_warnings() -> None:
    c = check(STEP_A + REPORT, head='model m = mock "m"\nmodel spare = mock "s"\nunits u { trials 2 }\n')
    d = expect(c, "W0105", "model `spare` is not used by any step", (2, 7, 2, 12), text="spare")
    assert not d.is_error
    w = expect(c, "W0106", "the file does not name its pipeline", (1, 1))
    assert not w.is_error
    assert c.ok  # warnings only


def test_unknown_names_in_gates_and_feedback() -> None:
    c = check(STEP_A + REPORT + "gate a.x > 1 and b.x < 2 else retry a feedback qq\n")
    expect(c, "E0106", "unknown name `b` in the gate's condition", (9, 18, 9, 19))
    expect(c, "E0106", "unknown name `qq` in the gate's feedback", (9, 48, 9, 50))


def test_consts_are_in_scope_everywhere() -> None:
    c = check(
        "const LIMIT = 3\n"
        + STEP_A.replace("hi {{", "{{ LIMIT }} {{")
        + "gate a.x > LIMIT else skip\nreport r { k = mean(a.x) - LIMIT }\n"
    )
    assert_clean(c)
