"""Code actions: the fixes the diagnostics already name.

- Every diagnostic whose help (or label) says "did you mean `x`?": replace the misspelt
  word it underlines by `x`. The word is the one the message quotes in backticks, found
  inside the diagnostic's span (a span can be `unit.peple` while the message names `peple`).
- An unknown field of a step (E0103 "unknown field `x` on `step`"): add `x: string` to the
  step's output record, inline or in its named type, on a line of its own when the
  record is written over lines.
"""

from __future__ import annotations

import re

from lsprotocol import types as lsp

from octolang import ir
from octolang.diagnostics import Diagnostic
from octolang.lsp.diagnostics import to_lsp
from octolang.lsp.incremental import Analysis
from octolang.lsp.positions import to_position

_SUGGESTION = re.compile(r"did you mean `([^`]+)`\?")
_QUOTED = re.compile(r"`([^`]+)`")
_UNKNOWN_FIELD = re.compile(r"^unknown field `([A-Za-z_][A-Za-z0-9_]*)` on `([A-Za-z_][A-Za-z0-9_]*)`$")
NEW_FIELD_TYPE = "string"


def code_actions(analysis: Analysis, uri: str, wanted: lsp.Range) -> list[lsp.CodeAction]:
    source = analysis.source
    actions: list[lsp.CodeAction] = []
    for diagnostic in analysis.compilation.diagnostics:
        if diagnostic.span.file != source.path:
            continue
        shown = to_lsp(diagnostic, source, uri, analysis.encoding)
        if not _overlaps(shown.range, wanted):
            continue
        for action in (_did_you_mean(analysis, diagnostic), _add_field(analysis, diagnostic)):
            if action is None:
                continue
            title, start, end, text = action
            edit = lsp.TextEdit(range=_range(analysis, start, end), new_text=text)
            actions.append(
                lsp.CodeAction(
                    title=title,
                    kind=lsp.CodeActionKind.QuickFix,
                    diagnostics=[shown],
                    is_preferred=title.startswith("Change"),
                    edit=lsp.WorkspaceEdit(changes={uri: [edit]}),
                )
            )
    return actions


Edit = tuple[str, int, int, str]  # title, start offset, end offset, new text


def _did_you_mean(analysis: Analysis, diagnostic: Diagnostic) -> Edit | None:
    found = _SUGGESTION.search(diagnostic.help) or _SUGGESTION.search(diagnostic.label)
    if found is None:
        return None
    suggestion = found.group(1)
    text = analysis.source.text
    start, end = diagnostic.span.start, diagnostic.span.end
    inside = text[start:end]
    for word in _QUOTED.findall(diagnostic.message):
        if word == suggestion:
            continue
        matches = list(re.finditer(r"(?<![A-Za-z0-9_])" + re.escape(word) + r"(?![A-Za-z0-9_])", inside))
        if matches:
            last = matches[-1]  # `unit.peple`: the misspelt word is the last one named so
            return f"Change `{word}` to `{suggestion}`", start + last.start(), start + last.end(), suggestion
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", inside):
        return f"Change `{inside}` to `{suggestion}`", start, end, suggestion
    return None


def _add_field(analysis: Analysis, diagnostic: Diagnostic) -> Edit | None:
    program = analysis.program
    found = _UNKNOWN_FIELD.match(diagnostic.message)
    if diagnostic.code != "E0103" or found is None or program is None:
        return None
    name, owner = found.groups()
    step = program.step(owner)
    if step is None:
        return None
    record = step.output
    where = f"the output of `{owner}`"
    if isinstance(record, ir.NamedType):
        declared = next((t for t in program.types if t.name == record.name), None)
        record = declared.record if declared is not None else None
        where = f"type `{declared.name}`" if declared is not None else where
    if not isinstance(record, ir.RecordType):
        return None
    title = f"Add field `{name}: {NEW_FIELD_TYPE}` to {where}"
    field = f"{name}: {NEW_FIELD_TYPE}"
    text = analysis.source.text
    start, end = analysis.start(record.span), analysis.end(record.span)
    if not record.fields:  # `{}` or `{ }`: the whole record
        return title, start, end, f"{{ {field} }}"
    last = analysis.end(record.fields[-1].span)
    if "\n" in text[start:end]:
        line_start = text.rfind("\n", 0, analysis.start(record.fields[-1].span)) + 1
        indent = re.match(r"[ \t]*", text[line_start:]).group()  # type: ignore[union-attr]
        line_end = text.find("\n", last)
        line_end = len(text) if line_end == -1 else line_end
        at = last if end - 1 < line_end else line_end  # `a: int }`: the new field goes before the `}`
        return title, at, at, f"\n{indent}{field}"
    return title, last, last, f", {field}"


def _overlaps(a: lsp.Range, b: lsp.Range) -> bool:
    def key(p: lsp.Position) -> tuple[int, int]:
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


def _range(analysis: Analysis, start: int, end: int) -> lsp.Range:
    source, encoding = analysis.source, analysis.encoding
    return lsp.Range(start=to_position(source, start, encoding), end=to_position(source, end, encoding))
