"""Expressions: names and fields resolved, calls checked, report aggregates placed right."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from octolang import ir
from octolang.check import types
from octolang.check.scope import Scope, element_schema, resolve_attribute, resolve_root
from octolang.diagnostics import Diagnostic, did_you_mean, error
from octolang.expressions import EXPRESSION_FUNCTIONS, walk
from octolang.sandbox.policy import attribute_allowed, never_allowed, normalise
from octolang.schema import Schema, infer_schema

# Report aggregates and how many arguments each takes (min, max).
AGGREGATES: dict[str, tuple[int, int]] = {
    "count": (0, 1),
    "sum": (1, 1),
    "mean": (1, 1),
    "stdev": (1, 1),
    "median": (1, 1),
    "percentile": (2, 2),
    "min": (1, 1),
    "max": (1, 1),
    "proportion": (1, 1),
}
FUNCTIONS = frozenset(EXPRESSION_FUNCTIONS)


@dataclass
class ExprFacts:
    steps: set[str] = field(default_factory=set)
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class ReportContext:
    """Names a report item may use outside aggregates: its group keys, earlier metrics."""

    group_keys: list[str]
    in_aggregate: bool = False


def shape(node: ir.Expr) -> str:
    """An expression's structure without spans, to compare `unit.start` with a group key."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("span", "attr_span")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return repr(strip(node.model_dump()))


def check_expression(node: ir.Expr, scope: Scope, *, where: str, report: ReportContext | None = None) -> ExprFacts:
    facts = ExprFacts()
    refused = policy_diagnostics(node, scope.allowed_fields(), where=where)
    if any(d.code == "E0608" for d in refused):  # the names it reads are not worth resolving
        facts.diagnostics.extend(d for d in refused if d.code == "E0608")
        return facts
    _Checker(scope, where, facts).visit(node, scope, report)
    facts.diagnostics.extend(not_explained(refused, facts.diagnostics))
    return facts


TYPE_CODES = frozenset({"E0620", "E0621", "E0622", "E0623"})


def type_errors(node: ir.Expr, names: dict[str, Any]) -> list[Diagnostic]:
    """The type errors of an expression over known values (consts, before they are computed)."""
    used = {sub.id for sub in walk(node) if isinstance(sub, ir.Name) and sub.id in names}
    scope = Scope(unit={}, steps={}, consts={n: infer_schema([names[n]]) for n in used}, functions=FUNCTIONS)
    facts = ExprFacts()
    _Checker(scope, "a const", facts).visit(node, scope, None)
    return [d for d in facts.diagnostics if d.code in TYPE_CODES]


def not_explained(refusals: list[Diagnostic], others: list[Diagnostic]) -> list[Diagnostic]:
    """The allow-list refusals (E0609) not already explained by a diagnostic inside their
    span: `unit.strat` is better told as an unknown field, with a suggestion."""
    return [
        d
        for d in refusals
        if not any(o.span.start >= d.span.start and o.span.end <= d.span.end and o.is_error for o in others)
    ]


def policy_diagnostics(node: ir.Expr, fields: Collection[str] | None, *, where: str) -> list[Diagnostic]:
    """The sandbox's attribute allow-list over an expression: E0608 for what no user code
    may read (`__self__`, `format`, frame attributes), E0609 for what is not on the list."""
    out: list[Diagnostic] = []
    for sub in walk(node):
        if isinstance(sub, ir.Attribute) and not attribute_allowed(sub.attr, fields):
            name = normalise(sub.attr)
            if never_allowed(name):
                out.append(
                    error(
                        "E0608",
                        f"attribute `{name}` is not allowed in {where}",
                        sub.attr_span,
                        label="this reaches Python's internals",
                        help="names starting with `_`, string formatting methods and frame or generator "
                        "attributes are never readable; use the expression functions and fields",
                    )
                )
            else:
                out.append(
                    error(
                        "E0609",
                        f"attribute `{name}` is not on the sandbox's allow-list",
                        sub.attr_span,
                        help="expressions may read the methods of strings, numbers and lists and the fields "
                        'the program declares; read other keys by index: `x["name"]`',
                    )
                )
        elif isinstance(sub, ir.Name) and normalise(sub.id).startswith("__"):
            out.append(
                error(
                    "E0608",
                    f"name `{normalise(sub.id)}` is not allowed in {where}",
                    sub.span,
                    help="names starting with `__` reach Python's internals",
                )
            )
    return out


