"""`octoc fmt` (octolang/syntax/format.py, octolang/cli_fmt.py): one layout, idempotent,
the same program before and after, every comment kept."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from syrupy.assertion import SnapshotAssertion

from octolang.compiler import compile_source
from octolang.source import SourceFile
from octolang.syntax.format import FormatError, format_source
from octolang.syntax.parse import parse_source
from tests.conftest import EXAMPLE_FILES, REPO, octoc
from tests.test_fuzz import mutated

FIXTURES = sorted((REPO / "tests").rglob("*.octo"))
_SPAN_KEYS = {"file", "line", "col", "end_line", "end_col", "start", "end"}


def fmt(text: str, path: str = "test.octo") -> str:
    return format_source(SourceFile(path, text))


def without_spans(value: Any) -> Any:
    """The IR as JSON with every position left out: spans, strings' offset maps, code's first line."""
    if isinstance(value, dict):
        if set(value) == _SPAN_KEYS:
            return None
        return {k: without_spans(v) for k, v in value.items() if k not in ("anchors", "first_line")}
    if isinstance(value, list):
        return [without_spans(v) for v in value]
    return value


def program_of(path: Path, text: str) -> tuple[Any, list[tuple[str, str]]]:
    compilation = compile_source(SourceFile(str(path), text))
    program = compilation.program.model_dump(mode="json") if compilation.program is not None else None
    return without_spans(program), [(d.code, d.message) for d in compilation.diagnostics]


def comments(text: str) -> list[str]:
    """The comments of a file that parses: what the lexer drops, outside strings."""
    tree, _ = parse_source(SourceFile("x", text))
    assert tree is not None
    ends = [0] + [t.end_pos for t in tree.scan_values(lambda v: hasattr(v, "end_pos"))]
    starts = [t.start_pos for t in tree.scan_values(lambda v: hasattr(v, "start_pos"))] + [len(text)]
    return [c.rstrip() for a, b in zip(ends, starts, strict=True) for c in re.findall(r"#[^\n]*", text[a:b])]


@pytest.mark.parametrize("path", FIXTURES + EXAMPLE_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_fmt_is_idempotent_and_keeps_the_program(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    try:
        once = fmt(text, str(path))
    except FormatError as exc:  # only the fixtures of syntax errors
        assert path.name.startswith("syntax_"), exc.diagnostics
        return
    assert fmt(once, str(path)) == once
    assert program_of(path, once) == program_of(path, text)
    assert sorted(comments(once)) == sorted(comments(text))


def test_the_examples_are_formatted() -> None:
    for path in EXAMPLE_FILES:
        text = path.read_text(encoding="utf-8")
        assert fmt(text, str(path)) == text, f"{path.name}: run `octoc fmt examples`"


def test_docs_snippets_that_are_whole_files_are_formatted() -> None:
    """errors.md is left as written: its outputs quote lines and columns of its snippets."""
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        if doc.name == "errors.md":
            continue
        for snippet in re.findall(r"```octo\n(.*?)```", doc.read_text(encoding="utf-8"), re.DOTALL):
            if parse_source(SourceFile("x", snippet))[0] is not None:
                assert fmt(snippet) == snippet, f"{doc.name}: a snippet is not formatted:\n{snippet}"


MESSY = '''\
# a file written in a hurry


pipeline   demo    "a demo"   # the title
seed 7
const  LIMIT=2*(3+4)   # a const

model m = mock "any" {invalid_rate=0.1,temperature=0}
model big = openai "gpt-4.1" {
    temperature = 0   # deterministic
    price in = $2/M, out = $8/M
}

type Verdict { label : "a"|"b" "the class", score:int[0..10]?, tags : list<string>[..3] }
type Long {
  # the answer
  answer: string[1..200] "what was said"
  n: int
}

units things {   # inline
  rows [ {name:"x", size:-1}, {name:"y",size:2.5} ]
  vary k in [1,2,
     3]
  trials 2
}

step judge = llm m { prompt "Rate {{ unit.name }}." output Verdict validate { score>=0:"non-negative"
  label in ["a","b"] and not (score is None) : "a label" } retries 2 }
step tally = compute {
  output {total:int,parts:list<int>}
  code """
    return {"total": unit.size, "parts": [x ** 2 for x in range(3) if x % 2]}
  """
  timeout 2s
}

gate judge.score>=5 else retry judge max 2 feedback "try again: " + judge.label
report r { group by unit.name,unit.k
  where unit.trial>0
  n=count()
  good_share=proportion(judge.label=="a")  # the share
  # a comment line ends the alignment
  mean_score=mean(tally.total)
}
# the end
'''


def test_fmt_layout(snapshot: SnapshotAssertion) -> None:
    once = fmt(MESSY)
    assert fmt(once) == once
    assert comments(once) == comments(MESSY)
    assert once == snapshot


def test_fmt_keeps_blank_line_groups_and_collapses_runs() -> None:
    text = "pipeline p\n\n\n\nseed 1\nconst A = 1\n\n# about B\n\nconst B = 2\n"
    assert fmt(text) == "pipeline p\n\nseed 1\nconst A = 1\n\n# about B\n\nconst B = 2\n"


def test_fmt_keeps_strings_byte_for_byte() -> None:
    text = 'pipeline p\nconst S = "a  b\\t\\"c\\""\nconst T = """\n   x   \n y\n"""\n'
    assert fmt(text) == text


def test_fmt_refuses_broken_syntax() -> None:
    with pytest.raises(FormatError) as caught:
        fmt("pipeline p\nunits u {\n  trials 2\n")
    assert [d.code for d in caught.value.diagnostics] == ["E0004"]


def test_fmt_check_writes_nothing_and_fails_on_unformatted(tmp_path: Path) -> None:
    shutil.copy(REPO / "examples" / "drunken_sailor.octo", tmp_path / "good.octo")
    (tmp_path / "sub").mkdir()
    bad = tmp_path / "sub" / "bad.octo"
    bad.write_text("pipeline  p\nunits u { trials 2 }\n")
    result = octoc("fmt", "--check", ".", cwd=tmp_path, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "would reformat ./sub/bad.octo\n")
    assert bad.read_text() == "pipeline  p\nunits u { trials 2 }\n"

    result = octoc("fmt", "--diff", "sub/bad.octo", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert result.stdout == (
        "--- sub/bad.octo\n+++ sub/bad.octo\n@@ -1,2 +1,4 @@\n"
        "-pipeline  p\n-units u { trials 2 }\n+pipeline p\n+units u {\n+  trials 2\n+}\n"
    )

    result = octoc("fmt", ".", cwd=tmp_path, check=False)
    assert (result.returncode, result.stderr) == (0, "reformatted ./sub/bad.octo\n")
    assert bad.read_text() == "pipeline p\nunits u {\n  trials 2\n}\n"
    assert octoc("fmt", "--check", ".", cwd=tmp_path, check=False).returncode == 0


def test_fmt_of_a_broken_file_says_why_and_leaves_it(tmp_path: Path) -> None:
    broken = tmp_path / "broken.octo"
    broken.write_text("pipeline p\nunits u {\n  trials 2\n")
    result = octoc("fmt", "broken.octo", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "broken.octo:3:11: error[E0004]: unexpected end of file" in result.stderr
    assert result.stderr.endswith("broken.octo: not formatted\n")
    assert broken.read_text() == "pipeline p\nunits u {\n  trials 2\n"
    missing = octoc("fmt", "nothing.octo", cwd=tmp_path, check=False)
    assert missing.returncode == 1 and "E0010" in missing.stderr and "Traceback" not in missing.stderr


def test_fmt_reads_stdin(tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "octolang", "fmt", "-"],
        input="pipeline  p\r\nseed 1",
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stdout) == (0, "pipeline p\nseed 1\n")


def test_fmt_of_deep_nesting_is_a_diagnostic() -> None:
    with pytest.raises(FormatError) as caught:
        fmt("pipeline p\nconst A = " + "(" * 3000 + "1" + ")" * 3000 + "\n")
    assert [d.code for d in caught.value.diagnostics] == ["E0006"]


def lowered(text: str) -> Any:
    from octolang.syntax.parse import parse_program

    program, _ = parse_program(SourceFile("x.octo", text))
    return without_spans(program.model_dump(mode="json")) if program is not None else None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(mutated())
def test_fmt_of_mutated_sources(case: tuple[Path, str | bytes]) -> None:
    """Every mutated example that still parses: formatted once is formatted, the same
    program and the same comments (hypothesis, derandomized: the same cases every run)."""
    _, text = case
    assert isinstance(text, str)
    if parse_source(SourceFile("x.octo", text))[0] is None:
        return
    once = fmt(text, "x.octo")
    assert fmt(once, "x.octo") == once
    assert lowered(once) == lowered(text)
    assert sorted(comments(once)) == sorted(comments(text))
