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


def running(title: str, series: Sequence[tuple[str, Sequence[Sequence[float | None]]]]) -> str:
    """Running estimates: for each group, its estimate (a line) and 95% interval (a band)
    against the units counted so far; `series` are (label, [[n, value, low, high], ...])."""
    drawn = [(label, [p for p in points if p[1] is not None]) for label, points in series]
    drawn = [(label, points) for label, points in drawn if len(points) > 1]
    if not drawn:
        return ""
    ys = [float(v) for _, points in drawn for p in points for v in p[1:] if v is not None and math.isfinite(v)]
    low, high = _scale(ys)
    most = max(float(p[0] or 0) for _, points in drawn for p in points) or 1.0
    height, left, right, top, bottom = 220, PAD + 40, WIDTH - PAD - 90, 26, 190

    def x(n: float) -> float:
        return left + n / most * (right - left)

    def y(v: float) -> float:
        return bottom - (v - low) / (high - low) * (bottom - top)

    parts = [
        f'<svg class="chart" role="img" width="{WIDTH}" height="{height + 16}" viewBox="0 0 {WIDTH} {height + 16}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<text x="{PAD}" y="16" class="caption">{escape(title)}: running estimate and 95% interval</text>',
        f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" class="axis"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" class="axis"/>',
        f'<text x="{left - 4}" y="{bottom}" class="tick" text-anchor="end">{_fmt(low)}</text>',
        f'<text x="{left - 4}" y="{top + 8}" class="tick" text-anchor="end">{_fmt(high)}</text>',
        f'<text x="{left}" y="{bottom + 16}" class="tick">0</text>',
        f'<text x="{right}" y="{bottom + 16}" class="tick" text-anchor="end">{most:,.0f} units</text>',
    ]
    ends: list[tuple[float, str, str]] = []
    for index, (label, points) in enumerate(drawn):
        kind = f"series{index % 6}"
        band = [p for p in points if p[2] is not None and p[3] is not None]
        if len(band) > 1:
            upper = " ".join(f"{x(float(p[0] or 0)):.1f},{y(float(p[3] or 0)):.1f}" for p in band)
            lower = " ".join(f"{x(float(p[0] or 0)):.1f},{y(float(p[2] or 0)):.1f}" for p in reversed(band))
            parts.append(f'<polygon points="{upper} {lower}" class="band {kind}"/>')
        line = " ".join(f"{x(float(p[0] or 0)):.1f},{y(float(p[1] or 0)):.1f}" for p in points)
        parts.append(f'<polyline points="{line}" class="line {kind}"/>')
        ends.append((y(float(points[-1][1] or 0)) + 4, kind, f"{label[:12]} {_fmt(float(points[-1][1] or 0))}"))
    ends.sort()
    placed: list[float] = []
    for at, _, _ in ends:  # labels of lines that end close together are pushed apart
        placed.append(max(at, placed[-1] + 12) if placed else at)
    for at, (_, kind, text) in zip(placed, ends, strict=True):
        parts.append(f'<text x="{right + 4}" y="{at:.1f}" class="label {kind}">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)
