"""Reports: per-unit values aggregated per group into statistics with intervals.

Pure: outcomes in (streamed: one pass, no unit kept), a `ReportsResult` out, then rendered
as a table, JSON or CSV. The same outcomes in any order give the same bytes (groups sorted,
sums exact).
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import CodeType
from typing import Any, Literal

from octolang import ir
from octolang.check.expressions import ranges_over_units, shape
from octolang.expressions import compile_expression, compile_tuple, scope_with, to_python
from octolang.runtime.report_notes import declared_range, empty_because, left_out
from octolang.runtime.tallies import MISSING, Tally

Status = Literal["done", "failed", "skipped", "pending"]


@dataclass(frozen=True)
class UnitOutcome:
    unit_id: str
    fields: Mapping[str, Any]  # a dict, or a Record already
    status: Status
    outputs: Mapping[str, Mapping[str, Any]]
    reason: str | None = None


@dataclass(frozen=True)
class CompiledAggregate:
    function: str
    args: tuple[CodeType, ...]
    percent: float | None


@dataclass(frozen=True)
class CompiledMetric:
    name: str
    code: CodeType
    aggregates: tuple[CompiledAggregate, ...]
    interval: bool  # the metric is one mean or proportion: it keeps its interval
    bounds: tuple[float | None, float | None] | None = None  # a mean's value's declared range


@dataclass(frozen=True)
class CompiledReport:
    name: str
    keys: tuple[tuple[str, CodeType], ...]
    where: CodeType | None
    metrics: tuple[CompiledMetric, ...]
    # A unit's values in one `eval` each: its group key, and the argument of every aggregate
    # that has one (`arguments`: their positions among the metrics' aggregates, in order).
    # An expression that raises makes them go one by one, so that it alone is missing.
    key_tuple: CodeType | None = None
    argument_tuple: CodeType | None = None
    arguments: tuple[int, ...] = ()
    key_codes: tuple[CodeType, ...] = ()
    argument_codes: tuple[CodeType, ...] = ()


def _rewrite(node: Any, replace: Any) -> Any:
    """A copy of an IR expression with sub-expressions replaced where `replace` says so."""
    replacement = replace(node)
    if replacement is not None:
        return replacement
    updates: dict[str, Any] = {}
    for name in type(node).model_fields:
        value = getattr(node, name)
        if isinstance(value, ir.Node) and name != "span":
            updates[name] = _rewrite(value, replace)
        elif isinstance(value, list):
            updates[name] = [_rewrite(v, replace) if isinstance(v, ir.Node) else v for v in value]
    return node.model_copy(update=updates)


def compile_reports(program: ir.Program, filename: str) -> list[CompiledReport]:
    out = []
    for report in program.reports:
        keys = tuple((ast.unparse(to_python(k)), compile_expression(k, filename)) for k in report.group_by)
        key_shapes = [shape(k) for k in report.group_by]
        steps = {s.name for s in program.steps}
        metrics = []
        argument_nodes: list[ir.Expr | None] = []  # each aggregate's argument, in the metrics' order
        for metric in report.metrics:
            aggregates: list[CompiledAggregate] = []

            def replace(
                node: Any,
                aggregates: list[CompiledAggregate] = aggregates,
                key_shapes: list[str] = key_shapes,
                argument_nodes: list[ir.Expr | None] = argument_nodes,
                steps: set[str] = steps,
            ) -> Any:
                if isinstance(node, (ir.Name, ir.Attribute)) and shape(node) in key_shapes:
                    return ir.Name(span=node.span, id=f"_key{key_shapes.index(shape(node))}")
                if isinstance(node, ir.Call) and ranges_over_units(node, steps, key_shapes):
                    assert isinstance(node.func, ir.Name)
                    args = node.args[:1] if node.func.id == "percentile" else node.args
                    percent = None
                    if node.func.id == "percentile" and isinstance(node.args[1], ir.Constant):
                        percent = float(node.args[1].value)  # type: ignore[arg-type]
                    aggregates.append(
                        CompiledAggregate(node.func.id, tuple(compile_expression(a, filename) for a in args), percent)
                    )
                    argument_nodes.append(args[0] if args else None)
                    return ir.Name(span=node.span, id=f"_agg{len(aggregates) - 1}")
                return None

            rewritten = _rewrite(metric.expr, replace)
            single = (
                isinstance(rewritten, ir.Name)
                and rewritten.id == "_agg0"
                and aggregates[0].function in ("mean", "proportion")
            )
            bounds = declared_range(program, metric.expr) if single and aggregates[0].function == "mean" else None
            metrics.append(
                CompiledMetric(metric.name, compile_expression(rewritten, filename), tuple(aggregates), single, bounds)
            )
        where = compile_expression(report.where, filename) if report.where is not None else None
        given = [node for node in argument_nodes if node is not None]
        out.append(
            CompiledReport(
                report.name,
                keys,
                where,
                tuple(metrics),
                key_tuple=compile_tuple(report.group_by, filename) if report.group_by else None,
                argument_tuple=compile_tuple(given, filename) if given else None,
                arguments=tuple(i for i, node in enumerate(argument_nodes) if node is not None),
                key_codes=tuple(code for _, code in keys),
                argument_codes=tuple(a.args[0] for m in metrics for a in m.aggregates if a.args),
            )
        )
    return out


@dataclass
class Statistic:
    value: Any
    kind: str
    low: float | None = None
    high: float | None = None
    n: int | None = None
    missing: int = 0
    note: str | None = None  # why values were left out, when it is not simply that they are absent
    reason: str | None = None  # what the first value left out was: why a statistic is empty
    outside: tuple[float | None, float | None] | None = None  # the declared range the interval runs out of

    def to_json(self) -> dict[str, Any]:
        data = {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "n": self.n,
            "missing": self.missing,
            "kind": self.kind,
        }
        if self.note is not None:
            data["note"] = self.note
        if self.reason is not None:
            data["missing_reason"] = self.reason
        if self.outside is not None:
            data["declared_range"] = list(self.outside)
        return data


@dataclass
class Group:
    key: dict[str, Any]
    units: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    pending: int = 0
    statistics: dict[str, Statistic] = field(default_factory=dict)


@dataclass
class ReportResult:
    name: str
    group_by: list[str]
    groups: list[Group]


@dataclass
class ReportsResult:
    pipeline: str | None
    reports: list[ReportResult]


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (3, 0)
    if isinstance(value, bool):
        return (0, int(value))
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, json.dumps(value, sort_keys=True, default=str))


@dataclass
class _GroupTally:
    group: Group
    tallies: list[list[Tally]]  # per metric, per aggregate
    flat: list[Tally]  # the same tallies in one list (the order of CompiledReport.arguments)
    adders: list[Any]  # their `add`s


def compute_reports(
    program: ir.Program, compiled: list[CompiledReport], outcomes: Iterable[UnitOutcome]
) -> ReportsResult:
    """Every report in one pass over `outcomes`, which may stream: each unit's values go
    into its group's tallies (runtime/tallies.py) and the unit is dropped. The result does
    not depend on the order of the units."""
    tables = ReportTables(program, compiled)
    for outcome in outcomes:
        tables.add(outcome)
    return tables.result()


class ReportTables:
    """The tallies of every report's groups, fed one unit at a time (`add`); `result` reads
    them, and `running` reads the estimates with intervals as they stand so far."""

    def __init__(self, program: ir.Program, compiled: list[CompiledReport]) -> None:
        self.program = program
        self.compiled = compiled
        self.consts = {c.name: c.resolved for c in program.consts}
        self.base = scope_with(self.consts)
        self.tables: list[dict[tuple[Any, ...], _GroupTally]] = [{} for _ in compiled]
        self.names = self.base.copy()  # one scope, its unit's names replaced unit by unit
        self.present: list[str] = []
        # per report: the positions of its aggregates that take no argument (count())
        self.bare = [
            [i for i in range(sum(len(m.aggregates) for m in r.metrics)) if i not in r.arguments] for r in compiled
        ]
        self.reasons: dict[int, str] = {}  # id(tally) -> why its first value was left out

    def add(self, outcome: UnitOutcome) -> None:
        from octolang.sandbox import Record

        fields = outcome.fields
        outputs = {
            step: output if isinstance(output, Record) else Record(output) for step, output in outcome.outputs.items()
        }
        self.add_unit(fields if isinstance(fields, Record) else Record(fields), outcome.status, outputs)

    def add_unit(self, fields: Any, status: str, outputs: dict[str, Any]) -> None:
        """A unit's values: its fields and outputs as `Record`s (what expressions see)."""
        names, base = self.names, self.base
        for step in self.present:  # the last unit's outputs go: a unit without a step's output has no such name
            if step in base:
                names[step] = base[step]
            else:
                del names[step]
        names["unit"] = fields
        names.update(outputs)
        self.present = list(outputs)
        done = status == "done"
        for report, groups, bare in zip(self.compiled, self.tables, self.bare, strict=True):
            key = _values(report.key_tuple, report.key_codes, names)
            try:
                tally = groups.get(key)  # a key as it is: groups are only ever stored by plain keys
            except TypeError:  # a list or a record in it
                tally = None
            if tally is None:
                key = tuple(_group_value(part) for part in key)
                tally = groups.get(key)
            if tally is None:
                group = Group(key={text: value for (text, _), value in zip(report.keys, key, strict=True)})
                tallies = [[Tally(a.function, a.percent) for a in m.aggregates] for m in report.metrics]
                flat = [t for ts in tallies for t in ts]
                tally = groups[key] = _GroupTally(group, tallies, flat, [t.adder() for t in flat])
            group = tally.group
            group.units += 1
            setattr(group, status, getattr(group, status) + 1)
            if not done or (report.where is not None and _try(report.where, names) is not True):
                continue
            adders, flat = tally.adders, tally.flat
            values = _values(report.argument_tuple, report.argument_codes, names)
            for position, value, code in zip(report.arguments, values, report.argument_codes, strict=True):
                one = flat[position]
                missing = one.missing
                adders[position](value)
                if one.missing != missing and id(one) not in self.reasons:  # why the first value left out was
                    self.reasons[id(one)] = left_out(one.function, code, value, names)
            for position in bare:
                adders[position](None)

    def result(self) -> ReportsResult:
        results = []
        for report, groups in zip(self.compiled, self.tables, strict=True):
            ordered = []
            for key in sorted(groups, key=lambda k: tuple(_sort_key(v) for v in k)):
                tally = groups[key]
                scope = scope_with({**self.consts, **{f"_key{i}": value for i, value in enumerate(key)}})
                for metric, metric_tallies in zip(report.metrics, tally.tallies, strict=True):
                    statistic = _metric(metric, metric_tallies, scope)
                    if statistic.value is None and statistic.missing:
                        statistic.reason = next(
                            (self.reasons[id(t)] for t in metric_tallies if id(t) in self.reasons), None
                        )
                    tally.group.statistics[metric.name] = statistic
                    scope[metric.name] = statistic.value
                ordered.append(tally.group)
            results.append(ReportResult(report.name, [text for text, _ in report.keys], ordered))
        return ReportsResult(self.program.pipeline.name if self.program.pipeline else None, results)

    def running(self) -> list[tuple[str, str, dict[str, Any], Statistic]]:
        """(report, metric, group key, statistic so far) for each metric that is one
        proportion or mean with its interval (what a running estimate is drawn for)."""
        out = []
        for report, groups in zip(self.compiled, self.tables, strict=True):
            for tally in groups.values():
                for metric, metric_tallies in zip(report.metrics, tally.tallies, strict=True):
                    if metric.interval and metric_tallies[0].function in ("proportion", "mean"):
                        value, kind, low, high, n, missing, note = metric_tallies[0].result(counted_only=False)
                        statistic = Statistic(value, kind, low, high, n, missing, note)
                        out.append((report.name, metric.name, tally.group.key, statistic))
        return out


