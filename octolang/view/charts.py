"""Charts as inline SVG, drawn on the server: no JavaScript, and they show in the static
bundle as they do live. Every text is escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 560
ROW = 22
LABEL = 170
PAD = 12


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    low: float | None = None
    high: float | None = None


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _scale(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if low > 0 and high <= 1 and low >= 0:
        low = 0.0  # proportions start at zero
    low = min(low, 0.0)
    if high == low:
        high = low + 1.0
    return low, high


def error_bars(title: str, bars: Sequence[Bar]) -> str:
    """One row per group: a dot at the value and a line across its interval."""
    known = [b for b in bars if b.value is not None]
    if not known:
        return ""
    points = [v for b in known for v in (b.value, b.low, b.high) if v is not None and math.isfinite(v)]
    low, high = _scale(points)
    span = WIDTH - LABEL - 2 * PAD - 60

    def x(v: float) -> float:
        return LABEL + PAD + (v - low) / (high - low) * span

    height = ROW * len(bars) + 54
    parts = [
        f'<svg class="chart" role="img" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<text x="{PAD}" y="16" class="caption">{escape(title)} (95% intervals)</text>',
        f'<line x1="{x(low):.1f}" y1="26" x2="{x(low):.1f}" y2="{height - 22}" class="axis"/>',
        f'<text x="{x(low):.1f}" y="{height - 8}" class="tick">{_fmt(low)}</text>',
        f'<text x="{x(high):.1f}" y="{height - 8}" class="tick" text-anchor="end">{_fmt(high)}</text>',
    ]
    for index, bar in enumerate(bars):
        y = 38 + index * ROW
        parts.append(f'<text x="{LABEL}" y="{y + 4}" class="label" text-anchor="end">{escape(bar.label[:28])}</text>')
        if bar.value is None:
            parts.append(f'<text x="{LABEL + PAD}" y="{y + 4}" class="tick">no value</text>')
            continue
        if bar.low is not None and bar.high is not None:
            parts.append(
                f'<line x1="{x(bar.low):.1f}" y1="{y}" x2="{x(bar.high):.1f}" y2="{y}" class="interval"/>'
                f'<line x1="{x(bar.low):.1f}" y1="{y - 5}" x2="{x(bar.low):.1f}" y2="{y + 5}" class="interval"/>'
                f'<line x1="{x(bar.high):.1f}" y1="{y - 5}" x2="{x(bar.high):.1f}" y2="{y + 5}" class="interval"/>'
            )
        parts.append(f'<circle cx="{x(bar.value):.1f}" cy="{y}" r="4" class="point"/>')
        parts.append(f'<text x="{WIDTH - 4}" y="{y + 4}" class="tick" text-anchor="end">{_fmt(bar.value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(title: str, bins: Sequence[tuple[float, float, int]]) -> str:
    """Bars of counts; `bins` are (from, to, count)."""
    if not bins:
        return ""
    height = 150
    top = max(c for _, _, c in bins) or 1
    width = (WIDTH - 2 * PAD) / len(bins)
    parts = [
        f'<svg class="chart" role="img" width="{WIDTH}" height="{height + 30}" viewBox="0 0 {WIDTH} {height + 30}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for index, (start, end, count) in enumerate(bins):
        h = count / top * (height - 10)
        parts.append(
            f'<rect x="{PAD + index * width:.1f}" y="{height - h:.1f}" width="{max(width - 1, 1):.1f}" '
            f'height="{h:.1f}" class="bar"><title>{_fmt(start)} to {_fmt(end)}: {count:,}</title></rect>'
        )
    first, last = bins[0][0], bins[-1][1]
    parts.append(f'<text x="{PAD}" y="{height + 16}" class="tick">{_fmt(first)}</text>')
    parts.append(f'<text x="{WIDTH - PAD}" y="{height + 16}" class="tick" text-anchor="end">{_fmt(last)}</text>')
    parts.append(f'<text x="{WIDTH / 2}" y="{height + 16}" class="tick" text-anchor="middle">max {top:,}</text>')
    parts.append("</svg>")
    return "".join(parts)
