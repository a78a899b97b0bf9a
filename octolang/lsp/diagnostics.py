"""The checker's diagnostics as LSP diagnostics: same code and message as `octoc check`,
0-based ranges from the spans, secondary labels as related information."""

from __future__ import annotations

from lsprotocol import types as lsp

from octolang.diagnostics import Diagnostic, Severity
from octolang.lsp.positions import UTF16, to_range
from octolang.source import SourceFile

SOURCE_NAME = "octoc"
_SEVERITIES = {Severity.ERROR: lsp.DiagnosticSeverity.Error, Severity.WARNING: lsp.DiagnosticSeverity.Warning}


def to_lsp(diagnostic: Diagnostic, source: SourceFile, uri: str, encoding: str = UTF16) -> lsp.Diagnostic:
    message = diagnostic.message
    if diagnostic.label:
        message += f"\n{diagnostic.label}"
    if diagnostic.help:
        message += f"\nhelp: {diagnostic.help}"
    related = [
        lsp.DiagnosticRelatedInformation(
            location=lsp.Location(uri=uri, range=to_range(source, label.span, encoding)),
            message=label.message or "related",
        )
        for label in diagnostic.labels
        if label.span.file == diagnostic.span.file
    ]
    return lsp.Diagnostic(
        range=to_range(source, diagnostic.span, encoding),
        message=message,
        severity=_SEVERITIES[diagnostic.severity],
        code=diagnostic.code,
        source=SOURCE_NAME,
        related_information=related or None,
    )


def to_lsp_all(
    diagnostics: list[Diagnostic], source: SourceFile, uri: str, encoding: str = UTF16
) -> list[lsp.Diagnostic]:
    return [to_lsp(d, source, uri, encoding) for d in diagnostics]
