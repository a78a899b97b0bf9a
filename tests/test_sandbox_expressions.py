"""Finding 1 of issue 10: expressions (consts, `vary`, rows, validate rules, gates,
reports) compiled to Python without the sandbox's policy, so
`len.__self__.__import__("os").system(...)` ran at `octoc check`, in the language server
and at `octoc run`. Now the checker refuses it on the attribute (E0608) before anything
is evaluated, `compile_expression` refuses it whoever calls it, and the functions
expressions get are plain functions, not type objects."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from octolang.expressions import EXPRESSION_FUNCTIONS, ExpressionRefused, compile_expression
from octolang.sandbox.policy import attribute_allowed
from tests.conftest import compile_at, octoc
from tests.lsp_process import lsp_in

ATTACK = 'len.__self__.__import__("os").system("touch MARKER")'


def pipeline(*, const: str = "1", rule: str = "true", gate: str = "true", metric: str = "count()") -> str:
    return f'''pipeline attack
seed 1
const X = {const}
units u {{ vary k in [1, 2]  trials 1 }}
step s = compute {{
  output {{ v: int }}
  code """
    return {{"v": unit.k}}
  """
  validate {{ {rule} : "bad" }}
}}
gate {gate} and s.v > 0 else skip
report r {{ m = {metric} }}
'''


FORMS = {
    "const": pipeline(const=ATTACK),
    "rule": pipeline(rule=ATTACK),
    "gate": pipeline(gate=ATTACK),
    "report": pipeline(metric=f"count({ATTACK})"),
    "vary": pipeline().replace("vary k in [1, 2]", f"vary k in [{ATTACK}]"),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_the_marker_attack_is_refused_by_octoc_check_and_octoc_run(form: str, tmp_path: Path) -> None:
    (tmp_path / "attack.octo").write_text(FORMS[form])
    checked = octoc("check", "attack.octo", cwd=tmp_path, check=False)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "error[E0608]: attribute `__self__` is not allowed in" in checked.stdout + checked.stderr
    assert "internal error" not in checked.stdout + checked.stderr
    ran = octoc("run", "attack.octo", cwd=tmp_path, check=False)
    assert ran.returncode != 0
    assert not (tmp_path / "MARKER").exists()


def test_the_diagnostic_is_on_the_attribute() -> None:
    text = FORMS["const"]
    compilation = compile_at(text)
    found = [d for d in compilation.diagnostics if d.code == "E0608"]
    assert [d.message for d in found] == [
        "attribute `__self__` is not allowed in const `X`",
        "attribute `__import__` is not allowed in const `X`",
    ]
    assert compilation.source.text[found[0].span.start : found[0].span.end] == "__self__"
    assert (found[0].span.line, found[0].span.col) == (3, 15)


def test_opening_the_file_in_the_language_server_runs_nothing(tmp_path: Path) -> None:
    path = tmp_path / "attack.octo"
    path.write_text(FORMS["const"])
    with lsp_in(tmp_path) as server:
        diagnostics = server.open(path.as_uri(), FORMS["const"])
        assert "E0608" in {d.code for d in diagnostics}
    assert not (tmp_path / "MARKER").exists()


def test_compile_expression_refuses_whoever_calls_it() -> None:
    compilation = compile_at(FORMS["rule"])
    assert compilation.program is not None
    rule = compilation.program.steps[0].validate_rules[0].condition
    with pytest.raises(ExpressionRefused):
        compile_expression(rule, "attack.octo")


def test_expression_functions_are_functions_not_types() -> None:
    assert not [name for name, f in EXPRESSION_FUNCTIONS.items() if inspect.isclass(f)]
    compilation = compile_at(pipeline(const='str.format("{0.__class__}", 1)'))
    assert any(d.code == "E0608" and "`format`" in d.message for d in compilation.diagnostics)


@pytest.mark.parametrize(
    ("const", "value"),
    [("str(12)", "12"), ('int("7")', 7), ("list(range(3))", [0, 1, 2]), ("float(1)", 1.0), ("bool(0)", False)],
)
def test_the_conversions_still_convert(const: str, value: object) -> None:
    compilation = compile_at(pipeline(const=const))
    assert compilation.program is not None
    assert [c.resolved for c in compilation.program.consts] == [value]


@pytest.mark.parametrize("name", ["ｆormat", "＿＿class＿＿"])  # fullwidth: NFKC gives `format`, `__class__`
def test_lookalike_names_are_refused(name: str) -> None:
    compilation = compile_at(pipeline(rule=f'"x".{name} == 1'))
    assert "E0002" in {d.code for d in compilation.diagnostics}  # expression names are ASCII
    assert not attribute_allowed(name, frozenset({name}))  # and the policy normalises anyway


@pytest.mark.parametrize(
    "bomb",
    ["sum(range(10**13)) > 0", 'len("x" * 10**10) > 0', "len([0] * 10**9) > 0", "len(str(7 ** (10**7))) > 0"],
)
def test_a_single_huge_operation_in_a_rule_is_refused_at_once(bomb: str) -> None:
    """Rules, gates and reports run in the runner's process, where no time limit stops one
    long C call: `range`, `*` and `**` refuse sizes no expression needs, before any work."""
    import time

    from octolang.expressions import scope_with

    compilation = compile_at(pipeline(rule=bomb))
    assert compilation.program is not None, compilation.diagnostics
    rule = compilation.program.steps[0].validate_rules[0].condition
    code = compile_expression(rule, "attack.octo")
    started = time.process_time()
    with pytest.raises(ValueError, match=r"more than [\d,]+ (numbers|items|bits)"):
        eval(code, scope_with({"s": {"v": 1}, "unit": {"k": 1}}))
    assert time.process_time() - started < 1.0


def test_bounded_operations_still_compute() -> None:
    from octolang.expressions import evaluate

    compilation = compile_at(pipeline(const='[len("ab" * 3), 2 ** 10, sum(range(5)), [1] * 2, 3 * 4, 2.0 ** 0.5]'))
    assert compilation.program is not None
    assert compilation.program.consts[0].resolved == [6, 1024, 10, [1, 1], 12, 2.0**0.5]
    assert evaluate(compilation.program.consts[0].value, {}) == [6, 1024, 10, [1, 1], 12, 2.0**0.5]
