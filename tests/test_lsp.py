"""The language server: over stdio with pygls's client, and its pure feature functions.

The stdio tests start `python -m octolang lsp` once for the module and talk to it as an
editor does. The unit tests call the features on compiled examples; the incremental
compiler is compared with `compile_source` on every example, the broken fixtures and
fuzzed mutations of them, whose diagnostics must be identical.
"""

from __future__ import annotations

import asyncio
import csv
import re
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from octolang.compiler import compile_source
from octolang.lsp.completion import completion, grammar_keywords
from octolang.lsp.definition import definition
from octolang.lsp.diagnostics import to_lsp
from octolang.lsp.hover import hover
from octolang.lsp.incremental import Analysis, IncrementalCompiler
from octolang.lsp.locate import cursor_at
from octolang.lsp.positions import to_offset, to_position
from octolang.lsp.symbols import document_symbols
from octolang.pricing import price_for
from octolang.source import SourceFile
from tests.conftest import EXAMPLE_FILES, EXAMPLES, REPO
from tests.test_fuzz import INSERTS, TEXTS, mutated

NPC = EXAMPLES / "npc_dialogue.octo"
NPC_TEXT = NPC.read_text(encoding="utf-8")
NPC_URI = NPC.as_uri()
NPC_COLUMNS = next(csv.reader((EXAMPLES / "npcs.csv").open(encoding="utf-8")))


def position_of(text: str, needle: str, occurrence: int = 0, delta: int = 0) -> lsp.Position:
    """The position `delta` characters into the `occurrence`-th `needle` of the text."""
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    return to_position(SourceFile("x", text), index + delta)


def analyse(path: Path, text: str | None = None) -> Analysis:
    return IncrementalCompiler(str(path)).compile(path.read_text(encoding="utf-8") if text is None else text)


# ---------------------------------------------------------------- over stdio


@dataclass
class Session:
    loop: asyncio.AbstractEventLoop
    client: LanguageClient
    published: dict[str, list[lsp.PublishDiagnosticsParams]] = field(default_factory=lambda: defaultdict(list))

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def diagnostics(self, uri: str, version: int, timeout: float = 60, nth: int = 0) -> list[lsp.Diagnostic]:
        """The `nth` diagnostics published for this version of the document (waits for them)."""

        async def wait() -> list[lsp.Diagnostic]:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                found = [params for params in self.published[uri] if params.version == version]
                if len(found) > nth:
                    return list(found[nth].diagnostics)
                await asyncio.sleep(0.01)
            raise AssertionError(f"no diagnostics #{nth} for {uri} version {version} in {timeout} s")

        result: list[lsp.Diagnostic] = self.run(wait())
        return result

    def open(self, uri: str, text: str, version: int = 1) -> list[lsp.Diagnostic]:
        item = lsp.TextDocumentItem(uri=uri, language_id="octo", version=version, text=text)
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=item))
        return self.diagnostics(uri, version)

    def change(self, uri: str, text: str, version: int) -> list[lsp.Diagnostic]:
        self.client.text_document_did_change(
            lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )
        return self.diagnostics(uri, version)


@contextmanager
def language_server(capabilities: lsp.ClientCapabilities) -> Iterator[Session]:
    """`python -m octolang lsp` started and initialized, as an editor with these capabilities."""
    loop = asyncio.new_event_loop()
    client = LanguageClient("octolang-tests", "1")
    session = Session(loop, client)

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
        session.published[params.uri].append(params)

    session.run(client.start_io(sys.executable, "-m", "octolang", "lsp", cwd=str(REPO)))
    try:
        session.run(
            client.initialize_async(
                lsp.InitializeParams(capabilities=capabilities, root_uri=REPO.as_uri(), process_id=None)
            )
        )
        client.initialized(lsp.InitializedParams())
        yield session
    finally:
        # also when a test failed inside the session: a server never told to exit keeps
        # `client.stop()` waiting for it forever
        try:
            session.run(asyncio.wait_for(client.shutdown_async(None), 30))
        finally:
            client.exit(None)
            session.run(client.stop())
            loop.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Session]:
    with language_server(lsp.ClientCapabilities()) as session:
        yield session


