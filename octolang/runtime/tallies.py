"""A report's aggregates taken in one pass over the units, unit by unit, without keeping them.

Each aggregate of each group has a tally that a unit's value is added to and that is read
once at the end. Counts and proportions keep counts. The numeric aggregates keep their
values packed as 8-byte floats (`array('d')`), and only those: the sum, mean and its t
interval, standard deviation, median and percentiles are then computed exactly as on a
list (`math.fsum`, order statistics on the sorted values), so a report's values do not
depend on the order units come in, on how they were batched, or on the number of workers,
and equal what the whole-list computation gives, bit for bit. A unit's record, outputs and
scope are dropped as soon as its values are added.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import Any

from octolang import stats

# What an expression gives when it raised (a failed unit lacks its step's outputs).
MISSING: Any = object()

NUMERIC = ("mean", "sum", "stdev", "median", "percentile", "min", "max")


class Tally:
    """One aggregate of one group: its units' values, added one at a time."""

    __slots__ = ("function", "missing", "numbers", "oversized", "percent", "seen", "true")

    def __init__(self, function: str, percent: float | None) -> None:
        self.function = function
        self.percent = percent
        self.seen = 0  # units whose value was added
        self.missing = 0  # of them, values left out (absent, not a number, too large)
        self.true = 0  # counts and proportions: the true values
        self.oversized = 0  # ints too large for a float, left out with a note
        self.numbers = array("d")

    def add(self, value: Any) -> None:
        """A unit's value (MISSING when its expression raised)."""
        self.adder()(value)

    def adder(self) -> Callable[[Any], None]:
        """`add` for this tally's function, chosen once (a report adds a value per unit)."""
        if self.function == "count":
            return self._add_count
        if self.function == "proportion":
            return self._add_flag
        return self._add_number

    def _add_count(self, value: Any) -> None:
        self.seen += 1
        if value is MISSING:
            self.missing += 1
        elif value:
            self.true += 1

    def _add_flag(self, value: Any) -> None:
        self.seen += 1
        if value is not MISSING and isinstance(value, (bool, int, float)):
            self.true += bool(value)
        else:
            self.missing += 1

    def _add_number(self, value: Any) -> None:
        self.seen += 1
        if value is not MISSING and isinstance(value, (int, float)):
            try:
                self.numbers.append(float(value))
            except OverflowError:
                self.oversized += 1
                self.missing += 1
        else:
            self.missing += 1

    def result(self, counted_only: bool) -> tuple[Any, str, float | None, float | None, int | None, int, str | None]:
        """(value, kind, low, high, n, missing, note). `counted_only`: a `count()` with no
        argument, which counts the units."""
        function = self.function
        if function == "count":
            if counted_only:
                return self.seen, "count", None, None, self.seen, 0, None
            return self.true, "count", None, None, self.seen - self.missing, self.missing, None
        if function == "proportion":
            estimate = stats.proportion_counts(self.true, self.seen - self.missing)
            return estimate.value, "proportion", estimate.low, estimate.high, estimate.n, self.missing, None
        numbers = self.numbers
        note = None
        if self.oversized:
            note = f"left out {self.oversized:,} value{'s' if self.oversized != 1 else ''} too large for a float"
        if function == "mean":
            estimate = stats.mean_t(numbers)
            return estimate.value, "mean", estimate.low, estimate.high, estimate.n, self.missing, note
        value = _SINGLE[function](numbers, self.percent)
        if isinstance(value, float) and value == 0.0:
            value = 0.0
        return value, function, None, None, len(numbers), self.missing, note


_SINGLE: dict[str, Callable[[Any, float | None], Any]] = {
    "sum": lambda xs, _: stats.total(xs),
    "stdev": lambda xs, _: stats.stdev(xs),
    "median": lambda xs, _: stats.median(xs),
    "percentile": lambda xs, p: stats.percentile(xs, p or 0.0),
    "min": lambda xs, _: stats.minimum(xs),
    "max": lambda xs, _: stats.maximum(xs),
}
