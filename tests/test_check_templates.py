"""Prompt and system templates: Jinja syntax, references resolved, loops, filters, exact spans."""

from __future__ import annotations

import pytest

from tests.conftest import assert_clean, codes, compile_at, expect

HEAD = 'pipeline p\nmodel m = mock "m"\nunits u { trials 2 }\n'  # lines 1-3
DEAL = (
    'step deal = llm m {\n  prompt "deal"\n'
    "  output { player: list<int>, up: int, hand: { cards: list<int> }, name: string? }\n}\n"
)  # lines 4-7


def with_prompt(prompt: str, extra: str = ""):
    """`prompt` is line 10 (the first line of the triple-quoted text) of the compiled file."""
    return compile_at(
        HEAD + DEAL + f'step play = llm m {{\n  prompt """\n    {prompt}\n  """\n'
        f"  output {{ a: int }}\n{extra}}}\nreport r {{ avg = mean(play.a) }}\n"
    )


def test_a_template_using_every_kind_of_name_is_clean() -> None:
    c = with_prompt(
        "{{ unit.trial }} {{ feedback }} {{ attempt }} {{ range(3) | list }} {{ deal.up }}"
        " {% set t = deal.up %}{{ t }} {{ deal.name.upper() }} {{ deal.player.count(1) }}"
        " {{ deal['hand']['cards'] | join(', ') }} {% if deal.up is odd %}odd{% endif %}",
        extra='  system "You judge {{ unit.trial }}."\n',
    )
    assert_clean(c)
    assert c.program.step("play").depends_on == ["deal"]


def test_loop_variables_take_the_item_type() -> None:
    c = with_prompt("{% for c in deal.player %}{{ c.x }}{% endfor %}")
    expect(
        c,
        "E0404",
        "`c` is an int and has no field `x`",
        (10, 36, 10, 37),
        text="x",
        label="`c` is `int`",
        help="only records (output types and units) have fields",
    )
    assert codes(c) == ["E0404"]


def test_loop_locals_and_loop_object() -> None:
    assert_clean(with_prompt("{% for c in deal.player %}{{ c + 1 }} {{ loop.index }}{% endfor %}"))


def test_loop_over_a_record_list_checks_fields() -> None:
    text = (
        HEAD + 'step deal = llm m { prompt "d" output { cards: list<{ rank: int, suit: string }> } }\n'
        'step play = llm m {\n  prompt "{% for c in deal.cards %}{{ c.rank }}{{ c.suite }}{% endfor %}"\n'
        "  output { a: int }\n}\nreport r { avg = mean(play.a) }\n"
    )
    c = compile_at(text)
    expect(c, "E0103", "unknown field `suite` on `c`", (6, 53, 6, 58), text="suite", help="did you mean `suit`?")


def test_unknown_filter_and_test() -> None:
    c = with_prompt(
        '{{ deal.player | join(", ") | upper }} {{ deal.up | frobnicate }} {% if deal.up is oddish %}{% endif %}'
    )
    expect(
        c,
        "E0403",
        "unknown filter `frobnicate` in the prompt of step `play`",
        (10, 57, 10, 67),
        text="frobnicate",
        help="did you mean `truncate`?",
    )
    expect(
        c,
        "E0403",
        "unknown test `oddish` in the prompt of step `play`",
        (10, 88, 10, 94),
        text="oddish",
        help="did you mean `odd`?",
    )
    assert codes(c) == ["E0403", "E0403"]


def test_fields_on_scalars_and_records() -> None:
    c = with_prompt("{{ deal.hand.cards }} {{ deal.hand.card }} {{ deal.up.value }} {{ deal.name.x }}")
    expect(c, "E0103", "unknown field `card` on `deal.hand`", (10, 40, 10, 44), help="did you mean `cards`?")
    expect(c, "E0404", "`deal.up` is an int and has no field `value`", (10, 59, 10, 64), text="value")
    expect(c, "E0404", "`deal.name` is a string? and has no field `x`", (10, 81, 10, 82), text="x")


def test_subscript_with_a_string_is_a_field() -> None:
    c = with_prompt('{{ deal["player"] }} {{ deal["nope"] }}')
    expect(c, "E0103", "unknown field `nope` on `deal`", (10, 35, 10, 39), text="nope")


def test_list_methods_other_than_count_and_index() -> None:
    c = with_prompt("{{ deal.player.append(1) }}")
    expect(c, "E0404", "`deal.player` is a list<int> and has no field `append`", (10, 20, 10, 26))


