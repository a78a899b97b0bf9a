"""What the Messages API refuses in a request's params, as the loopback Anthropic checks it
(tests/emulators/anthropic.py): synchronously for `POST /v1/messages`, and as a batch runs
for each of its requests, which then ends `errored`."""

from __future__ import annotations

import re
from typing import Any

TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,128}")
# anthropic 2.14's MessageCreateParams (anthropic-version 2026-10-21): no temperature, top_p
# or top_k, which the newest models refuse; sent, they are extra inputs.
PARAMS = {
    "model", "max_tokens", "messages", "system", "stop_sequences",
    "tools", "tool_choice", "metadata", "thinking", "service_tier", "output_config", "cache_control",
}  # fmt: skip


class Invalid(Exception):
    """A request the real service refuses with 400 invalid_request_error."""


def check_params(params: Any, where: str) -> None:
    """The Messages API's own validation of a request, as far as octolang can trip it."""
    if not isinstance(params, dict):
        raise Invalid(f"{where}: Input should be an object")
    for name in ("model", "max_tokens", "messages"):
        if name not in params:
            raise Invalid(f"{where}.{name}: Field required")
    extra = sorted(set(params) - PARAMS)
    if extra:
        raise Invalid(f"{where}.{extra[0]}: Extra inputs are not permitted")
    if not isinstance(params["model"], str) or not params["model"]:
        raise Invalid(f"{where}.model: Input should be a valid string")
    if not isinstance(params["max_tokens"], int) or isinstance(params["max_tokens"], bool) or params["max_tokens"] < 1:
        raise Invalid(f"{where}.max_tokens: Input should be a positive integer")
    messages = params["messages"]
    if not isinstance(messages, list) or not messages:
        raise Invalid(f"{where}.messages: at least one message is required")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise Invalid(f"{where}.messages.{i}.role: Input should be 'user' or 'assistant'")
        if not isinstance(message.get("content"), (str, list)):
            raise Invalid(f"{where}.messages.{i}.content: Input should be a valid string or list")
    if "system" in params and not isinstance(params["system"], (str, list)):
        raise Invalid(f"{where}.system: Input should be a valid string or list")
    tools = params.get("tools", [])
    names = set()
    for i, tool in enumerate(tools if isinstance(tools, list) else [None]):
        if not isinstance(tool, dict) or not TOOL_NAME.fullmatch(str(tool.get("name", ""))):
            raise Invalid(f"{where}.tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Invalid(f"{where}.tools.{i}.input_schema.type: Input should be 'object'")
        names.add(tool["name"])
    choice = params.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, dict) or choice.get("type") not in ("auto", "any", "tool", "none"):
            raise Invalid(f"{where}.tool_choice: Input tag does not match any of the expected tags")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise Invalid(f"{where}.tool_choice: Tool '{choice.get('name')}' not found in tools")


def params_problem(params: dict[str, Any]) -> str | None:
    """Why the Messages API refuses a batch request's params (the message its result carries), or None."""
    try:
        check_params(params, "params")
    except Invalid as exc:
        return str(exc)
    return None