def test_columns_follow_the_agreed_position_encoding() -> None:
    """A client that prefers UTF-8 (as Neovim does) gets UTF-8 columns; others UTF-16."""
    text = 'model m = mock "echo"\nunits u { rows [ { a: 1 } ] }\nstep s = llm m { prompt "é🐙 {{ unit.nope }}" }\n'
    (expected,) = [d for d in compile_source(SourceFile("x.octo", text)).diagnostics if d.code == "E0103"]
    prefix = text[text.rfind("\n", 0, expected.span.start) + 1 : expected.span.start]
    assert not prefix.isascii()
    utf8 = lsp.ClientCapabilities(general=lsp.GeneralClientCapabilities(position_encodings=["utf-8"]))
    with language_server(utf8) as session:
        (found,) = [d for d in session.open("untitled:enc.octo", text) if d.code == "E0103"]
    assert found.range.start.character == len(prefix.encode("utf-8"))
    assert to_position(SourceFile("x", text), expected.span.start).character == len(prefix) + 1  # UTF-16: 🐙 is 2


def test_broken_file_gets_the_checkers_diagnostic_and_a_fix_clears_it(server: Session) -> None:
    uri = (EXAMPLES / "npc_broken_for_test.octo").as_uri()  # never written: the server reads the editor's text
    broken = NPC_TEXT.replace("{{ line.text }}", "{{ line.txt }}")
    diagnostics = server.open(uri, broken)
    assert [d.code for d in diagnostics] == ["E0103"]
    (found,) = diagnostics
    start = position_of(broken, "line.txt", delta=len("line."))
    assert found.range == lsp.Range(start=start, end=lsp.Position(line=start.line, character=start.character + 3))
    assert found.severity == lsp.DiagnosticSeverity.Error
    assert found.message.startswith("unknown field `txt` on `line`")
    assert "did you mean `text`?" in found.message
    assert server.change(uri, NPC_TEXT, version=2) == []


def test_syntax_error_then_fix(server: Session) -> None:
    uri = "untitled:broken.octo"
    diagnostics = server.open(uri, 'model m = openai "gpt-4.1-mini" {\nstep s = compute {\n')
    assert diagnostics and all(d.code.startswith("E000") for d in diagnostics)
    fixed = server.change(uri, "pipeline p\nunits u { trials 2 }\n", version=2)
    assert all(d.severity == lsp.DiagnosticSeverity.Warning for d in fixed)


def big_pipeline(steps: int) -> str:
    """A pipeline over QUICK_SYNTAX_FROM_LINES lines: its syntax errors are answered twice."""
    parts = ['pipeline big\nmodel m = mock "echo"\nunits u { rows [ { topic: "a" } ] }\n']
    for i in range(steps):
        parts.append(
            f'step s{i} = llm m {{\n  prompt """\n    About {{{{ unit.topic }}}}\n  """\n  output {{ x: int }}\n}}\n\n'
        )
    parts.append("report r {\n  n = count()\n" + "".join(f"  m{i} = mean(s{i}.x)\n" for i in range(steps)) + "}\n")
    return "".join(parts)


