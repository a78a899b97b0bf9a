"""Shared helpers for the front-end tests: compile a snippet, render its diagnostics."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from octolang.compiler import Compilation, compile_source
from octolang.diagnostics import Diagnostic
from octolang.diagnostics import render as render_one
from octolang.source import SourceFile, Span

# Deterministic by default (the same examples on every run); HYPOTHESIS_PROFILE=explore for fresh ones.
hypothesis_settings.register_profile("deterministic", derandomize=True, database=None, deadline=None)
hypothesis_settings.register_profile("explore", deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.octo"))


def sandbox_available() -> bool:
    """The compute-code check imports `octolang.sandbox.policy` (written separately)."""
    try:
        import octolang.sandbox.policy  # noqa: F401
    except ImportError:
        return False
    return True


needs_sandbox = pytest.mark.skipif(not sandbox_available(), reason="octolang.sandbox.policy is not there yet")


def has_compute(text: str) -> bool:
    return "= compute" in text


def compile_file(path: str | os.PathLike[str], text: str | None = None) -> Compilation:
    path = str(path)
    if text is None:
        text = Path(path).read_text(encoding="utf-8")
    return compile_source(SourceFile(path, text))


def compile_at(
    text: str, path: str = "test.octo", files: Mapping[str, str | bytes] | None = None, folder: Path | None = None
) -> Compilation:
    """Compile `text` as the file `path`. With `files` (name -> content), the .octo file and its
    data files are written into `folder` first, so `units ... from "x.csv"` finds them."""
    if files is not None:
        assert folder is not None, "data files need a folder"
        for name, content in files.items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        full = folder / path
        full.write_text(text, encoding="utf-8")
        path = str(full)
    return compile_source(SourceFile(path, text))


@pytest.fixture
def compile_text(tmp_path: Path) -> Callable[..., Compilation]:
    """`compile_text(text, path="test.octo", files={...})` -> Compilation.

    Without `files` nothing touches the disk; with them everything lives in tmp_path."""

    def run(text: str, path: str = "test.octo", files: Mapping[str, str | bytes] | None = None) -> Compilation:
        return compile_at(text, path, files, tmp_path)

    return run


def render(diagnostics: Iterable[Diagnostic], source: SourceFile | None) -> str:
    """The diagnostics as `octoc check` prints them (no colour)."""
    return "\n\n".join(render_one(d, source) for d in diagnostics)


def codes(compilation: Compilation) -> list[str]:
    return [d.code for d in compilation.diagnostics]


def only(compilation: Compilation, code: str) -> Diagnostic:
    """The single diagnostic with `code` (fails, showing them all, when there are 0 or 2+)."""
    found = [d for d in compilation.diagnostics if d.code == code]
    assert len(found) == 1, f"expected one {code}, got:\n{render(compilation.diagnostics, compilation.source)}"
    return found[0]


def errors(compilation: Compilation) -> list[Diagnostic]:
    return [d for d in compilation.diagnostics if d.is_error]


def at(span: Span) -> tuple[int, int, int, int]:
    """(line, col, end_line, end_col) of a span."""
    return span.line, span.col, span.end_line, span.end_col


def span_text(source: SourceFile, span: Span) -> str:
    return source.text[span.start : span.end]


def position_of(text: str, needle: str, occurrence: int = 1, within: int = 0) -> tuple[int, int]:
    """(line, col), 1-based, of the `occurrence`-th `needle` in `text` (plus `within` characters)."""
    index = -1
    for _ in range(occurrence):
        index = text.index(needle, index + 1)
    index += within
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, col


def assert_clean_span(source: SourceFile, span: Span) -> None:
    """A span is consistent: offsets and (line, col) agree, and it lies inside the file."""
    assert 0 <= span.start <= span.end <= len(source.text)
    assert source.position(span.start) == (span.line, span.col)
    assert source.position(span.end) == (span.end_line, span.end_col)


def expect(
    compilation: Compilation,
    code: str,
    message: str,
    where: tuple[int, ...],
    *,
    text: str | None = None,
    help: str | None = None,
    label: str | None = None,
) -> Diagnostic:
    """Assert that exactly one diagnostic has `code` and `message`, at `where`: (line, col) or
    (line, col, end_line, end_col); `text` is what its span covers in the file."""
    found = [d for d in compilation.diagnostics if d.code == code and d.message == message]
    assert len(found) == 1, (
        f"expected one {code} `{message}`, got:\n{render(compilation.diagnostics, compilation.source)}"
    )
    d = found[0]
    assert at(d.span)[: len(where)] == where, render([d], compilation.source)
    assert_clean_span(compilation.source, d.span)
    if text is not None:
        assert span_text(compilation.source, d.span) == text
    if help is not None:
        assert d.help == help
    if label is not None:
        assert d.label == label
    return d


def assert_clean(compilation: Compilation, allow: Iterable[str] = ()) -> None:
    """No diagnostics at all, except the codes in `allow`."""
    left = [d for d in compilation.diagnostics if d.code not in set(allow)]
    assert not left, render(left, compilation.source)
    assert compilation.program is not None


def octoc(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`octoc ARGS` in a fresh process, as a user runs it, in `cwd` with `env` (the whole
    environment; default this process's). With `check`, a non-zero exit fails the test
    and shows the output."""
    result = subprocess.run(
        [sys.executable, "-m", "octolang", *args],
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        shown = f"octoc {' '.join(args)}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
        assert result.returncode == 0, shown
    return result


@pytest.fixture(scope="session")
def pg_server() -> Iterable[str]:
    """A PostgreSQL server for this test process (tests/pg_server.py): its URL."""
    from tests.pg_server import running

    with running() as url:
        yield url


@pytest.fixture
def pg_state(pg_server: str, request: pytest.FixtureRequest) -> str:
    """A fresh database on the test server, for one test: the URL given to `--state`."""
    import re

    from tests.pg_server import fresh_database

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:50]
    return fresh_database(pg_server, name)
