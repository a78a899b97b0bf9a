"""String literals: decoding, dedenting, and the map from decoded text back to the file."""

from __future__ import annotations

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "0": "\0", "{": "\\{"}


def decode_string(raw: str, start: int) -> tuple[str, list[tuple[int, int]], list[tuple[int, str]]]:
    """Decode a literal token as written in the file, starting at file offset `start`.

    Returns (value, anchors, problems). `"..."` strings understand the escapes
    \\n \\t \\r \\" \\\\ \\0 and \\uXXXX. `\"\"\"...\"\"\"` strings are raw (prompts and code keep
    their backslashes) and dedented: a first line that is empty is dropped, as is a
    last line holding only the closing quotes' indentation; the common indentation of
    the remaining lines is removed. `problems` lists (offset, message) for bad escapes.
    """
    if raw.startswith('"""'):
        return _decode_long(raw, start)
    return _decode_short(raw, start)


def _decode_short(raw: str, start: int) -> tuple[str, list[tuple[int, int]], list[tuple[int, str]]]:
    body = raw[1:-1]
    base = start + 1
    if "\\" not in body:
        return body, [(0, base)], []
    out: list[str] = []
    anchors = [(0, base)]
    problems: list[tuple[int, str]] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 >= len(body):
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        width = 2
        if nxt == "u":
            digits = body[i + 2 : i + 6]
            if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                out.append(chr(int(digits, 16)))
                width = 6
            else:
                problems.append((base + i, "`\\u` must be followed by four hex digits"))
                out.append("\\u")
        elif nxt in _ESCAPES and nxt != "{":
            out.append(_ESCAPES[nxt])
        else:
            problems.append((base + i, f"unknown escape `\\{nxt}`"))
            out.append("\\" + nxt)
        i += width
        anchors.append((len("".join(out)), base + i))
    return "".join(out), anchors, problems


def _decode_long(raw: str, start: int) -> tuple[str, list[tuple[int, int]], list[tuple[int, str]]]:
    body = raw[3:-3]
    base = start + 3
    lines = body.split("\n")
    offsets = []
    pos = base
    for line in lines:
        offsets.append(pos)
        pos += len(line) + 1
    first = 1 if len(lines) > 1 and lines[0].strip() == "" else 0
    last = len(lines)
    if last - first > 1 and lines[-1].strip() == "":
        last -= 1
    kept = range(first, last)
    # As inspect.cleandoc: text on the opening line is not part of the indentation.
    indent = _common_indent([lines[i] for i in kept if i != 0 and lines[i].strip()])
    value_lines: list[str] = []
    anchors: list[tuple[int, int]] = []
    index = 0
    for i in kept:
        line = lines[i]
        leading = len(line) - len(line.lstrip(" \t"))
        cut = leading if i == 0 else min(indent, leading)
        anchors.append((index, offsets[i] + cut))
        text = line[cut:]
        value_lines.append(text)
        index += len(text) + 1
    return "\n".join(value_lines), anchors or [(0, base)], []


def _common_indent(lines: list[str]) -> int:
    if not lines:
        return 0
    return min(len(line) - len(line.lstrip(" \t")) for line in lines)
