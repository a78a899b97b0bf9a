"""One `Diagnostic` type and one renderer, shared by the CLI and the language server.

A diagnostic has a severity, a stable code (documented in docs/errors.md), a one-line
message, the span of what is wrong, optional secondary labels (where related things
sit) and a help line. Checks return lists of them; nothing here raises.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from octolang.source import SourceFile, Span


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


class Label(BaseModel):
    model_config = ConfigDict(frozen=True)

    span: Span
    message: str = ""


class Diagnostic(BaseModel):
    model_config = ConfigDict(frozen=True)

    severity: Severity
    code: str
    message: str
    span: Span
    label: str = ""
    labels: tuple[Label, ...] = ()
    help: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (self.span.file, self.span.start, self.span.end, self.code, self.message)


def error(
    code: str, message: str, span: Span, *, label: str = "", help: str = "", labels: Sequence[Label] = ()
) -> Diagnostic:
    return Diagnostic(
        severity=Severity.ERROR, code=code, message=message, span=span, label=label, help=help, labels=tuple(labels)
    )


def warning(
    code: str, message: str, span: Span, *, label: str = "", help: str = "", labels: Sequence[Label] = ()
) -> Diagnostic:
    return Diagnostic(
        severity=Severity.WARNING, code=code, message=message, span=span, label=label, help=help, labels=tuple(labels)
    )


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A 'did you mean `x`?' help text, or '' when nothing is close."""
    pool = sorted(set(candidates))
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in pool}
        if word.lower() in lowered:
            matches = [lowered[word.lower()]]
    return f"did you mean `{matches[0]}`?" if matches else ""


def sort_diagnostics(diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    unique = {(d.sort_key(), d.severity.value, d.label, d.help): d for d in diagnostics}
    return [unique[k] for k in sorted(unique)]


# ---------------------------------------------------------------- rendering

_COLOURS = {
    "error": "\x1b[1;31m",
    "warning": "\x1b[1;33m",
    "help": "\x1b[1;36m",
    "gutter": "\x1b[1;34m",
    "bold": "\x1b[1m",
    "reset": "\x1b[0m",
}


def render(diagnostic: Diagnostic, source: SourceFile | None, *, colour: bool = False) -> str:
    """Render one diagnostic in the compiler style of rustc / codespan.

    file.octo:24:38: error[E0103]: unknown field `txt` on step `line`
       |
    24 |   prompt "Score this line: {{ line.txt }}"
       |                                    ^^^ `line` outputs `text`, `tone`
       |
       = help: did you mean `text`?
    """

    def paint(kind: str, text: str) -> str:
        return f"{_COLOURS[kind]}{text}{_COLOURS['reset']}" if colour else text

    d = diagnostic
    head = (
        f"{paint('bold', str(d.span))}: "
        f"{paint(d.severity.value, f'{d.severity.value}[{d.code}]')}: {paint('bold', d.message)}"
    )
    lines = [head]
    width = 0
    if source is not None:
        snippets = [(d.span, d.label, d.severity.value)]
        snippets += [(lab.span, lab.message, "help") for lab in d.labels if lab.span.file == d.span.file]
        width = len(str(max(s.line for s, _, _ in snippets)))
        bar = paint("gutter", " " * width + " |")
        lines.append(bar)
        previous = None
        for span, message, kind in sorted(snippets, key=lambda s: (s[0].line, s[0].col)):
            if previous is not None and span.line > previous + 1:
                lines.append(paint("gutter", "..."))
            snippet = _snippet(source, span, message, kind, width, paint)
            lines.extend(snippet[1:] if span.line == previous else snippet)  # a line is shown once
            previous = span.line
        lines.append(bar)
    if d.help:
        pad = " " * width  # the gutter's width: labels on later lines widen it
        lines.append(f"{pad} = {paint('help', 'help')}: {d.help}")
    return "\n".join(lines)


def _snippet(
    source: SourceFile, span: Span, message: str, kind: str, width: int, painter: Callable[[str, str], str]
) -> list[str]:
    text = source.line_text(span.line).expandtabs(1)
    start_col = max(1, span.col)
    if span.end_line == span.line:
        end_col = max(span.end_col, start_col + 1)
    else:
        end_col = max(len(text) + 1, start_col + 1)
    marker = "^" if kind != "help" else "-"
    underline = " " * (start_col - 1) + marker * (end_col - start_col)
    gutter = painter("gutter", f"{span.line:>{width}} |")
    blank = painter("gutter", " " * width + " |")
    mark = painter(kind if kind != "help" else "help", underline + (f" {message}" if message else ""))
    return [f"{gutter} {text}".rstrip(), f"{blank} {mark}"]


def render_all(diagnostics: Sequence[Diagnostic], sources: dict[str, SourceFile], *, colour: bool = False) -> str:
    return "\n\n".join(render(d, sources.get(d.span.file), colour=colour) for d in diagnostics)


def summary_line(diagnostics: Sequence[Diagnostic]) -> str:
    errors = sum(1 for d in diagnostics if d.is_error)
    warnings = len(diagnostics) - errors
    parts = []
    if errors:
        parts.append(f"{errors} error{'s' if errors != 1 else ''}")
    if warnings:
        parts.append(f"{warnings} warning{'s' if warnings != 1 else ''}")
    return ", ".join(parts) if parts else "no problems"
