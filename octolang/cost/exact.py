"""Exact counts for Claude and Gemini (`octoc check --exact`).

Neither provider publishes an offline tokenizer, so the estimate's input tokens are the
o200k count times a calibration band (`calibration.py`). Both offer a free endpoint that
counts a request as it would be billed (Anthropic `POST /v1/messages/count_tokens`,
Gemini `models/{m}:countTokens`). With `--exact`, a sample of each step's requests,
spread evenly over its units, is counted there, and the step's estimate is scaled by the
measured ratio of billed to estimated tokens: the band becomes the sample's lowest and
highest ratio. A sample keeps it to a few calls however many units there are.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from octolang import ir
from octolang.cost.figures import StepEstimate

SAMPLE = 20  # requests counted per step
PROVIDERS = ("anthropic", "gemini")  # OpenAI's count is exact offline already

# (model, provider-neutral request bodies) -> the billed input tokens of each
ExactCounter = Callable[[ir.ModelDecl, list[dict[str, Any]]], list[int]]


class ExactUnavailable(Exception):
    """The counting endpoint could not be used (no key, the service down); the band stands."""


def sample(count: int, size: int = SAMPLE) -> list[int]:
    """`size` indices spread evenly over `count` items (all of them when fewer)."""
    if count <= size:
        return list(range(count))
    return sorted({round(i * (count - 1) / (size - 1)) for i in range(size)})


def calibrate(
    estimate: StepEstimate,
    model: ir.ModelDecl,
    bodies: list[dict[str, Any]],
    estimated: list[int],
    counter: ExactCounter,
) -> str:
    """Scale `estimate`'s input tokens by billed/estimated over the sampled requests
    (`bodies`, with their per-request `estimated` tokens); returns how it was measured."""
    billed = counter(model, bodies)
    ratios = [b / e for b, e in zip(billed, estimated, strict=True) if e > 0]
    if not ratios:
        raise ExactUnavailable("no request to count")
    mean, low, high = sum(ratios) / len(ratios), min(ratios), max(ratios)
    point = estimate.input_tokens
    estimate.input_tokens = round(point * mean)
    estimate.input_tokens_low = round(point * low)
    estimate.input_tokens_high = round(point * high)
    estimate.max_input_per_call = math.ceil(estimate.max_input_per_call * high)
    endpoint = "count_tokens" if model.provider == "anthropic" else "countTokens"
    return (
        f"{model.provider} {endpoint} on {len(ratios)} sampled request(s) of `{estimate.step}`: "
        f"x{mean:.3f} of the o200k estimate ({low:.3f}-{high:.3f})"
    )
