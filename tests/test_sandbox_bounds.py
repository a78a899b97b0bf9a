"""Finding 5 of issue 10, the check side: `const X = sum(range(10**13))` hung `octoc
check` and the language server (one C call: no signal interrupts it). What checking
evaluates now runs in a child process with a deadline and a memory bound; a breach is a
diagnostic on the expression, and the language server keeps answering."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from lsprotocol import types as lsp

from octolang.compiler import compile_source
from octolang.sandbox.isolate import run_isolated
from octolang.source import SourceFile
from tests.conftest import compile_at, expect, octoc
from tests.lsp_process import lsp_in, timed_hover

# One C call (`sum(range(10**13))`) is refused at once by the bounded `range`; this is
# bytecode that runs for ever within every bound but time.
FOREVER = "sum(sum(range(10**7)) for i in range(10**7))"


def pipeline(const: str) -> str:
    return f'''pipeline bounded
seed 1
const X = {const}
units u {{ trials 2 }}
step s = compute {{
  output {{ v: int }}
  code """
    return {{"v": rng.randint(1, 6)}}
  """
}}
report r {{ m = mean(s.v) }}
'''


def test_a_const_that_would_run_for_ever_is_e0506(tmp_path: Path) -> None:
    (tmp_path / "slow.octo").write_text(pipeline(FOREVER))
    started = time.monotonic()
    result = octoc("check", "slow.octo", cwd=tmp_path, check=False, timeout=60)
    assert time.monotonic() - started < 20
    assert result.returncode == 1
    assert "error[E0506]: const `X` takes more than 2 s to compute" in result.stdout + result.stderr


def test_the_exact_attack_is_refused_before_it_runs(tmp_path: Path) -> None:
    (tmp_path / "slow.octo").write_text(pipeline("sum(range(10**13))"))
    result = octoc("check", "slow.octo", cwd=tmp_path, check=False, timeout=60)
    assert result.returncode == 1
    assert "error[E0503]: const `X` cannot be computed: ValueError: range() of more than 10,000,000 numbers" in (
        result.stdout
    )


def test_the_diagnostic_is_on_the_expression() -> None:
    c = compile_at(pipeline(FOREVER))
    expect(c, "E0506", "const `X` takes more than 2 s to compute", (3, 11, 3, 11 + len(FOREVER)), text=FOREVER)


@pytest.mark.parametrize("const", ["[[0] * 10**7 for i in range(1000)]", '["x" * 10**7 for i in range(1000)]'])
def test_a_const_that_needs_too_much_memory_is_e0507(const: str) -> None:
    c = compile_at(pipeline(const))
    assert [d.code for d in c.diagnostics if d.is_error] == ["E0507"]


def test_checking_off_the_main_thread_is_bounded_too() -> None:
    found: list[list[str]] = []

    def check() -> None:
        found.append([d.code for d in compile_source(SourceFile("t.octo", pipeline(FOREVER))).diagnostics])

    worker = threading.Thread(target=check)
    started = time.monotonic()
    worker.start()
    worker.join(30)
    assert not worker.is_alive() and time.monotonic() - started < 20
    assert "E0506" in found[0]


def test_cheap_consts_stay_in_process() -> None:
    import os

    c = compile_at(pipeline("[2, 5, 8] + [1] * 3"))
    assert c.program is not None and c.program.consts[0].resolved == [2, 5, 8, 1, 1, 1]
    assert run_isolated(lambda: os.getpid(), seconds=5, memory_bytes=2**28).value != os.getpid()


def test_the_language_server_answers_a_hover_while_the_file_is_open(tmp_path: Path) -> None:
    text = pipeline(FOREVER)
    path = tmp_path / "slow.octo"
    path.write_text(text)
    line = text.splitlines().index("step s = compute {")
    hover_at = lsp.Position(line=line, character=5)
    with lsp_in(tmp_path) as server:
        diagnostics = server.open(path.as_uri(), text)
        assert "E0506" in {d.code for d in diagnostics}
        times = []
        for _ in range(10):
            seconds, answer = timed_hover(server, path.as_uri(), hover_at)
            assert answer is not None
            times.append(seconds)
        # a change elsewhere in the file, even one that moves the const, does not pay the deadline again
        server.change(path.as_uri(), text.replace("trials 2", "trials 3"), 2)
        seconds, answer = timed_hover(server, path.as_uri(), hover_at)
        times.append(seconds)
        moved = "# a comment\n" + text.replace("trials 2", "trials 3")
        started = time.monotonic()
        assert "E0506" in {d.code for d in server.change(path.as_uri(), moved, 3)}
        assert time.monotonic() - started < 1.5
        seconds, answer = timed_hover(server, path.as_uri(), lsp.Position(line=line + 1, character=5))
        times.append(seconds)
    assert max(times) < 0.3, times
