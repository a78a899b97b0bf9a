"""Expressions (validators, gates, reports, consts): IR -> Python code objects.

The grammar admits a safe subset of Python's expression syntax, so an expression
compiles to a Python AST and runs at Python's speed, with only `EXPRESSION_FUNCTIONS`
in scope besides the names the caller binds. Line numbers are those of the `.octo` file.

The sandbox's policy applies (`octolang/sandbox/policy.py`): the checker reports every
attribute off the allow-list, and `compile_expression` refuses the ones never allowed
whoever calls it. The functions are plain functions, never type objects, and consts
reach expressions frozen (`scope_with`).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping, Sequence
from types import CodeType
from typing import Any

from octolang import ir
from octolang.sandbox.policy import never_allowed, normalise


class ExpressionRefused(ValueError):
    """An expression the sandbox's policy refuses (the checker reports it first)."""


# Conversions as functions: a type object hands out `str.format`, `int.mro`, ...
def _bool(value: Any = False) -> bool:
    return bool(value)


def _float(value: Any = 0.0) -> float:
    return float(value)


def _int(value: Any = 0, base: int | None = None) -> int:
    return int(value) if base is None else int(value, base)


def _str(value: Any = "") -> str:
    return str(value)


def _list(values: Any = ()) -> list[Any]:
    return list(values)


def _set(values: Any = ()) -> set[Any]:
    return set(values)


# Bounds on what one operation may make. They matter where a single C call would run or
# allocate unchecked (`sum(range(10**13))`, `"x" * 10**10`): no time limit can stop those,
# and rules, gates and reports run in the runner's own process.
MAX_RANGE = 10_000_000  # numbers a `range` may hold
MAX_REPEAT = 10_000_000  # items or characters a `*` may make
MAX_POWER_BITS = 1_000_000  # bits an int `**` may make


def _range(*bounds: int) -> range:
    numbers = range(*bounds)
    if len(numbers) > MAX_RANGE:
        raise ValueError(f"range() of more than {MAX_RANGE:,} numbers")
    return numbers


def times(left: Any, right: Any) -> Any:
    """`left * right`, refusing a repetition past `MAX_REPEAT` items."""
    for sized, count in ((left, right), (right, left)):
        if isinstance(sized, (str, list, tuple)) and isinstance(count, int) and len(sized) * count > MAX_REPEAT:
            raise ValueError(f"`*` would make more than {MAX_REPEAT:,} items")
    return left * right


def power(base: Any, exponent: Any) -> Any:
    """`base ** exponent`, refusing an int result past `MAX_POWER_BITS` bits."""
    if (
        isinstance(base, int)
        and isinstance(exponent, int)
        and exponent > 0
        and abs(base) > 1
        and base.bit_length() * exponent > MAX_POWER_BITS
    ):
        raise ValueError(f"`**` would make an int of more than {MAX_POWER_BITS:,} bits")
    return base**exponent


def _reversed(values: Any) -> Any:
    return reversed(values)


def _zip(*iterables: Any) -> Any:
    return zip(*iterables, strict=False)


def _enumerate(values: Any, start: int = 0) -> Any:
    return enumerate(values, start)


# Functions every expression may call. Aggregates (`mean`, `proportion`, ...) belong to
# reports and are listed in `octolang.check.expressions.AGGREGATES`.
EXPRESSION_FUNCTIONS: dict[str, Any] = {
    "abs": abs,
    "all": all,
    "any": any,
    "bool": _bool,
    "float": _float,
    "int": _int,
    "len": len,
    "max": max,
    "min": min,
    "round": round,
    "sorted": sorted,
    "str": _str,
    "sum": sum,
    "list": _list,
    "set": _set,
    "range": _range,
    "reversed": _reversed,
    "zip": _zip,
    "enumerate": _enumerate,
    "sqrt": math.sqrt,
    "log": math.log,
    "exp": math.exp,
    "floor": math.floor,
    "ceil": math.ceil,
    "isnan": math.isnan,
}
_COMPARE = {
    "==": ast.Eq,
    "!=": ast.NotEq,
    "<": ast.Lt,
    "<=": ast.LtE,
    ">": ast.Gt,
    ">=": ast.GtE,
    "in": ast.In,
    "not in": ast.NotIn,
    "is": ast.Is,
    "is not": ast.IsNot,
}
_BINARY = {"+": ast.Add, "-": ast.Sub, "*": ast.Mult, "/": ast.Div, "//": ast.FloorDiv, "%": ast.Mod, "**": ast.Pow}
_UNARY = {"-": ast.USub, "+": ast.UAdd, "not": ast.Not}
_BOUNDED = {"*": "__octo_times", "**": "__octo_power"}
MAX_STATIC_POWER = 4096


