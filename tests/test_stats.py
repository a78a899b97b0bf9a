"""Tests for octolang.stats against independently known values (tables, closed forms, numpy)."""

from __future__ import annotations

import json
import math
import random
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from octolang import stats
from octolang.stats import Estimate

# --------------------------------------------------------------------------- Student t


@pytest.mark.parametrize(
    ("df", "expected"),
    [
        # Standard t tables, two-sided 95% (one-sided 0.975).
        (1, 12.7062047),
        (2, 4.30265273),
        (10, 2.22813885),
        (30, 2.04227246),
        (1000, 1.96234),
    ],
)
def test_t_quantile_tables(df: int, expected: float) -> None:
    digits = len(repr(expected).split(".")[1])
    assert stats.t_quantile(0.975, df) == pytest.approx(expected, abs=0.6 * 10**-digits)
    assert stats.t_quantile(0.025, df) == pytest.approx(-stats.t_quantile(0.975, df), rel=1e-14)
    assert stats.t_quantile(0.25, df) == -stats.t_quantile(0.75, df)  # 1 - 0.75 == 0.25 exactly


def _t_closed_form(p: float, df: int) -> float:
    """Closed-form quantiles for df = 1, 2, 4 (independent of the incomplete beta).

    Written in terms of the tail probability q = min(p, 1 - p) so they stay accurate far out.
    """
    q = min(p, 1 - p)
    if df == 1:
        upper = 1 / math.tan(math.pi * q)
    elif df == 2:
        upper = (1 - 2 * q) / math.sqrt(2 * q * (1 - q))
    else:  # df == 4
        alpha = 4 * q * (1 - q)
        upper = 2 * math.sqrt(math.cos(math.acos(math.sqrt(alpha)) / 3) / math.sqrt(alpha) - 1)
    return math.copysign(upper, p - 0.5)


@pytest.mark.parametrize("df", [1, 2, 4])
@pytest.mark.parametrize("p", [1e-12, 1e-9, 0.001, 0.05, 0.3, 0.5001, 0.8, 0.95, 0.975, 0.995, 0.999999])
def test_t_quantile_closed_forms(p: float, df: int) -> None:
    assert stats.t_quantile(p, df) == pytest.approx(_t_closed_form(p, df), rel=1e-11)


@pytest.mark.parametrize("df", [0.5, 3, 5, 7.5, 17, 50, 400, 5_000, 99_999, 100_001, 10**7])
@pytest.mark.parametrize("p", [1e-7, 0.6, 0.9, 0.975, 0.9995])
def test_t_quantile_inverts_sf(p: float, df: float) -> None:
    t = stats.t_quantile(p, df)
    # t_sf itself loses a few digits for df >> 1e5 (documented), hence the looser tolerance there.
    assert stats.t_sf(t, df) == pytest.approx(1 - p, rel=1e-10 if df < 1e6 else 1e-9)
    assert abs(t) > abs(stats.t_quantile(p, df * 2)) > abs(statistics.NormalDist().inv_cdf(p))  # heavier tails


def test_t_sf_closed_form_df3() -> None:
    # df = 3: P(T <= t) = 1/2 + (theta + sin(theta) cos(theta)) / pi, theta = atan(t / sqrt(3)).
    for t in [-4.0, -1.0, 0.3, 1.0, 2.5, 10.0, 100.0]:
        theta = math.atan(t / math.sqrt(3))
        cdf = 0.5 + (theta + math.sin(theta) * math.cos(theta)) / math.pi
        assert stats.t_sf(t, 3) == pytest.approx(1 - cdf, rel=1e-12, abs=1e-15)


def test_t_quantile_asymptotic_switch_is_seamless() -> None:
    # Below 1e5 the quantile comes from inverting the incomplete beta, above from the expansion.
    below, above = stats.t_quantile(0.975, 1e5), stats.t_quantile(0.975, 1e5 * (1 + 1e-12))
    assert below == pytest.approx(above, rel=1e-11)
    assert stats.t_quantile(0.975, 1e12) == pytest.approx(statistics.NormalDist().inv_cdf(0.975), rel=1e-11)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.1, math.nan])