def test_a_big_files_syntax_error_is_answered_quickly_then_exactly(server: Session) -> None:
    from octolang.lsp.server import QUICK_SYNTAX_FROM_LINES

    text = big_pipeline(QUICK_SYNTAX_FROM_LINES // 7)
    assert text.count("\n") >= QUICK_SYNTAX_FROM_LINES
    uri = "untitled:big.octo"
    assert server.open(uri, text) == []
    broken = text.replace("step s100 = llm m {", "step s100 = llm {", 1)
    quick = server.change(uri, broken, version=2)
    exact = server.diagnostics(uri, 2, nth=1)
    expected = compile_source(SourceFile("big.octo", broken)).diagnostics
    assert [(d.code, d.range) for d in exact] == [(e.code, _lsp_range(e)) for e in expected]
    assert [d.code for d in quick] == [e.code for e in expected]  # here the broken step alone says the same
    assert server.change(uri, text, version=3) == []


def _lsp_range(diagnostic: Any) -> lsp.Range:
    span = diagnostic.span
    return lsp.Range(
        start=lsp.Position(line=span.line - 1, character=span.col - 1),
        end=lsp.Position(line=span.end_line - 1, character=span.end_col - 1),
    )


def test_hover_definition_completion_and_symbols_over_stdio(server: Session) -> None:
    server.open(NPC_URI, NPC_TEXT)
    doc = lsp.TextDocumentIdentifier(uri=NPC_URI)

    model_hover = server.run(
        server.client.text_document_hover_async(lsp.HoverParams(doc, position_of(NPC_TEXT, "llm writer", delta=5)))
    )
    assert isinstance(model_hover, lsp.Hover) and isinstance(model_hover.contents, lsp.MarkupContent)
    assert 'model writer = openai "gpt-4.1-mini"' in model_hover.contents.value
    compilation = compile_source(SourceFile(str(NPC), NPC_TEXT))
    assert compilation.program is not None
    writer = compilation.program.model("writer")
    assert writer is not None
    price = price_for(writer)
    assert price is not None
    assert f"${price.batch_input.normalize():f} per million input tokens" in model_hover.contents.value

    location = server.run(
        server.client.text_document_definition_async(
            lsp.DefinitionParams(doc, position_of(NPC_TEXT, "{{ line.tone }}", delta=4))
        )
    )
    step_name = position_of(NPC_TEXT, "step line", delta=5)
    assert location == lsp.Location(
        uri=NPC_URI, range=lsp.Range(start=step_name, end=lsp.Position(step_name.line, step_name.character + 4))
    )

    completions = server.run(
        server.client.text_document_completion_async(
            lsp.CompletionParams(doc, position_of(NPC_TEXT, "{{ unit.role }}", delta=len("{{ unit.")))
        )
    )
    assert isinstance(completions, lsp.CompletionList)
    assert [item.label for item in completions.items] == NPC_COLUMNS

    symbols = server.run(server.client.text_document_document_symbol_async(lsp.DocumentSymbolParams(doc)))
    assert [(s.name, s.kind) for s in symbols] == [
        ("writer", lsp.SymbolKind.Class),
        ("critic", lsp.SymbolKind.Class),
        ("Line", lsp.SymbolKind.Struct),
        ("npcs", lsp.SymbolKind.Module),
        ("line", lsp.SymbolKind.Function),
        ("review", lsp.SymbolKind.Function),
        ("gate review.score >= 7", lsp.SymbolKind.Event),
        ("quality", lsp.SymbolKind.Object),
    ]


def test_garbage_never_takes_the_server_down(server: Session) -> None:
    uri = "untitled:garbage.octo"
    server.open(uri, '\x00step """ {{ {% 🐙 unit.\n' * 3)
    doc = lsp.TextDocumentIdentifier(uri=uri)
    for line, character in [(0, 0), (1, 12), (2, 40), (99, 99)]:
        where = lsp.Position(line=line, character=character)
        server.run(server.client.text_document_hover_async(lsp.HoverParams(doc, where)))
        server.run(server.client.text_document_completion_async(lsp.CompletionParams(doc, where)))
        server.run(server.client.text_document_definition_async(lsp.DefinitionParams(doc, where)))
    assert server.run(server.client.text_document_document_symbol_async(lsp.DocumentSymbolParams(doc))) == []
    # every example and broken fixture cut at a few places, and with the fuzz test's inserts
    version = 1
    for text in TEXTS.values():
        for cut in (len(text) // 3, len(text) // 2, 2 * len(text) // 3):
            for insert in ("", INSERTS[cut % len(INSERTS)]):
                version += 1
                server.change(uri, text[:cut] + insert + text[cut:] if insert else text[:cut], version)
                where = to_position(SourceFile("x", text), cut)
                server.run(server.client.text_document_hover_async(lsp.HoverParams(doc, where)))
                server.run(server.client.text_document_completion_async(lsp.CompletionParams(doc, where)))
    # still answering, and right
    broken = NPC_TEXT.replace("line.text", "line.txt")
    assert [d.code for d in server.change(uri, broken, version + 1)] == [
        d.code for d in compile_source(SourceFile("untitled:garbage.octo", broken)).diagnostics
    ]


# ---------------------------------------------------------------- the pure features

SAILOR = EXAMPLES / "drunken_sailor.octo"
SAILOR_TEXT = SAILOR.read_text(encoding="utf-8")


def hover_text(analysis: Analysis, position: lsp.Position) -> str | None:
    found = hover(analysis, position)
    if found is None:
        return None
    assert isinstance(found.contents, lsp.MarkupContent)
    return found.contents.value


def test_hover_texts(snapshot: Any) -> None:
    npc = analyse(NPC)
    sailor = analyse(SAILOR)
    shown = {
        "step line (declaration)": hover_text(npc, position_of(NPC_TEXT, "step line", delta=6)),
        "line.tone in a template": hover_text(npc, position_of(NPC_TEXT, "line.tone", delta=6)),
        "text in a validate rule": hover_text(npc, position_of(NPC_TEXT, "len(text)", delta=5)),
        "unit.role in a template": hover_text(npc, position_of(NPC_TEXT, "unit.role", delta=6)),
        "model critic": hover_text(npc, position_of(NPC_TEXT, "llm critic", delta=5)),
        "type Line in output": hover_text(npc, position_of(NPC_TEXT, "output Line", delta=8)),
        "review.score in the gate": hover_text(npc, position_of(NPC_TEXT, "gate review.score", delta=13)),
        "const PIER in code": hover_text(sailor, position_of(SAILOR_TEXT, "< PIER", delta=3)),
        "unit.start (vary) in code": hover_text(sailor, position_of(SAILOR_TEXT, "unit.start", delta=6)),
        "walk in a report": hover_text(sailor, position_of(SAILOR_TEXT, "mean(walk", delta=6)),
        "field tone declared in type Line": hover_text(npc, position_of(NPC_TEXT, "  tone:", delta=3)),
        "field score declared in an inline output": hover_text(npc, position_of(NPC_TEXT, "score: int", delta=1)),
        "feedback in a template": hover_text(npc, position_of(NPC_TEXT, "{{ feedback }}", delta=4)),
        "rng in code": hover_text(sailor, position_of(SAILOR_TEXT, "rng.choice", delta=1)),
    }
    assert shown == snapshot


@pytest.mark.parametrize(
    ("needle", "delta"),
    [
        ("Write one line that", 10),  # prose of a prompt: `line` is a word, not the step
        ("# unit ids use the name", 4),  # a comment
        ('"what the NPC says', 3),  # a field's description
        ('"keep it under 200', 3),  # a rule's message
        ("temperature", 2),  # a setting's name
    ],
)
def test_no_hover_outside_references(needle: str, delta: int) -> None:
    npc = analyse(NPC)
    assert hover_text(npc, position_of(NPC_TEXT, needle, delta=delta)) is None


def test_cursor_contexts() -> None:
    text = 'step s = llm m {\n  prompt """Hi {{ unit.na"""\n  code "x = unit.y"  # unit.z\n}\n'
    assert cursor_at(text, text.index("unit.na") + 7).chain == ["unit", "na"]
    assert cursor_at(text, text.index("unit.na") + 7).context == "template"
    assert cursor_at(text, text.index("Hi") + 1).context == "prose"
    assert cursor_at(text, text.index("unit.y") + 5).context == "code"
    assert cursor_at(text, text.index("unit.z") + 5).context == "prose"
    assert cursor_at(text, text.index("llm") + 1).context == "syntax"


def test_definitions() -> None:
    npc = analyse(NPC)
    sailor = analyse(SAILOR)

    def target(analysis: Analysis, text: str, needle: str, delta: int) -> str:
        location = definition(analysis, position_of(text, needle, delta=delta), "file:///x")
        assert location is not None, needle
        source = SourceFile("x", text)
        return text[to_offset(source, location.range.start) : to_offset(source, location.range.end)]

    assert target(npc, NPC_TEXT, "llm writer", 5) == "writer"
    assert target(npc, NPC_TEXT, "output Line", 8) == "Line"
    assert target(npc, NPC_TEXT, "retry line", 7) == "line"
    assert target(npc, NPC_TEXT, "mean(review", 6) == "review"
    assert target(npc, NPC_TEXT, "review.reason", 8).startswith("reason: string")
    assert target(npc, NPC_TEXT, "line.tone", 6).startswith("tone:")
    assert target(sailor, SAILOR_TEXT, "< PIER", 3) == "PIER"
    assert target(sailor, SAILOR_TEXT, "unit.start", 6) == "start"  # the `vary` that makes it
    assert target(npc, NPC_TEXT, "  tone:", 3).startswith("tone:")  # a field's own name: itself

    column = definition(npc, position_of(NPC_TEXT, "unit.role", delta=6), "file:///x")
    assert column is not None and column.uri == (EXAMPLES / "npcs.csv").as_uri()
    header = (EXAMPLES / "npcs.csv").read_text(encoding="utf-8").splitlines()[0]
    assert column.range.start.line == 0
    assert header[column.range.start.character : column.range.end.character] == "role"


def test_completion_of_keywords_names_and_fields() -> None:
    npc = analyse(NPC)
    labels = [i.label for i in completion(npc, position_of(NPC_TEXT, "gate review", delta=0)).items]
    assert set(grammar_keywords()) <= set(labels)
    written = set(re.findall(r'"([a-z][a-z_]*)"', (REPO / "grammar" / "octo.lark").read_text(encoding="utf-8")))
    assert written <= set(labels)  # every word the grammar file quotes, read here independently
    assert {"step", "vary", "gate", "report", "retry", "validate", "feedback"} <= set(grammar_keywords())
    assert {"unit", "line", "review", "writer", "critic", "Line"} <= set(labels)
    assert len(labels) == len(set(labels))
    fields = completion(npc, position_of(NPC_TEXT, "review.score >= 7", delta=len("review.")))
    assert [i.label for i in fields.items] == ["score", "reason"]
    assert completion(npc, position_of(NPC_TEXT, "Write one line", delta=3)).items == []


def test_completion_while_the_text_does_not_parse() -> None:
    """`gate line.` does not parse; the fields come from the last text that did."""
    compiler = IncrementalCompiler(str(NPC))
    good = compiler.compile(NPC_TEXT)
    typing = NPC_TEXT + "\ngate line."
    analysis = compiler.compile(typing)
    assert analysis.program is None
    analysis.names_from = good.program
    end = to_position(SourceFile("x", typing), len(typing))
    assert [i.label for i in completion(analysis, end).items] == ["text", "tone"]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_document_symbols(path: Path, snapshot: Any) -> None:
    analysis = analyse(path)
    outline = [
        (s.name, s.kind.name, s.detail, _range(s.range), _range(s.selection_range), [c.name for c in s.children or []])
        for s in document_symbols(analysis)
    ]
    assert outline == snapshot


def _range(r: lsp.Range) -> str:
    return f"{r.start.line}:{r.start.character}-{r.end.line}:{r.end.character}"


def test_positions_count_utf16() -> None:
    source = SourceFile("x", 'const A = "🐙🐙"\nconst B = 1\n')
    offset = source.text.index('"', 11)  # the closing quote, after two emoji (4 UTF-16 units)
    assert to_position(source, offset) == lsp.Position(line=0, character=15)
    assert to_offset(source, lsp.Position(line=0, character=15)) == offset
    assert to_offset(source, lsp.Position(line=99, character=0)) <= len(source.text)


def test_related_information_from_labels() -> None:
    path = REPO / "tests" / "fixtures" / "broken" / "names_duplicates_reserved.octo"
    compilation = compile_source(SourceFile(str(path), path.read_text(encoding="utf-8")))
    labelled = [d for d in compilation.diagnostics if d.labels]
    assert labelled, "the fixture has a diagnostic with a secondary label"
    converted = to_lsp(labelled[0], compilation.source, "file:///x")
    assert converted.code == labelled[0].code
    assert converted.related_information is not None
    assert [r.message for r in converted.related_information] == [lab.message for lab in labelled[0].labels]
    assert converted.related_information[0].location.range.start.line == labelled[0].labels[0].span.line - 1


# ---------------------------------------------------------------- incremental == compile_source

BROKEN = sorted((REPO / "tests" / "fixtures" / "broken").glob("*.octo"))


@pytest.mark.parametrize("path", EXAMPLE_FILES + BROKEN, ids=lambda p: p.stem)
def test_incremental_matches_a_full_compile(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    compiler = IncrementalCompiler(str(path))
    assert compiler.compile(text).compilation.diagnostics == compile_source(SourceFile(str(path), text)).diagnostics
    # an edit inside the last declaration, then undone: pieces and step facts are reused
    edited = text.rstrip() + "\n# edited\n"
    assert compiler.compile(edited).compilation.diagnostics == compile_source(SourceFile(str(path), edited)).diagnostics
    assert compiler.compile(text).compilation.diagnostics == compile_source(SourceFile(str(path), text)).diagnostics


def test_incremental_follows_a_type_change() -> None:
    """A change in one declaration that changes what other steps see (an output type) re-checks them."""
    compiler = IncrementalCompiler(str(NPC))
    assert compiler.compile(NPC_TEXT).compilation.diagnostics == []
    renamed = NPC_TEXT.replace("  tone:", "  mood:")
    diagnostics = compiler.compile(renamed).compilation.diagnostics
    assert diagnostics == compile_source(SourceFile(str(NPC), renamed)).diagnostics
    assert {d.code for d in diagnostics} == {"E0103"}  # `line.tone` in review's prompt
    assert compiler.compile(NPC_TEXT).compilation.diagnostics == []


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=mutated(), line=st.integers(0, 60), character=st.integers(0, 90))
def test_mutations_give_the_same_diagnostics_and_features_never_raise(
    case: tuple[Path, str | bytes], line: int, character: int
) -> None:
    path, text = case
    assert isinstance(text, str)
    # A name no file has: Python's parser reads the line of a code block's syntax error from
    # the file its `filename` names, which here would be the unmutated example on disk.
    unsaved = path.with_name(f"_unsaved_{path.name}")
    compiler = IncrementalCompiler(str(unsaved))
    compiler.compile(TEXTS[path])  # warm: the mutation is an edit of the original
    analysis = compiler.compile(text)
    as_read = text.replace("\r\n", "\n").replace("\r", "\n")  # what `read_source` gives `octoc check`
    assert analysis.compilation.diagnostics == compile_source(SourceFile(str(unsaved), as_read)).diagnostics
    where = lsp.Position(line=line, character=character)
    hover(analysis, where)
    definition(analysis, where, "file:///x")
    completion(analysis, where)
    document_symbols(analysis)


def test_windows_line_ends_keep_positions() -> None:
    crlf = NPC_TEXT.replace("\n", "\r\n")
    analysis = analyse(NPC, crlf)
    assert analysis.compilation.diagnostics == []
    assert "gpt-4.1-mini" in (hover_text(analysis, position_of(NPC_TEXT, "llm writer", delta=5)) or "")


def test_range_edits_are_applied() -> None:
    """Clients may send range edits even when full sync is offered; they are applied, not lost."""
    from octolang.lsp.server import _apply

    change = lsp.TextDocumentContentChangePartial(
        range=lsp.Range(start=lsp.Position(line=1, character=2), end=lsp.Position(line=1, character=4)), text="XY"
    )
    assert _apply("abc\ndefgh\n", change) == "abc\ndeXYh\n"
    assert _apply("abc", lsp.TextDocumentContentChangeWholeDocument(text="new")) == "new"


SMALL = """pipeline small
model m = mock "echo"
type T { text: string "the text" }
units u { rows [ { topic: "a" } ] }
step a = llm m {
  prompt "Write about {{ unit.topic }}"
  output T
}
step b = llm m {
  prompt "Rate {{ a.text }}"
  output { score: int }
}
step c = llm m {
  prompt "Say hi about {{ unit.topic }}"
  output { hi: string }
}
report r {
  n = count()
  s = mean(b.score)
  h = count(c.hi == "x")
}
"""


def test_only_the_steps_an_edit_can_affect_are_checked_again() -> None:
    compiler = IncrementalCompiler("small.octo")

    def compiled(text: str) -> int:
        result = compiler.compile(text).compilation.diagnostics
        assert result == compile_source(SourceFile("small.octo", text)).diagnostics
        return compiler.rechecked

    text = SMALL
    assert compiled(text) == 3
    text = text.replace("Say hi", "Say hello")
    assert compiled(text) == 1  # c's own text changed
    text = text.replace('"the text"', '"the words"')
    assert compiled(text) == 2  # T changed: a's output, and b reads a
    text = text.replace("{ hi: string }", "{ hey: string }")
    assert compiled(text) == 1  # c's output: nobody's template reads c
    text = text.replace("step c", "step d")
    assert compiled(text) == 3  # a new step name: unknown names and their suggestions may change


def test_deep_nesting_gets_the_checkers_answer() -> None:
    text = "const A = " + "(" * 3000 + "1" + ")" * 3000 + "\n"
    analysis = IncrementalCompiler("deep.octo").compile(text)
    assert analysis.compilation.diagnostics == compile_source(SourceFile("deep.octo", text)).diagnostics
    assert [d.code for d in analysis.compilation.diagnostics] == ["E0006"]
