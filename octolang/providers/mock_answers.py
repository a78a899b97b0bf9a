"""The mock model's answers: schema-valid JSON derived from a key and a seed, sometimes
wrapped the way real models wrap it, and, at a chosen rate, invalid on purpose."""

from __future__ import annotations

import hashlib
import json
import math
import random
from typing import Any

_WORDS = (
    "the",
    "old",
    "harbour",
    "lantern",
    "quiet",
    "road",
    "storm",
    "bread",
    "river",
    "stone",
    "market",
    "north",
    "wind",
    "copper",
    "gate",
    "morning",
    "salt",
    "song",
    "winter",
    "garden",
    "bell",
    "ash",
)


def _random(seed: int, key: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    return random.Random(int.from_bytes(digest, "big"))


def mock_answer(schema: dict[str, Any], *, key: str, seed: int, invalid_rate: float = 0.0, wrapped: bool = True) -> str:
    """Without `wrapped`, a valid answer is bare JSON (what a service's JSON mode returns)."""
    rng = _random(seed, key)
    value = _value(schema, rng)
    if rng.random() < invalid_rate:
        return _spoil(value, schema, rng)
    text = json.dumps(value, ensure_ascii=False)
    if not wrapped:
        return text
    wrap = rng.random()
    if wrap < 0.1:
        return f"```json\n{text}\n```"
    if wrap < 0.2:
        return f"Here is my answer:\n{text}"
    return text


def _value(schema: dict[str, Any], rng: random.Random) -> Any:
    if "anyOf" in schema:
        options = schema["anyOf"]
        non_null = [o for o in options if o.get("type") != "null"]
        if len(non_null) < len(options) and rng.random() < 0.2:
            return None
        return _value(rng.choice(non_null or options), rng)
    if "enum" in schema:
        return rng.choice([v for v in schema["enum"] if v is not None] or [None])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = rng.choice([k for k in kind if k != "null"] or ["null"])
    if kind == "object" or "properties" in schema:
        return {name: _value(sub, rng) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        low = int(schema.get("minItems", 1))
        high = int(schema.get("maxItems", max(low, 4)))
        return [_value(schema.get("items", {}), rng) for _ in range(rng.randint(low, max(low, min(high, low + 5))))]
    if kind == "integer":
        first = math.ceil(schema.get("minimum", 0))
        return rng.randint(first, max(first, math.floor(schema.get("maximum", first + 100))))
    if kind == "number":
        bottom = float(schema.get("minimum", 0.0))
        return round(rng.uniform(bottom, float(schema.get("maximum", bottom + 100.0))), 3)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "string":
        return _text(rng, int(schema.get("minLength", 1)), int(schema.get("maxLength", 60)))
    return _text(rng, 1, 40)


def _text(rng: random.Random, low: int, high: int) -> str:
    high = max(low, min(high, 60 if low <= 60 else low))
    words: list[str] = []
    while len(" ".join(words)) < low or (len(words) < 3 and rng.random() < 0.9):
        words.append(rng.choice(_WORDS))
    text = " ".join(words)
    text = text[0].upper() + text[1:]
    return text[:high] if len(text) > high else text


def _spoil(value: Any, schema: dict[str, Any], rng: random.Random) -> str:
    kind = rng.randrange(3)
    text = json.dumps(value, ensure_ascii=False)
    if kind == 0:
        return text[: max(1, len(text) // 2)]
    if kind == 1:
        return "I would rather describe this in words than in JSON."
    properties = schema.get("properties", {})
    if isinstance(value, dict) and properties:
        name = rng.choice(sorted(properties))
        field = properties[name]
        if "enum" in field:
            value[name] = "not-one-of-the-options"
        elif "maximum" in field:
            value[name] = field["maximum"] + 1
        else:
            value.pop(name, None)
        return json.dumps(value, ensure_ascii=False)
    return text[: max(1, len(text) // 2)]


def mock_usage(prompt_text: str, answer_text: str) -> dict[str, int]:
    """A plausible token count (about 4 characters a token); the mock bills nothing."""
    return {
        "input_tokens": max(1, math.ceil(len(prompt_text) / 4)),
        "output_tokens": max(1, math.ceil(len(answer_text) / 4)),
        "cached_tokens": 0,
    }
