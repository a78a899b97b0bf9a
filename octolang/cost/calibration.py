"""How each provider's billed input tokens are derived from the o200k count (docs/cost.md).

OpenAI: o200k_base is the tokenizer of GPT-4o, GPT-4.1, GPT-5 and the o-series, so its
count is exact for the text; the chat format adds `MESSAGE_TOKENS` per message plus
`REPLY_PRIMING` (OpenAI cookbook, "How to count tokens with tiktoken":
`tokens_per_message = 3`, role tokens, `+3` for `<|start|>assistant<|message|>`), and
a json_schema `response_format` is counted as the o200k tokens of its compact JSON
(`{"name":..,"strict":true,"schema":..}`), the rule tests/emulators/tokens.py bills by.

Anthropic and Gemini publish no offline tokenizer: their counts are the o200k count
times a band (third-party measurements, see docs/cost.md), shown as the estimate's
uncertainty. Anthropic's forced tool use (how structured output is asked for) adds a
tool-use system prompt of `ANTHROPIC_TOOL_PROMPT` tokens (Anthropic's pricing page,
"tool use system prompt token count", `tool_choice` any/tool, Claude 4 models).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MESSAGE_TOKENS = 3
ROLE_TOKENS = 1  # "system" and "user" are one o200k token each
REPLY_PRIMING = 3
ANTHROPIC_TOOL_PROMPT = 313


@dataclass(frozen=True)
class Band:
    """A provider's tokens per o200k token: a low and high factor and the point used."""

    low: float
    point: float
    high: float
    source: str


EXACT = Band(1.0, 1.0, 1.0, "o200k_base, the model's own tokenizer")
BANDS: dict[str, Band] = {
    "openai": EXACT,
    "anthropic": Band(1.15, 1.20, 1.25, "o200k_base x 1.15-1.25 (Claude calibration band)"),
    "gemini": Band(1.00, 1.05, 1.10, "o200k_base x 1.00-1.10 (Gemini calibration band)"),
    "mock": Band(1.0, 1.0, 1.0, "the mock's own count (4 characters a token)"),
}
UNKNOWN = Band(0.9, 1.0, 1.3, "o200k_base x 0.9-1.3 (provider without a calibration)")


def band_for(provider: str) -> Band:
    return BANDS.get(provider, UNKNOWN)


def openai_schema_json(name: str, schema: dict[str, Any]) -> str:
    """The text a json_schema response_format is counted as (see the module docstring):
    the schema as the OpenAI client sends it, without the keywords strict mode refuses
    (`strict_variant`: string lengths and the like are checked on our side)."""
    from octolang.schema import strict_variant

    wire = {"name": name, "strict": True, "schema": strict_variant(schema)}
    return json.dumps(wire, separators=(",", ":"), ensure_ascii=False)


def tool_json(name: str, schema: dict[str, Any]) -> str:
    """Anthropic's tool definition (name, the description the client gives it, input
    schema; octolang/providers/anthropic.py), counted like prompt text."""
    tool = {"name": name, "description": f"Record the `{name}` answer in this exact shape.", "input_schema": schema}
    return json.dumps(tool, separators=(",", ":"), ensure_ascii=False)
