"""The language server's edits: code actions, find references, rename, formatting, and the
prompt preview on hover (octolang/lsp/actions.py, references.py, preview.py, server.py)."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp

from octolang.lsp.actions import code_actions
from octolang.lsp.hover import hover
from octolang.lsp.incremental import Analysis, IncrementalCompiler
from octolang.lsp.references import prepare_rename, references, rename
from octolang.lsp.server import formatting_edits
from octolang.source import SourceFile
from tests.conftest import EXAMPLES
from tests.test_lsp import NPC, NPC_TEXT, Session, language_server, position_of

URI = "file:///t/pipeline.octo"


def analyse(text: str, path: str = "/t/pipeline.octo") -> Analysis:
    return IncrementalCompiler(path).compile(text)


def apply(text: str, edits: list[lsp.TextEdit]) -> str:
    """The edits applied, last first (LSP ranges are in the text before any edit)."""
    source = SourceFile("x", text)

    def offset(p: lsp.Position) -> int:
        return source.offset(p.line + 1, p.character + 1)

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end) :]
    return text


def whole(text: str) -> lsp.Range:
    lines = text.split("\n")
    return lsp.Range(start=lsp.Position(line=0, character=0), end=lsp.Position(line=len(lines), character=0))


def actions_for(text: str, path: str = "/t/pipeline.octo") -> list[lsp.CodeAction]:
    return code_actions(analyse(text, path), URI, whole(text))


def edited(text: str, action: lsp.CodeAction) -> str:
    assert action.edit is not None and action.edit.changes is not None
    return apply(text, action.edit.changes[URI])


# ---------------------------------------------------------------- code actions


def test_a_code_action_fixes_a_misspelt_field() -> None:
    broken = NPC_TEXT.replace("{{ line.text }}", "{{ line.txt }}")
    actions = actions_for(broken, str(NPC))
    fixes = [a for a in actions if a.title == "Change `txt` to `text`"]
    assert len(fixes) == 1 and fixes[0].kind == lsp.CodeActionKind.QuickFix and fixes[0].is_preferred
    assert fixes[0].diagnostics is not None and fixes[0].diagnostics[0].code == "E0103"
    fixed = edited(broken, fixes[0])
    assert fixed == NPC_TEXT
    assert analyse(fixed, str(NPC)).compilation.diagnostics == []


def test_every_did_you_mean_gets_its_fix() -> None:
    """Misspelt step, model, const, unit field and step field: each diagnostic's fix
    makes the file check clean."""
    good = (
        'pipeline p\nconst LIMIT = 3\nmodel writer = mock "any"\nunits u { vary people in [1, 2] }\n'
        'step draft = llm writer {\n  prompt "{{ unit.people }} {{ LIMIT }}"\n  output { score: int }\n}\n'
        'step judge = llm writer {\n  prompt "{{ draft.score }}"\n  output { ok: int }\n}\n'
        "gate judge.ok >= LIMIT else retry draft max 2\n"
        "report r {\n  n = mean(draft.score)\n  k = mean(unit.people)\n}\n"
    )
    assert analyse(good).compilation.diagnostics == []
    for wrong, right in [
        ("llm writer", "llm writr"),
        ("{{ LIMIT }}", "{{ LIMT }}"),
        ("mean(unit.people)", "mean(unit.peple)"),
        ("mean(draft.score)", "mean(draft.scor)"),
        ("retry draft", "retry draftt"),
    ]:
        broken = good.replace(wrong, right, 1)
        actions = [a for a in actions_for(broken) if a.title.startswith("Change")]
        assert len(actions) == 1, (right, [a.title for a in actions])
        assert edited(broken, actions[0]) == good, right


def test_a_code_action_adds_a_missing_output_field() -> None:
    inline = (
        'pipeline p\nmodel m = mock "any"\nunits u { trials 2 }\n'
        'step a = llm m {\n  prompt "x"\n  output { score: int }\n}\n'
        'step b = llm m {\n  prompt "{{ a.reason }}"\n  output { ok: bool }\n}\n'
    )
    (add,) = [a for a in actions_for(inline) if a.title.startswith("Add")]
    assert add.title == "Add field `reason: string` to the output of `a`"
    fixed = edited(inline, add)
    assert "  output { score: int, reason: string }\n" in fixed
    assert [d.code for d in analyse(fixed).compilation.diagnostics] == ["W0101"]  # nothing reads `b`

    named = (
        'pipeline p\nmodel m = mock "any"\nunits u { trials 2 }\n'
        "type Verdict {\n  score: int  # the score\n}\n"
        'step a = llm m {\n  prompt "x"\n  output Verdict\n}\n'
        "report r {\n  why = count(a.reason)\n}\n"
    )
    (add,) = [a for a in actions_for(named) if a.title.startswith("Add")]
    assert add.title == "Add field `reason: string` to type `Verdict`"
    fixed = edited(named, add)
    assert "type Verdict {\n  score: int  # the score\n  reason: string\n}\n" in fixed
    assert [d.code for d in analyse(fixed).compilation.diagnostics if d.is_error] == []


def test_no_action_outside_the_asked_range() -> None:
    broken = NPC_TEXT.replace("{{ line.text }}", "{{ line.txt }}")
    first_line = lsp.Range(start=lsp.Position(line=0, character=0), end=lsp.Position(line=0, character=5))
    assert code_actions(analyse(broken, str(NPC)), URI, first_line) == []


# ---------------------------------------------------------------- references and rename

FLOW = '''\
pipeline flow
model m = mock "any"
units u { vary topic in ["a", "b"] }

step draft = llm m {
  prompt "Write about {{ unit.topic }}."
  output { text: string, words: int }
}

step judge = llm m {
  prompt """
    Rate this draft: {{ draft.text }} ({{ draft.words }} words). The draft is below.
  """
  output { score: int[1..10] }
}

step tally = compute {
  output { total: int }
  code """
    draft_words = draft.words  # the draft's length
    return {"total": draft_words + len(draft.text)}
  """
}

gate judge.score >= 7 else retry draft max 2 feedback draft.text
report r {
  group by unit.topic
  mean_words = mean(draft.words)
  total      = mean(tally.total)
}
'''


def _lines_of(text: str, locations: list[lsp.Location]) -> list[str]:
    source = SourceFile("x", text)
    out = []
    for location in locations:
        start = source.offset(location.range.start.line + 1, location.range.start.character + 1)
        end = source.offset(location.range.end.line + 1, location.range.end.character + 1)
        out.append(f"{location.range.start.line + 1}:{text[start:end]}")
    return out


def test_references_of_a_step_list_its_uses_in_templates_code_gates_and_reports() -> None:
    analysis = analyse(FLOW)
    found = references(analysis, position_of(FLOW, "step draft", delta=6), URI, include_declaration=True)
    # the word `draft` in prose ("Rate this draft", "The draft is below"), in the local
    # name `draft_words` and in a comment is not the step
    assert _lines_of(FLOW, found) == [
        "5:draft",  # the declaration
        "12:draft",  # {{ draft.text }}
        "12:draft",  # {{ draft.words }}
        "20:draft",  # code: draft.words
        "21:draft",  # code: draft.text
        "25:draft",  # gate: retry draft
        "25:draft",  # gate: feedback draft.text
        "28:draft",  # report: mean(draft.words)
    ]
    assert [(r.range.start.line, r.range.start.character) for r in found[1:3]] == [(11, 24), (11, 42)]
    without = references(analysis, position_of(FLOW, "draft.words)"), URI, include_declaration=False)
    assert len(without) == len(found) - 1


def test_rename_of_a_step_updates_templates_code_gates_and_reports() -> None:
    analysis = analyse(FLOW)
    where = position_of(FLOW, "retry draft", delta=6)
    assert prepare_rename(analysis, where) == lsp.Range(start=where, end=lsp.Position(line=24, character=38))
    edit = rename(analysis, where, URI, "essay")
    assert edit is not None and edit.changes is not None
    renamed = apply(FLOW, edit.changes[URI])
    assert renamed == (
        FLOW.replace("step draft", "step essay")
        .replace("{{ draft.", "{{ essay.")
        .replace("= draft.words", "= essay.words")
        .replace("len(draft.text)", "len(essay.text)")
        .replace("retry draft", "retry essay")
        .replace("feedback draft.text", "feedback essay.text")
        .replace("mean(draft.words)", "mean(essay.words)")
    )
    assert "Rate this draft" in renamed and "draft_words" in renamed and "the draft's length" in renamed
    assert analyse(renamed).compilation.diagnostics == []


def test_rename_of_a_field_a_model_a_type_and_a_unit_field() -> None:
    analysis = analyse(FLOW)
    field_edit = rename(analysis, position_of(FLOW, "words: int"), URI, "length")
    assert field_edit is not None and field_edit.changes is not None
    renamed = apply(FLOW, field_edit.changes[URI])
    assert renamed.count("words") == FLOW.count("words") - 4  # the declaration and three reads
    assert "draft_words" in renamed and analyse(renamed).compilation.diagnostics == []

    model_edit = rename(analysis, position_of(FLOW, "llm m", delta=4), URI, "writer")
    assert model_edit is not None and model_edit.changes is not None
    renamed = apply(FLOW, model_edit.changes[URI])
    assert renamed.count("llm writer") == 2 and 'model writer = mock "any"' in renamed

    unit_edit = rename(analysis, position_of(FLOW, "vary topic", delta=5), URI, "subject")
    assert unit_edit is not None and unit_edit.changes is not None
    renamed = apply(FLOW, unit_edit.changes[URI])
    assert "topic" not in renamed and analyse(renamed).compilation.diagnostics == []

    typed = NPC_TEXT
    npc = analyse(typed, str(NPC))
    type_edit = rename(npc, position_of(typed, "type Line", delta=5), URI, "Utterance")
    assert type_edit is not None and type_edit.changes is not None
    renamed = apply(typed, type_edit.changes[URI])
    assert "type Utterance {" in renamed and "output Utterance" in renamed and "type Line" not in renamed
    text_edit = rename(npc, position_of(typed, "text: string"), URI, "words")
    assert text_edit is not None and text_edit.changes is not None
    assert len(text_edit.changes[URI]) == 4  # the type's field, two rules, `{{ line.text }}`
    assert analyse(apply(typed, text_edit.changes[URI]), str(NPC)).compilation.diagnostics == []


def test_rename_refuses_keywords_taken_names_and_non_names() -> None:
    analysis = analyse(FLOW)
    where = position_of(FLOW, "step draft", delta=6)
    for bad in ("judge", "m", "step", "for", "unit", "2x", "a-b", ""):
        assert rename(analysis, where, URI, bad) is None, bad
    assert prepare_rename(analysis, position_of(FLOW, "Rate this draft", delta=11)) is None  # prose
    assert prepare_rename(analysis, position_of(FLOW, "pipeline flow")) is None  # a keyword


# ---------------------------------------------------------------- formatting and the prompt preview


def test_formatting_replaces_the_document_with_octoc_fmt() -> None:
    messy = "pipeline  p\nunits u { trials 2 }  # two\n"
    (edit,) = formatting_edits("/t/p.octo", messy, "utf-16") or []
    assert apply(messy, [edit]) == "pipeline p\nunits u {  # two\n  trials 2\n}\n"
    assert formatting_edits("/t/p.octo", apply(messy, [edit]), "utf-16") == []
    assert formatting_edits("/t/p.octo", "pipeline p\nunits u {\n", "utf-16") is None


def test_hover_over_a_step_previews_its_prompt_for_the_first_unit() -> None:
    analysis = analyse(NPC_TEXT, str(NPC))
    shown = hover(analysis, position_of(NPC_TEXT, "step review", delta=6))
    assert shown is not None and isinstance(shown.contents, lsp.MarkupContent)
    text = shown.contents.value
    first = (EXAMPLES / "npcs.csv").read_text(encoding="utf-8").splitlines()[1].split(",")
    assert f"prompt for unit `name={first[0]}`" in text
    assert f"Score this line by a {first[1]} from {first[2]} from 1 to 10" in text
    assert "Line (warm): ‹line.text›" in text  # upstream answers as placeholders

    line = hover(analysis, position_of(NPC_TEXT, "step line", delta=6))
    assert line is not None and isinstance(line.contents, lsp.MarkupContent)
    assert "system: You write dialogue for a fantasy role-playing game." in line.contents.value


def test_the_preview_says_why_a_prompt_does_not_render(tmp_path: Path) -> None:
    text = 'pipeline p\nmodel m = mock "any"\nunits u { trials 1 }\nstep s = llm m { prompt "{{ 1 / 0 }}" }\n'
    analysis = analyse(text, str(tmp_path / "p.octo"))
    shown = hover(analysis, position_of(text, "step s", delta=5))
    assert shown is not None and isinstance(shown.contents, lsp.MarkupContent)
    assert "the prompt does not render for unit `trial=1`: division by zero" in shown.contents.value


# ---------------------------------------------------------------- over stdio


def test_actions_rename_and_formatting_over_stdio() -> None:
    uri = "untitled:flow.octo"
    with language_server(lsp.ClientCapabilities()) as session:
        _stdio(session, uri)


def _stdio(session: Session, uri: str) -> None:
    broken = FLOW.replace("mean(draft.words)", "mean(draft.wrds)")
    diagnostics = session.open(uri, broken)
    assert [d.code for d in diagnostics] == ["E0103"]
    doc = lsp.TextDocumentIdentifier(uri=uri)
    actions = session.run(
        session.client.text_document_code_action_async(
            lsp.CodeActionParams(
                text_document=doc,
                range=diagnostics[0].range,
                context=lsp.CodeActionContext(diagnostics=diagnostics),
            )
        )
    )
    assert [a.title for a in actions] == [
        "Change `wrds` to `words`",
        "Add field `wrds: string` to the output of `draft`",
    ]
    assert apply(broken, actions[0].edit.changes[uri]) == FLOW
    assert session.change(uri, FLOW, version=2) == []
    where = position_of(FLOW, "step draft", delta=6)
    edit = session.run(
        session.client.text_document_rename_async(lsp.RenameParams(text_document=doc, position=where, new_name="essay"))
    )
    assert len(edit.changes[uri]) == 8
    found = session.run(
        session.client.text_document_references_async(
            lsp.ReferenceParams(
                text_document=doc, position=where, context=lsp.ReferenceContext(include_declaration=False)
            )
        )
    )
    assert len(found) == 7
    formatted = session.run(
        session.client.text_document_formatting_async(
            lsp.DocumentFormattingParams(
                text_document=doc, options=lsp.FormattingOptions(tab_size=2, insert_spaces=True)
            )
        )
    )
    assert apply(FLOW, formatted).startswith('pipeline flow\nmodel m = mock "any"\nunits u {\n  vary topic in')
