"""The price table shipped with the package (`_data/prices.json`, dated) and model overrides."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

from octolang import ir

FREE_PROVIDERS = frozenset({"mock"})


@dataclass(frozen=True)
class Price:
    """USD per million tokens."""

    input: Decimal
    output: Decimal
    batch_input: Decimal
    batch_output: Decimal
    cached_input: Decimal | None
    source: str


@functools.lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    text = resources.files("octolang").joinpath("_data/prices.json").read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def prices_as_of() -> str:
    return str(price_table()["as_of"])


def known_models(provider: str) -> list[str]:
    prefix = f"{provider}/"
    return [key[len(prefix) :] for key in price_table()["models"] if key.startswith(prefix)]


def price_for(model: ir.ModelDecl) -> Price | None:
    """The model's price: its `price` override, else the table's entry, else None (unknown).
    Batch prices default to half the realtime price, as all three providers charge."""
    zero = Decimal(0)
    if model.provider in FREE_PROVIDERS:
        return Price(zero, zero, zero, zero, zero, "free (offline mock)")
    entry = price_table()["models"].get(f"{model.provider}/{model.model_id}")
    override = model.price
    if override is not None and override.input is not None and override.output is not None:
        half = Decimal("0.5")
        return Price(
            override.input,
            override.output,
            override.input * half,
            override.output * half,
            override.cached,
            "price given in the pipeline",
        )
    if entry is None:
        return None

    def dec(key: str) -> Decimal:
        return Decimal(str(entry[key]))

    base = Price(
        dec("input_per_mtok"),
        dec("output_per_mtok"),
        dec("batch_input_per_mtok"),
        dec("batch_output_per_mtok"),
        dec("cached_input_per_mtok") if "cached_input_per_mtok" in entry else None,
        f"price table of {prices_as_of()}",
    )
    if override is not None:  # a partial override: only the given parts change
        half = Decimal("0.5")
        base = Price(
            override.input or base.input,
            override.output or base.output,
            override.input * half if override.input else base.batch_input,
            override.output * half if override.output else base.batch_output,
            override.cached or base.cached_input,
            "price table, partly overridden",
        )
    return base


def is_batch(model: ir.ModelDecl) -> bool:
    """Batch is the default mode; `auto` is priced as batch until the runner decides per run."""
    return str(model.setting("mode", "batch")) != "realtime"


def usage_cost(model: ir.ModelDecl, usage: Mapping[str, int], *, batch: bool | None = None) -> Decimal:
    """USD for one request's usage (input, output and cached tokens) at the model's price in
    `batch` or realtime mode (default: the model's mode); zero for a model without a known
    price (W0102 said so before the run)."""
    price = price_for(model)
    if price is None:
        return Decimal(0)
    if batch is None:
        batch = is_batch(model)
    per_input = price.batch_input if batch else price.input
    per_output = price.batch_output if batch else price.output
    per_cached = per_input
    if price.cached_input is not None:
        per_cached = price.cached_input / 2 if batch else price.cached_input
    cached = Decimal(usage.get("cached_tokens", 0))
    fresh = Decimal(usage.get("input_tokens", 0)) - cached
    output = Decimal(usage.get("output_tokens", 0))
    return (fresh * per_input + cached * per_cached + output * per_output) / Decimal(1_000_000)
