"""Descriptive statistics and confidence intervals for reports.

Pure Python (``math`` + ``statistics``): no numpy/scipy, so the CLI starts fast and
results are bit-reproducible across platforms, resumes and worker counts.

Conventions shared by every aggregate function:

* Inputs are the values of the units that produced one; the caller drops failed
  units and ``None`` values and reports how many were missing.
* Results are **order-independent**: the same multiset of values in any order gives
  bit-identical output. Sums use :func:`math.fsum` (correctly rounded, hence
  independent of order); order statistics sort their input first.
* **Empty input never raises**: the result (or an :class:`Estimate`'s ``value``) is
  ``None``; :func:`count` returns 0. :func:`total` of nothing is ``None`` too (like
  SQL ``SUM``), so "no data" is never confused with "summed to zero".
* **Non-finite values** (NaN, +inf, -inf) are not filtered here: if any is present,
  every value-derived result is ``None`` (count still counts it). Likewise a result
  that overflows to infinity is ``None``. So every number returned is finite and
  JSON-safe.
* Invalid *parameters* (a percentile outside [0, 100], a level outside (0, 1)) are
  caller bugs and raise :class:`ValueError`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import NamedTuple

_EPS = 1e-16  # continued-fraction / series convergence threshold
_TINY = 1e-300  # Lentz's guard against division by zero
_MAX_ITER = 100_000
_SHIFT = 64  # power-of-two rescaling used when a sum overflows (exact for normal floats)
_NEWTON_ITER = 200
_T_TOL = 1e-14  # relative step size at which the t root finder stops
_ASYMPTOTIC_DF = 1e5  # above this, t quantiles come from the Cornish-Fisher expansion


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate with a confidence interval; all ``None`` when undefined."""

    value: float | None
    low: float | None
    high: float | None
    n: int
    level: float

    def to_json(self) -> dict[str, float | int | None]:
        """A dict with a stable key order: value, low, high, n, level."""
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n, "level": self.level}


class ChiSquare(NamedTuple):
    statistic: float
    df: int
    p_value: float


# --------------------------------------------------------------------------- helpers


def _all_finite(xs: Sequence[float]) -> bool:
    return all(map(math.isfinite, xs))


def _finite_or_none(x: float) -> float | None:
    # ``+ 0.0`` turns -0.0 into 0.0: min([0.0, -0.0]) and min([-0.0, 0.0]) must print alike.
    return x + 0.0 if math.isfinite(x) else None


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:  # also rejects NaN
        raise ValueError(f"confidence level must be in (0, 1), got {level!r}")


def _fsum_scaled(xs: Sequence[float]) -> float:
    """fsum of xs * 2**-_SHIFT: exact rescaling, used when the plain fsum overflows."""
    return math.fsum(math.ldexp(x, -_SHIFT) for x in xs)


def _mean(xs: Sequence[float]) -> float:
    """Mean of a non-empty, all-finite sequence (may return inf only if inputs do)."""
    n = len(xs)
    try:
        return math.fsum(xs) / n
    except OverflowError:  # an intermediate partial sum overflowed; the mean itself fits
        return math.ldexp(_fsum_scaled(xs) / n, _SHIFT)


# --------------------------------------------------------------------------- descriptive


def count(xs: Sequence[float]) -> int:
    """Number of values (non-finite ones included)."""
    return len(xs)


def total(xs: Sequence[float]) -> float | None:
    """Correctly rounded sum (``math.fsum``); None if empty, non-finite, or overflowing."""
    if not xs or not _all_finite(xs):
        return None
    try:
        return _finite_or_none(math.fsum(xs))
    except OverflowError:
        try:
            return _finite_or_none(math.ldexp(_fsum_scaled(xs), _SHIFT))
        except OverflowError:
            return None


def mean(xs: Sequence[float]) -> float | None:
    """Arithmetic mean, ``fsum(xs) / n``; None if empty or non-finite."""
    if not xs or not _all_finite(xs):
        return None
    return _finite_or_none(_mean(xs))


def minimum(xs: Sequence[float]) -> float | None:
    if not xs or not _all_finite(xs):
        return None
    return _finite_or_none(float(min(xs)))


def maximum(xs: Sequence[float]) -> float | None:
    if not xs or not _all_finite(xs):
        return None
    return _finite_or_none(float(max(xs)))


