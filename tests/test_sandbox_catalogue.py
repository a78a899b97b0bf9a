"""A catalogue of escape attempts against the one sandbox policy, across compute bodies,
expressions and templates: class walks, frames from generators and tracebacks,
format-string traversal, builtins reached through the objects code is given, unicode
lookalikes of dunders, decorators, match patterns, resource bombs. Each is refused by
`octoc check` with a diagnostic, or (a compute body the static policy lets through)
fails only its unit within its limit. The inputs marked `asteval` are the attacks of
asteval's own safety tests (lmfit/asteval), ported to this language."""

from __future__ import annotations

from pathlib import Path

import pytest

from octolang.sandbox import SandboxTimeout, compile_code, run_with_timeout
from tests.conftest import compile_at

REFUSALS = {"E0001", "E0002", "E0106", "E0109", "E0404", "E0503", "E0506", "E0507"}
POLICY = {"E0601", "E0602", "E0603", "E0604", "E0605", "E0606", "E0608", "E0609", "E0610", "E0611"}

COMPUTE = [
    "x = ().__class__.__base__.__subclasses__()",  # class walk
    "x = [].__class__.__mro__[1]",
    "x = (1).__class__.__bases__",  # asteval
    "x = 'a'.__class__.__base__",
    "g = (i for i in [1])\nx = g.gi_frame.f_back.f_globals",  # frames from generators
    "g = (i for i in [1])\nx = g.gi_code.co_consts",
    "def f():\n    return 1\nx = f.__globals__",  # asteval: func_globals
    "def f():\n    return 1\nx = f.__code__",
    "x = (lambda: 0).__closure__",
    "x = '{0.__class__}'.format(1)",  # format-string traversal
    "x = '{a.__init__}'.format_map({'a': 1})",
    "x = str.format('{0.__class__}', 1)",
    "x = len.__self__.open('/etc/passwd')",  # builtins reached through a function
    "x = rng.choice.__func__.__globals__",  # through rng
    "x = rng.__class__",
    "x = math.__loader__",  # through math
    "x = unit.__class__",  # through a record
    "x = unit._data",
    "x = __import__('os')",  # asteval
    "import os",  # asteval
    "from os import system",
    "x = open('MARKER', 'w')",  # asteval
    "x = eval('1')",
    "x = exec('x = 1')",
    "x = getattr(1, '__class__')",
    "x = type(1)",
    "x = vars()",
    "x = globals()",
    "x = __builtins__",
    "x = ().__ｃlass__",  # unicode lookalike, NFKC-normalised by Python's parser
    "x = ().＿＿class＿＿",  # fullwidth low lines are no identifier at all: a syntax error
    "x = 'a'.ｆormat",
    "match 'x':\n    case str(format=f):\n        pass",  # match patterns
    "match (1,):\n    case tuple(__class__=c):\n        pass",
    "match 1:\n    case int(__reduce_ex__=r):\n        pass",
    "def deco(f):\n    return f.__globals__\n@deco\ndef g():\n    pass",  # decorators
    "class A:\n    pass",
    "try:\n    1 / 0\nexcept Exception as e:\n    x = e.__traceback__.tb_frame",  # frames from tracebacks
    "def f():\n    yield 1",
    "global math",
    "math.sqrt = abs",
    "del math.fsum",
    "rng.seed(1)",
    "rng.setstate(None)",
    "x = rng.getstate()",
    "x = [].mro",
    "x = unit.trial.__reduce__()",
]

EXPRESSIONS = [
    'len.__self__.__import__("os").system("touch MARKER")',  # issue 10
    'str.format("{0.__class__}", 1)',
    '"{0.__class__}".format(1)',
    '"x".format_map(1)',
    "len.__self__",
    "abs.__self__.open",
    "sorted.__module__",
    "[].__class__",
    "().__class__.__base__.__subclasses__()",  # asteval
    "(1).__class__.__bases__",  # asteval
    "__import__",  # asteval
    "__builtins__",
    "range(3).__iter__",
    "[x for x in (1, 2)].__len__",
    "sum(range(10**13))",  # resource bombs
    "[0] * 1000 * 1000 * 1000",
    "2 ** 10 ** 10",  # asteval: power limit
    '"x" * 100000000',  # asteval: string too long
    "open",
    "eval",
]