def test_t_quantile_rejects_bad_probability(p: float) -> None:
    with pytest.raises(ValueError):
        stats.t_quantile(p, 5)


# --------------------------------------------------------------------------- special functions


def test_regularized_beta_known_values() -> None:
    assert stats.regularized_beta(0.3, 1, 1) == pytest.approx(0.3, rel=1e-14)  # uniform
    assert stats.regularized_beta(0.3, 2, 1) == pytest.approx(0.09, rel=1e-14)  # x^a when b = 1
    assert stats.regularized_beta(0.3, 1, 3) == pytest.approx(1 - 0.7**3, rel=1e-14)  # 1-(1-x)^b when a = 1
    # Symmetry I_x(a, b) = 1 - I_{1-x}(b, a), on both sides of the continued-fraction switch.
    for x, a, b in [(0.2, 3.5, 7.0), (0.9, 40.0, 0.5), (0.5, 2.0, 2.0)]:
        assert stats.regularized_beta(x, a, b) + stats.regularized_beta(1 - x, b, a) == pytest.approx(1, rel=1e-13)
    assert stats.regularized_beta(0.0, 2, 3) == 0.0
    assert stats.regularized_beta(1.0, 2, 3) == 1.0


def _q_even_df(df: int, x: float) -> float:
    # Chi-square upper tail for even df: exp(-x/2) * sum_{i < df/2} (x/2)^i / i!
    return math.exp(-x / 2) * math.fsum((x / 2) ** i / math.factorial(i) for i in range(df // 2))


@pytest.mark.parametrize("x", [0.01, 0.5, 1.0, 3.0, 9.9, 10.1, 25.0, 80.0])
def test_regularized_gamma_q_closed_forms(x: float) -> None:
    for df in [2, 4, 10, 30]:
        assert stats.regularized_gamma_q(df / 2, x / 2) == pytest.approx(_q_even_df(df, x), rel=1e-12)
    assert stats.regularized_gamma_q(0.5, x / 2) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-12)
    assert stats.regularized_gamma_q(3.0, 0.0) == 1.0


# --------------------------------------------------------------------------- chi-square


@pytest.mark.parametrize(
    ("statistic", "df"),
    # 95% critical values: table (5-6 digits) and exact (-2 ln 0.05 for df = 2).
    [(3.84146, 1), (5.99146, 2), (18.307, 10), (3.841458820694124, 1), (5.991464547107979, 2)],
)
def test_chi_square_critical_values(statistic: float, df: int) -> None:
    tol = 1e-10 if len(repr(statistic)) > 10 else 1e-5
    assert stats.regularized_gamma_q(df / 2, statistic / 2) == pytest.approx(0.05, abs=tol)


def test_chi_square_gof() -> None:
    # A fair die, 60 rolls: expected 10 each. statistic = (4+1+0+1+4+0)/10 = 1.0, df = 5.
    res = stats.chi_square_gof([12, 9, 10, 11, 8, 10], [1 / 6] * 6)
    assert res.statistic == pytest.approx(1.0, rel=1e-14)
    assert res.df == 5
    # df = 5: Q(2.5, 0.5) = erfc(sqrt(0.5)) + exp(-0.5) * (sqrt(0.5) + sqrt(0.5)**3 / 1.5) * 2 / sqrt(pi)
    h = math.sqrt(0.5)
    expected = math.erfc(h) + 2 / math.sqrt(math.pi) * math.exp(-0.5) * (h + h**3 / 1.5)
    assert res.p_value == pytest.approx(expected, rel=1e-12)  # ~0.9626
    perfect = stats.chi_square_gof([25, 75], [0.25, 0.75])
    assert perfect.statistic == 0.0 and perfect.p_value == 1.0
    assert stats.chi_square_gof([1000, 0], [0.5, 0.5]).p_value < 1e-200


@pytest.mark.parametrize(
    ("observed", "probs"),
    [
        ([1, 2], [0.5]),
        ([5], [1.0]),
        ([1, -1], [0.5, 0.5]),
        ([1, 1], [0.0, 1.0]),
        ([1, 1], [0.4, 0.4]),
        ([0, 0], [0.5, 0.5]),
    ],
)
def test_chi_square_gof_rejects_misuse(observed: list[int], probs: list[float]) -> None:
    with pytest.raises(ValueError):
        stats.chi_square_gof(observed, probs)


# --------------------------------------------------------------------------- descriptive


def test_descriptive_basics() -> None:
    xs = [4.0, 1.0, 3.0, 2.0]
    assert stats.count(xs) == 4
    assert stats.total(xs) == 10.0
    assert stats.mean(xs) == 2.5
    assert stats.minimum(xs) == 1.0 and stats.maximum(xs) == 4.0
    assert stats.median(xs) == 2.5
    assert stats.median([3, 1, 2]) == 2.0
    assert stats.stdev(xs) == pytest.approx(math.sqrt(5 / 3), rel=1e-15)  # squared deviations 5 / (n-1)
    assert stats.total([0.1] * 10) == 1.0  # fsum, not naive accumulation (which gives 0.9999999999999999)
    assert stats.stdev([5.0, 5.0, 5.0]) == 0.0
    assert stats.stdev([1e9 + 1, 1e9 + 2, 1e9 + 3]) == 1.0  # no catastrophic cancellation


def test_percentile_hand_cases() -> None:
    # numpy "linear": rank h = (n-1) p/100, interpolate between sorted[floor(h)] and sorted[floor(h)+1].
    xs = [4.0, 1.0, 3.0, 2.0]  # sorted: 1 2 3 4
    assert stats.percentile(xs, 0) == 1.0
    assert stats.percentile(xs, 25) == 1.75  # h = 0.75 -> 1 + 0.75 * (2 - 1)
    assert stats.percentile(xs, 50) == 2.5  # h = 1.5 -> 2 + 0.5 * (3 - 2)
    assert stats.percentile(xs, 90) == pytest.approx(3.7)  # h = 2.7 -> 3 + 0.7 * (4 - 3)
    assert stats.percentile(xs, 100) == 4.0
    ys = [10, 20, 30, 40, 50]
    assert stats.percentile(ys, 40) == pytest.approx(26.0)  # h = 1.6 -> 20 + 0.6 * 10
    assert stats.percentile(ys, 75) == 40.0  # h = 3 exactly
    assert stats.percentile([7.5], 33) == 7.5
    assert stats.percentiles(ys, [0, 50, 100]) == [10.0, 30.0, 50.0]
    for p in [0, 25, 40, 50, 90, 100]:
        assert stats.percentile(xs, p) == float(np.percentile(xs, p))


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=30),
    st.floats(min_value=0, max_value=100),
)
@settings(max_examples=200, deadline=None)
def test_percentile_equals_numpy_bitwise(xs: list[float], p: float) -> None:
    assert stats.percentile(xs, p) == float(np.percentile(np.array(xs), p))
    assert stats.median(xs) == float(np.median(np.array(xs)))
    assert stats.median(xs) == statistics.median(xs)