class _Checker:
    def __init__(self, scope: Scope, where: str, facts: ExprFacts) -> None:
        self.where = where
        self.facts = facts

    def visit(self, node: ir.Expr, scope: Scope, report: ReportContext | None) -> Schema | None:
        if report is not None and not report.in_aggregate and isinstance(node, (ir.Name, ir.Attribute)):
            if shape(node) in report.group_keys:
                return self._reference(node, scope)
            if self._reads_units(node, scope):
                before = len(self.facts.diagnostics)
                self._reference(node, scope)  # still resolve names for dependencies
                if len(self.facts.diagnostics) == before:  # a misspelt name is told once, as that
                    text = _text(node)
                    self.facts.diagnostics.append(
                        error(
                            "E0502",
                            f"`{text}` differs from unit to unit; {self.where} needs an aggregate here",
                            node.span,
                            label="a per-unit value outside an aggregate",
                            help=f"wrap it, e.g. `mean({text})`, or add it to `group by`",
                        )
                    )
                return None
        if isinstance(node, (ir.Name, ir.Attribute)):
            return self._reference(node, scope)
        if isinstance(node, ir.Call):
            return self._call(node, scope, report)
        if isinstance(node, ir.Comprehension):
            iterated = self.visit(node.iter, scope, report)
            element = element_schema(iterated)
            inner = scope.with_locals(**{t: (element if len(node.targets) == 1 else {}) for t in node.targets})
            if node.condition is not None:
                self.visit(node.condition, inner, report)
            item = self.visit(node.element, inner, report)
            return {"type": "array", "items": item or {}}
        if isinstance(node, ir.Constant):
            return types.constant(node.value)
        children = [self.visit(child, scope, report) for child in _children(node)]
        return self._typed(node, children)

    def _typed(self, node: ir.Expr, children: list[Schema | None]) -> Schema | None:
        """The type of an operator's result from its operands' (in `_children` order)."""
        found: list[Diagnostic] = []
        result: Schema | None = {}
        if isinstance(node, ir.Unary):
            result, found = types.unary(node, children[0])
        elif isinstance(node, ir.Binary):
            result, found = types.binary(node, children[0], children[1])
        elif isinstance(node, ir.Compare):
            found, result = types.compare(node, children), types.BOOLEAN
        elif isinstance(node, ir.BoolOp):
            result = types.BOOLEAN if all(types.kind(c) == "bool" for c in children) else {}
        elif isinstance(node, ir.IfExp):
            same = types.kind(children[1]) == types.kind(children[2])
            result = children[1] if same and children[1] is not None else {}
        elif isinstance(node, ir.ListExpr):
            kinds = {types.kind(c) for c in children}
            same = len(kinds) == 1 and children[0] is not None
            result = {"type": "array", "items": children[0] if same else {}}
        elif isinstance(node, ir.Index):
            if isinstance(node.index, ir.Slice):
                result = children[0]
            elif types.kind(children[0]) in ("list", "string"):
                result = element_schema(children[0])
        self.facts.diagnostics.extend(found)
        return result if not found else None

    def _reads_units(self, node: ir.Expr, scope: Scope) -> bool:
        root = node
        while isinstance(root, ir.Attribute):
            root = root.value
        return isinstance(root, ir.Name) and (root.id == "unit" or root.id in scope.steps)

    def _reference(self, node: ir.Expr, scope: Scope) -> Schema | None:
        attrs: list[ir.Attribute] = []
        root = node
        while isinstance(root, ir.Attribute):
            attrs.append(root)
            root = root.value
        if not isinstance(root, ir.Name):
            schema = self.visit(root, scope, None)
            for attr in reversed(attrs):
                schema, problems = resolve_attribute(schema, _text(attr.value), attr.attr, attr.attr_span)
                if problems:
                    self.facts.diagnostics.extend(problems)
                    return None
            return schema
        resolution = resolve_root(scope, root.id, root.span, where=self.where)
        if resolution.step:
            self.facts.steps.add(resolution.step)
        if resolution.diagnostics:
            self.facts.diagnostics.extend(resolution.diagnostics)
            return None
        schema = resolution.schema
        owner = root.id
        for attr in reversed(attrs):
            schema, problems = resolve_attribute(schema, owner, attr.attr, attr.attr_span)
            if problems:
                self.facts.diagnostics.extend(problems)
                return None
            owner = f"{owner}.{attr.attr}"
        return schema

    def _call(self, node: ir.Call, scope: Scope, report: ReportContext | None) -> Schema | None:
        func = node.func
        if isinstance(func, ir.Name) and func.id not in scope.locals:
            name = func.id
            if (
                report is not None
                and not report.in_aggregate
                and ranges_over_units(node, scope.steps, report.group_keys)
            ):
                return self._aggregate(node, scope, report)
            if name in AGGREGATES and name not in FUNCTIONS:
                if report is None:
                    self.facts.diagnostics.append(
                        error(
                            "E0501",
                            f"`{name}` aggregates over units and belongs in a report",
                            func.span,
                            help=f"use `{name}(...)` inside `report name {{ ... }}`",
                        )
                    )
                else:
                    self.facts.diagnostics.append(
                        error(
                            "E0504",
                            f"`{name}` inside another aggregate",
                            func.span,
                            help="an aggregate's argument is a per-unit value; aggregates cannot nest",
                        )
                    )
            elif name not in FUNCTIONS:
                known = list(FUNCTIONS) + (list(AGGREGATES) if report is not None else [])
                self.facts.diagnostics.append(
                    error(
                        "E0109",
                        f"unknown function `{name}` in {self.where}",
                        func.span,
                        help=did_you_mean(name, known) or f"available: {', '.join(sorted(set(known)))}",
                    )
                )
            args = [self.visit(arg, scope, report) for arg in node.args]
            for keyword in node.keywords:
                self.visit(keyword.value, scope, report)
            return types.call(name, args) if name in FUNCTIONS else {}
        self.visit(func, scope, report)
        for arg in node.args:
            self.visit(arg, scope, report)
        for keyword in node.keywords:
            self.visit(keyword.value, scope, report)
        return {}

    def _aggregate(self, node: ir.Call, scope: Scope, report: ReportContext) -> Schema:
        assert isinstance(node.func, ir.Name)
        name = node.func.id
        low, high = AGGREGATES[name]
        if not low <= len(node.args) <= high or node.keywords:
            wanted = (
                "no argument or one condition"
                if name == "count"
                else ("a value and a percentage, as `percentile(x, 90)`" if name == "percentile" else "one argument")
            )
            self.facts.diagnostics.append(error("E0505", f"`{name}` takes {wanted}", node.span))
        if name == "percentile" and len(node.args) == 2:
            p = node.args[1]
            if not (
                isinstance(p, ir.Constant)
                and isinstance(p.value, (int, float))
                and not isinstance(p.value, bool)
                and 0 <= p.value <= 100
            ):
                self.facts.diagnostics.append(
                    error(
                        "E0505",
                        "the percentage must be a number from 0 to 100",
                        p.span,
                        help="e.g. `percentile(x, 90)`",
                    )
                )
        inner = ReportContext(report.group_keys, in_aggregate=True)
        args = [self.visit(arg, scope, inner) for arg in node.args]
        for keyword in node.keywords:
            self.visit(keyword.value, scope, inner)
        if args:
            self.facts.diagnostics.extend(types.aggregate(name, node, args[0]))
        if name == "count":
            return types.INTEGER
        if name in ("sum", "min", "max") and args and types.kind(args[0]) == "int":
            return types.INTEGER
        return types.NUMBER