def stdev(xs: Sequence[float]) -> float | None:
    """Sample standard deviation (divisor n - 1); None for n < 2 or non-finite input.

    Two-pass with the compensated correction term; squared deviations are rescaled by
    an exact power of two so that large values do not overflow.
    """
    n = len(xs)
    if n < 2 or not _all_finite(xs):
        return None
    m = _mean(xs)
    ds = [x - m for x in xs]
    big = max(map(abs, ds))
    if not math.isfinite(big):
        return None
    if big == 0.0:
        return 0.0
    e = math.frexp(big)[1]
    ds = [math.ldexp(d, -e) for d in ds]  # |d| < 1, exact scaling
    ss = math.fsum(map(operator.mul, ds, ds)) - math.fsum(ds) ** 2 / n
    sd = math.sqrt(max(ss, 0.0) / (n - 1))
    try:
        return _finite_or_none(math.ldexp(sd, e))
    except OverflowError:
        return None


def median(xs: Sequence[float]) -> float | None:
    """Median as :func:`statistics.median`: middle value, or mean of the two middle ones."""
    if not xs or not _all_finite(xs):
        return None
    s = sorted(xs)
    n = len(s)
    mid = n // 2
    if n % 2:
        return _finite_or_none(float(s[mid]))
    a, b = float(s[mid - 1]), float(s[mid])
    m = (a + b) / 2
    return _finite_or_none(m if math.isfinite(m) else a / 2 + b / 2)


def _lerp(a: float, b: float, t: float) -> float:
    # Exactly numpy's ``_lerp`` (numpy >= 1.22), so results match np.percentile bit for bit.
    diff = b - a
    return b - diff * (1.0 - t) if t >= 0.5 else a + diff * t


def _percentile_sorted(s: Sequence[float], p: float) -> float | None:
    if not 0.0 <= p <= 100.0:  # also rejects NaN
        raise ValueError(f"percentile must be in [0, 100], got {p!r}")
    n = len(s)
    if n == 0:
        return None
    h = (n - 1) * (p / 100.0)
    lo = math.floor(h)
    if lo >= n - 1:
        return _finite_or_none(float(s[-1]))
    return _finite_or_none(_lerp(float(s[lo]), float(s[lo + 1]), h - lo))


def percentile(xs: Sequence[float], p: float) -> float | None:
    """The p-th percentile, p in [0, 100], numpy's default ``method="linear"``.

    With the values sorted as s[0..n-1], the rank is h = (n - 1) * p / 100 and the result
    interpolates linearly between s[floor(h)] and s[floor(h) + 1] (type 7 of Hyndman & Fan,
    also R's default). percentile(xs, 0) is the minimum, 100 the maximum, 50 the median
    (up to the last bit: numpy's interpolation formula is reproduced exactly, so results
    equal ``numpy.percentile``). None if empty or non-finite; ValueError if p is out of range.
    """
    return percentiles(xs, [p])[0]


def percentiles(xs: Sequence[float], ps: Sequence[float]) -> list[float | None]:
    """:func:`percentile` for several p at once (sorts once)."""
    if not xs or not _all_finite(xs):
        for p in ps:
            _percentile_sorted([], p)  # still validate p
        return [None for _ in ps]
    s = sorted(xs)
    return [_percentile_sorted(s, p) for p in ps]


# --------------------------------------------------------------------------- special functions


def _lentz(coeff: Callable[[int], tuple[float, float]], b0: float) -> float:
    """Evaluate b0 + a1/(b1 + a2/(b2 + ...)) by the modified Lentz method."""
    f = b0 if b0 != 0.0 else _TINY
    c, d = f, 0.0
    for i in range(1, _MAX_ITER):
        a, b = coeff(i)
        d = b + a * d
        d = 1.0 / (d if d != 0.0 else _TINY)
        c = b + a / c
        c = c if c != 0.0 else _TINY
        delta = c * d
        f *= delta
        if abs(delta - 1.0) < _EPS:
            return f
    raise ArithmeticError("continued fraction did not converge")  # pragma: no cover


def _beta_cf(x: float, a: float, b: float) -> float:
    # Continued fraction for I_x(a, b) * a * B(a, b) / (x^a (1-x)^b) (Numerical Recipes 6.4).
    def coeff(i: int) -> tuple[float, float]:
        if i == 1:
            return 1.0, 1.0
        m = (i - 1) // 2
        if i % 2 == 0:  # d_{2m+1}
            return -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)), 1.0
        return m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)), 1.0

    return _lentz(coeff, 0.0)


def _stirling_correction(x: float) -> float:
    # lgamma(x) - [(x - 1/2) log x - x + log(2 pi) / 2], x >= 10; truncation error < 1e-16.
    r = 1.0 / (x * x)
    c = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)
    acc = 0.0
    for k in reversed(c):
        acc = acc * r + k
    return acc / x


