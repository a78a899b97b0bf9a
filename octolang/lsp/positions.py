"""LSP positions <-> offsets in a `SourceFile`.

LSP counts lines from 0 and columns in code units of the encoding the client and server
agreed on: UTF-16 unless the client offered others (Neovim offers UTF-8 first); spans
count lines and columns from 1 in characters. They differ only on lines holding
non-ASCII text (UTF-8) or characters outside the Basic Multilingual Plane (UTF-16).
"""

from __future__ import annotations

from lsprotocol import types as lsp

from octolang.source import SourceFile, Span

UTF16 = "utf-16"


def _width(ch: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(ch.encode("utf-8"))
    if encoding == "utf-32":
        return 1
    return 2 if ord(ch) > 0xFFFF else 1


def to_offset(source: SourceFile, position: lsp.Position, encoding: str = UTF16) -> int:
    """The character offset of an LSP position, clamped to the file."""
    line = max(0, min(position.line, source.line_count - 1))
    text = source.line_text(line + 1)
    units = 0
    col = 0
    for ch in text:
        if units >= position.character:
            break
        units += _width(ch, encoding)
        col += 1
    return source.offset(line + 1, col + 1)


def to_position(source: SourceFile, offset: int, encoding: str = UTF16) -> lsp.Position:
    line, col = source.position(offset)
    prefix = source.line_text(line)[: col - 1]
    width = len(prefix) if prefix.isascii() else sum(_width(ch, encoding) for ch in prefix)
    return lsp.Position(line=line - 1, character=width)


def to_range(source: SourceFile, span: Span, encoding: str = UTF16) -> lsp.Range:
    return lsp.Range(start=to_position(source, span.start, encoding), end=to_position(source, span.end, encoding))