def _values(together: CodeType | None, codes: tuple[CodeType, ...], names: dict[str, Any]) -> tuple[Any, ...]:
    """The values of several expressions: one `eval` of `together` (their tuple), or one
    by one when it raises, so that only the expressions that raise are MISSING."""
    if together is None:
        return ()
    try:
        return eval(together, names)  # type: ignore[no-any-return]
    except Exception:
        return tuple(_try(code, names) for code in codes)


def _group_value(value: Any) -> Any:
    """A group key part: None where a unit has no value (a failed unit lacks its step's
    outputs), and lists or records as their JSON text, so that keys stay hashable."""
    if value is MISSING:
        return None
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(value, sort_keys=True, default=lambda o: dict(o) if isinstance(o, Mapping) else str(o))
    return value


def _try(code: CodeType, names: dict[str, Any]) -> Any:
    try:
        return eval(code, names)
    except Exception:
        return MISSING


def _metric(metric: CompiledMetric, tallies: list[Tally], scope: dict[str, Any]) -> Statistic:
    values = [
        Statistic(value, kind, low, high, n, missing, note)
        for (value, kind, low, high, n, missing, note) in (
            t.result(counted_only=not a.args) for t, a in zip(tallies, metric.aggregates, strict=True)
        )
    ]
    if metric.interval:
        single = values[0]
        bounds = metric.bounds
        if bounds is not None and single.low is not None and single.high is not None:
            low, high = bounds
            if (low is not None and single.low < low) or (high is not None and single.high > high):
                single.outside = bounds
        return single
    for index, value in enumerate(values):
        scope[f"_agg{index}"] = value.value
    missing = sum(v.missing for v in values)
    note = "; ".join(dict.fromkeys(v.note for v in values if v.note)) or None
    kind = values[0].kind if len(values) == 1 and _is_plain(metric) else "expression"
    n = values[0].n if len(values) == 1 else None
    if any(v.value is None for v in values):
        return Statistic(None, kind, n=n, missing=missing, note=note)
    result = _try(metric.code, scope)
    if result is MISSING or (isinstance(result, float) and not math.isfinite(result)):
        return Statistic(None, kind, n=n, missing=missing, note=note)
    if isinstance(result, int) and result.bit_length() > _LONGEST_INT_BITS:
        return Statistic(None, kind, n=n, missing=missing, note="the value has too many digits to show")
    return Statistic(_clean(result), kind, n=n, missing=missing, note=note)