def _log_beta(a: float, b: float) -> float:
    """log B(a, b), without the cancellation of lgamma(a + b) - lgamma(a) for large a."""
    if a < b:
        a, b = b, a
    if a < 10.0:
        return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    # lgamma(a + b) - lgamma(a) by Stirling's series, written to keep every term small.
    diff = (a - 0.5) * math.log1p(b / a) + b * math.log(a + b) - b
    diff += _stirling_correction(a + b) - _stirling_correction(a)
    return math.lgamma(b) - diff


def regularized_beta(x: float, a: float, b: float, *, y: float | None = None) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and x in [0, 1].

    Pass ``y = 1 - x`` when it is known more accurately than ``1 - x`` can be computed.
    """
    if a <= 0.0 or b <= 0.0 or not 0.0 <= x <= 1.0:
        raise ValueError("regularized_beta needs a, b > 0 and 0 <= x <= 1")
    y = 1.0 - x if y is None else y
    if x == 0.0 or y == 0.0:
        return 0.0 if x == 0.0 else 1.0
    lx = math.log1p(-y) if y < 0.5 else math.log(x)
    ly = math.log1p(-x) if x < 0.5 else math.log(y)
    log_front = a * lx + b * ly
    log_front -= _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_cf(x, a, b) / a
    return 1.0 - math.exp(log_front) * _beta_cf(y, b, a) / b


def regularized_gamma_q(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), a > 0, x >= 0.

    Series for P = 1 - Q when x < a + 1, Lentz continued fraction for Q otherwise.
    """
    if a <= 0.0 or not x >= 0.0:
        raise ValueError("regularized_gamma_q needs a > 0 and x >= 0")
    if x == 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1.0:
        term = total_ = 1.0 / a
        ap = a
        for _ in range(_MAX_ITER):
            ap += 1.0
            term *= x / ap
            total_ += term
            if abs(term) < abs(total_) * _EPS:
                break
        return max(0.0, 1.0 - math.exp(log_front) * total_)

    def coeff(i: int) -> tuple[float, float]:
        # Q = front / (x + 1 - a - 1(1-a)/(x + 3 - a - 2(2-a)/(x + 5 - a - ...)))
        if i == 1:
            return 1.0, x + 1.0 - a
        k = i - 1
        return -k * (k - a), x + 2.0 * k + 1.0 - a

    return math.exp(log_front) * _lentz(coeff, 0.0)


def t_sf(t: float, df: float) -> float:
    """Survival function P(T > t) of Student's t with df > 0 degrees of freedom.

    Relative error ~1e-13 for moderate df, growing with df (~1e-12 at df = 1e5, ~1e-10 at
    1e7: the continued fraction is ill-conditioned there), which is why t_quantile
    switches to an asymptotic expansion above df = 1e5.
    """
    if not df > 0.0:
        raise ValueError(f"degrees of freedom must be > 0, got {df!r}")
    if math.isnan(t):
        return math.nan
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    t2 = t * t
    # x = df / (df + t^2) and y = 1 - x, both computed without cancellation.
    tail = 0.5 * regularized_beta(df / (df + t2), df / 2.0, 0.5, y=t2 / (df + t2))
    return tail if t > 0.0 else 1.0 - tail


def _t_pdf(t: float, df: float) -> float:
    log_c = math.lgamma((df + 1.0) / 2.0) - math.lgamma(df / 2.0) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1.0) / 2.0 * math.log1p(t * t / df))


def _t_cornish_fisher(q: float, df: float) -> float:
    # Upper q-quantile by Abramowitz & Stegun 26.7.5, an expansion in 1/df around the
    # normal quantile z; the first omitted term is O(z**11 / df**5).
    z = -NormalDist().inv_cdf(q)
    z2 = z * z
    g1 = z * (z2 + 1.0) / 4.0
    g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0
    g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0
    g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0
    return z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df


def _t_upper(q: float, df: float) -> float:
    """The t > 0 with t_sf(t, df) == q, for 0 < q < 1/2."""
    if df > _ASYMPTOTIC_DF:
        return _t_cornish_fisher(q, df)
    lo, hi = 0.0, 1.0  # bracket: t_sf(lo) > q >= t_sf(hi)
    while t_sf(hi, df) > q:
        lo, hi = hi, hi * 2.0
    t = _t_cornish_fisher(q, df)
    if not lo < t < hi:
        t = (lo + hi) / 2.0
    for _ in range(_NEWTON_ITER):
        sf = t_sf(t, df)
        if sf == q:
            return t
        if sf > q:
            lo = t
        else:
            hi = t
        # Newton on log(sf) against log(t): nearly linear in the tails, where sf ~ c * t**-df.
        new = t * math.exp((math.log(sf) - math.log(q)) * sf / (_t_pdf(t, df) * t))
        if not lo < new < hi:
            new = (lo + hi) / 2.0
        if abs(new - t) <= _T_TOL * t or hi - lo <= _T_TOL * hi:
            return new
        t = new
    return t  # pragma: no cover - bisection alone converges in ~50 steps


