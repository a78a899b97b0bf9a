"""Reading unit rows from CSV and JSONL files (the checker infers fields from them,
the runner enumerates units from them)."""

from __future__ import annotations

import csv
import json
import os
from typing import Any

MAX_FIELD_BYTES = 10 * 1024 * 1024


class DataError(Exception):
    """A data file that cannot be read; `line` is 1-based in the data file when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def read_rows(path: str) -> list[dict[str, Any]]:
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        raise DataError(f"unsupported data file `{os.path.basename(path)}`: use .csv or .jsonl")
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return _read_csv(handle) if suffix == ".csv" else _read_jsonl(handle)
    except FileNotFoundError as exc:
        raise DataError(f"data file not found: {path}") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{path} is a folder, not a data file") from exc
    except PermissionError as exc:
        raise DataError(f"cannot read {path}: permission denied") from exc
    except UnicodeDecodeError as exc:
        raise DataError(f"{os.path.basename(path)} is not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc


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


def _read_jsonl(handle: Any) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"line is not valid JSON: {exc.msg} (column {exc.colno})", number) from exc
        if not isinstance(value, dict):
            raise DataError(f"each line must be a JSON object, this one is a {type(value).__name__}", number)
        for key in value:
            if not str(key).isidentifier():
                raise DataError(f"key `{key}` is not a valid field name", number)
        rows.append(value)
    return rows
