"""The price table shipped with the package (`_data/prices.json`, dated) and model overrides."""

from __future__ import annotations

import functools
import json
import os
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


PRICES_VAR = "OCTO_PRICES"  # a JSON file of the user's prices, in the shipped table's format
_PRICE_FIELDS = ("input_per_mtok", "output_per_mtok", "batch_input_per_mtok", "batch_output_per_mtok")


def prices_file() -> tuple[str, dict[str, dict[str, float]], str | None] | None:
    """The user's prices file named by $OCTO_PRICES: (path, its entries, what is wrong with
    it or None); None when the variable is not set."""
    path = os.environ.get(PRICES_VAR, "").strip()
    if not path:
        return None
    entries, problem = _read_prices(os.path.abspath(path))
    return path, entries, problem


@functools.lru_cache(maxsize=8)
def _read_prices(path: str) -> tuple[dict[str, dict[str, float]], str | None]:
    example = '{"models": {"openai/gpt-4.1-mini": {"input_per_mtok": 0.4, "output_per_mtok": 1.6}}}'
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as exc:
        return {}, f"cannot be read: {exc.strerror or exc}"
    except ValueError as exc:
        return {}, f"is not JSON: {exc}"
    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        return {}, f"needs a `models` object, e.g. {example}"
    entries: dict[str, dict[str, float]] = {}
    for key, entry in models.items():
        if key.count("/") != 1 or not all(key.split("/")):
            return {}, f"`{key}`: name a model `provider/model-id`, e.g. `openai/gpt-4.1-mini`"
        if not isinstance(entry, dict):
            return {}, f"`{key}`: give an object of prices, e.g. {example}"
        prices: dict[str, float] = {}
        for name in (*_PRICE_FIELDS, "cached_input_per_mtok"):
            value = entry.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                return {}, f"`{key}`: `{name}` must be a number of USD per million tokens, not {value!r}"
            prices[name] = float(value)
        if "input_per_mtok" not in prices or "output_per_mtok" not in prices:
            return {}, f"`{key}`: `input_per_mtok` and `output_per_mtok` are needed"
        prices.setdefault("batch_input_per_mtok", prices["input_per_mtok"] / 2)  # batch: half, as everywhere
        prices.setdefault("batch_output_per_mtok", prices["output_per_mtok"] / 2)
        entries[key] = prices
    return entries, None


def _entry(key: str) -> tuple[dict[str, Any] | None, str]:
    """A model's price table entry and where it comes from: the user's prices file first."""
    user = prices_file()
    if user is not None and user[2] is None and key in user[1]:
        return user[1][key], f"prices file {user[0]}"
    return price_table()["models"].get(key), f"price table of {prices_as_of()}"


def known_models(provider: str) -> list[str]:
    prefix = f"{provider}/"
    user = prices_file()
    keys = list(price_table()["models"]) + (list(user[1]) if user is not None else [])
    return sorted({key[len(prefix) :] for key in keys if key.startswith(prefix)})


def price_for(model: ir.ModelDecl) -> Price | None:
    """The model's price: its `price` override, else its entry in the user's prices file
    ($OCTO_PRICES), else the shipped table's entry, else None (unknown).
    Batch prices default to half the realtime price, as all three providers charge."""
    zero = Decimal(0)
    if model.provider in FREE_PROVIDERS:
        return Price(zero, zero, zero, zero, zero, "free (offline mock)")
    entry, source = _entry(f"{model.provider}/{model.model_id}")
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
        source,
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
    return model.mode != "realtime"


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
