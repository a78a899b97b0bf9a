"""Every model that will cost money needs a known price."""

from __future__ import annotations

from octolang import ir
from octolang.check.declarations import PROVIDERS
from octolang.diagnostics import Diagnostic, did_you_mean, error, warning
from octolang.pricing import PRICES_VAR, known_models, price_for, prices_as_of, prices_file


def check_prices(program: ir.Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    user = prices_file()
    if user is not None and user[2] is not None:
        out.append(
            error(
                "E0805",
                f"the prices file {user[0]} (${PRICES_VAR}) {user[2]}",
                program.span.model_copy(update={"end": 0, "end_line": 1, "end_col": 1}),
                help=f"fix the file, or unset {PRICES_VAR} to use the shipped price table (see docs/cost.md)",
            )
        )
    used = {s.model for s in program.steps if s.kind == "llm"}
    for model in program.models:
        if model.name not in used or (
            model.provider == "openai_compatible"
            and (model.price is None or model.price.input is None or model.price.output is None)
        ):
            # local servers cost nothing unless priced; a half-given price is E0804 already
            continue
        if model.provider not in PROVIDERS:
            continue  # E0107 already says the provider is unknown
        if price_for(model) is None:
            close = did_you_mean(model.model_id, known_models(model.provider))
            out.append(
                warning(
                    "W0102",
                    f"no price known for {model.provider} model `{model.model_id}`",
                    model.model_id_span,
                    label=f"not in the price table of {prices_as_of()}",
                    help=(f"{close} Or give" if close else "give")
                    + " its price on the model: `price in = $0.40/M, out = $1.60/M` (USD per million tokens)",
                )
            )
    return out
