"""What the Gemini API refuses in a GenerateContentRequest, as the loopback Gemini checks it
(tests/emulators/gemini.py): field names (camelCase, or the proto's snake_case), contents,
empty text parts, and a response schema without a JSON MIME type."""

from __future__ import annotations

import re
from typing import Any

# Field names the service knows (proto JSON accepts camelCase and the proto's snake_case).
BATCH_FIELDS = {"displayName", "inputConfig", "model", "name", "priority", "webhookConfig"}
REQUEST_FIELDS = {
    "model",
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "safetySettings",
    "generationConfig",
    "cachedContent",
}
CONFIG_FIELDS = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
    "mediaResolution",
}


def snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def unknown_field(obj: dict[str, Any], known: set[str]) -> str | None:
    allowed = known | {snake(k) for k in known}
    return next((k for k in obj if k not in allowed), None)


def field(obj: dict[str, Any], camel: str) -> Any:
    return obj.get(camel, obj.get(snake(camel)))


def check_request(request: Any, where: str) -> str | None:
    """Why the service would refuse this GenerateContentRequest, or None."""
    if not isinstance(request, dict):
        return f"{where}: a GenerateContentRequest object is required"
    unknown = unknown_field(request, REQUEST_FIELDS)
    if unknown:
        return f"Invalid JSON payload received. Unknown name \"{unknown}\" at '{where}': Cannot find field."
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        return f"{where}.contents: contents is not specified"
    for content in [*contents, field(request, "systemInstruction") or {"parts": [{"text": "x"}]}]:
        parts = content.get("parts") if isinstance(content, dict) else None
        if not isinstance(parts, list) or not parts:
            return f"{where}: * GenerateContentRequest.contents: contents.parts must not be empty."
        if any(isinstance(p, dict) and p.get("text") == "" for p in parts):
            return (
                "Unable to submit request because it has an empty text parameter. "
                "Add a value to the parameter and try again."
            )
    config = field(request, "generationConfig") or {}
    if not isinstance(config, dict):
        return f"{where}.generation_config: an object is required"
    unknown = unknown_field(config, CONFIG_FIELDS)
    if unknown:
        return (
            f"Invalid JSON payload received. Unknown name \"{unknown}\" at '{where}.generation_config': "
            "Cannot find field."
        )
    has_schema = field(config, "responseJsonSchema") is not None or field(config, "responseSchema") is not None
    if has_schema and field(config, "responseMimeType") not in ("application/json", "text/x.enum"):
        return "response_mime_type must be application/json or text/x.enum when a response schema is set"
    return None