def to_python(node: ir.Expr, rename: Mapping[str, str] | None = None) -> ast.expr:
    """The Python AST of an expression; `rename` maps names (e.g. aggregate calls) to others."""
    result = _convert(node, rename or {})
    return result


def _loc(target: ast.expr, node: ir.Node) -> ast.expr:
    target.lineno = node.span.line
    target.col_offset = node.span.col - 1
    target.end_lineno = node.span.end_line
    target.end_col_offset = node.span.end_col - 1
    return target


def _convert(node: ir.Expr, rename: Mapping[str, str]) -> ast.expr:
    def c(child: ir.Expr) -> ast.expr:
        return _convert(child, rename)

    out: ast.expr
    if isinstance(node, ir.Name):
        out = ast.Name(id=rename.get(node.id, node.id), ctx=ast.Load())
    elif isinstance(node, ir.Constant):
        out = ast.Constant(value=node.value)
    elif isinstance(node, ir.Attribute):
        out = ast.Attribute(value=c(node.value), attr=node.attr, ctx=ast.Load())
    elif isinstance(node, ir.Index):
        out = ast.Subscript(value=c(node.value), slice=c(node.index), ctx=ast.Load())
    elif isinstance(node, ir.Slice):
        out = ast.Slice(lower=c(node.lower) if node.lower else None, upper=c(node.upper) if node.upper else None)
    elif isinstance(node, ir.Call):
        out = ast.Call(
            func=c(node.func),
            args=[c(a) for a in node.args],
            keywords=[ast.keyword(arg=k.name, value=c(k.value)) for k in node.keywords],
        )
    elif isinstance(node, ir.Unary):
        out = ast.UnaryOp(op=_UNARY[node.op](), operand=c(node.operand))
    elif isinstance(node, ir.Binary):
        if node.op in _BOUNDED:  # through the bounded functions, named as no user name can be
            bounded = ast.Name(id=_BOUNDED[node.op], ctx=ast.Load())
            out = ast.Call(func=bounded, args=[c(node.left), c(node.right)], keywords=[])
        else:
            out = ast.BinOp(left=c(node.left), op=_BINARY[node.op](), right=c(node.right))
    elif isinstance(node, ir.BoolOp):
        out = ast.BoolOp(op=ast.And() if node.op == "and" else ast.Or(), values=[c(v) for v in node.values])
    elif isinstance(node, ir.Compare):
        out = ast.Compare(
            left=c(node.left), ops=[_COMPARE[o]() for o in node.ops], comparators=[c(x) for x in node.comparators]
        )
    elif isinstance(node, ir.IfExp):
        out = ast.IfExp(test=c(node.test), body=c(node.body), orelse=c(node.orelse))
    elif isinstance(node, ir.ListExpr):
        out = ast.List(elts=[c(e) for e in node.elts], ctx=ast.Load())
    elif isinstance(node, ir.TupleExpr):
        out = ast.Tuple(elts=[c(e) for e in node.elts], ctx=ast.Load())
    else:
        target: ast.expr
        if len(node.targets) == 1:
            target = ast.Name(id=node.targets[0], ctx=ast.Store())
        else:
            target = ast.Tuple(elts=[ast.Name(id=t, ctx=ast.Store()) for t in node.targets], ctx=ast.Store())
        generator = ast.comprehension(
            target=target, iter=c(node.iter), ifs=[c(node.condition)] if node.condition else [], is_async=0
        )
        maker = ast.GeneratorExp if node.generator else ast.ListComp
        out = maker(elt=c(node.element), generators=[generator])
    return _loc(out, node)