@pytest.mark.parametrize("p", [-1, 100.5, math.nan])
def test_percentile_rejects_bad_p(p: float) -> None:
    with pytest.raises(ValueError):
        stats.percentile([1.0, 2.0], p)
    with pytest.raises(ValueError):
        stats.percentile([], p)  # validated even without data


finite = st.floats(allow_nan=False, allow_infinity=False)


def _everything(xs: list[float]) -> str:
    """Every statistic, serialized as a report would be (repr keeps all bits, and -0.0)."""
    out = [stats.total(xs), stats.mean(xs), stats.stdev(xs), stats.median(xs), stats.minimum(xs), stats.maximum(xs)]
    out += stats.percentiles(xs, [0, 5, 33.3, 50, 95, 100])
    return repr(out) + json.dumps(stats.mean_t(xs).to_json())


@given(st.lists(finite, max_size=40), st.randoms(use_true_random=False))
@settings(max_examples=300, deadline=None)
def test_order_independence(xs: list[float], rnd: random.Random) -> None:
    shuffled = list(xs)
    rnd.shuffle(shuffled)
    assert _everything(xs) == _everything(shuffled)
    assert _everything(xs) == _everything(sorted(xs, reverse=True))


def test_signed_zero_is_normalized() -> None:
    # min([0.0, -0.0]) is 0.0 but min([-0.0, 0.0]) is -0.0; reports must not depend on order.
    for xs in ([0.0, -0.0], [-0.0, 0.0], [-0.0]):
        for v in (stats.minimum(xs), stats.maximum(xs), stats.median(xs), stats.total(xs), stats.mean(xs)):
            assert repr(v) == "0.0"