TEMPLATES = [
    '{{ str.format("{0.__init__.__globals__[os].environ[X]}", cycler) }}',  # issue 10
    '{{ "{0.__class__}".format(1) }}',
    "{{ cycler.__init__.__globals__ }}",
    "{{ namespace.__init__ }}",
    "{{ joiner.__class__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ unit.__class__ }}",
    "{{ unit._data }}",
    "{{ len.__self__.open }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ self.__init__ }}",
    "{{ config }}",
    "{{ request }}",
    "{{ unit.trial.__class__ }}",
    "{% set g = (1, 2) %}{{ g.__class__ }}",
    "{{ dict.mro }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
]


def compute_pipeline(body: str) -> str:
    code = "\n".join("    " + line for line in f"{body}\nreturn {{'v': 1}}".splitlines())
    return (
        "pipeline cat\nunits u { trials 1 }\nstep s = compute {\n  output { v: int }\n"
        f'  code """\n{code}\n  """\n}}\nreport r {{ m = mean(s.v) }}\n'
    )


def expression_pipeline(expr: str) -> str:
    return f"pipeline cat\nconst X = {expr}\nunits u {{ trials 1 }}\nreport r {{ m = count() }}\n"


def template_pipeline(prompt: str) -> str:
    return (
        'pipeline cat\nmodel m = openai "gpt-4.1-mini"\nunits u { trials 1 }\n'
        f'step s = llm m {{\n  prompt """\n    {prompt}\n  """\n  output {{ a: string }}\n}}\n'
        'report r { m = count(s.a == "") }\n'
    )


def refused(text: str, tmp_path: Path) -> set[str]:
    c = compile_at(text, "cat.octo", files={}, folder=tmp_path)
    assert not (tmp_path / "MARKER").exists()
    return {d.code for d in c.diagnostics if d.is_error}


@pytest.mark.parametrize("body", COMPUTE)
def test_compute_escapes_are_refused(body: str, tmp_path: Path) -> None:
    found = refused(compute_pipeline(body), tmp_path)
    assert found & POLICY, found


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_expression_escapes_are_refused(expr: str, tmp_path: Path) -> None:
    found = refused(expression_pipeline(expr), tmp_path)
    assert found and found <= POLICY | REFUSALS, found


@pytest.mark.parametrize("prompt", TEMPLATES)
def test_template_escapes_are_refused(prompt: str, tmp_path: Path) -> None:
    found = refused(template_pipeline(prompt), tmp_path)
    assert found and found <= POLICY | REFUSALS, found


@pytest.mark.parametrize(
    "body",
    [
        "while True:\n    pass",  # asteval: a loop that never ends
        "x = 0\nfor i in range(10**12):\n    x += i",
        "def f(n):\n    return f(n + 1)\nf(0)",  # asteval: recursion
    ],
)
def test_compute_bodies_the_policy_passes_fail_only_their_unit(body: str) -> None:
    code = compile_code(body + "\nreturn 1", filename="cat.octo", first_line=1, params=[], name="s")
    with pytest.raises((SandboxTimeout, RecursionError)):
        run_with_timeout(code, {}, 0.5)


def test_the_catalogue_is_at_least_sixty_attempts() -> None:
    assert len(COMPUTE) + len(EXPRESSIONS) + len(TEMPLATES) + 3 >= 60


def test_python_normalises_lookalike_identifiers_and_the_policy_sees_the_dunder() -> None:
    import ast

    from octolang.sandbox import find_violations

    tree = ast.parse("x = ().__ｃｌass__")  # fullwidth c and l: NFKC gives `__class__`
    assert tree.body[0].value.attr == "__class__"  # type: ignore[attr-defined]
    assert [(v.code, v.message) for v in find_violations(tree)] == [
        ("E0602", "attribute `__class__` is not allowed in code blocks")
    ]