def refused_part(node: ir.Expr) -> ir.Expr | None:
    """The first sub-expression that reads what no user code may read, if any."""
    for sub in walk(node):
        if isinstance(sub, ir.Attribute) and never_allowed(sub.attr):
            return sub
        if isinstance(sub, ir.Name) and normalise(sub.id).startswith("__"):
            return sub
    return None


def compile_expression(node: ir.Expr, filename: str, rename: Mapping[str, str] | None = None) -> CodeType:
    refused = refused_part(node)
    if refused is not None:
        raise ExpressionRefused(f"{filename}:{refused.span.line}: the sandbox refuses this expression")
    tree = ast.Expression(body=to_python(node, rename))
    ast.fix_missing_locations(tree)
    return compile(tree, filename, "eval")


def compile_tuple(nodes: Sequence[ir.Expr], filename: str) -> CodeType:
    """One code object giving the tuple of `nodes`' values: one `eval` where a caller needs
    several expressions of the same names (a report's keys and aggregate arguments)."""
    for node in nodes:
        refused = refused_part(node)
        if refused is not None:
            raise ExpressionRefused(f"{filename}:{refused.span.line}: the sandbox refuses this expression")
    tree = ast.Expression(body=ast.Tuple(elts=[to_python(node) for node in nodes], ctx=ast.Load()))
    ast.fix_missing_locations(tree)
    return compile(tree, filename, "eval")


def scope_with(names: Mapping[str, Any]) -> dict[str, Any]:
    """The globals an expression runs with: no builtins, the expression functions, `names`
    (lists and dicts among them frozen: an expression cannot change a const)."""
    from octolang.sandbox.compile import FrozenList

    scope: dict[str, Any] = {"__builtins__": {}, _BOUNDED["*"]: times, _BOUNDED["**"]: power}
    scope.update(EXPRESSION_FUNCTIONS)
    for name, value in names.items():
        scope[name] = _frozen(value) if isinstance(value, (list, dict)) and not isinstance(value, FrozenList) else value
    return scope


_FROZEN: dict[int, tuple[Any, Any]] = {}  # id -> (the value, kept alive; its frozen copy)


def _frozen(value: Any) -> Any:
    """The frozen copy of a value, made once per value: rules run per unit with the same consts."""
    known = _FROZEN.get(id(value))
    if known is not None and known[0] is value:
        return known[1]
    from octolang.sandbox.compile import freeze

    if len(_FROZEN) >= 256:
        _FROZEN.clear()
    frozen = freeze(value)
    _FROZEN[id(value)] = (value, frozen)
    return frozen


def evaluate(node: ir.Expr, names: Mapping[str, Any], filename: str = "<octo>") -> Any:
    """Evaluate with `names` and the expression functions in scope, and nothing else."""
    return eval(compile_expression(node, filename), scope_with(names))


def walk(node: ir.Expr) -> list[ir.Expr]:
    """Every sub-expression, parents before children, in source order."""
    out: list[ir.Expr] = []
    stack: list[Any] = [node]
    while stack:
        current = stack.pop()
        if current is None:
            continue
        out.append(current)
        children: list[Any] = []
        for name in type(current).model_fields:
            value = getattr(current, name)
            if isinstance(value, ir.Node) and not isinstance(value, ir.Keyword) and name != "span":
                children.append(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ir.Keyword):
                        children.append(item.value)
                    elif isinstance(item, ir.Node):
                        children.append(item)
        stack.extend(reversed(children))
    return out


def too_costly(node: ir.Expr) -> ir.Expr | None:
    """A sub-expression too expensive to evaluate while checking (a huge power), if any."""
    for sub in walk(node):
        if isinstance(sub, ir.Binary) and sub.op == "**":
            right = sub.right
            if isinstance(right, ir.Unary) and right.op in ("-", "+"):
                right = right.operand
            if (
                not isinstance(right, ir.Constant)
                or not isinstance(right.value, (int, float))
                or abs(right.value) > MAX_STATIC_POWER
            ):
                return sub
        if isinstance(sub, ir.Binary) and sub.op == "*":
            for side in (sub.left, sub.right):
                if isinstance(side, ir.Constant) and isinstance(side.value, int) and abs(side.value) > 10**6:
                    return sub
    return None