@given(st.lists(st.floats(min_value=-1e12, max_value=1e12), min_size=2, max_size=40))
@settings(max_examples=200, deadline=None)
def test_against_statistics_module(xs: list[float]) -> None:
    assert stats.mean(xs) == pytest.approx(statistics.fmean(xs), rel=1e-15, abs=1e-300)
    expected_sd = statistics.stdev(xs)  # exact rational arithmetic, correctly rounded
    assert stats.stdev(xs) == pytest.approx(expected_sd, rel=1e-12, abs=1e-300)


# --------------------------------------------------------------------------- edge cases


def test_empty_input_never_raises() -> None:
    assert stats.count([]) == 0
    for fn in (stats.total, stats.mean, stats.minimum, stats.maximum, stats.median, stats.stdev):
        assert fn([]) is None
    assert stats.percentile([], 50) is None
    assert stats.mean_t([]) == Estimate(None, None, None, 0, 0.95)
    assert stats.proportion_wilson([]) == Estimate(None, None, None, 0, 0.95)


def test_one_element() -> None:
    assert stats.stdev([3.0]) is None
    assert stats.mean([3.0]) == stats.median([3.0]) == stats.minimum([3.0]) == stats.total([3.0]) == 3.0
    assert stats.mean_t([3.0]) == Estimate(3.0, None, None, 1, 0.95)
    assert stats.proportion_wilson([True]).value == 1.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_give_none(bad: float) -> None:
    # Documented behaviour: the caller filters; a NaN or infinity that slips through makes
    # every value-derived statistic None (never NaN/inf in a report); count still counts it.
    xs = [1.0, bad, 2.0]
    assert stats.count(xs) == 3
    for fn in (stats.total, stats.mean, stats.minimum, stats.maximum, stats.median, stats.stdev):
        assert fn(xs) is None
    assert stats.percentiles(xs, [10, 90]) == [None, None]
    assert stats.mean_t(xs) == Estimate(None, None, None, 3, 0.95)


def test_overflow() -> None:
    big = [1.5e308, 1.5e308, -1.4e308]  # fsum's partial sums overflow, the total does not
    assert stats.total(big) == pytest.approx(1.6e308, rel=1e-15)
    assert stats.total([1e308, 1e308]) is None  # the sum itself is not representable
    assert stats.mean([1e308, 1e308]) == 1e308  # but the mean is
    assert stats.median([1.7e308, 1.7e308]) == 1.7e308
    assert stats.stdev([-1e300, 1e300]) == pytest.approx(math.sqrt(2) * 1e300)
    assert stats.stdev([-1.7e308, 1.7e308]) is None  # x - mean overflows


# --------------------------------------------------------------------------- intervals