def _is_plain(metric: CompiledMetric) -> bool:
    return metric.code.co_names == ("_agg0",)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and value == 0.0:
        return 0.0
    return value


# Ints past this many bits (about 4,000 digits) are not turned into text: Python refuses to
# past 4,300 digits (sys.get_int_max_str_digits), and no report needs them.
_LONGEST_INT_BITS = 13_000


# ---------------------------------------------------------------- rendering


def reports_json(result: ReportsResult) -> str:
    data = {
        "version": 1,
        "pipeline": result.pipeline,
        "reports": [
            {
                "name": report.name,
                "group_by": report.group_by,
                "groups": [
                    {
                        "key": group.key,
                        "units": group.units,
                        "done": group.done,
                        "failed": group.failed,
                        "skipped": group.skipped,
                        "pending": group.pending,
                        "statistics": {name: s.to_json() for name, s in group.statistics.items()},
                    }
                    for group in report.groups
                ],
            }
            for report in result.reports
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def reports_csv(result: ReportsResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for report in result.reports:
        names = list(report.groups[0].statistics) if report.groups else []
        header = ["report", *report.group_by, "units", "done", "failed", "skipped"]
        for name in names:
            header += [name, f"{name}_low", f"{name}_high"]
        writer.writerow(header)
        for group in report.groups:
            row: list[Any] = [report.name, *group.key.values(), group.units, group.done, group.failed, group.skipped]
            for name in names:
                s = group.statistics[name]
                row += [_csv(s.value), _csv(s.low), _csv(s.high)]
            writer.writerow(row)
    return buffer.getvalue()


def _csv(value: Any) -> Any:
    return "" if value is None else value


def format_value(value: Any) -> str:
    """A value as report tables show it (`octoc report` and the viewer alike)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        magnitude = abs(value)
        if 1000 <= magnitude < 1e9:
            return f"{value:,.0f}" if value.is_integer() else f"{value:,.1f}"
        return f"{value:.4g}"
    return str(value)


def reports_table(result: ReportsResult) -> str:
    blocks = []
    for report in result.reports:
        names = list(report.groups[0].statistics) if report.groups else []
        header = [*report.group_by, "done", *names]
        rows = []
        failed = skipped = pending = 0
        outside: dict[str, tuple[tuple[float | None, float | None], list[str]]] = {}
        for group in report.groups:
            cells = [format_value(v) for v in group.key.values()] + [format_value(group.done)]
            for name in names:
                s = group.statistics[name]
                text = format_value(s.value)
                if s.value is None:
                    text += empty_because(s.missing, s.n, s.reason)
                if s.low is not None and s.high is not None:
                    text += f" [{format_value(s.low)}, {format_value(s.high)}]"
                if s.outside is not None:
                    text += " *"
                    outside.setdefault(name, (s.outside, []))[1].append(
                        f"{', '.join(format_value(v) for v in group.key.values()) or 'all'}: n = {s.n}"
                    )
                cells.append(text)
            rows.append(cells)
            failed += group.failed
            skipped += group.skipped
            pending += group.pending
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        lines = [
            f"report {report.name}",
            "  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)),
            "  " + "  ".join("-" * w for w in widths),
        ]
        lines += [
            "  "
            + "  ".join(
                c.rjust(w) if i >= len(report.group_by) else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )
            for r in rows
        ]
        notes = [
            f"{n} unit{'s' if n != 1 else ''} {what}"
            for n, what in ((failed, "failed"), (skipped, "skipped by a gate"), (pending, "not finished"))
            if n
        ]
        if notes:
            lines.append(f"  {', '.join(notes)}: not in the statistics; see `octoc status`")
        why = {
            name: group.statistics[name].note
            for group in report.groups
            for name in names
            if group.statistics[name].note
        }
        lines += [f"  {name}: {note}" for name, note in why.items()]
        for name, (bounds, where) in outside.items():
            low, high = ("" if b is None else format_value(b) for b in bounds)
            lines.append(
                f"  * {name}: the interval runs outside the values' declared range {low}..{high} "
                f"({'; '.join(where)}); a t interval is unreliable with so few values, or values so near a bound"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
