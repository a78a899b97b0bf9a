"""The lines `octoc fmt` prints (format.py builds them from the parse tree): each with its
indent, the comments before it and after it, and the two things laid out across
neighbouring lines, aligned `=`, `:` and descriptions, and the column of comments after code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

LINE_WIDTH = 100
INDENT = "  "
ALIGN_SPREAD = 16  # neighbours whose left sides differ more than this are not lined up


@dataclass
class Comment:
    text: str
    blank_before: bool


@dataclass
class Line:
    depth: int
    text: str  # may hold newlines: a string over several lines, a list written over lines
    first: int  # index of the line's first token
    item: bool = True  # a blank line before it in the source is kept (not for a closing bracket)
    align: tuple[str, str, str] | None = None  # (left, separator, right): aligned with its neighbours
    comment_depth: int | None = None
    leading: list[Comment] = field(default_factory=list)
    trailing: str | None = None

    def text_right(self) -> str:
        return self.align[2] if self.align is not None else self.text


def align(lines: list[Line], blank: list[bool]) -> None:
    """Neighbouring metrics, rules or described fields line up their `=`, `:` or
    description; a blank line, a comment line or a much longer left side ends a group.
    A field without a description joins no group and ends none."""
    group: list[Line] = []

    def widths() -> list[int]:
        return [len(g.align[0]) for g in group if g.align is not None and g.align[2]]

    def close() -> None:
        width = max(widths(), default=0)
        for line in group:
            assert line.align is not None
            left, separator, right = line.align
            line.text = left.ljust(width) + separator + right if right else left
        group.clear()

    for line in lines:
        if line.align is None:
            close()
            continue
        sizes, width = widths(), len(line.align[0])
        if group and (
            line.depth != group[-1].depth
            or line.leading
            or blank[line.first]
            or "\n" in group[-1].text_right()
            or (line.align[2] and sizes and max(max(sizes) - width, width - min(sizes)) > ALIGN_SPREAD)
        ):
            close()
        group.append(line)
    close()


def with_trailing_comments(rows: list[tuple[str, str | None]]) -> str:
    """Comments after code on neighbouring lines start in one column, two spaces past the
    longest code among them."""
    out: list[str] = []
    n = 0
    while n < len(rows):
        code, comment = rows[n]
        if comment is None:
            out.append(code.rstrip() if "\n" not in code else code)
            n += 1
            continue
        group = [rows[n]]
        while n + len(group) < len(rows):
            following = rows[n + len(group)]
            if following[1] is None or "\n" in following[0] or "\n" in group[-1][0]:
                break
            group.append(following)
        group = [(c.rstrip() if "\n" not in c else c, text) for c, text in group]
        column = max(len(c.rsplit("\n", 1)[-1]) for c, _ in group) + 2
        for c, text in group:
            out.append(c + " " * (column - len(c.rsplit("\n", 1)[-1])) + (text or ""))
        n += len(group)
    return "\n".join(out).rstrip("\n") + "\n" if any(out) else ""