def ranges_over_units(node: ir.Call, steps: Collection[str], group_keys: Collection[str]) -> bool:
    """Whether a call in a report (outside any aggregate) is an aggregate over the units:
    `mean`, `count`, ... always; `sum`, `min` and `max` only with one argument that reads a
    unit's values (not only its group's keys): `sum([1, 2])` is a plain sum."""
    func = node.func
    if not isinstance(func, ir.Name) or func.id not in AGGREGATES:
        return False
    if func.id not in FUNCTIONS:
        return True
    return len(node.args) == 1 and not node.keywords and _reads_per_unit(node.args[0], steps, group_keys)


def _reads_per_unit(node: ir.Expr, steps: Collection[str], group_keys: Collection[str]) -> bool:
    if isinstance(node, (ir.Name, ir.Attribute)) and group_keys and shape(node) in group_keys:
        return False
    if isinstance(node, ir.Name):
        return node.id == "unit" or node.id in steps
    return any(_reads_per_unit(child, steps, group_keys) for child in _children(node))


def _children(node: ir.Expr) -> list[ir.Expr]:
    out: list[ir.Expr] = []
    for name in type(node).model_fields:
        if name == "span":
            continue
        value = getattr(node, name)
        if isinstance(value, ir.Keyword):
            out.append(value.value)
        elif isinstance(value, ir.Node):
            out.append(value)  # type: ignore[arg-type]
        elif isinstance(value, list):
            out.extend(v.value if isinstance(v, ir.Keyword) else v for v in value if isinstance(v, ir.Node))  # type: ignore[misc]
    return out


def _text(node: ir.Expr) -> str:
    return types.text_of(node, "expression")