def t_quantile(p: float, df: float) -> float:
    """Quantile (inverse CDF) of Student's t: the t with P(T <= t) = p, for p in (0, 1).

    Inverts :func:`t_sf` (regularized incomplete beta, Lentz continued fraction) by Newton
    steps on log(sf) vs log(t), safeguarded by bisection on a bracket; relative error
    ~1e-13 or better. For df > 1e5 the Cornish-Fisher expansion is used, exact to double
    precision there. Tails are handled without cancellation: p = 1e-12 is fine.
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {p!r}")
    if not df > 0.0:
        raise ValueError(f"degrees of freedom must be > 0, got {df!r}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -_t_upper(p, df)
    return _t_upper(1.0 - p, df)  # 1 - p is exact for p >= 1/2


# --------------------------------------------------------------------------- intervals


def mean_t(xs: Sequence[float], level: float = 0.95) -> Estimate:
    """Mean with a two-sided Student-t confidence interval at ``level``.

    n == 0 (or non-finite values): everything None. n == 1: the value, no interval.
    Zero spread: the interval collapses to the mean.
    """
    _check_level(level)
    n = len(xs)
    m = mean(xs)
    if m is None or n < 2:
        return Estimate(m, None, None, n, level)
    s = stdev(xs)
    if s is None:  # the spread overflows
        return Estimate(m, None, None, n, level)
    half = t_quantile(0.5 + level / 2.0, n - 1) * s / math.sqrt(n)
    low, high = _finite_or_none(m - half), _finite_or_none(m + half)
    if low is None or high is None:
        return Estimate(m, None, None, n, level)
    return Estimate(m, low, high, n, level)


def proportion_wilson(flags: Sequence[bool], level: float = 0.95) -> Estimate:
    """Proportion of true flags with the Wilson score interval (no continuity correction).

    z is ``NormalDist().inv_cdf(0.5 + level / 2)``. The bounds are exactly 0 (1) when no
    (every) flag is true. Empty input: everything None.
    """
    return proportion_counts(sum(1 for f in flags if f), len(flags), level)


def proportion_counts(k: int, n: int, level: float = 0.95) -> Estimate:
    """:func:`proportion_wilson` of ``n`` flags of which ``k`` are true."""
    _check_level(level)
    if n == 0:
        return Estimate(None, None, None, 0, level)
    phat = k / n
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (phat + z2 / (2.0 * n)) / denom
    half = z / denom * math.sqrt(phat * (1.0 - phat) / n + z2 / (4.0 * n * n))
    low = 0.0 if k == 0 else max(0.0, center - half)
    high = 1.0 if k == n else min(1.0, center + half)
    return Estimate(phat, low, high, n, level)


# --------------------------------------------------------------------------- tests of fit


def chi_square_gof(observed: Sequence[int], expected_probs: Sequence[float]) -> ChiSquare:
    """Pearson's chi-square goodness-of-fit test of counts against category probabilities.

    Returns (statistic, df = k - 1, p_value = Q(df / 2, statistic / 2)). The probabilities
    must be positive and sum to 1 (within 1e-9; they are renormalized). The usual rule of
    thumb applies: every expected count should be at least ~5 for the p-value to be valid.
    Meant for statistical checks in tests, so it raises ValueError on misuse, including
    zero observations (a check over no data must fail loudly rather than pass).
    """
    k = len(observed)
    if k != len(expected_probs):
        raise ValueError("observed and expected_probs must have the same length")
    if k < 2:
        raise ValueError("need at least two categories")
    if any(o < 0 for o in observed):
        raise ValueError("observed counts must be non-negative")
    if not all(math.isfinite(p) and p > 0.0 for p in expected_probs):
        raise ValueError("expected probabilities must be positive and finite")
    psum = math.fsum(expected_probs)
    if abs(psum - 1.0) > 1e-9:
        raise ValueError(f"expected probabilities sum to {psum!r}, not 1")
    n = math.fsum(observed)
    if n == 0:
        raise ValueError("no observations")
    stat = math.fsum((o - e) ** 2 / e for o, e in zip(observed, (n * p / psum for p in expected_probs), strict=True))
    df = k - 1
    return ChiSquare(stat, df, regularized_gamma_q(df / 2.0, stat / 2.0))
