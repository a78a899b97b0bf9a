"""Finding 2 of issue 10: `match` class patterns read attributes by their keyword names,
so `case str(format=f)` handed code the string's `format` method, which walks any
attribute chain written in the format string. Keyword patterns now go through the same
attribute rule as `x.attr`: at `octoc check` (a diagnostic on the `case`) and again
before the sandbox compiles the code (a refusal)."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from octolang.sandbox import SandboxViolation, compile_code, find_violations
from tests.conftest import at, compile_at, octoc

KEY_ATTACK = """
match "{0.choice.__func__.__globals__[_os].environ[OPENAI_API_KEY]}":
    case str(format=f):
        return {"v": f(rng)}
return {"v": ""}
"""
CLASS_ATTACK = """
match (1,):
    case tuple(__class__=C):
        return {"v": str(C)}
return {"v": ""}
"""
REDUCE_ATTACK = """
match 1:
    case int(__reduce_ex__=r):
        return {"v": str(r(2))}
return {"v": ""}
"""


def pipeline(body: str) -> str:
    code = "\n".join("    " + line if line else "" for line in body.strip("\n").splitlines())
    return f'''pipeline leak
seed 1
units u {{ trials 1 }}
step s = compute {{
  output {{ v: string }}
  code """
{code}
  """
}}
report r {{ n = count(s.v == "") }}
'''


@pytest.mark.parametrize(
    ("body", "attr"),
    [(KEY_ATTACK, "format"), (CLASS_ATTACK, "__class__"), (REDUCE_ATTACK, "__reduce_ex__")],
    ids=["str-format", "tuple-class", "int-reduce-ex"],
)
def test_keyword_patterns_are_refused_at_check_on_the_case(body: str, attr: str) -> None:
    text = pipeline(body)
    compilation = compile_at(text)
    found = [d for d in compilation.diagnostics if d.code == "E0602"]
    assert [d.message for d in found] == [f"attribute `{attr}` is not allowed in code blocks"]
    line = text.splitlines().index(next(x for x in text.splitlines() if "case " in x)) + 1
    assert at(found[0].span)[0] == line
    assert compilation.source.text[found[0].span.start : found[0].span.end].startswith(("str(", "tuple(", "int("))


@pytest.mark.parametrize("body", [KEY_ATTACK, CLASS_ATTACK, REDUCE_ATTACK])
def test_the_sandbox_refuses_them_before_compiling(body: str) -> None:
    with pytest.raises(SandboxViolation) as refused:
        compile_code(body, filename="t.octo", first_line=1, params=["unit", "rng"], name="s")
    assert refused.value.violations[0].code == "E0602"


def test_keyword_patterns_outside_the_allow_list_are_refused() -> None:
    tree = ast.parse("match x:\n    case str(encode=e, whatever=w):\n        pass\n")
    found = find_violations(tree, fields=frozenset())
    assert [(v.code, v.message) for v in found] == [
        ("E0609", "attribute `whatever` is not on the sandbox's allow-list")
    ]
    assert find_violations(tree, fields=frozenset({"whatever"})) == []


def test_class_patterns_still_work(tmp_path: Path) -> None:
    text = pipeline(
        """
match [unit.trial, "x"]:
    case [int(real=r), str()]:
        return {"v": f"{r}"}
return {"v": "no"}
"""
    )
    (tmp_path / "ok.octo").write_text(text)
    octoc("check", "ok.octo", cwd=tmp_path)
    octoc("run", "ok.octo", cwd=tmp_path)
    report = json.loads(octoc("report", "ok.octo", "--json", cwd=tmp_path).stdout)
    [group] = report["reports"][0]["groups"]
    assert (group["done"], group["statistics"]["n"]["value"]) == (1, 0)  # v == "1", the trial


def test_the_key_attack_neither_checks_nor_runs(tmp_path: Path) -> None:
    (tmp_path / "leak.octo").write_text(pipeline(KEY_ATTACK))
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-must-not-leak"}
    checked = octoc("check", "leak.octo", cwd=tmp_path, env=env, check=False)
    assert checked.returncode == 1 and "E0602" in checked.stdout + checked.stderr
    ran = octoc("run", "leak.octo", cwd=tmp_path, env=env, check=False)
    assert ran.returncode != 0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"sk-test-must-not-leak" not in path.read_bytes()
    assert "sk-test-must-not-leak" not in ran.stdout + ran.stderr
