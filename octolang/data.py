"""Reading unit rows from CSV and JSONL files (the checker infers fields from them,
the runner enumerates units from them).

Whatever the bytes, reading ends in rows or a DataError (with the line when known):
the file is opened through `octolang.paths` (a regular file of bounded size), and what
Python's parsers would raise on odd input (a NUL byte, bytes that are not UTF-8, an
integer past Python's digit limit, nesting past the recursion limit) is said as such.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import sys
from typing import Any

from octolang.paths import FileRefused, max_data_bytes, read_regular

MAX_FIELD_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64  # arrays and objects inside a JSONL row; deeper data is refused, not recursed into
_BIG_EXPONENT = re.compile(r"[eE][+-]?\d{3}|\d{300}")  # a float that may overflow to inf


class DataError(Exception):
    """A data file that cannot be read; `line` is 1-based in the data file when known.
    `code` is the diagnostic code (E0201 missing, E0210/E0211 refused, else E0202)."""

    def __init__(self, message: str, line: int | None = None, code: str = "E0202", help: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.code = code
        self.help = help


def read_rows(path: str, max_bytes: int | None = None, name: str | None = None) -> list[dict[str, Any]]:
    """The rows of the data file `path` (already allowed by `octolang.paths.data_file_path`),
    at most `max_bytes` long (default: `OCTO_MAX_DATA_MB`). `name` is the file as the
    pipeline names it (a symlink's name, not its target's): its suffix picks the format."""
    name = name or os.path.basename(path)
    suffix = os.path.splitext(name)[1].lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise DataError(f"unsupported data file `{name}`: use .csv or .jsonl")
    try:
        data = read_regular(path, max_bytes if max_bytes is not None else _default_bound(), name)
    except FileRefused as exc:
        raise DataError(exc.message, code=exc.code, help=exc.help) from exc
    except FileNotFoundError as exc:
        raise DataError(f"data file not found: {path}", code="E0201") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{path} is a folder, not a data file") from exc
    except PermissionError as exc:
        raise DataError(f"cannot read {path}: permission denied") from exc
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    text = _decode(data)
    return _read_csv(io.StringIO(text, newline="")) if suffix == ".csv" else _read_jsonl(text)


def _default_bound() -> int:
    try:
        return max_data_bytes()
    except ValueError:  # the checker has said so already (E0211); the runner never gets here with it
        return max_data_bytes({})


def _decode(data: bytes) -> str:
    nul = data.find(b"\0")
    if nul != -1:
        raise DataError(
            "the file holds a NUL byte, which text does not: is it a binary file, or UTF-16?",
            data[:nul].count(b"\n") + 1,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(f"the file is not UTF-8 text ({exc.reason})", line) from exc


def _read_csv(handle: Any) -> list[dict[str, Any]]:
    csv.field_size_limit(MAX_FIELD_BYTES)
    reader = csv.reader(handle, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise DataError("the CSV file is empty: it needs a header row naming its columns", 1)
        names = [h.strip() for h in header]
        for index, name in enumerate(names):
            if not name.isidentifier():
                raise DataError(
                    f"column {index + 1} is named `{name}`, which is not a valid field name "
                    "(letters, digits and _, not starting with a digit)",
                    1,
                )
            if names.count(name) > 1:
                raise DataError(f"column `{name}` appears twice in the header", 1)
        raw_rows = []
        for values in reader:
            if not values or (all(v == "" for v in values) and len(values) <= 1):
                continue
            if len(values) != len(names):
                raise DataError(f"row has {len(values)} values, the header has {len(names)} columns", reader.line_num)
            raw_rows.append(values)
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise DataError(f"a field is longer than {MAX_FIELD_BYTES // (1024 * 1024)} MiB", reader.line_num) from exc
        raise DataError(f"malformed CSV: {exc}", reader.line_num) from exc
    columns = [_column_values([r[i] for r in raw_rows]) for i in range(len(names))]
    return [{name: columns[i][row] for i, name in enumerate(names)} for row in range(len(raw_rows))]


def _column_values(cells: list[str]) -> list[Any]:
    """Type a CSV column as a whole: int if every cell is, then float, then bool, else str.
    Empty cells become None."""
    present = [c.strip() for c in cells if c.strip() != ""]
    for convert in (_as_int, _as_float, _as_bool):
        try:
            converted = [convert(c) for c in present]
        except ValueError:
            continue
        it = iter(converted)
        return [next(it) if c.strip() != "" else None for c in cells]
    return [c if c != "" else None for c in cells]


def _as_int(text: str) -> int:
    if not text.lstrip("+-").isdigit():
        raise ValueError(text)
    return int(text)


def _as_float(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _as_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError(text)


def _read_jsonl(text: str) -> list[dict[str, Any]]:
    rows = []
    may_overflow = _BIG_EXPONENT.search(text) is not None  # one look at the whole file, not one per line
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if not line.strip():
            continue
        try:
            value = (_FINITE_CHECKED if may_overflow and _BIG_EXPONENT.search(line) else _DECODER).decode(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"line is not valid JSON: {exc.msg} (column {exc.colno})", number) from exc
        except _NotFinite as exc:
            literal = str(exc)
            shown = f"`{literal}`" if len(literal) <= 24 else f"`{literal[:12]}...` ({len(literal)} characters)"
            raise DataError(f"{shown} is not a finite number (JSON has no NaN or Infinity)", number) from exc
        except ValueError as exc:  # Python's bound on the digits of an int read from text
            raise DataError(
                f"an integer has more than {sys.get_int_max_str_digits():,} digits, more than can be read", number
            ) from exc
        except RecursionError as exc:
            raise DataError(f"the line is nested more than {MAX_DEPTH} levels deep", number) from exc
        if not isinstance(value, dict):
            raise DataError(f"each line must be a JSON object, this one is a {type(value).__name__}", number)
        for key in value:
            if not str(key).isidentifier():
                raise DataError(f"key `{key}` is not a valid field name", number)
        if line.count("[") + line.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
            raise DataError(f"the line is nested more than {MAX_DEPTH} levels deep", number)
        rows.append(value)
    return rows


class _NotFinite(Exception):
    pass


def _no_constant(name: str) -> Any:
    raise _NotFinite(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(text)
    return value


_DECODER = json.JSONDecoder(parse_constant=_no_constant)
_FINITE_CHECKED = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in `value`, counted without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        level += 1
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level) for child in children)
    return deepest
