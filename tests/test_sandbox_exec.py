"""The compute sandbox: what it refuses, how it runs, where errors point."""

from __future__ import annotations

import ast

import pytest

from octolang.sandbox import (
    Record,
    SandboxSyntaxError,
    SandboxTimeout,
    SandboxViolation,
    TimeLimit,
    code_free_names,
    compile_code,
    find_violations,
    run_with_timeout,
)


def codes(source: str) -> list[str]:
    return [v.code for v in find_violations(ast.parse(source))]


@pytest.mark.parametrize(
    ("source", "code"),
    [
        ("import os", "E0601"),
        ("from os import path", "E0601"),
        ("def f():\n    import sys\n", "E0601"),
        ("x = ().__class__", "E0602"),
        ("x = [].__class__.__mro__", "E0602"),
        ("x = '{0.__class__}'.format(1)", "E0602"),
        ("f = lambda: __builtins__", "E0602"),
        ("x = getattr(1, '__cl' + 'ass__')", "E0603"),
        ("open('/etc/passwd')", "E0603"),
        ("eval('1')", "E0603"),
        ("exec('x = 1')", "E0603"),
        ("type(1)", "E0603"),
        ("global x", "E0604"),
        ("class A: pass", "E0605"),
        ("with x: pass", "E0605"),
        ("try:\n    x = 1\nexcept Exception:\n    pass", "E0605"),
        ("def g():\n    yield 1", "E0605"),
    ],
)
def test_escapes_are_refused(source: str, code: str) -> None:
    assert code in codes(source)


def test_violation_positions_are_those_of_the_node() -> None:
    [violation] = find_violations(ast.parse("x = 1\ny = x.__dict__\n"))
    assert (violation.lineno, violation.col, violation.end_lineno, violation.end_col) == (2, 4, 2, 14)


def test_ordinary_code_is_allowed_and_its_free_names_found() -> None:
    source = "def total(cs):\n    return sum(cs)\nhand = list(deal.cards)\nreturn {'n': total(hand) + PIER}\n"
    tree = ast.parse(source)
    assert find_violations(tree) == []
    assert code_free_names(tree) == {"sum", "list", "deal", "PIER"}


def test_compiled_code_runs_with_its_parameters() -> None:
    code = compile_code("return {'x': unit.a * k}", filename="p.octo", first_line=10, params=["unit", "k"], name="s")
    assert code(unit=Record({"a": 3}), k=2) == {"x": 6}


def test_compiled_code_has_no_imports_or_open_at_run_time() -> None:
    code = compile_code("return len(x)", filename="p.octo", first_line=1, params=["x"], name="s")
    assert code.function.__globals__["__builtins__"].get("open") is None
    assert "__import__" not in code.function.__globals__["__builtins__"]


def test_refusal_and_syntax_errors_at_compile_time() -> None:
    with pytest.raises(SandboxViolation) as refused:
        compile_code("import os\nreturn {}", filename="p.octo", first_line=5, params=[], name="s")
    assert refused.value.violations[0].code == "E0601"
    with pytest.raises(SandboxSyntaxError) as broken:
        compile_code("x = (\nreturn {}", filename="p.octo", first_line=5, params=[], name="s")
    assert broken.value.lineno >= 5


def test_a_runtime_error_names_the_octo_line() -> None:
    source = "a = 1\nb = 0\nreturn {'x': a / b}\n"
    code = compile_code(source, filename="/tmp/p.octo", first_line=20, params=[], name="s")
    with pytest.raises(ZeroDivisionError) as raised:
        code()
    from octolang.sandbox.limits import WorkerLimits
    from octolang.sandbox.output import describe_failure

    message = describe_failure(raised.value, "/tmp/p.octo", WorkerLimits(unit_seconds=1.0))
    assert message == "/tmp/p.octo:22: ZeroDivisionError: division by zero"


def test_an_endless_loop_is_stopped() -> None:
    code = compile_code("while True:\n    pass\n", filename="p.octo", first_line=1, params=[], name="s")
    with pytest.raises(SandboxTimeout):
        run_with_timeout(code, {}, 0.2)
    with TimeLimit(0.2) as limit:
        with pytest.raises(SandboxTimeout):
            limit.call(code, {})
        quick = compile_code("return {'ok': True}", filename="p.octo", first_line=1, params=[], name="q")
        assert limit.call(quick, {}) == {"ok": True}  # the limit is re-armed per call


def test_records_are_read_only_and_lists_are_copies() -> None:
    data = {"cards": [1, 2], "inner": {"a": 1}}
    record = Record(data)
    assert record.inner.a == 1 and record["cards"] == [1, 2]
    record.cards.append(3)
    assert data["cards"] == [1, 2]
    with pytest.raises(AttributeError, match="did you mean `cards`"):
        _ = record.cardz
    with pytest.raises(AttributeError):
        record.cards = []
