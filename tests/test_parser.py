"""Parsing and lowering: the examples, the IR's shapes and spans, syntax errors in words, recovery."""

from __future__ import annotations

import re

import pytest

from octolang import ir
from octolang.source import SourceFile
from octolang.syntax import parse_program
from octolang.syntax.grammar import parser
from tests.conftest import (
    EXAMPLE_FILES,
    assert_clean_span,
    at,
    compile_file,
    has_compute,
    position_of,
    render,
    sandbox_available,
    span_text,
)


def parse(text: str, path: str = "t.octo") -> tuple[ir.Program | None, list, SourceFile]:
    source = SourceFile(path, text)
    program, diagnostics = parse_program(source)
    return program, diagnostics, source


def parse_example(name: str) -> tuple[ir.Program, SourceFile]:
    path = next(p for p in EXAMPLE_FILES if p.stem == name)
    program, diagnostics, source = parse(path.read_text(encoding="utf-8"), str(path))
    assert diagnostics == []
    assert program is not None
    return program, source


# ---------------------------------------------------------------- the examples


def test_there_are_examples() -> None:
    assert {p.stem for p in EXAMPLE_FILES} >= {"blackjack", "dice_duel", "drunken_sailor", "npc_dialogue", "qa_eval"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_example_parses_without_diagnostics(path) -> None:
    program, diagnostics, source = parse(path.read_text(encoding="utf-8"), str(path))
    assert diagnostics == []
    assert program is not None
    assert program.pipeline is not None and program.pipeline.name == path.stem
    assert program.units and program.steps and program.reports
    for step in program.steps:
        assert span_text(source, step.name_span) == step.name
        assert_clean_span(source, step.span)
        assert span_text(source, step.span).startswith("step ")
        assert span_text(source, step.span).endswith("}")


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_example_checks_clean(path) -> None:
    text = path.read_text(encoding="utf-8")
    if has_compute(text) and not sandbox_available():
        pytest.skip("octolang.sandbox.policy is not there yet")
    compilation = compile_file(path, text)
    assert compilation.diagnostics == [], render(compilation.diagnostics, compilation.source)
    assert compilation.ok and compilation.program is not None
    assert compilation.program.unit_count and compilation.program.order


# ---------------------------------------------------------------- IR shapes and spans


def test_npc_dialogue_shapes_and_spans() -> None:
    program, source = parse_example("npc_dialogue")
    text = source.text

    writer, critic = program.models
    assert (writer.name, writer.provider, writer.model_id) == ("writer", "openai", "gpt-4.1-mini")
    assert writer.setting("temperature") == 0.9 and writer.setting("max_tokens") == 300
    assert at(writer.name_span) == (*position_of(text, "writer ="), *position_of(text, " = openai"))
    assert at(writer.model_id_span)[:2] == position_of(text, '"gpt-4.1-mini"')
    assert span_text(source, writer.model_id_span) == '"gpt-4.1-mini"'
    temperature = writer.settings[0]
    assert span_text(source, temperature.span) == "temperature = 0.9"
    assert span_text(source, temperature.value_span) == "0.9"
    assert critic.settings == []  # Claude takes no temperature: the example gives it none

    (line_type,) = program.types
    assert line_type.name == "Line"
    assert [f.name for f in line_type.record.fields] == ["text", "tone"]
    text_field, tone_field = line_type.record.fields
    assert isinstance(text_field.type, ir.NamedType)
    assert (text_field.type.name, text_field.type.low, text_field.type.high) == ("string", 1, 400)
    assert text_field.description == "what the NPC says, in quotes-free prose"
    assert isinstance(tone_field.type, ir.UnionType)
    assert [o.value for o in tone_field.type.options] == ["warm", "curt", "menacing"]  # type: ignore[union-attr]

    (units,) = program.units
    assert units.source is not None and units.source.value == "npcs.csv"
    assert units.key == "name" and span_text(source, units.key_span) == "name"  # type: ignore[arg-type]

    line, review = program.steps
    assert (line.kind, line.model, line.retries) == ("llm", "writer", 3)
    assert at(line.name_span)[:2] == position_of(text, "line = llm")
    assert at(line.model_span)[:2] == position_of(text, "writer {")  # type: ignore[arg-type]
    assert isinstance(line.output, ir.NamedType) and line.output.name == "Line"
    assert line.system is not None and line.system.value.startswith("You write dialogue")
    assert [r.message for r in line.validate_rules] == [
        "keep it under 200 characters",
        "an NPC does not say its own name",
    ]
    rule = line.validate_rules[1].condition
    assert isinstance(rule, ir.Compare) and rule.ops == ["not in"]
    assert span_text(source, rule.span) == "unit.name not in text"

    # the prompt: dedented, and its text still found at the right place in the file
    prompt = line.prompt
    assert prompt is not None
    assert prompt.value.startswith("Write one line that {{ unit.name }}")
    assert "\n{% if feedback %}" in prompt.value  # dedented: no leading spaces on the second line
    assert prompt.first_line == position_of(text, "Write one line")[0]
    index = prompt.value.index("unit.role")
    span = prompt.span_of(source, index, index + len("unit.role"))
    assert span_text(source, span) == "unit.role"
    assert (span.line, span.col) == position_of(text, "unit.role")

    assert isinstance(review.output, ir.RecordType)
    score = review.output.fields[0]
    assert (score.name, score.type.low, score.type.high) == ("score", 1, 10)  # type: ignore[union-attr]

    (gate,) = program.gates
    assert (gate.action, gate.target, gate.max_retries) == ("retry", "line", 2)
    assert span_text(source, gate.target_span) == "line"  # type: ignore[arg-type]
    assert at(gate.target_span)[:2] == position_of(text, "line max")  # type: ignore[arg-type]
    condition = gate.condition
    assert isinstance(condition, ir.Compare) and condition.ops == [">="]
    attribute = condition.left
    assert isinstance(attribute, ir.Attribute) and attribute.attr == "score"
    assert at(attribute.attr_span) == (
        *position_of(text, "score >= 7"),
        position_of(text, "score >= 7")[0],
        position_of(text, " >= 7")[1],
    )
    assert isinstance(attribute.value, ir.Name) and attribute.value.id == "review"
    assert isinstance(gate.feedback, ir.Attribute) and span_text(source, gate.feedback.span) == "review.reason"

    (report,) = program.reports
    assert [m.name for m in report.metrics] == ["n", "mean_score", "share_good"]
    assert span_text(source, report.metrics[1].expr.span) == "mean(review.score)"
    assert span_text(source, report.group_by[0].span) == "unit.role"


def test_blackjack_and_dice_duel_shapes() -> None:
    program, source = parse_example("blackjack")
    deal = program.step("deal")
    assert deal is not None and deal.kind == "compute" and deal.model is None
    assert isinstance(deal.output, ir.RecordType)
    player = deal.output.fields[0].type
    assert isinstance(player, ir.ListType) and isinstance(player.item, ir.NamedType)
    assert (player.item.name, player.item.low, player.item.high) == ("int", 1, 10)
    assert deal.code is not None and deal.code.value.startswith("shoe = [min(r, 10)")
    assert deal.code.first_line == position_of(source.text, "shoe = [min")[0]
    play = program.step("play")
    assert play is not None
    actions = play.output.fields[0].type  # type: ignore[union-attr]
    assert isinstance(actions, ir.ListType) and (actions.min_items, actions.max_items) == (1, 12)
    assert isinstance(actions.item, ir.UnionType)
    vary = program.units[0].vary[0]
    assert vary.name == "strategy" and isinstance(vary.values, ir.ListExpr) and len(vary.values.elts) == 3
    assert program.units[0].trials == 300 and program.seed == 2026
    house_edge = program.reports[0].metrics[1].expr
    assert isinstance(house_edge, ir.Unary) and house_edge.op == "-"

    program, source = parse_example("dice_duel")
    units = program.units[0]
    assert [[f.name for f in row.fields] for row in units.rows] == [["weapon", "dice", "sides"]] * 2
    assert program.steps[0].timeout_seconds == 2.0
    damage = program.steps[0].output.fields[1].type  # type: ignore[union-attr]
    assert (damage.low, damage.high, damage.has_range) == (0, None, True)  # type: ignore[union-attr]
    assert [span_text(source, k.span) for k in program.reports[0].group_by] == ["unit.weapon", "unit.armour"]


def test_expression_lowering() -> None:
    program, _, source = parse(
        "pipeline p\n"
        "const A = -2 ** 3 // 4 % 5\n"
        "const B = [x * 2 for x in range(3) if x != 1]\n"
        "const C = max(1, 2, key=abs)[0:2] if not False else None\n"
        "const D = 1 < 2 <= 3 is not None\n"
        'const E = (1, 2.5e3, "s", 1_000)\n'
    )
    assert program is not None
    a, b, c, d, e = (const.value for const in program.consts)
    assert isinstance(a, ir.Binary) and a.op == "%"
    assert isinstance(b, ir.Comprehension) and b.targets == ["x"] and not b.generator
    assert b.condition is not None and span_text(source, b.condition.span) == "x != 1"
    assert isinstance(c, ir.IfExp) and isinstance(c.body, ir.Index) and isinstance(c.body.index, ir.Slice)
    call = c.body.value
    assert isinstance(call, ir.Call) and [k.name for k in call.keywords] == ["key"] and len(call.args) == 2
    assert isinstance(c.orelse, ir.Constant) and c.orelse.value is None
    assert isinstance(d, ir.Compare) and d.ops == ["<", "<=", "is not"]
    assert isinstance(e, ir.TupleExpr) and [x.value for x in e.elts] == [1, 2500.0, "s", 1000]  # type: ignore[union-attr]


def test_model_prices_and_budget_lower() -> None:
    program, _, source = parse(
        'pipeline p\nbudget $12.50\nmodel m = openai "x" { price in = $0.40/M, out = $1.60/M, cached = $0.1/M }\n'
    )
    assert program is not None
    assert str(program.budget) == "12.50"
    price = program.models[0].price
    assert price is not None
    assert (str(price.input), str(price.output), str(price.cached)) == ("0.40", "1.60", "0.1")
    assert span_text(source, price.span) == "price in = $0.40/M, out = $1.60/M, cached = $0.1/M"


# ---------------------------------------------------------------- lowering diagnostics


@pytest.mark.parametrize(
    ("text", "code", "message", "where"),
    [
        ("pipeline p\npipeline q\n", "E0110", "the pipeline is named twice", (2, 1)),
        ("pipeline p\nseed 1\nseed 2\n", "E0110", "`seed` is given twice", (3, 1)),
        (
            'pipeline p\nmodel m = mock "x" { temperature = 1, temperature = 2 }\n',
            "E0112",
            "setting `temperature` is given twice",
            (2, 39),
        ),
        ("pipeline p\nunits u { trials 2 trials 3 }\n", "E0112", "`trials` is given twice in `units u`", (2, 20)),
        ('pipeline p\nstep s = compute { code "a" code "b" }\n', "E0112", "`code` is given twice in step `s`", (2, 29)),
        ("pipeline p\nreport r { where 1 where 2 }\n", "E0112", "`where` is given twice", (2, 20)),
        ('pipeline p "C:\\data"\n', "E0005", "unknown escape `\\d`", (1, 15)),
        ("pipeline p\nconst X = f(a=1, 2)\n", "E0001", "a positional argument follows a keyword argument", (2, 18)),
    ],
)
def test_lowering_diagnostics(text: str, code: str, message: str, where: tuple[int, int]) -> None:
    _, diagnostics, source = parse(text)
    assert [(d.code, d.message) for d in diagnostics] == [(code, message)]
    assert (diagnostics[0].span.line, diagnostics[0].span.col) == where
    assert_clean_span(source, diagnostics[0].span)


# ---------------------------------------------------------------- syntax errors in words

SYNTAX_CASES = [
    # (text, code, (line, col), message, label or None)
    ("pipeline p\nunits u { trials }\n", "E0001", (2, 18), "unexpected `}`", "expected an integer"),
    (
        "pipeline p\nunits u { trials 2\n",
        "E0004",
        (2, 19),
        "unexpected end of file",
        "expected one of `from`, `key`, `limit`, `rows`, `trials`, `vary` or `}`",
    ),
    ("pipeline p\nconst X = 3 @ 4\n", "E0002", (2, 13), "unexpected character `@`", None),
    ("pipeline p 'coin flips'\n", "E0002", (1, 12), "strings use double quotes", "single quote"),
    (
        'pipeline p "coin flips\nunits u { trials 2 }\n',
        "E0003",
        (1, 12),
        "unterminated string",
        "this string is not closed on its line",
    ),
    ('pipeline p\nmodel m = openai "x" { temperature: 1 }\n', "E0001", (2, 35), "unexpected `:`", "expected `=`"),
    ("pipeline p\ngate a.b = 3 else skip\n", "E0001", (2, 10), "unexpected `=`", None),
    ("import os\n", "E0001", (1, 1), "unexpected `import`", None),
    ('pipeline p\nconst X = "a" "b"\n', "E0001", (2, 15), 'unexpected string `"b"`', None),
    ("pipeline p\nbudget 20\n", "E0001", (2, 8), "unexpected number `20`", "expected an amount such as `$20`"),
    ("pipeline p\nconst X = (1 +)\n", "E0001", (2, 15), "unexpected `)`", "expected an expression"),
    ("pipeline p\nconst X = a.\n", "E0004", (2, 13), "unexpected end of file", "expected a name"),
    ("pipeline p\nreport r { group by }\n", "E0001", (2, 21), "unexpected `}`", "expected an expression"),
    ("}}}}", "E0001", (1, 1), "unexpected `}`", None),
    ('pipeline p\nstep s = llm { prompt "x" }\n', "E0001", (2, 14), "unexpected `{`", "expected a name"),
    ("pipeline p\ntype T { a: int b }\n", "E0001", (2, 19), "unexpected `}`", "expected `:`"),
    (
        "pipeline p\nunits u { trials 2 }\nstep s = compute {\n  output { a: int\n}\nreport r { n = count() }\n",
        "E0001",
        (6, 1),
        "unexpected `report`",
        None,
    ),
    (
        "pipeline p\nstep s = compute { timeout 5 }\n",
        "E0001",
        (2, 28),
        "unexpected number `5`",
        "expected a duration such as `5s`",
    ),
    ('pipeline p\nmodel m = openai "x" { price in = 3 }\n', "E0001", (2, 35), "unexpected number `3`", None),
    (
        'pipeline p\nconst X = """abc\nunits u { trials 2 }\n',
        "E0003",
        (2, 11),
        "unterminated string",
        'this `"""` is never closed',
    ),
]


@pytest.mark.parametrize(("text", "code", "where", "message", "label"), SYNTAX_CASES)
def test_syntax_errors(text: str, code: str, where: tuple[int, int], message: str, label: str | None) -> None:
    program, diagnostics, source = parse(text)
    assert program is None
    first = diagnostics[0]
    assert (first.code, first.message) == (code, message)
    assert (first.span.line, first.span.col) == where
    if label is not None:
        assert first.label == label
    assert_clean_span(source, first.span)


def _terminal_names() -> set[str]:
    names = {t.name for t in parser().terminals} | {"$END"}
    return {n for n in names if len(n) > 1}


_WORDS = re.compile(r"[$A-Za-z_][A-Za-z0-9_]*")

MORE_BROKEN = [
    "pipeline",
    "pipeline p\nunits",
    "step s = llm m {",
    "type T { a: list<int }",
    "const X = 1 if 2",
    "const X = [1, 2\nconst Y = 3",
    "model m = openai",
    "units u { rows [ { a: } ] }",
    "gate else skip",
    "report r { x = mean( }",
    "step s = compute { output int[1..] code }",
    "const X = lambda: 1",
    "units u { vary in [1] }",
    'step s = llm m { validate { x > 1 "msg" } }',
    "const X = 1 +* 2",
    "type T { a: (int | }",
    "const X = {1: 2}",
    "seed -1",
    "budget $",
    "const X = a[1:2:3]",
    'const X = """abc',
    "const X = 1\n}\nconst Y = 2",
    "@@@",
    "const X = not",
    "const 3 = 3",
    "type T { a: int? ? }",
    "report r { group by a, }",
    "gate a > 1 else retry",
    "const X = (1, 2",
]


@pytest.mark.parametrize("text", [c[0] for c in SYNTAX_CASES] + MORE_BROKEN)
def test_no_grammar_terminal_names_in_messages(text: str) -> None:
    _, diagnostics, _ = parse(text)
    assert diagnostics, "expected a syntax error"
    terminals = _terminal_names()
    for d in diagnostics:
        for part in (d.message, d.label, d.help, *(lab.message for lab in d.labels)):
            leaked = set(_WORDS.findall(part)) & terminals
            assert not leaked, f"{part!r} names grammar terminals {leaked}"
            assert "__ANON" not in part and "$END" not in part and "Token(" not in part


def test_recovery_reports_several_errors_in_one_file() -> None:
    text = (
        "pipeline p\n"
        "units u { trials 2 }\n"
        'step s = llm { prompt "x" }\n'  # 3: no model name
        "const = 3\n"  # 4: no const name
        'model m = openai "x" { temperature: 1 }\n'  # 5: `:` instead of `=`
        "report r { x = }\n"  # 6: no expression
        "gate a.b > else skip\n"  # 7: no right operand
    )
    program, diagnostics, source = parse(text)
    assert program is None
    assert [(d.code, d.span.line, d.span.col) for d in diagnostics] == [
        ("E0001", 3, 14),
        ("E0001", 4, 7),
        ("E0001", 5, 35),
        ("E0001", 6, 16),
        ("E0001", 7, 17),
    ]
    assert [d.message for d in diagnostics] == [
        "unexpected `{`",
        "unexpected `=`",
        "unexpected `:`",
        "unexpected `}`",
        "unexpected `skip`",
    ]
    for d in diagnostics:
        assert_clean_span(source, d.span)


def test_recovery_after_an_unclosed_block_continues_with_the_next_declaration() -> None:
    text = (
        "pipeline p\n"
        "units u {\n"
        "  trials 2\n"
        "step a = compute { output { x: int } code \"return {'x': 1}\" }\n"
        "const = 1\n"
    )
    _, diagnostics, _ = parse(text)
    assert [(d.code, d.span.line) for d in diagnostics] == [("E0001", 4), ("E0001", 5)]
    assert diagnostics[0].message == "unexpected `step`"


def test_recovery_stops_at_a_bounded_number_of_errors() -> None:
    text = "pipeline p\n" + "const = 1\n" * 30
    _, diagnostics, _ = parse(text)
    assert 2 <= len(diagnostics) <= 8
    assert all(d.code == "E0001" for d in diagnostics)
    assert [d.span.line for d in diagnostics] == sorted({d.span.line for d in diagnostics})


def test_hints_for_common_mistakes() -> None:
    def first(text: str):
        return parse(text)[1][0]

    assert first("import os\n").help == "a `.octo` file cannot import; declare everything in this file"
    assert first('model m = openai "x" { temperature: 1 }').help == "settings are written `name = value`"
    assert first("gate a.b = 3 else skip").help == "compare with `==`"
    assert first('step s = llm { prompt "x" }').help.startswith("name the model to call")
    assert first("type T { a = int }").help.startswith("fields and rules use `:`")


def test_comments_do_not_move_spans() -> None:
    text = "# leading comment\npipeline p  # trailing\n\nconst  X = 1  # one\n"
    program, diagnostics, _ = parse(text)
    assert diagnostics == [] and program is not None
    assert at(program.consts[0].name_span) == (4, 8, 4, 9)


def test_end_of_file_help_mentions_braces_only_when_one_is_open() -> None:
    _, diagnostics, _ = parse("pipeline p\nunits u { trials 2\n")
    assert diagnostics[0].help == "a block opened with `{` may be missing its `}`"
    _, diagnostics, _ = parse("pipeline p\nconst X = 1 if 2\n")
    assert (diagnostics[0].code, diagnostics[0].label, diagnostics[0].help) == ("E0004", "expected `else`", "")


def test_unterminated_long_string_points_at_its_opening_quotes() -> None:
    _, diagnostics, source = parse('pipeline p\nstep s = compute {\n  code """\n    return 1\n}\n')
    (d,) = diagnostics
    assert (d.code, at(d.span)) == ("E0003", (3, 8, 3, 11))
    assert span_text(source, d.span) == '"""'
    assert d.help == 'close the text with `"""`'


def test_a_step_keyword_is_a_field_name_where_only_a_name_fits() -> None:
    """`code`, `prompt`, `output` as record fields without commas: the LALR tables offer the
    step keywords after a field's type (a state shared with `output TYPE`), and the parser
    takes the word back as a name."""
    text = 'pipeline p\ntype T {\n  a: int\n  code: string\n  prompt: string "the text"\n  output: int\n}\n'
    program, diagnostics = parse_program(SourceFile("t.octo", text))
    assert diagnostics == [] and program is not None
    [record] = program.types
    assert [f.name for f in record.record.fields] == ["a", "code", "prompt", "output"]
    assert (record.record.fields[1].span.line, record.record.fields[1].span.col) == (4, 3)
    _, broken = parse_program(SourceFile("t.octo", 'pipeline p\nstep s = compute {\n  code "x"\n  prompt\n}\n'))
    assert [d.code for d in broken] == ["E0001"]  # a keyword still cannot stand where a name does not fit