def test_mean_t_interval() -> None:
    xs = [2.0, 4.0, 4.0, 5.0, 7.0, 8.0]  # mean 5, squared deviations 9+1+1+0+4+9 = 24, s^2 = 24/5
    est = stats.mean_t(xs)
    assert est.value == 5.0 and est.n == 6 and est.level == 0.95
    assert est.low is not None and est.high is not None
    t = (est.high - est.low) / 2 / math.sqrt(24 / 5 / 6)  # half-width = t * s / sqrt(n)
    assert t == pytest.approx(2.570582, abs=1e-6)  # t_{0.975, 5}, standard tables
    # df = 5 closed form (A&S 26.7.4): P(|T| < t) = 2/pi (theta + sin cos (1 + 2/3 cos^2)), theta = atan(t/sqrt 5)
    theta = math.atan(t / math.sqrt(5))
    central = 2 / math.pi * (theta + math.sin(theta) * math.cos(theta) * (1 + 2 / 3 * math.cos(theta) ** 2))
    assert central == pytest.approx(0.95, abs=1e-13)
    assert est.low + est.high == pytest.approx(10.0, rel=1e-15)
    assert stats.mean_t([3.0, 3.0, 3.0]) == Estimate(3.0, 3.0, 3.0, 3, 0.95)
    narrow = stats.mean_t(xs, level=0.5)
    assert narrow.low is not None and est.low is not None and narrow.low > est.low


def _wilson_reference(k: int, n: int, z: float) -> tuple[float, float]:
    # The algebraically equivalent closed form: (2k + z^2 ± z sqrt(z^2 + 4k(n-k)/n)) / (2(n + z^2)).
    root = z * math.sqrt(z * z + 4 * k * (n - k) / n)
    return (2 * k + z * z - root) / (2 * (n + z * z)), (2 * k + z * z + root) / (2 * (n + z * z))


def test_wilson_worked_examples() -> None:
    # 8 of 10 at 95%: z = 1.959964, center = (0.8 + z^2/20) / (1 + z^2/10) = 0.71674,
    # half = z/(1 + z^2/10) * sqrt(0.016 + z^2/400) = 0.22658 -> (0.4902, 0.9433).
    est = stats.proportion_wilson([True] * 8 + [False] * 2)
    assert est.value == 0.8 and est.n == 10
    assert est.low is not None and est.high is not None
    assert (round(est.low, 4), round(est.high, 4)) == (0.4902, 0.9433)
    # 0 of 10: (0, z^2 / (10 + z^2)) = (0, 0.2775); 10 of 10 mirrors it.
    zero = stats.proportion_wilson([False] * 10)
    assert zero.low == 0.0 and zero.high is not None and round(zero.high, 4) == 0.2775
    ten = stats.proportion_wilson([True] * 10)
    assert ten.high == 1.0 and ten.low is not None and round(ten.low, 4) == 0.7225
    z = statistics.NormalDist().inv_cdf(0.995)
    for k, n in [(1, 3), (37, 100), (500, 1000), (3, 10_000)]:
        e = stats.proportion_wilson([True] * k + [False] * (n - k), level=0.99)
        low, high = _wilson_reference(k, n, z)
        assert e.low == pytest.approx(low, rel=1e-12) and e.high == pytest.approx(high, rel=1e-12)


@pytest.mark.parametrize("level", [0.0, 1.0, 95, math.nan])
def test_level_validation(level: float) -> None:
    with pytest.raises(ValueError):
        stats.mean_t([1.0, 2.0], level=level)
    with pytest.raises(ValueError):
        stats.proportion_wilson([True], level=level)


def test_estimate_json_is_stable() -> None:
    est = Estimate(0.5, 0.25, 0.75, 12, 0.95)
    assert list(est.to_json()) == ["value", "low", "high", "n", "level"]
    assert json.dumps(est.to_json()) == '{"value": 0.5, "low": 0.25, "high": 0.75, "n": 12, "level": 0.95}'
    with pytest.raises(AttributeError):
        est.value = 1.0  # type: ignore[misc]
