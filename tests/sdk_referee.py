"""The official SDKs' request types as referees of what octolang's clients send.

Each check takes one request as it went over the wire (a batch line or a realtime body)
and returns what the SDK's types find wrong with it, as `path: problem` strings:

- OpenAI: a batch line's envelope (`custom_id`, `method`, `url`, `body`; the SDK has no
  type for it) and its body against `CompletionCreateParamsNonStreaming`;
- Anthropic: a batch entry against `batch_create_params.Request`, a realtime body
  against `MessageCreateParamsNonStreaming`;
- Gemini: the request parsed with google-genai's models (`Content`, `GenerationConfig`:
  unknown fields refused) and turned back into the wire form by the SDK's own converter,
  which must give the very same JSON.

pydantic validates a TypedDict without refusing unknown keys (it drops them), so a key
the type does not know is found by comparing what was sent with what validation kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from tests.emulators.base import Call
from tests.emulators.openai import multipart_fields

# What anthropic 2.14's MessageCreateParams no longer has (types/message_create_params.py):
# octolang still sends them until part 2 of #12 (the params branch) decides per model.
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")


@cache
def _adapter(name: str) -> TypeAdapter[Any]:
    if name == "openai":
        from openai.types.chat.completion_create_params import CompletionCreateParamsNonStreaming

        return TypeAdapter(CompletionCreateParamsNonStreaming)
    if name == "anthropic-entry":
        from anthropic.types.messages.batch_create_params import Request

        return TypeAdapter(Request)
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming

    return TypeAdapter(MessageCreateParamsNonStreaming)


def _materialise(value: Any) -> Any:
    """A validated value with pydantic's lazy `Iterable` validators run to the end."""
    if isinstance(value, dict):
        return {k: _materialise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or isinstance(value, Iterator):
        return [_materialise(v) for v in value]
    return value


def _dropped(sent: Any, kept: Any, path: str) -> Iterator[str]:
    """Paths of the keys validation dropped: the ones the SDK's type does not know."""
    if isinstance(sent, dict) and isinstance(kept, dict):
        for key, value in sent.items():
            where = f"{path}.{key}" if path else key
            if key not in kept:
                yield where
            else:
                yield from _dropped(value, kept[key], where)
    elif isinstance(sent, list) and isinstance(kept, list):
        for i, (a, b) in enumerate(zip(sent, kept, strict=False)):
            yield from _dropped(a, b, f"{path}[{i}]")


def typed_dict_problems(adapter: str, value: Any) -> list[str]:
    try:
        kept = _materialise(_adapter(adapter).validate_python(value))
    except ValidationError as exc:
        return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return [f"{where}: not a field of the SDK's type" for where in _dropped(value, kept, "")]


# ------------------------------------------------------------------ OpenAI
def openai_body(body: Any) -> list[str]:
    return typed_dict_problems("openai", body)


def openai_line(line: Any) -> list[str]:
    if not isinstance(line, dict) or set(line) != {"custom_id", "method", "url", "body"}:
        return [f"the line's keys are {sorted(line) if isinstance(line, dict) else line!r}"]
    problems = [] if isinstance(line["custom_id"], str) and line["custom_id"] else ["custom_id: not a string"]
    if (line["method"], line["url"]) != ("POST", "/v1/chat/completions"):
        problems.append(f"method/url: {line['method']} {line['url']}")
    return problems + [f"body.{p}" for p in openai_body(line["body"])]


# ------------------------------------------------------------------ Anthropic
def anthropic_params(params: Any) -> list[str]:
    return typed_dict_problems("anthropic", params)


def anthropic_entry(entry: Any) -> list[str]:
    problems = typed_dict_problems("anthropic-entry", entry)
    if isinstance(entry, dict) and not CUSTOM_ID.fullmatch(str(entry.get("custom_id"))):
        problems.append(f"custom_id: {entry.get('custom_id')!r} is off the documented pattern")
    return problems


# ------------------------------------------------------------------ Gemini
@cache
def _genai_client() -> Any:
    from google import genai

    return genai.Client(api_key="referee-only")._api_client  # never calls anything


def _gemini_parts(request: Any) -> tuple[Any, Any]:
    """google-genai's Content list and GenerateContentConfig for a GenerateContentRequest."""
    from google.genai import types

    if not isinstance(request, dict) or set(request) - {"contents", "systemInstruction", "generationConfig"}:
        raise ValueError(f"request keys {sorted(request) if isinstance(request, dict) else request!r}")
    contents = [types.Content.model_validate(c) for c in request["contents"]]
    generation = types.GenerationConfig.model_validate(request.get("generationConfig") or {})
    system = request.get("systemInstruction")
    config = types.GenerateContentConfig(
        system_instruction=types.Content.model_validate(system) if system is not None else None,
        **generation.model_dump(exclude_none=True),
    )
    return contents, config


def gemini_request(request: Any) -> list[str]:
    """A realtime GenerateContentRequest: google-genai's generate_content would send the same JSON."""
    from google.genai import models

    try:
        contents, config = _gemini_parts(request)
    except (ValidationError, ValueError, TypeError, KeyError) as exc:
        return [str(exc).splitlines()[0]]
    wire = models._GenerateContentParameters_to_mldev(
        _genai_client(), {"model": "gemini-2.5-flash", "contents": contents, "config": config}
    )
    wire.pop("_url", None)
    return [] if wire == request else [f"google-genai would send {wire}"]


def gemini_entry(entry: Any) -> list[str]:
    """An inline batch entry: google-genai's InlinedRequest would be sent as the very same JSON."""
    from google.genai import batches, types

    if not isinstance(entry, dict) or set(entry) != {"request", "metadata"}:
        return [f"the entry's keys are {sorted(entry) if isinstance(entry, dict) else entry!r}"]
    try:
        contents, config = _gemini_parts(entry["request"])
        inlined = types.InlinedRequest(contents=contents, metadata=entry["metadata"], config=config)
    except (ValidationError, ValueError, TypeError, KeyError) as exc:
        return [str(exc).splitlines()[0]]
    wire = batches._InlinedRequest_to_mldev(_genai_client(), inlined)
    return [] if wire == entry else [f"google-genai would send {wire}"]


# ------------------------------------------------------------------ what the emulators received
def sent_requests(provider: str, calls: list[Call]) -> Iterator[tuple[str, Any]]:
    """Each request line ("batch") and realtime body ("realtime") among an emulator's calls."""
    for call in calls:
        if call.method != "POST":
            continue
        if provider == "openai" and call.path == "/v1/files":
            for line in multipart_fields(call)["file"][1].splitlines():
                yield "batch", json.loads(line)
        elif provider == "openai" and call.path == "/v1/chat/completions":
            yield "realtime", call.json()
        elif provider == "anthropic" and call.path == "/v1/messages/batches":
            for entry in call.json()["requests"]:
                yield "batch", entry
        elif provider == "anthropic" and call.path == "/v1/messages":
            yield "realtime", call.json()
        elif provider == "gemini" and call.path.endswith(":batchGenerateContent"):
            for entry in call.json()["batch"]["inputConfig"]["requests"]["requests"]:
                yield "batch", entry
        elif provider == "gemini" and call.path.endswith(":generateContent"):
            yield "realtime", call.json()


def check(provider: str, mode: str, request: Any) -> list[str]:
    if provider == "openai":
        return openai_line(request) if mode == "batch" else openai_body(request)
    if provider == "anthropic":
        if mode == "batch":
            return anthropic_entry(request)
        return anthropic_params(request)
    return gemini_entry(request) if mode == "batch" else gemini_request(request)
