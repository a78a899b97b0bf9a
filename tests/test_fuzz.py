"""Mutated examples never crash the checker: every input gives diagnostics, never an exception.

Mutations: delete, duplicate or swap spans and tokens, truncate, insert characters that matter to
the grammar (quotes, braces, `{{`, `\"\"\"`, NUL, keywords) and, through the CLI, bytes that are not
UTF-8. In-process runs check every diagnostic's span too; CLI runs check exit codes and output."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from octolang.cli import main
from octolang.compiler import compile_source
from octolang.diagnostics import render
from octolang.source import SourceFile
from octolang.syntax.grammar import parser
from tests.conftest import EXAMPLE_FILES, EXAMPLES, REPO, assert_clean_span, has_compute, sandbox_available

BROKEN = sorted((REPO / "tests" / "fixtures" / "broken").glob("*.octo"))
SOURCES = [p for p in EXAMPLE_FILES + BROKEN if sandbox_available() or not has_compute(p.read_text(encoding="utf-8"))]
TEXTS = {p: p.read_text(encoding="utf-8") for p in SOURCES}
INSERTS = [
    '"',
    '"""',
    "'",
    "{",
    "}",
    "{{",
    "}}",
    "{%",
    "%}",
    "{# ",
    "(",
    ")",
    "[",
    "]",
    "<",
    ">",
    "\\",
    "\\u",
    "\x00",
    "\n",
    "\r",
    "\t",
    "#",
    ":",
    "=",
    "==",
    "|",
    "?",
    "..",
    ",",
    ".",
    "$",
    "$1/M",
    "5s",
    "1e999",
    "99999999999999999999",
    "-",
    "**",
    "é",
    "🐙",
    "\u200b",
    "\ufeff",
    "step",
    "units",
    "gate",
    "report",
    "model",
    "type",
    "const",
    "output",
    "code",
    "prompt",
    "retry",
    "else",
    "in",
    "not",
    "list<",
    "int[",
    "unit.",
    "unit.x",
    "{{ unit.nope }}",
    "{% for c in x %}",
    "{% endfor %}",
    "__class__",
    "import os",
    "return",
    "\n}\n",
    "lambda",
]
TOKEN = re.compile(r'"""[\s\S]*?"""|"(?:[^"\\\n]|\\.)*"|\w+|\S')
TERMINALS = {t.name for t in parser().terminals if len(t.name) > 1} | {"$END"}


@st.composite
def mutated(draw: st.DrawFn, binary: bool = False) -> tuple[Path, str | bytes]:
    path = draw(st.sampled_from(SOURCES))
    text = TEXTS[path]
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "truncate", "insert", "insert", "replace"]))
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 40)))
        if kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif kind == "truncate":
            text = text[:i]
        elif kind == "swap":
            tokens = list(TOKEN.finditer(text))
            if len(tokens) >= 2:
                a, b = sorted(draw(st.lists(st.integers(0, len(tokens) - 1), min_size=2, max_size=2, unique=True)))
                ta, tb = tokens[a], tokens[b]
                text = text[: ta.start()] + tb.group() + text[ta.end() : tb.start()] + ta.group() + text[tb.end() :]
        else:
            piece = draw(st.sampled_from(INSERTS) | st.text(min_size=1, max_size=4))
            text = text[:i] + piece + (text[i:] if kind == "insert" else text[j:])
    if not binary:
        return path, text
    data = text.encode("utf-8", errors="surrogatepass")
    if draw(st.booleans()):
        k = draw(st.integers(0, len(data)))
        data = data[:k] + draw(st.binary(min_size=1, max_size=4)) + data[k:]
    return path, data


