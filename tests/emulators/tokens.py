"""The emulators' bill: prompt tokens counted from the wire request, the way the real API
counts them, written apart from the estimator (octolang/cost/estimate.py) so that tests can
hold one against the other.

OpenAI chat completions (OpenAI cookbook, "How to count tokens with tiktoken", for the
o200k models): each message costs 3 tokens of framing plus its role and content (and 1
more with a `name`); every reply is primed with 3 tokens (`<|start|>assistant<|message|>`).
A `response_format` of type json_schema is billed as the o200k tokens of the compact JSON
of its `json_schema` object (name, strict, schema): OpenAI does not publish how it renders
the schema to the model, so this is the rule the project chose (docs/cost.md).
"""

from __future__ import annotations

import json
from typing import Any

from octolang.cost.tokens import count_tokens as _count

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3


def count_tokens(text: str) -> int:
    """o200k_base tokens of `text` (the encoding of every current OpenAI chat model)."""
    return _count(text)


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: only text parts carry tokens here
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


def openai_prompt_tokens(chat_body: dict[str, Any]) -> int:
    """`usage.prompt_tokens` for a chat-completions request body."""
    total = 0
    for message in chat_body.get("messages", []):
        total += TOKENS_PER_MESSAGE
        total += count_tokens(str(message.get("role", "")))
        total += count_tokens(_content_text(message.get("content")))
        if message.get("name"):
            total += count_tokens(str(message["name"])) + TOKENS_PER_NAME
    total += REPLY_PRIMING
    response_format = chat_body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema_object = response_format.get("json_schema", {})
        total += count_tokens(json.dumps(schema_object, separators=(",", ":"), ensure_ascii=False))
    return total
