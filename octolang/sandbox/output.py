"""Turning what a unit's code returned or raised into text that can be stored, with the
limits of size and depth: nothing a unit returns or raises can crash the runner, and no
message is stored whole when it is huge."""

from __future__ import annotations

import json
import sys
from types import TracebackType
from typing import Any, NamedTuple

from octolang.sandbox.limits import WorkerLimits

# Built once: json.dumps with arguments of its own builds an encoder on every call.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


class Serialised(NamedTuple):
    text: str | None  # the output as compact JSON, or None with `problem`
    problem: str | None


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... (cut: {len(text):,} characters in all)"


def serialise(value: Any, limits: WorkerLimits) -> Serialised:
    """One JSON serialisation of a returned value, within the output limits."""
    try:
        text = _ENCODER.encode(value)
    except RecursionError:
        return Serialised(None, f"a value nested deeper than {limits.output_depth} levels")
    except ValueError as exc:
        if "integer string conversion" in safe_str(exc):
            # Python's own bound on int-to-text (quadratic in the digits), kept as it is.
            return Serialised(None, f"an int of more than {sys.get_int_max_str_digits():,} digits")
        return Serialised(None, f"a value that is not JSON data: {cut(safe_str(exc), limits.message_chars)}")
    except TypeError as exc:
        return Serialised(None, f"a value that is not JSON data: {cut(safe_str(exc), limits.message_chars)}")
    if len(text) > limits.output_bytes:  # ASCII only (ensure_ascii): characters are bytes
        return Serialised(None, f"an output of {len(text):,} bytes, over the limit of {limits.output_bytes:,} bytes")
    # A cheap bound first: the depth is at most the number of brackets.
    if text.count("[") + text.count("{") > limits.output_depth and _depth(value) > limits.output_depth:
        return Serialised(None, f"a value nested deeper than {limits.output_depth} levels")
    return Serialised(text, None)


def _depth(value: Any) -> int:
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, (list, tuple)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in item)
    return deepest


def safe_str(exc: BaseException) -> str:
    """str(exc), or why it has none: an exception's argument may be nested too deep to turn
    into text, or raise itself."""
    try:
        return str(exc)
    except Exception as inner:
        return f"(its message could not be turned into text: {type(inner).__name__})"


def describe_failure(exc: BaseException, filename: str, limits: WorkerLimits) -> str:
    """`file.octo:7: ZeroDivisionError: division by zero`, the message cut to the limit."""
    line: int | None = None
    trace: TracebackType | None = exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == filename:
            line = trace.tb_lineno
        trace = trace.tb_next
    text = cut(safe_str(exc), limits.message_chars)
    message = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return f"{filename}:{line}: {message}" if line else message
