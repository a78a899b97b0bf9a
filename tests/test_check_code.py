"""`compute` code: Python syntax, the sandbox policy, and the names the code reads, with exact spans.

These need `octolang.sandbox.policy` (the sandbox package); they are skipped until it exists."""

from __future__ import annotations

from tests.conftest import assert_clean, at, codes, compile_at, expect, needs_sandbox

pytestmark = needs_sandbox

HEAD = "pipeline p\nseed 1\nunits u { vary start in [2, 5] trials 3 }\n"  # lines 1-3


def compute(
    code_lines: list[str],
    output: str = "{ steps: int }",
    extra: str = "",
    report: str = "report r { n = mean(walk.steps) }\n",
):
    """`step walk` on line 4; the code's first line is line 7 of the file, indented by 4."""
    body = "".join(f"    {line}\n" for line in code_lines)
    return compile_at(
        HEAD + f'step walk = compute {{\n  output {output}\n  code """\n{body}  """\n}}\n' + extra + report
    )


def test_a_correct_compute_step_is_clean() -> None:
    c = compute(
        [
            "pos = unit.start",
            "steps = 0",
            "while 0 < pos < 10:",
            "    pos += rng.choice([-1, 1])",
            "    steps += 1",
            'return {"steps": steps}',
        ]
    )
    assert_clean(c)
    assert c.program.step("walk").depends_on == []


def test_unknown_unit_field_in_code() -> None:
    c = compute(["pos = unit.strat", 'return {"steps": pos}'])
    expect(c, "E0103", "unknown field `strat` on the units", (7, 16, 7, 21), text="strat", help="did you mean `start`?")


def test_columns_count_characters_not_bytes() -> None:
    c = compute(['s = "héllo 🐙"; x = unit.strat', 'return {"steps": 1}'])
    expect(c, "E0103", "unknown field `strat` on the units", (7, 29, 7, 34), text="strat")


def test_unknown_name_in_code() -> None:
    c = compute(["x = 1", "y = undefined_thing + x", 'return {"steps": y}'])
    expect(
        c, "E0106", "unknown name `undefined_thing` in the code of step `walk`", (8, 9, 8, 24), text="undefined_thing"
    )


def test_code_reads_other_steps_and_records_the_dependency() -> None:
    c = compile_at(
        HEAD + "step deal = compute {\n  output { cards: list<int> }\n"
        "  code \"return {'cards': [1, 2]}\"\n}\n"
        'step walk = compute {\n  output { steps: int }\n  code """\n    return {"steps": len(deal.cards)'
        ' + deal.cardz}\n  """\n}\nreport r { n = mean(walk.steps) }\n'
    )
    expect(c, "E0103", "unknown field `cardz` on `deal`", (11, 45, 11, 50), text="cardz", help="did you mean `cards`?")
    assert c.program.step("walk").depends_on == ["deal"]


def test_code_reading_its_own_step() -> None:
    c = compute(['return {"steps": walk.steps}'])
    expect(c, "E0704", "step `walk` reads its own output", (7, 22, 7, 26), text="walk")


def test_python_syntax_error_in_code() -> None:
    c = compute(["face = rng.randint(1, 6", 'return {"steps": face}'])
    (d,) = [d for d in c.diagnostics if d.code == "E0606"]
    assert d.message.startswith("syntax error in the code of step `walk`: ")
    assert d.span.line in (7, 8)
    assert c.source.text[d.span.start : d.span.end].strip() != ""


def test_code_without_return() -> None:
    c = compute(["face = rng.randint(1, 6)"])
    d = expect(c, "E0607", "the code of step `walk` never returns its output", (6, 8))
    assert d.help.startswith("end the code with `return {...}`")


