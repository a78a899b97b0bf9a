"""The providers' error answers, in their own shapes, read into the four kinds of
docs/providers.md ("Errors"); and no account stop is retried in the HTTP client."""

from __future__ import annotations

import pytest

from octolang.providers.base import ProviderError
from octolang.providers.http import HttpClient
from octolang.providers.taxonomy import classify, result_fault
from tests.emulators.anthropic import ACCOUNT_STOPS as ANTHROPIC_STOPS
from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.base import API_KEY, Faults
from tests.emulators.gemini import ACCOUNT_STOPS as GEMINI_STOPS
from tests.emulators.gemini import GeminiEmulator
from tests.emulators.openai import ACCOUNT_STOPS as OPENAI_STOPS
from tests.emulators.openai import OpenAIEmulator


def openai(status: int, kind: str, code: str | None, message: str) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def anthropic(kind: str, message: str) -> dict[str, object]:
    return {"type": "error", "error": {"type": kind, "message": message}}


def gemini(status: int, name: str, message: str, details: list[object] | None = None) -> dict[str, object]:
    return {"error": {"code": status, "message": message, "status": name, "details": details or []}}


CASES = [
    # (provider, status, body, kind, cause)
    (
        "openai",
        429,
        openai(429, "requests", "rate_limit_exceeded", "Rate limit reached for gpt-4.1-mini"),
        "transient",
        None,
    ),
    (
        "openai",
        429,
        openai(429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota"),
        "account",
        "the quota is used up",
    ),
    (
        "openai",
        429,
        openai(429, "insufficient_quota", None, "You exceeded your current quota"),
        "account",
        "the quota is used up",
    ),
    (
        "openai",
        400,
        openai(400, "invalid_request_error", "billing_hard_limit_reached", "Billing hard limit"),
        "account",
        "the quota is used up",
    ),
    (
        "openai",
        401,
        openai(401, "invalid_request_error", "invalid_api_key", "Incorrect API key"),
        "account",
        "the key was refused",
    ),
    ("openai", 400, openai(400, "invalid_request_error", None, "Invalid schema for response_format"), "request", None),
    ("openai", 413, None, "too_large", None),
    ("openai", 500, openai(500, "server_error", None, "The server had an error"), "transient", None),
    (
        "anthropic",
        400,
        anthropic("invalid_request_error", "Your credit balance is too low to access the Anthropic API."),
        "account",
        "the credit balance is too low",
    ),
    (
        "anthropic",
        429,
        anthropic("rate_limit_error", "You have reached your specified API usage limits."),
        "account",
        "the spend limit is reached",
    ),
    (
        "anthropic",
        429,
        anthropic("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
        "transient",
        None,
    ),
    ("anthropic", 402, anthropic("billing_error", "out of credits"), "account", "the credit balance is too low"),
    ("anthropic", 413, anthropic("request_too_large", "Request exceeds the maximum size"), "too_large", None),
    ("anthropic", 529, anthropic("overloaded_error", "Overloaded"), "transient", None),
    ("anthropic", 400, anthropic("invalid_request_error", "messages.0.content: Field required"), "request", None),
    (
        "gemini",
        429,
        gemini(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        "transient",
        None,
    ),
    (
        "gemini",
        429,
        gemini(429, "RESOURCE_EXHAUSTED", "Quota exceeded for metric: x, limit: 15, model: m"),
        "transient",
        None,
    ),
    (
        "gemini",
        429,
        gemini(429, "RESOURCE_EXHAUSTED", "Quota exceeded for metric: x, limit: 0, model: m"),
        "account",
        "the project has no quota for this model (limit: 0)",
    ),
    (
        "gemini",
        403,
        gemini(403, "PERMISSION_DENIED", "denied", [{"reason": "BILLING_DISABLED"}]),
        "account",
        "billing is not active",
    ),
    (
        "gemini",
        400,
        gemini(400, "INVALID_ARGUMENT", "API key not valid.", [{"reason": "API_KEY_INVALID"}]),
        "account",
        "the key was refused",
    ),
    (
        "gemini",
        400,
        gemini(400, "INVALID_ARGUMENT", "Request payload size exceeds the limit: 20971520 bytes."),
        "too_large",
        None,
    ),
    (
        "gemini",
        400,
        gemini(400, "INVALID_ARGUMENT", "Unable to submit request because it has an empty text parameter."),
        "request",
        None,
    ),
]


@pytest.mark.parametrize(("provider", "status", "body", "kind", "cause"), CASES)
def test_each_error_shape_is_read_into_its_kind(
    provider: str, status: int, body: object, kind: str, cause: str | None
) -> None:
    verdict = classify(provider, status, body)
    assert (verdict.kind, verdict.cause) == (kind, cause)
    assert (verdict.advice is not None) == (kind == "account")


def test_errors_inside_results_are_the_provider_s_or_the_account_s_or_the_request_s() -> None:
    assert result_fault("openai", 500, openai(500, "server_error", None, "oops"))[0] == "provider"
    fault, cause = result_fault("openai", 429, openai(429, "insufficient_quota", "insufficient_quota", "quota"))
    assert fault == "account" and cause.startswith("openai: the quota is used up; add credit")
    assert result_fault("anthropic", 400, anthropic("invalid_request_error", "prompt is too long"))[0] is None
    assert result_fault("gemini", 500, gemini(500, "INTERNAL", "An internal error has occurred."))[0] == "provider"


@pytest.mark.parametrize(
    ("emulator", "stops", "path"),
    [
        (OpenAIEmulator, OPENAI_STOPS, "/v1/chat/completions"),
        (AnthropicEmulator, ANTHROPIC_STOPS, "/v1/messages"),
        (GeminiEmulator, GEMINI_STOPS, "/v1beta/models/gemini-2.5-flash:generateContent"),
    ],
)
def test_no_account_stop_is_retried_by_the_http_client(emulator: type, stops: dict[str, object], path: str) -> None:
    headers = {"authorization": f"Bearer {API_KEY}", "x-api-key": API_KEY, "x-goog-api-key": API_KEY}
    headers["anthropic-version"] = "2023-06-01"
    for stop in stops:
        with emulator(faults=Faults(account_stop=stop)) as server:
            client = HttpClient(server.base_url, headers, provider=server.name, backoff=0.001)
            with pytest.raises(ProviderError) as refused:
                client.request("POST", path, json={})
            client.close()
            assert refused.value.kind == "account" and refused.value.cause
            assert len(server.log) == 1 and client.retried == 0, server.log


def test_a_refused_key_names_the_variable_it_came_from() -> None:
    """Plain openai names OPENAI_API_KEY; an openai_compatible model's key comes from the
    variable its `api_key_env` names (octoc reads no OPENAI_COMPATIBLE_API_KEY)."""
    body = openai(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided.")
    assert classify("openai", 401, body).advice == "check the key in OPENAI_API_KEY"
    advice = classify("openai_compatible", 401, body).advice or ""
    assert "api_key_env" in advice and "OPENAI_COMPATIBLE_API_KEY" not in advice
    assert "GOOGLE_API_KEY" in (classify("gemini", 403, gemini(403, "PERMISSION_DENIED", "denied")).advice or "")