def _check_in_process(path: Path, text: str, *, generated: bool = True) -> None:
    source = SourceFile(str(path), text)
    try:
        compilation = compile_source(source)
    except ModuleNotFoundError as exc:  # compute code while the sandbox package is missing
        if exc.name and exc.name.startswith("octolang.sandbox"):
            if not generated:
                pytest.skip("octolang.sandbox.policy is not there yet")
            assume(False)
        raise
    assert compilation.source is source
    for d in compilation.diagnostics:
        assert_clean_span(source, d.span)
        for label in d.labels:
            assert_clean_span(source, label.span)
        assert d.message and ("\n" not in d.message.strip() or d.code == "E0401")
        if d.code.startswith("E000"):
            said = re.sub(r"`[^`]*`", "", f"{d.message} {d.label} {d.help}")  # `...` quotes the user's text
            words = set(re.findall(r"[$A-Za-z_][A-Za-z0-9_]*", said))
            assert not words & TERMINALS, d
        render(d, source)  # rendering never fails either
    if compilation.ok:
        assert compilation.program is not None
        assert sorted(compilation.program.order) == sorted(s.name for s in compilation.program.steps)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(mutated())
def test_mutated_sources_never_crash_the_checker(case: tuple[Path, str]) -> None:
    path, text = case
    _check_in_process(path, text)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz")
    for data in list(EXAMPLES.glob("*.csv")) + list(EXAMPLES.glob("*.jsonl")):
        shutil.copy(data, folder / data.name)
    shutil.copytree(REPO / "tests" / "fixtures" / "broken" / "data", folder / "data")
    return folder


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(case=mutated(binary=True), as_json=st.booleans(), strict=st.booleans())
def test_mutated_files_through_the_cli(workdir: Path, case: tuple[Path, bytes], as_json: bool, strict: bool) -> None:
    path, data = case
    target = workdir / path.name
    target.write_bytes(data)
    args = ["check", str(target)] + (["--json"] if as_json else []) + (["--strict"] if strict else [])
    result = CliRunner().invoke(main, args, env={"NO_COLOR": "1"})
    output = result.stdout + result.stderr
    if "No module named 'octolang.sandbox" in output:
        assume(False)
    assert result.exit_code in (0, 1), output
    assert "Traceback" not in output and "internal error" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if as_json:
        doc = json.loads(result.stdout)
        assert doc["ok"] == (result.exit_code == 0)
        assert all(isinstance(d["line"], int) and d["line"] >= 1 for d in doc["files"][0]["diagnostics"])


@pytest.mark.parametrize(
    "text",
    [
        "",
        " ",
        "\n" * 50,
        "\x00",
        '"""',
        '"',
        "{{",
        "}",
        "pipeline",
        "pipeline p\nunits u {\n" * 20,
        "pipeline p\n" + "(" * 500,
        "pipeline p\nconst X = " + "[" * 300 + "]" * 300,
        "pipeline p\nconst X = " + "-" * 800 + "1",
        "pipeline p\nconst X = " + " + ".join(["1"] * 800),
        "pipeline p\nconst X = " + "not " * 800 + "1",
        'pipeline p\nstep s = compute { code "' + "(" * 200 + '" }',
        'step s = llm m { prompt "' + "{{ a." * 100 + '" }',
        "\ud800",
        'pipeline p "\ud800"',
        "pipeline p\nconst X = " + " < ".join(["1"] * 3000),
    ],
)
def test_pathological_inputs(text: str) -> None:
    _check_in_process(Path("pathological.octo"), text, generated=False)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("pipeline p\nunits u { trials 1 }\nconst X = " + " + ".join(["1"] * 1000), id="sum-of-1000-terms"),
        pytest.param("pipeline p\nunits u { trials 1 }\nconst X = " + "-" * 2000 + "1", id="2000-unary-minus"),
        pytest.param(
            "pipeline p\nunits u { trials 1 }\nconst X = " + "(" * 1500 + "1" + ")" * 1500, id="1500-brackets"
        ),
    ],
)
def test_absurd_nesting_is_a_diagnostic(text: str) -> None:
    # (lowering once recursed into a RecursionError: an internal error in octoc)
    compilation = compile_source(SourceFile("deep.octo", text))
    assert [d.code for d in compilation.diagnostics] == ["E0006"]
    assert compilation.diagnostics[0].message == "expressions are nested too deeply to check"
