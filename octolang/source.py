"""Source files and spans: where every IR node and diagnostic points in the `.octo` text."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

M = TypeVar("M", bound=BaseModel)
_FIELDS: dict[type[BaseModel], tuple[tuple[str, Any, bool], ...]] = {}


def construct(cls: type[M], **values: Any) -> M:
    """A pydantic model built from values already of the right types, without validation:
    what `model_construct` does, at a third of its cost (the lowering builds tens of
    thousands of nodes). Defaults are filled in, mutable ones copied per instance."""
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = tuple(
            (name, info.default, isinstance(info.default, (list, dict, set)))
            for name, info in cls.model_fields.items()
            if info.default_factory is None
        )
        if len(fields) != len(cls.model_fields):
            raise TypeError(f"{cls.__name__}: construct() does not handle default factories")
    data = {
        name: values[name] if name in values else (default.copy() if mutable else default)
        for name, default, mutable in fields
    }
    obj = cls.__new__(cls)
    _set(obj, "__dict__", data)
    _set(obj, "__pydantic_fields_set__", set(values))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


_set = object.__setattr__
_SPAN_FIELDS = ("file", "line", "col", "end_line", "end_col", "start", "end")


def make_span(file: str, line: int, col: int, end_line: int, end_col: int, start: int, end: int) -> Span:
    """A Span without validation (see `construct`); the lowering makes one per node."""
    obj = Span.__new__(Span)
    _set(
        obj,
        "__dict__",
        {"file": file, "line": line, "col": col, "end_line": end_line, "end_col": end_col, "start": start, "end": end},
    )
    _set(obj, "__pydantic_fields_set__", set(_SPAN_FIELDS))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


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
        return make_span(self.file, first.line, first.col, last.end_line, last.end_col, first.start, last.end)


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
