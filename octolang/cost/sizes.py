"""Expected values and output-token upper bounds from a step's output JSON Schema.

Before a run nothing is known of the answers but their types, so an answer is
synthesised at its *expected size*: every size is a default clamped to the declared
bounds (strings `DEFAULT_STRING_CHARS` characters, lists `DEFAULT_LIST_ITEMS` items,
numbers the middle of their range, an enum its first option). The same value stands in
for an upstream step's output when a later step's prompt is rendered, and its compact
JSON is the expected answer of the step itself. Upper bounds follow the declared limits
(one token per character at most) and are capped by `max_tokens`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

DEFAULT_STRING_CHARS = 120
DEFAULT_LIST_ITEMS = 2
DEFAULT_FREE_TEXT_TOKENS = 150  # a step without an output type answers in prose
DEFAULT_MAX_TOKENS = 4096  # what the provider clients send when a model sets no max_tokens
_FILLER = (
    "The old road winds past the mill and the river, where travellers rest before the long "
    "climb to the town gate, and the keeper asks each of them for news of the harvest. "
)

Schema = dict[str, Any]


def _clamp(value: int, low: Any, high: Any) -> int:
    if isinstance(high, int | float):
        value = min(value, int(high))
    if isinstance(low, int | float):
        value = max(value, int(low))
    return value


def filler_text(chars: int) -> str:
    """English-like prose of about `chars` characters, cut at a word boundary, so that
    its token count is what real prose of that length would have."""
    text = _FILLER * (chars // len(_FILLER) + 1)
    cut = text[:chars]
    if len(cut) > 8 and " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.strip()


def _options(schema: Schema) -> list[Schema]:
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [s for s in schema[key] if s.get("type") != "null"] or [{"type": "null"}]
    return []


def expected_value(schema: Schema) -> Any:
    """A value of the schema at its expected size."""
    options = _options(schema)
    if options:
        return expected_value(options[0])
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: expected_value(sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        count = _clamp(DEFAULT_LIST_ITEMS, schema.get("minItems"), schema.get("maxItems"))
        return [expected_value(schema.get("items", {})) for _ in range(count)]
    if kind == "string":
        return filler_text(_clamp(DEFAULT_STRING_CHARS, schema.get("minLength"), schema.get("maxLength")))
    if kind in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            middle = (low + high) / 2
        else:
            middle = low if low is not None else high if high is not None else 42
        return int(middle) if kind == "integer" else float(middle) + 0.5
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return filler_text(DEFAULT_STRING_CHARS)  # an untyped value: prose


def expected_answer(schema: Schema) -> str:
    """The expected answer text: the compact JSON models return for structured output."""
    return json.dumps(expected_value(schema), separators=(",", ":"), ensure_ascii=False)


def structural_upper(schema: Schema, count: Callable[[str], int]) -> int | None:
    """Most tokens an answer of `schema` can take (`count` counts a literal's tokens), or
    None when the type has no limit (an unbounded string or list)."""
    options = _options(schema)
    if options:
        bounds = [structural_upper(s, count) for s in options]
        return None if any(b is None for b in bounds) else max(b or 0 for b in bounds)
    if "enum" in schema:
        return max(int(count(json.dumps(v))) for v in schema["enum"])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        total = 2
        for name, sub in schema.get("properties", {}).items():
            inner = structural_upper(sub, count)
            if inner is None:
                return None
            total += count(json.dumps(name)) + 2 + inner
        return total
    if kind == "array":
        high = schema.get("maxItems")
        inner = structural_upper(schema.get("items", {}), count)
        if high is None or inner is None:
            return None
        return 2 + int(high) * (inner + 1)
    if kind == "string":
        high = schema.get("maxLength")
        return None if high is None else int(high) + 2  # a token holds at least one character
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is None or high is None:
            return 8
        return int(count(str(max(abs(int(low)), abs(int(high)))))) + 1
    if kind == "number":
        return 10
    if kind in ("boolean", "null"):
        return 1
    return None