def test_the_same_mistake_twice_is_located_twice() -> None:
    c = with_prompt("first\n    second {{ deal.pleyer }}\n    third {{ deal.pleyer }} and {{ deal.pleyer }}")
    found = sorted((d.span.line, d.span.col) for d in c.diagnostics if d.code == "E0103")
    assert found == [(11, 20), (12, 19), (12, 41)]


def test_unknown_names_and_locals() -> None:
    c = with_prompt("{% set t = deal.up %}{{ t }} {{ undefined_thing }}")
    d = expect(
        c,
        "E0106",
        "unknown name `undefined_thing` in the prompt of step `play`",
        (10, 37, 10, 52),
        label="not defined here",
    )
    assert "`t`" in d.help and "`feedback`" in d.help


def test_macro_arguments_are_locals() -> None:
    assert_clean(with_prompt("{% macro f(a) %}{{ a.b }}{% endmacro %}{{ f(deal.up) }}"))


def test_a_step_reading_itself_in_its_prompt() -> None:
    c = with_prompt("{{ play.a }}")
    expect(
        c,
        "E0704",
        "step `play` reads its own output",
        (10, 8, 10, 12),
        text="play",
        help="a step sees its previous answer only through `feedback` on a retry",
    )


def test_template_syntax_errors_point_at_their_line() -> None:
    c = with_prompt("line one\n    {{ deal.up }\n")
    d = expect(
        c,
        "E0401",
        "template syntax error in the prompt of step `play`: unexpected '}'",
        (11, 5, 11, 17),
        text="{{ deal.up }",
        label="in this line of the template",
    )
    assert "{% if x %}" in d.help
    c = with_prompt("ok\n    {% if deal.up %}never closed")
    d = next(d for d in c.diagnostics if d.code == "E0401")
    assert d.message.startswith("template syntax error in the prompt of step `play`: Unexpected end of template")
    assert d.span.line == 11


def test_system_prompts_are_checked_too() -> None:
    c = with_prompt("fine", extra='  system "You are {{ unit.rol }}."\n')
    expect(c, "E0103", "unknown field `rol` on the units", (13, 27, 13, 30), text="rol")


def test_spans_in_a_single_quoted_prompt_with_escapes() -> None:
    text = (
        HEAD + DEAL + 'step play = llm m { prompt "\\"quoted\\" {{ deal.nope }}" output { a: int } }\n'
        "report r { avg = mean(play.a) }\n"
    )
    c = compile_at(text)
    expect(c, "E0103", "unknown field `nope` on `deal`", (8, 48, 8, 52), text="nope")


def test_names_the_checker_accepts_are_defined_when_the_prompt_renders() -> None:
    # (the checker accepted the expression functions in templates, as docs/language.md says, while
    # the runtime rendered prompts without them: `len` was undefined at run time)
    from octolang.runtime.requests import CompiledPrompt

    c = compile_at(
        HEAD + 'step a = llm m {\n  prompt "{{ len(unit.trial | string) }} {{ sqrt(4) }}"\n'
        "  output { x: int }\n}\nreport r { avg = mean(a.x) }\n"
    )
    assert_clean(c)
    program = c.program
    step = program.step("a")
    body = CompiledPrompt(step, program.model("m")).render({"unit": {"trial": 1}, "feedback": "", "attempt": 1})
    assert body["prompt"] == "1 2.0"


@pytest.mark.parametrize("padding", [0, 1, 7, 13, 31, 63, 120, 250, 280, 300])
def test_unknown_filter_on_a_later_line_is_located_on_its_line(padding: int, capsys) -> None:
    # The filter's name also appears earlier in the prompt; the diagnostic must point at the use.
    # (The position of the line once reached re.search as its `flags`: wrong spans, regex debug dumps
    # on stdout, and ValueError for some offsets.)
    first = "shout " + "x" * padding
    c = with_prompt(f"{first}\n    {{{{ deal.up | shout }}}}")
    expect(c, "E0403", "unknown filter `shout` in the prompt of step `play`", (11, 18, 11, 23), text="shout")
    assert capsys.readouterr().out == ""


def test_a_reference_inside_a_comment_does_not_take_the_location() -> None:
    c = with_prompt(
        "{# {{ deal.nope }} #}{% raw %}{{ deal.nope | nofilter }}{% endraw %}{{ deal.nope }} {{ deal.up | nofilter }}"
    )
    expect(c, "E0103", "unknown field `nope` on `deal`", (10, 81, 10, 85), text="nope")
    expect(c, "E0403", "unknown filter `nofilter` in the prompt of step `play`", (10, 102, 10, 110), text="nofilter")


