"""Which errors are whose: a provider's error answer read as transient, the request's own
fault, a payload over a size limit, or an account stop (the table in docs/providers.md,
"Errors"). The shapes are the providers' own, as their SDKs and error pages give them:

- OpenAI: `{"error": {"message", "type", "param", "code"}}`; quota is 429 with code (or
  type) `insufficient_quota`; `billing_hard_limit_reached` and `billing_not_active` too.
- Anthropic: `{"type": "error", "error": {"type", "message"}}`; a spent credit balance is
  400 `invalid_request_error` "Your credit balance is too low ...", a spend limit 400 or
  429 "You have reached your specified API usage limits ...", and `billing_error` (402).
- Gemini: `{"error": {"code", "message", "status", "details"}}`; a model the project has
  no quota for is 429 RESOURCE_EXHAUSTED whose message says `limit: 0`; billing off is a
  `BILLING_DISABLED` reason (or a message asking for billing); a bad key 400 with reason
  `API_KEY_INVALID`; a payload over the limit 400 "Request payload size exceeds the limit".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from octolang.providers.base import ErrorKind, default_kind

# Where a refused key came from, for the advice (octolang/providers/hosts.py reads them).
# An `openai_compatible` model's key has no fixed variable: its `api_key_env` names one.
KEY_VARS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY (or GOOGLE_API_KEY)",
    "openai_compatible": "the variable the model's `api_key_env` names",
}
CONSOLES = {
    "openai": "platform.openai.com (Settings: Billing, Limits)",
    "anthropic": "console.anthropic.com (Settings: Billing, Limits)",
    "gemini": "aistudio.google.com (the project's plan and billing)",
}


@dataclass(frozen=True)
class Verdict:
    kind: ErrorKind
    cause: str | None = None  # an account stop in a few words
    advice: str | None = None  # what the user does about it


def classify(provider: str, status: int, body: Any, text: str = "") -> Verdict:
    """The kind of an error answer: `body` is its JSON (None when it is not JSON), `text` its raw text."""
    found = body.get("error") if isinstance(body, dict) else None
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    nested = error.get("error")
    inner: dict[str, Any] = nested if isinstance(nested, dict) else error
    words = " ".join(
        str(inner.get(k) or "") for k in ("type", "code", "status", "message") if not isinstance(inner.get(k), dict)
    )
    reasons = {str(d.get("reason")) for d in inner.get("details") or [] if isinstance(d, dict) and d.get("reason")}
    lower = (words + " " + (text if not words.strip() else "")).lower()
    console = CONSOLES.get(provider, "the provider's console")
    if "insufficient_quota" in lower or "billing_hard_limit_reached" in lower:
        return Verdict("account", "the quota is used up", f"add credit or raise the limit at {console}")
    if "billing_not_active" in lower or "BILLING_DISABLED" in reasons or "billing to be enabled" in lower:
        return Verdict("account", "billing is not active", f"turn billing on at {console}")
    if "credit balance is too low" in lower or "billing_error" in lower or status == 402:
        return Verdict("account", "the credit balance is too low", f"buy credits at {console}")
    if "usage limit" in lower or "spend limit" in lower:
        return Verdict("account", "the spend limit is reached", f"raise the spend limit at {console}")
    if status == 429 and re.search(r"\blimit: 0\b", lower):
        return Verdict(
            "account",
            "the project has no quota for this model (limit: 0)",
            f"turn billing on for the project at {console}, or use a model its tier includes",
        )
    if "API_KEY_INVALID" in reasons or (status == 400 and "api key not valid" in lower):
        status = 401
    if status == 413 or "payload size exceeds" in lower or "request_too_large" in lower:
        return Verdict("too_large")
    if status in (401, 403):
        what = "the key was refused" if status == 401 else "the key is not allowed this call"
        return Verdict("account", what, f"check the key in {KEY_VARS.get(provider, 'the environment')}")
    return Verdict(default_kind(status))


def classify_response(provider: str, status: int, text: str) -> Verdict:
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    return classify(provider, status, body, text[:300])


def result_fault(provider: str, status: int, body: Any) -> tuple[Literal["provider", "account"] | None, str]:
    """Whose fault an error inside a batch's results is: the provider's (a 5xx: sent again,
    never counted toward the unit), the account's (billing: the run pauses), or None (the
    request's own); with advice to add to the message when the account is at fault."""
    verdict = classify(provider, status, body)
    if verdict.kind == "account":
        return "account", f"{provider}: {verdict.cause}; {verdict.advice}"
    if status >= 500 or status == 429:
        return "provider", ""
    return None, ""
