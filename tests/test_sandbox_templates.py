"""Finding 3 of issue 10: templates reached Python internals through `str.format` (a type
object in the globals), and Python's unbounded `range` replaced Jinja's, so
`{% for i in range(10**9) %}` hung check (the estimate renders every prompt) and run."""

from __future__ import annotations

import inspect
import os
import time
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from octolang.templates import environment
from tests.conftest import compile_at, octoc

LEAK = '{{ str.format("{0.__init__.__globals__[os].environ[OCTO_TEST_SECRET]}", cycler) }}'


def pipeline(prompt: str) -> str:
    return f'''pipeline t
model m = openai "gpt-4.1-mini"
units u {{ trials 2 }}
step s = llm m {{
  prompt """
    {prompt}
  """
  output {{ a: string }}
}}
report r {{ n = count(s.a == "") }}
'''


def test_the_format_leak_is_refused_at_check(tmp_path: Path) -> None:
    (tmp_path / "leak.octo").write_text(pipeline(LEAK))
    env = {**os.environ, "OCTO_TEST_SECRET": "hunter2-must-not-leak"}
    result = octoc("check", "leak.octo", cwd=tmp_path, env=env, check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "error[E0608]: attribute `format` is not allowed in the prompt" in out
    assert "hunter2" not in out
    dry = octoc("run", "leak.octo", "--provider", "mock", cwd=tmp_path, env=env, check=False)
    assert dry.returncode != 0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"hunter2" not in path.read_bytes()


def test_the_environment_refuses_it_when_rendering() -> None:
    os.environ["OCTO_TEST_SECRET"] = "hunter2"
    try:
        with pytest.raises(UndefinedError, match="no attribute 'format'"):  # `str` is a function here
            environment().from_string(LEAK).render()
        with pytest.raises(SecurityError):
            environment().from_string('{{ "{0.__class__}".format(1) }}').render()
    finally:
        del os.environ["OCTO_TEST_SECRET"]


def test_no_type_objects_in_the_globals() -> None:
    classes = {name for name, value in environment().globals.items() if inspect.isclass(value)}
    assert classes <= {"cycler", "joiner", "namespace"}  # Jinja's helpers, no builtin type
    assert environment().from_string("{{ dict(a=1)['a'] }} {{ str(2) }} {{ int('3') }}").render() == "1 2 3"


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(10**9) %}x{% endfor %}",
        '{{ "x" * 10**9 }}',
        "{{ [1] * 10**8 }}",
        "{{ 2 ** 100000000 }}",
        "{{ lipsum(10**6) }}",
    ],
)
def test_resource_bombs_stop_at_a_bound(template: str) -> None:
    started = time.monotonic()
    with pytest.raises((SecurityError, OverflowError)):
        environment().from_string(template).render()
    assert time.monotonic() - started < 1


def test_a_huge_range_does_not_hang_the_estimate(tmp_path: Path) -> None:
    (tmp_path / "loop.octo").write_text(pipeline("{% for i in range(10**9) %}x{% endfor %}"))
    started = time.monotonic()
    result = octoc("check", "loop.octo", cwd=tmp_path, check=False, timeout=60)
    assert time.monotonic() - started < 30
    assert "could not be rendered" in result.stdout + result.stderr


def test_ordinary_templates_still_render() -> None:
    c = compile_at(pipeline("{{ unit.trial }} {{ 'abc'.upper() }} {% for i in range(3) %}{{ i * 2 }}{% endfor %}"))
    assert not [d for d in c.diagnostics if d.is_error]
    text = environment().from_string("{{ 'abc'.upper() }} {% for i in range(3) %}{{ i * 2 }}{% endfor %}").render()
    assert text == "ABC 024"


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        '{% set ns = namespace(s="ab") %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}',
    ],
    ids=["nested-loops", "doubling"],
)
def test_the_estimate_stops_a_render_at_its_bounds(template: str, tmp_path: Path) -> None:
    (tmp_path / "bomb.octo").write_text(pipeline(template).replace("trials 2", "trials 50"))
    started = time.monotonic()
    result = octoc("check", "bomb.octo", cwd=tmp_path, check=False, timeout=120)
    assert time.monotonic() - started < 40  # one unit's render hits the bound, the other 49 are not tried
    assert "50 prompt(s) of `s` could not be rendered and are not counted (rendering stopped: " in result.stdout


def test_templates_cannot_change_a_shared_value() -> None:
    shared = [1, 2]
    template = environment().from_string("{{ xs.append(3) }}")
    with pytest.raises(SecurityError):
        template.render(xs=shared)
    assert shared == [1, 2]
    assert environment().from_string("{{ xs.count(1) }} {{ xs.index(2) }}").render(xs=shared) == "1 1"