def test_escapes_in_a_short_prompt_keep_columns_right() -> None:
    text = (
        HEAD + DEAL + 'step play = llm m { prompt "\\u00e9\\u00e9 line\\n  {{ deal.nope }}\\t{{ deal.zip }}"'
        " output { a: int } }\nreport r { avg = mean(play.a) }\n"
    )
    c = compile_at(text)
    expect(c, "E0103", "unknown field `nope` on `deal`", (8, 58, 8, 62), text="nope")
    expect(c, "E0103", "unknown field `zip` on `deal`", (8, 75, 8, 78), text="zip")


def test_text_on_the_opening_line_of_a_long_prompt() -> None:
    text = (
        HEAD + DEAL + 'step play = llm m { prompt """first {{ deal.nope }}\n     second {{ deal.zip }}\n  """'
        " output { a: int } }\nreport r { avg = mean(play.a) }\n"
    )
    c = compile_at(text)
    expect(c, "E0103", "unknown field `nope` on `deal`", (8, 45, 8, 49), text="nope")
    expect(c, "E0103", "unknown field `zip` on `deal`", (9, 21, 9, 24), text="zip")


@pytest.mark.parametrize(
    "prompt",
    [
        "Deal {{ deal.up }} to {{ unit.trial }}, {{ feedback }}.",
        "{{ deal.hand.cards }} and {{deal.upp}} {{ unit.trail }}",
        "{{ dael.up }}\n    {{ deal.hand.crads }} {{ deal.name.x }}",
        "{{ none }} {{ deal.up }}",  # a Jinja constant: Jinja's parser decides
        "{{{ deal.up }}}",  # not a placeholder in braces: Jinja's parser decides
        "{{ deal.up | upper }} {{ deal.up }}",
        "{% if feedback %}Try again: {{ feedback }}{% endif %} {{ deal.up }}",
        "{% for c in deal.player %}- {{ c }} of {{ deal.up }}\n    {% endfor %}{{ c }}",
        "{% for c in deal.player %}{{ c.x }}{% else %}{{ c }} none{% endfor %}",
        "{% for c in deal.hand.cards %}{% if c %}{{ c.rank }}{% elif deal.name %}{{ deal.nme }}{% else %}"
        "{{ loop.index }}{% endif %}{% endfor %}",
        "{%- if deal.up -%}\n    {{ deal.upp }}\n    {%- endif %}",
        "{% for c in deal.plyer %}{{ c }}{% endfor %}",
        "{% for c in deal.player %}{{ c }}",  # unclosed: Jinja's syntax error
        "{% if deal.up %}{% endfor %}",  # crossed: Jinja's syntax error
        "{% endif %}",
        "{% if not feedback %}x{% endif %}",  # an expression: Jinja's parser
        "{% for a, b in deal.player %}{{ a }}{% endfor %}",  # tuple target: Jinja's parser
        "{% if deal.up %}{{ deal.up }}{# note #}{% endif %}",  # a comment: Jinja's parser
        "{% set t = deal.up %}{{ t }}",  # set: Jinja's parser
    ],
)
def test_the_fast_path_agrees_with_jinja(prompt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from octolang.check import templates

    fast = with_prompt(prompt)
    monkeypatch.setattr(templates, "_simple_template", lambda value: None)
    slow = with_prompt(prompt)
    assert [(d.code, d.message, d.span, d.help) for d in fast.diagnostics] == [
        (d.code, d.message, d.span, d.help) for d in slow.diagnostics
    ]
    assert fast.program.step("play").depends_on == slow.program.step("play").depends_on


@pytest.mark.parametrize(
    ("prompt", "simple"),
    [
        ("Deal {{ deal.up }}", True),
        ("{% if feedback %}{{ feedback }}{% elif deal.up %}x{% else %}y{% endif %}", True),
        ("{%- for c in deal.player -%}{{ c }}{% else %}none{% endfor %}", True),
        ("{% for c in deal.player %}{{ c }}", False),
        ("{% if not feedback %}x{% endif %}", False),
        ("{{ deal.up | upper }}", False),
        ("{# c #}{{ deal.up }}", False),
    ],
)
def test_which_templates_take_the_fast_path(prompt: str, simple: bool) -> None:
    from octolang.check.templates import _simple_template

    assert (_simple_template(prompt) is not None) == simple
