"""Source files and spans: where every IR node and diagnostic points in the `.octo` text."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict


class Span(BaseModel):
    """A range of source text. Lines and columns are 1-based; `end_col` is exclusive.

    `start` and `end` are character offsets into the file, which is what the language
    server and the string-literal maps work with.
    """

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    col: int
    end_line: int
    end_col: int
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def cover(self, other: Span) -> Span:
        """The smallest span containing both."""
        first = self if self.start <= other.start else other
        last = self if self.end >= other.end else other
        return Span(
            file=self.file,
            line=first.line,
            col=first.col,
            end_line=last.end_line,
            end_col=last.end_col,
            start=first.start,
            end=last.end,
        )


@dataclass
class SourceFile:
    """The text of one `.octo` file, with a line index for offset <-> (line, col)."""

    path: str
    text: str
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        starts = [0]
        index = self.text.find("\n")
        while index != -1:
            starts.append(index + 1)
            index = self.text.find("\n", index + 1)
        self._line_starts = starts

    @property
    def line_count(self) -> int:
        return len(self._line_starts)

    def position(self, offset: int) -> tuple[int, int]:
        """(line, col), both 1-based, of a character offset."""
        offset = max(0, min(offset, len(self.text)))
        line_index = bisect.bisect_right(self._line_starts, offset) - 1
        return line_index + 1, offset - self._line_starts[line_index] + 1

    def offset(self, line: int, col: int) -> int:
        line = max(1, min(line, len(self._line_starts)))
        return min(self._line_starts[line - 1] + col - 1, len(self.text))

    def line_text(self, line: int) -> str:
        if line < 1 or line > len(self._line_starts):
            return ""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start : end if end != -1 else len(self.text)]

    def span(self, start: int, end: int) -> Span:
        line, col = self.position(start)
        end_line, end_col = self.position(end)
        return Span(
            file=self.path,
            line=line,
            col=col,
            end_line=end_line,
            end_col=end_col,
            start=start,
            end=end,
        )
