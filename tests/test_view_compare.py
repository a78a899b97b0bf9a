"""The significance of differences between two runs' statistics (octolang/view/compare.py)."""

from __future__ import annotations

import math

import pytest

from octolang import stats
from octolang.view.compare import differences, p_value


def proportion(successes: int, n: int) -> dict[str, object]:
    e = stats.proportion_wilson([True] * successes + [False] * (n - successes))
    return {"value": e.value, "low": e.low, "high": e.high, "n": e.n, "kind": "proportion"}


def mean(values: list[float]) -> dict[str, object]:
    e = stats.mean_t(values)
    return {"value": e.value, "low": e.low, "high": e.high, "n": e.n, "kind": "mean"}


def test_two_proportions_z_test_matches_the_textbook_value() -> None:
    # 60/100 against 45/100: pooled 0.525, z = 0.15 / sqrt(0.525 * 0.475 * 0.02) = 2.1239
    p = p_value(proportion(60, 100), proportion(45, 100))
    assert p == pytest.approx(math.erfc(2.1239 / math.sqrt(2)), rel=1e-3)
    assert p is not None and p < 0.05
    assert p_value(proportion(1, 1), proportion(0, 1)) == pytest.approx(0.1573, abs=1e-4)
    assert p_value(proportion(5, 5), proportion(3, 3)) == 1.0


def test_welch_t_test_of_means_from_their_intervals() -> None:
    # scipy.stats.ttest_ind([1, 2, 3, 4], [3, 4, 5, 6, 7], equal_var=False).pvalue == 0.034938782359964
    p = p_value(mean([1, 2, 3, 4]), mean([3, 4, 5, 6, 7]))
    assert p == pytest.approx(0.034938782359964, rel=1e-6)
    # two units a side: wide intervals, no significance however far apart the means
    wide = p_value(mean([-20, 59]), mean([70, 101]))
    assert wide is not None and wide > 0.05


def test_only_statistics_with_an_error_are_tested() -> None:
    count = {"value": 3, "low": None, "high": None, "n": 3, "kind": "count"}
    assert p_value(count, count) is None
    a = {"reports": [{"name": "r", "groups": [{"key": {"g": 1}, "statistics": {"p": proportion(60, 100)}}]}]}
    b = {"reports": [{"name": "r", "groups": [{"key": {"g": 1}, "statistics": {"p": proportion(45, 100)}}]}]}
    [d] = differences(a, b)
    assert d.key == "g = 1" and d.difference == pytest.approx(0.15) and d.significant
