"""The per-model parameter rules (octolang/providers/parameters.py) as every client's body
builder applies them: a parameter a model refuses or ignores is never sent, batch or realtime."""

from __future__ import annotations

import json
from typing import Any

import pytest

from octolang.providers.anthropic import AnthropicBatch, AnthropicRealtime
from octolang.providers.base import Request
from octolang.providers.gemini import GeminiBatch, GeminiRealtime
from octolang.providers.openai import OpenAIBatch, OpenAICompatibleRealtime, OpenAIRealtime
from octolang.providers.parameters import RULES, SAMPLING, rule_for, sendable

EVERY = {"temperature": 0.5, "top_p": 0.9, "top_k": 7, "max_tokens": 123, "seed": 11}


def body(provider: str, model: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "provider": provider,
        "model": model,
        "system": None,
        "prompt": "hi",
        "schema_name": "s",
        "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        "params": params,
    }


def sent_params(provider: str, model: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """The sampling fields of the request as each client of `provider` encodes it."""
    request = Request("u1-s0-a1", body(provider, model, params))
    if provider == "openai":
        lines = [json.loads(OpenAIBatch("k").encode(request))["body"], json.loads(OpenAIRealtime("k").encode(request))]
        names = {"temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens", "seed"}
        return [{k: v for k, v in line.items() if k in names} for line in lines]
    if provider == "anthropic":
        batch_params = json.loads(AnthropicBatch("k").encode(request))["params"]
        lines = [batch_params, json.loads(AnthropicRealtime("k").encode(request))]
        keep = {"temperature", "top_p", "top_k", "max_tokens", "seed"}
        return [{k: v for k, v in line.items() if k in keep} for line in lines]
    if provider == "gemini":
        batch = json.loads(GeminiBatch("k").encode(request))["request"]
        realtime = json.loads(GeminiRealtime("k").encode(request))
        out = []
        for line in (batch, realtime):
            config = line.get("generationConfig", {})
            out.append({k: v for k, v in config.items() if k not in ("responseMimeType", "responseJsonSchema")})
        return out
    line = json.loads(OpenAICompatibleRealtime(None, base_url="http://127.0.0.1:9/v1").encode(request))
    return [{k: v for k, v in line.items() if k in SAMPLING}]


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("anthropic", "claude-opus-4-7", {"max_tokens": 123}),
        ("anthropic", "claude-haiku-4-5", {"max_tokens": 123}),
        ("anthropic", "claude-sonnet-5", {"max_tokens": 123}),
        ("openai", "gpt-4.1-mini", {"temperature": 0.5, "top_p": 0.9, "max_tokens": 123, "seed": 11}),
        ("openai", "gpt-5-mini", {"max_completion_tokens": 123, "seed": 11}),
        ("openai", "o4-mini", {"max_completion_tokens": 123, "seed": 11}),
        ("openai", "gpt-5-chat-latest", {"temperature": 0.5, "top_p": 0.9, "max_tokens": 123, "seed": 11}),
        (
            "gemini",
            "gemini-2.5-flash",
            {"temperature": 0.5, "topP": 0.9, "topK": 7, "maxOutputTokens": 123, "seed": 11},
        ),
        ("openai_compatible", "llama", EVERY),
    ],
)
def test_every_client_sends_only_what_the_model_takes(provider: str, model: str, expected: dict[str, Any]) -> None:
    for line in sent_params(provider, model, dict(EVERY)):
        assert line == expected


def test_no_rule_lets_a_refused_or_ignored_parameter_through() -> None:
    """Whatever the table says a model refuses or ignores, `sendable` drops; what it takes, it keeps."""
    for rule in RULES:
        model = (rule.prefixes or ("any-model",))[0] + "-x"
        kept = sendable(rule.provider, model, {rule.param: 0.5})
        assert rule_for(rule.provider, model, rule.param) is not None
        assert (rule.param in kept) == (rule_for(rule.provider, model, rule.param).verdict == "takes"), rule  # type: ignore[union-attr]


def test_a_parameter_no_built_in_provider_has_is_not_sent_there() -> None:
    assert sendable("openai", "gpt-4.1", {"frequency": 1}) == {}
    assert sendable("openai_compatible", "llama", {"frequency": 1, "seed": None}) == {"frequency": 1}
