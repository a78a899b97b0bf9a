"""Declarations on their own: duplicate and reserved names, models and their settings,
the parts each kind of step needs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from octolang import ir
from octolang.check.parameters import check_parameters
from octolang.diagnostics import Diagnostic, Label, did_you_mean, error, warning
from octolang.source import Span

PROVIDERS = ("openai", "anthropic", "gemini", "openai_compatible", "mock")
MODES = ("batch", "realtime", "auto")
# Names every scope gives a meaning of its own; a step or const may not take them.
RESERVED = frozenset({"unit", "rng", "feedback", "attempt", "loop", "math", "output", "self"})


@dataclass(frozen=True)
class SettingRule:
    kinds: tuple[type, ...]
    low: float | None = None
    high: float | None = None
    words: tuple[str, ...] = ()
    providers: tuple[str, ...] = PROVIDERS
    meaning: str = ""


SETTINGS: dict[str, SettingRule] = {
    "temperature": SettingRule((int, float), 0, 2, meaning="sampling temperature, 0 to 2"),
    "top_p": SettingRule((int, float), 0, 1, meaning="nucleus sampling, 0 to 1"),
    "top_k": SettingRule(
        (int,),
        1,
        1_000_000,
        providers=("anthropic", "gemini", "openai_compatible", "mock"),
        meaning="sample from the k most likely tokens",
    ),
    "max_tokens": SettingRule((int,), 1, 1_000_000, meaning="the most output tokens per request"),
    "seed": SettingRule(
        (int,),
        0,
        2**63 - 1,
        providers=("openai", "openai_compatible", "gemini", "mock"),
        meaning="the provider's sampling seed",
    ),
    "mode": SettingRule((str,), words=MODES, meaning="batch, realtime or auto"),
    "auto_threshold": SettingRule(
        (int,), 1, 10_000_000, meaning="in auto mode, the number of requests from which batch is used"
    ),
    "base_url": SettingRule((str,), providers=("openai_compatible",), meaning="the server's URL"),
    "api_key_env": SettingRule((str,), meaning="the environment variable holding the API key"),
    "invalid_rate": SettingRule(
        (int, float), 0, 1, providers=("mock",), meaning="the share of deliberately invalid mock answers"
    ),
    "concurrency": SettingRule(
        (int,),
        1,
        512,
        providers=tuple(p for p in PROVIDERS if p != "mock"),
        meaning="in realtime mode, the most calls in flight at once (default 8)",
    ),
    "failure_rate": SettingRule(
        (int, float),
        0,
        0.99,
        providers=tuple(p for p in PROVIDERS if p != "mock"),
        meaning="the expected share of answers that fail validation, for the cost estimate's retries",
    ),
}


def check_declarations(program: ir.Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if program.pipeline is None:
        out.append(
            warning(
                "W0106",
                "the file does not name its pipeline",
                program.span.model_copy(update={"end": 0, "end_line": 1, "end_col": 1}),
                help='start the file with `pipeline name "what it does"`',
            )
        )
    values = [(s.name, s.name_span, "step") for s in program.steps] + [
        (c.name, c.name_span, "const") for c in program.consts
    ]
    out += _duplicates(values)
    out += _duplicates([(m.name, m.name_span, "model") for m in program.models])
    out += _duplicates([(t.name, t.name_span, "type") for t in program.types])
    out += _duplicates([(r.name, r.name_span, "report") for r in program.reports])
    for report in program.reports:
        out += _duplicates([(m.name, m.name_span, "statistic") for m in report.metrics])
    for name, span, kind in values:
        if name in RESERVED:
            out.append(
                error(
                    "E0111",
                    f"`{name}` is a reserved name and cannot name a {kind}",
                    span,
                    help=f"pick another name; `{name}` already means something in templates and code",
                )
            )
    for decl in program.types:
        if decl.name in ("string", "int", "float", "bool", "list"):
            out.append(error("E0111", f"`{decl.name}` is a built-in type and cannot be redeclared", decl.name_span))
    for model in program.models:
        out += check_model(model)
    models = {m.name for m in program.models}
    for step in program.steps:
        out += _check_step_shape(step, models)
    return out


def _duplicates(entries: Iterable[tuple[str, Span, str]]) -> list[Diagnostic]:
    first: dict[str, tuple[Span, str]] = {}
    out = []
    for name, span, kind in entries:
        if name in first:
            earlier, earlier_kind = first[name]
            out.append(
                error(
                    "E0101",
                    f"`{name}` is defined twice",
                    span,
                    label=f"this {kind} reuses the name",
                    labels=[Label(span=earlier, message=f"first defined here as a {earlier_kind}")],
                    help="names of steps, consts, models, types and reports must be unique in their kind",
                )
            )
        else:
            first[name] = (span, kind)
    return out


def check_model(model: ir.ModelDecl) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if model.provider not in PROVIDERS:
        out.append(
            error(
                "E0107",
                f"unknown provider `{model.provider}`",
                model.provider_span,
                help=did_you_mean(model.provider, PROVIDERS) or f"providers: {', '.join(PROVIDERS)}",
            )
        )
        return out
    if not model.model_id.strip():
        out.append(
            error(
                "E0801",
                "the model id is empty",
                model.model_id_span,
                help='name the provider\'s model, e.g. "gpt-4.1-mini"',
            )
        )
    for setting in model.settings:
        rule = SETTINGS.get(setting.name)
        if rule is None:
            out.append(
                error(
                    "E0108",
                    f"unknown model setting `{setting.name}`",
                    setting.span,
                    help=did_you_mean(setting.name, SETTINGS) or f"settings: {', '.join(SETTINGS)}",
                )
            )
            continue
        if model.provider not in rule.providers:
            out.append(
                error(
                    "E0108",
                    f"`{setting.name}` does not apply to provider `{model.provider}`",
                    setting.span,
                    help=f"{setting.name}: {rule.meaning}; for {', '.join(rule.providers)}",
                )
            )
            continue
        problem = _setting_problem(setting.value, setting.is_word, rule)
        if problem:
            out.append(
                error(
                    "E0802", f"`{setting.name}` {problem}", setting.value_span, help=f"{setting.name}: {rule.meaning}"
                )
            )
    reported = {d.span for d in out}
    out += check_parameters(model, skip=[s.name for s in model.settings if s.span in reported])
    if model.provider == "openai_compatible" and model.setting("base_url") is None:
        out.append(
            error(
                "E0803",
                "an `openai_compatible` model needs a `base_url`",
                model.span,
                help='add `base_url = "http://127.0.0.1:8000/v1"` (your server\'s address)',
            )
        )
    if (
        model.price is not None
        and (model.price.input is None) != (model.price.output is None)
        and model.provider not in ("openai", "anthropic", "gemini")
    ):
        out.append(
            error(
                "E0804",
                "a price override needs both `in` and `out`",
                model.price.span,
                help="write `price in = $0.15/M, out = $0.60/M`",
            )
        )
    return out


def _setting_problem(value: Any, is_word: bool, rule: SettingRule) -> str:
    if rule.words:
        if value not in rule.words:
            return f"must be one of {', '.join(rule.words)}, not `{value}`"
        return ""
    if is_word and str not in rule.kinds:
        return f"must be a number, not `{value}`"
    if isinstance(value, bool) or not isinstance(value, rule.kinds):
        wanted = "a whole number" if rule.kinds == (int,) else "a number" if int in rule.kinds else "a string"
        return f"must be {wanted}, not `{value}`"
    if isinstance(value, (int, float)):
        if (rule.low is not None and value < rule.low) or (rule.high is not None and value > rule.high):
            return f"must be between {rule.low:g} and {rule.high:g}, not {value}"
    return ""


def _check_step_shape(step: ir.StepDecl, models: set[str]) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if step.kind == "llm":
        if step.model not in models:
            out.append(
                error(
                    "E0105",
                    f"unknown model `{step.model}`",
                    step.model_span or step.name_span,
                    help=did_you_mean(step.model or "", models)
                    or f'declare it: `model {step.model} = openai "gpt-4.1-mini"`',
                )
            )
        if step.prompt is None:
            out.append(
                error(
                    "E0308",
                    f"llm step `{step.name}` has no `prompt`",
                    step.name_span,
                    help='add `prompt "..."` with what to ask the model',
                )
            )
        if step.timeout_seconds is not None:
            out.append(
                error(
                    "E0309",
                    "`timeout` applies to compute steps",
                    step.name_span,
                    help="an llm request's time is the provider's; `timeout` bounds a compute step's code",
                )
            )
        if step.code is not None:
            out.append(
                error(
                    "E0309",
                    "`code` belongs to compute steps",
                    step.code.span,
                    help="an llm step asks a model; move the code into a `compute` step",
                )
            )
    else:
        if step.code is None:
            out.append(
                error(
                    "E0308",
                    f"compute step `{step.name}` has no `code`",
                    step.name_span,
                    help='add `code """ ... return {...} """`',
                )
            )
        for part, text in (("prompt", step.prompt), ("system", step.system)):
            if text is not None:
                out.append(
                    error(
                        "E0309",
                        f"`{part}` belongs to llm steps",
                        text.span,
                        help="a compute step runs its `code`; to ask a model, use `= llm model`",
                    )
                )
        if step.retries is not None:
            out.append(
                error(
                    "E0309",
                    "`retries` applies to llm steps",
                    step.name_span,
                    help="compute code is deterministic for a unit: a retry would fail the same way",
                )
            )
    if step.output is None:
        out.append(
            error(
                "E0307",
                f"step `{step.name}` declares no `output` type",
                step.name_span,
                help="add e.g. `output { answer: string }`",
            )
        )
    return out