def test_imports_are_refused_by_the_policy() -> None:
    c = compute(["import os", "from math import pi", 'return {"steps": 1}'])
    assert [(d.code, d.message, at(d.span)) for d in c.diagnostics] == [
        ("E0601", "code blocks cannot import modules", (7, 5, 7, 14)),
        ("E0601", "code blocks cannot import modules", (8, 5, 8, 24)),
    ]
    assert c.diagnostics[0].help == "`math` is available without importing; other modules are not"


def test_dunder_access_is_refused_by_the_policy() -> None:
    c = compute(["x = ().__class__", "def f(__y):", "    return 1", 'return {"steps": __import__}'])
    expect(c, "E0602", "attribute `__class__` is not allowed in code blocks", (7, 9, 7, 21), text="().__class__")
    expect(c, "E0602", "parameter `__y` is not allowed in code blocks", (8, 11, 8, 14), text="__y")
    expect(c, "E0602", "name `__import__` is not allowed in code blocks", (10, 22, 10, 32))
    assert len(c.diagnostics) == 3  # and no "unknown name `__import__`" on top


def test_forbidden_builtins_get_one_diagnostic_each() -> None:
    c = compute(['open("/etc/passwd")', 'eval("1")', 'x = "a {}".format(1)', 'return {"steps": 1}'])
    expect(c, "E0603", "`open` is not available in code blocks", (7, 5, 7, 9), text="open")
    expect(c, "E0603", "`eval` is not available in code blocks", (8, 5, 8, 9), text="eval")
    expect(c, "E0602", "attribute `format` is not allowed in code blocks", (9, 9, 9, 22), text='"a {}".format')
    assert codes(c) == ["E0603", "E0603", "E0602"]  # not also E0106 "unknown name `open`"


def test_statements_outside_the_subset() -> None:
    c = compute(
        [
            "global g",
            "class A:",
            "    pass",
            "try:",
            "    x = 1",
            "except Exception:",
            "    x = 2",
            'return {"steps": 1}',
        ]
    )
    expect(c, "E0604", "`global` is not allowed in code blocks", (7, 5, 7, 13))
    expect(c, "E0605", "class definitions are not allowed in code blocks", (8, 5, 9, 13))
    expect(c, "E0605", "`try` blocks are not allowed in code blocks", (10, 5, 13, 14))


def test_a_loop_over_a_computed_int_list_has_no_fields() -> None:
    text = (
        HEAD + "step deal = compute {\n  output { player: list<int>, dealer_up: int }\n"
        "  code \"return {'player': [1, 2], 'dealer_up': 3}\"\n}\n"
        'model m = mock "m"\nstep play = llm m {\n  prompt "{% for c in deal.player %}{{ c.x }}{% endfor %}"\n'
        "  output { a: int }\n}\nreport r { n = mean(play.a) }\n"
    )
    c = compile_at(text)
    expect(c, "E0404", "`c` is an int and has no field `x`", (10, 42, 10, 43), text="x")


def test_a_syntax_error_is_placed_from_the_text_not_the_file_on_disk(tmp_path) -> None:
    """An editor checks a buffer that differs from the saved file: the column of a syntax
    error in a code block comes from the buffer (CPython would read the line from disk),
    and counts characters (`é` is two bytes)."""
    from octolang.compiler import compile_source
    from octolang.source import SourceFile

    text = (
        "pipeline p\nunits u { trials 2 }\nstep s = compute {\n  output { x: int }\n"
        '  code """\n    y = (1 +\n      "ééé" +)\n    return {"x": y}\n  """\n}\n'
    )
    on_disk = tmp_path / "p.octo"
    on_disk.write_text("\n".join("#" * 200 for _ in range(12)), encoding="utf-8")
    saved = compile_source(SourceFile(str(on_disk), text))
    unsaved = compile_source(SourceFile(str(tmp_path / "absent.octo"), text))
    [error] = [d for d in saved.diagnostics if d.code == "E0606"]
    [reference] = [d for d in unsaved.diagnostics if d.code == "E0606"]
    assert (error.span.line, error.span.col) == (reference.span.line, reference.span.col) == (7, 14)
