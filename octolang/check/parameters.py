"""A model's sampling settings against what its provider and model family take
(octolang/providers/parameters.py): E0812 for a parameter the model refuses, W0109 for one
it ignores (octoc does not send it). Ranges are the same wherever a parameter is taken, and
are checked with the other settings (E0802, declarations.py)."""

from __future__ import annotations

from collections.abc import Collection

from octolang import ir
from octolang.diagnostics import Diagnostic, error, warning
from octolang.providers.parameters import SAMPLING, rule_for


def check_parameters(model: ir.ModelDecl, skip: Collection[str] = ()) -> list[Diagnostic]:
    """Diagnostics of `model`'s sampling settings but those in `skip` (already reported:
    a setting that does not apply to the provider at all is E0108, declarations.py)."""
    out: list[Diagnostic] = []
    for setting in model.settings:
        if setting.name not in SAMPLING or setting.name in skip or isinstance(setting.value, bool):
            continue
        rule = rule_for(model.provider, model.model_id, setting.name)
        if rule is None:
            continue
        where = f"{model.provider} `{model.model_id}`"
        rule_text = f"rule: {rule.family}: {_verdict(rule.verdict, rule.default)}; source: {rule.source}"
        if rule.verdict == "refuses" or (rule.verdict == "default_only" and setting.value != rule.default):
            only = f" other than the default ({rule.default:g})" if rule.verdict == "default_only" else ""
            out.append(
                error(
                    "E0812",
                    f"{where} refuses `{setting.name}`{only}",
                    setting.span,
                    label="the provider answers every such request with an error",
                    help=f"remove `{setting.name}`; {rule_text}",
                )
            )
        elif rule.verdict == "ignores":
            out.append(
                warning(
                    "W0109",
                    f"{where} ignores `{setting.name}`: octoc does not send it",
                    setting.span,
                    label="has no effect on the answers",
                    help=f"remove `{setting.name}`; {rule_text}",
                )
            )
    return out


def _verdict(verdict: str, default: float | None) -> str:
    if verdict == "default_only":
        return f"only the default ({default:g})"
    return {"refuses": "refused", "ignores": "not a request parameter, ignored"}.get(verdict, "taken")
