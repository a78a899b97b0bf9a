"""Which sampling parameters each provider and model family takes, and their ranges.

One table, read twice: by `octoc check` (octolang/check/parameters.py), which errors on a
parameter a model refuses or a value out of its range and warns on one it ignores, and by
the body builders of every client (batch and realtime), which send only what the model
takes (`sendable`). The facts and their sources are in docs/providers.md, "Sampling
parameters"; each rule carries its source so that a diagnostic can name it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from octolang.providers.base import OPENAI_REASONING_PREFIXES
from octolang.providers.hosts import BUILT_IN

# The model settings that reach a request body (octolang/runtime/requests.py puts them in `params`).
SAMPLING = ("temperature", "top_p", "top_k", "max_tokens", "seed")

Verdict = Literal["takes", "refuses", "ignores", "default_only"]

ANTHROPIC_SDK = "anthropic 2.14, types/message_create_params.py (no temperature, top_p or top_k)"
ANTHROPIC_NEWER = "Anthropic's migration guide for Claude Opus 4.7: sampling parameters removed, 400 if sent"
OPENAI_SDK = "openai 3.57, types/chat/completion_create_params.py"
OPENAI_REASONING = "OpenAI's reasoning guide: o-series and gpt-5 models take only the default sampling"
GEMINI_SDK = "google-genai 3.6, types.py GenerateContentConfig; Gemini API docs: temperature 0 to 2"

# Claude families that took sampling parameters before the API version octoc speaks
# (anthropic-version 2026-10-21): they are not sent, so a setting is ignored, not refused.
CLAUDE_OLDER = (
    "claude-3",
    "claude-haiku-4",
    "claude-sonnet-4",
    "claude-opus-4-0",
    "claude-opus-4-1",
    "claude-opus-4-5",
    "claude-opus-4-6",
    "claude-opus-4-2025",
)


@dataclass(frozen=True)
class ParamRule:
    provider: str
    family: str  # the models it covers, as a person names them
    param: str
    verdict: Verdict
    source: str
    prefixes: tuple[str, ...] = ()  # model ids it covers; () covers every model of the provider
    excludes: tuple[str, ...] = ()  # substrings of model ids it does not cover
    default: float | None = None  # for `default_only`: the one value the model takes

    def covers(self, provider: str, model_id: str) -> bool:
        if provider != self.provider:
            return False
        if self.prefixes and not model_id.startswith(self.prefixes):
            return False
        return not any(part in model_id for part in self.excludes)


def _takes(provider: str, family: str, param: str, source: str, **kw: Any) -> ParamRule:
    return ParamRule(provider, family, param, "takes", source, **kw)


_CLAUDE_NEWER = "Claude models after Opus 4.6 (Opus 4.7, Sonnet 5 and later)"
_CLAUDE_OLD = "Claude models up to Opus 4.6, Sonnet 4.6 and Haiku 4.5"
_REASONING = "OpenAI reasoning models (o1, o3, o4, gpt-5 families; not the -chat snapshots)"

# The first rule that covers (provider, model, parameter) decides; specific families first.
RULES: tuple[ParamRule, ...] = (
    # Anthropic: the Messages API at 2026-10-21 has no sampling parameters; newer models refuse them.
    *(
        ParamRule("anthropic", _CLAUDE_OLD, p, "ignores", ANTHROPIC_SDK, prefixes=CLAUDE_OLDER)
        for p in ("temperature", "top_p")
    ),
    ParamRule("anthropic", _CLAUDE_OLD, "top_k", "ignores", ANTHROPIC_SDK, prefixes=CLAUDE_OLDER),
    *(
        ParamRule("anthropic", _CLAUDE_NEWER, p, "refuses", f"{ANTHROPIC_SDK}; {ANTHROPIC_NEWER}")
        for p in ("temperature", "top_p", "top_k")
    ),
    _takes("anthropic", "every Claude model", "max_tokens", ANTHROPIC_SDK),
    ParamRule("anthropic", "every Claude model", "seed", "refuses", f"{ANTHROPIC_SDK} (no seed)"),
    # OpenAI: reasoning models take only the default temperature and top_p; nobody takes top_k.
    *(
        ParamRule(
            "openai",
            _REASONING,
            p,
            "default_only",
            f"{OPENAI_SDK}; {OPENAI_REASONING}",
            prefixes=OPENAI_REASONING_PREFIXES,
            excludes=("-chat",),
            default=1,
        )
        for p in ("temperature", "top_p")
    ),
    _takes("openai", "every OpenAI model", "temperature", OPENAI_SDK),
    _takes("openai", "every OpenAI model", "top_p", OPENAI_SDK),
    ParamRule("openai", "every OpenAI model", "top_k", "refuses", f"{OPENAI_SDK} (no top_k)"),
    _takes("openai", "every OpenAI model", "max_tokens", OPENAI_SDK),
    _takes("openai", "every OpenAI model", "seed", OPENAI_SDK),
    # Gemini: GenerationConfig takes all of them.
    _takes("gemini", "every Gemini model", "temperature", GEMINI_SDK),
    _takes("gemini", "every Gemini model", "top_p", GEMINI_SDK),
    _takes("gemini", "every Gemini model", "top_k", GEMINI_SDK),
    _takes("gemini", "every Gemini model", "max_tokens", GEMINI_SDK),
    _takes("gemini", "every Gemini model", "seed", GEMINI_SDK),
)


def rule_for(provider: str, model_id: str, param: str) -> ParamRule | None:
    """The rule for `param` on this model; None where the table says nothing: an
    OpenAI-compatible server or the mock (sent as written: the server decides), or a
    parameter no built-in provider's API has (not sent)."""
    for rule in RULES:
        if rule.param == param and rule.covers(provider, model_id):
            return rule
    return None


def sendable(provider: str, model_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of `params` a request to this model carries: none it refuses or
    ignores, none that only its default is allowed for (`octoc check` refuses another value
    with E0812, and the default is what the model uses unasked), nothing unset."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        rule = rule_for(provider, model_id, name)
        if value is None:
            continue
        if rule.verdict == "takes" if rule is not None else provider not in BUILT_IN:
            out[name] = value
    return out
