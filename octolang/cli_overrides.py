"""`--provider` and `--model NAME=provider:model`: another model for a run, a dry run or a
check, without editing the file.

The override rewrites the checked program's model declarations: the run then prices,
checks keys and hosts, encodes and fingerprints the models it will really call. A model
given another provider keeps its sampling settings (checked again against the new model's
rules: a parameter it refuses is an error) and its `mode`, `concurrency` and
`failure_rate`, where the new provider has a use for them; it loses the rest (`base_url`,
`api_key_env`, `invalid_rate`, a `price`: the price table's entry for the new model is used).
`--provider mock` is the runtime's own replacement (RunOptions.provider) in `octoc run`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from octolang import ir
from octolang.diagnostics import Diagnostic
from octolang.providers.hosts import BUILT_IN

# What `--provider P` calls a model that is not already on P (docs/cli.md).
DEFAULT_MODELS = {"openai": "gpt-4.1-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}
PROVIDERS = (*BUILT_IN, "mock")  # what `--provider` may name
_KEPT = frozenset({"mode", "auto_threshold", "concurrency", "failure_rate"})

F = TypeVar("F", bound=Callable[..., Any])


class OverrideError(Exception):
    """An override that names no model of the file, or a model without a known price."""


def override_options(func: F) -> F:
    func = click.option(
        "--model",
        "model_overrides",
        multiple=True,
        metavar="NAME=PROVIDER:MODEL",
        help="Call the file's model NAME as this provider's model instead (repeatable), e.g. "
        "--model writer=anthropic:claude-haiku-4-5.",
    )(func)
    return click.option(
        "--provider",
        type=click.Choice(PROVIDERS),
        help="Call every model on this provider (its default model unless the model is on it already); "
        "mock answers offline; e.g. --provider mock.",
    )(func)


def parse_model(text: str) -> tuple[str, str, str]:
    """NAME=provider:model as (name, provider, model id); OverrideError when it is not."""
    name, eq, target = text.partition("=")
    provider, colon, model_id = target.partition(":")
    if not (eq and colon and name.strip() and model_id.strip()):
        raise OverrideError(f"--model {text}: write NAME=PROVIDER:MODEL, e.g. writer=gemini:gemini-2.5-flash")
    from octolang.check.declarations import PROVIDERS as MODEL_PROVIDERS

    if provider not in MODEL_PROVIDERS:
        raise OverrideError(f"--model {text}: unknown provider `{provider}`; providers: {', '.join(MODEL_PROVIDERS)}")
    return name.strip(), provider, model_id.strip()


def apply_overrides(
    program: ir.Program, provider: str | None, models: tuple[str, ...]
) -> tuple[ir.Program, list[Diagnostic]]:
    """The program with its models overridden, and the diagnostics of the overridden models
    (E0108, E0802, E0812, W0109...). `provider` mock is left to the runtime; an override to
    mock here (for `octoc check`, or `--model NAME=mock:x`) is made like any other."""
    from octolang.check.declarations import check_model
    from octolang.pricing import known_models, price_for

    wanted: dict[str, tuple[str, str]] = {}
    if provider is not None:
        for model in program.models:
            if model.provider != provider:
                wanted[model.name] = (provider, DEFAULT_MODELS.get(provider, "mock"))
    for text in models:
        name, to_provider, model_id = parse_model(text)
        if program.model(name) is None:
            names = ", ".join(m.name for m in program.models) or "none"
            raise OverrideError(f"--model {text}: the file has no model `{name}` (its models: {names})")
        wanted[name] = (to_provider, model_id)
    if not wanted:
        return program, []
    changed: list[ir.ModelDecl] = []
    diagnostics: list[Diagnostic] = []
    for model in program.models:
        if model.name not in wanted:
            changed.append(model)
            continue
        to_provider, model_id = wanted[model.name]
        same = to_provider == model.provider
        new = model.model_copy(
            update={
                "provider": to_provider,
                "model_id": model_id,
                "settings": [s for s in model.settings if same or _carried(s.name, to_provider)],
                "price": model.price if same and model_id == model.model_id else None,
            }
        )
        if to_provider == "openai_compatible" and new.setting("base_url") is None:
            raise OverrideError(f"model `{model.name}`: an openai_compatible model needs the file's `base_url`")
        if price_for(new) is None and to_provider != "openai_compatible":
            known = ", ".join(known_models(to_provider)) or "none"
            raise OverrideError(
                f"model `{model.name}`: no price known for {to_provider} model `{model_id}` (known: {known}); "
                "pick one of those, or give its price in the file"
            )
        diagnostics += check_model(new)
        changed.append(new)
    return program.model_copy(update={"models": changed}), diagnostics


def _carried(setting: str, provider: str) -> bool:
    """A setting a model keeps when it moves to `provider`: a sampling setting or one of
    `_KEPT`, where the provider has a use for it (`seed` is not carried to Anthropic)."""
    from octolang.check.declarations import SETTINGS
    from octolang.providers.parameters import SAMPLING

    rule = SETTINGS.get(setting)
    return (setting in SAMPLING or setting in _KEPT) and rule is not None and provider in rule.providers


def override_args(provider: str | None, models: tuple[str, ...]) -> str:
    """The options as the user gave them, to repeat in a hint."""
    return (f" --provider {provider}" if provider else "") + "".join(f" --model {m}" for m in models)


def overridden_or_exit(program: ir.Program, file: str, provider: str | None, models: tuple[str, ...]) -> ir.Program:
    """`octoc run`'s program with the overrides (`--provider mock` is the runtime's); the
    overridden models' errors, or an override that cannot be made, on stderr and exit 1."""
    import sys

    from octolang.cli_base import EXIT_ERRORS
    from octolang.compiler import read_source
    from octolang.diagnostics import render_all

    try:
        program, diagnostics = apply_overrides(program, None if provider == "mock" else provider, models)
    except OverrideError as exc:
        click.echo(f"octoc: {exc}", err=True)
        sys.exit(EXIT_ERRORS)
    errors = [d for d in diagnostics if d.is_error]
    if errors:
        source = read_source(file)
        click.echo(render_all(errors, {} if isinstance(source, Diagnostic) else {file: source}), err=True)
        made = override_args(provider, models)
        click.echo(f"{file}: {len(errors)} error(s) in the models as{made} makes them", err=True)
        sys.exit(EXIT_ERRORS)
    return program


def with_resume_hint(exc: Exception, provider: str | None, models: tuple[str, ...]) -> Exception:
    """A refusal to resume a run whose models differ: `--provider` and `--model` count as
    edits of the file, and the hint says so."""
    text = str(exc)
    if "has changed since run" not in text or "model " not in text:
        return exc
    given = override_args(provider, models).strip() or "no --provider or --model"
    hint = (
        f"\nThe models are part of a run: a run started with --provider/--model resumes only with the same "
        f"ones (this time: {given}), or starts a new run with `--fresh`."
    )
    return type(exc)(text + hint)
