"""The `run { ... }` block: where compute steps run (octolang/check/run.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from octolang.compiler import Compilation
from tests.conftest import codes, only

BODY = """units u { trials 3 }
step a = compute { output { n: int } code "return {'n': 1}" }
report r { avg = mean(a.n) }
"""


def with_run(block: str) -> str:
    return f"pipeline p\n{block}\n{BODY}"


@pytest.mark.parametrize(
    "block",
    [
        'run { executor = "ray" }',
        'run { executor = "ray", address = "ray://head:10001" }',
        'run { executor = "dask", scheduler = "tcp://head:8786" }',
        'run { executor = "local" }',
        "run { executor = dask }",  # a bare word is the same text
        "run {}",
    ],
)
def test_a_valid_run_block_checks_clean(compile_text: Callable[..., Compilation], block: str) -> None:
    compilation = compile_text(with_run(block))
    assert codes(compilation) == []
    assert compilation.program is not None and compilation.program.run is not None


def test_the_block_is_read_into_the_program(compile_text: Callable[..., Compilation]) -> None:
    program = compile_text(with_run('run { executor = "ray", address = "auto" }')).program
    assert program is not None and program.run is not None
    assert (program.run.setting("executor"), program.run.setting("address")) == ("ray", "auto")
    assert program.run.setting("scheduler") is None


@pytest.mark.parametrize(
    ("block", "code", "message", "help_text"),
    [
        ('run { executor = "ray", adress = "auto" }', "E0930", "unknown run setting `adress`", "`address`"),
        ("run { executor = 2 }", "E0931", "`executor` takes a text, not 2", "local, ray or dask"),
        ('run { executor = "" }', "E0931", "`executor` takes a text, not ''", "local, ray or dask"),
        ('run { executor = "rey" }', "E0932", "unknown executor `rey`", "did you mean `ray`?"),
        ('run { executor = "spark" }', "E0932", "unknown executor `spark`", "executors: local, ray, dask"),
        (
            'run { executor = "dask", address = "auto" }',
            "E0933",
            "`address` is for the ray executor, and this run's is dask",
            'set `executor = "ray"`',
        ),
        (
            'run { scheduler = "tcp://h:1" }',
            "E0933",
            "`scheduler` is for the dask executor, and this run's is local",
            'set `executor = "dask"`',
        ),
    ],
)
def test_a_wrong_run_block_is_an_error_with_a_way_out(
    compile_text: Callable[..., Compilation], block: str, code: str, message: str, help_text: str
) -> None:
    found = only(compile_text(with_run(block)), code)
    assert found.message == message
    assert help_text in (found.help or "")


def test_a_run_block_given_twice_or_a_setting_given_twice(compile_text: Callable[..., Compilation]) -> None:
    twice = compile_text(with_run('run { executor = "ray" }\nrun { executor = "dask" }'))
    assert only(twice, "E0110").message == "`run` is given twice"
    setting = compile_text(with_run('run { executor = "ray", executor = "dask" }'))
    assert only(setting, "E0112").message == "setting `executor` is given twice"


def test_a_cluster_for_a_pipeline_without_compute_steps_is_a_warning(
    compile_text: Callable[..., Compilation],
) -> None:
    text = """pipeline p
run { executor = "dask" }
model m = mock "mock-1"
units u { trials 3 }
step a = llm m { prompt "Pick a number." output { n: int } }
report r { avg = mean(a.n) }
"""
    found = only(compile_text(text), "W0210")
    assert found.message == "the dask executor runs compute steps, and this pipeline has none"


def test_run_is_still_a_name_where_the_grammar_takes_names(compile_text: Callable[..., Compilation]) -> None:
    text = """pipeline p
units u { rows [{ run: 1 }, { run: 2 }] }
step a = compute { output { run: int } code "return {'run': unit.run}" }
report r { avg = mean(a.run) }
"""
    assert codes(compile_text(text)) == []
