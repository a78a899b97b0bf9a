"""Static types of expressions: what each operator, comparison, function and aggregate
yields, and the errors of putting the wrong kinds of values together.

Types are the JSON Schemas the rest of the checker uses (output types, unit fields,
consts); `{}` is a value of unknown type, about which nothing is said. The checker of
expressions (`check/expressions.py`) asks these rules at each node, bottom up.
"""

from __future__ import annotations

from typing import Any

from octolang import ir
from octolang.diagnostics import Diagnostic, did_you_mean, error
from octolang.schema import Schema, describe, is_any, unwrap_optional
from octolang.source import Span

NUMBER: Schema = {"type": "number"}
INTEGER: Schema = {"type": "integer"}
BOOLEAN: Schema = {"type": "boolean"}
STRING: Schema = {"type": "string"}
ANY: Schema = {}

# What the expression functions return, when it does not depend on their arguments.
_RETURNS: dict[str, Schema] = {
    "len": INTEGER,
    "int": INTEGER,
    "floor": INTEGER,
    "ceil": INTEGER,
    "float": NUMBER,
    "sqrt": NUMBER,
    "log": NUMBER,
    "exp": NUMBER,
    "str": STRING,
    "bool": BOOLEAN,
    "isnan": BOOLEAN,
    "any": BOOLEAN,
    "all": BOOLEAN,
    "sorted": {"type": "array"},
    "list": {"type": "array"},
    "range": {"type": "array", "items": INTEGER},
}
# Aggregates over numbers, and what they yield.
NUMERIC_AGGREGATES = {"sum", "mean", "stdev", "median", "percentile", "min", "max"}


def kind(schema: Schema | None) -> str | None:
    """bool, int, float, string, list, record or null; None when unknown or mixed."""
    if schema is None or is_any(schema):
        return None
    schema = unwrap_optional(schema)
    if "anyOf" in schema:
        return None
    value = schema.get("type")
    if isinstance(value, list):
        options = [v for v in value if v != "null"]
        value = options[0] if len(options) == 1 else None
    return (
        {
            "boolean": "bool",
            "integer": "int",
            "number": "float",
            "string": "string",
            "array": "list",
            "object": "record",
            "null": "null",
        }.get(value)
        if isinstance(value, str)
        else None
    )


def is_number(k: str | None) -> bool:
    return k in ("int", "float")


def constant(value: Any) -> Schema:
    if value is None:
        return {"type": "null"}
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    return STRING


def shown(schema: Schema | None) -> str:
    return describe(schema or {})


def unary(node: ir.Unary, operand: Schema | None) -> tuple[Schema, list[Diagnostic]]:
    if node.op == "not":
        return BOOLEAN, []
    k = kind(operand)
    if k is None or is_number(k):
        return operand or ANY, []
    return ANY, [_not_a_number(node.operand, operand, f"`{node.op}`")]


def binary(node: ir.Binary, left: Schema | None, right: Schema | None) -> tuple[Schema, list[Diagnostic]]:
    lk, rk = kind(left), kind(right)
    if lk is None or rk is None:
        return ANY, []
    op = node.op
    if is_number(lk) and is_number(rk):
        if op == "/" or "float" in (lk, rk):
            return NUMBER, []
        return INTEGER, []
    if op == "+" and lk == rk and lk in ("string", "list"):
        return (STRING if lk == "string" else {"type": "array"}), []
    if op == "*" and {lk, rk} in ({"string", "int"}, {"list", "int"}):
        return (STRING if "string" in (lk, rk) else {"type": "array"}), []
    if op == "%" and lk == "string":
        return STRING, []
    for side, schema in ((node.left, left), (node.right, right)):
        if kind(schema) == "bool":
            return ANY, [_not_a_number(side, schema, f"`{op}`")]
    return ANY, [
        error(
            "E0623",
            f"`{op}` cannot combine {_a(shown(left))} and {_a(shown(right))}",
            node.span,
            label=f"`{shown(left)}` {op} `{shown(right)}`",
            help="arithmetic takes numbers; `+` also joins two strings or two lists",
        )
    ]


def _not_a_number(node: ir.Expr, schema: Schema | None, what: str) -> Diagnostic:
    if kind(schema) == "bool":
        return error(
            "E0623",
            f"a bool used as a number in {what}",
            node.span,
            label="this is `bool`",
            help="compare it instead (`x == true`), or count the true values with `count(...)` or `proportion(...)`",
        )
    return error(
        "E0623",
        f"{what} takes a number, not {_a(shown(schema))}",
        node.span,
        label=f"this is `{shown(schema)}`",
    )


def compare(node: ir.Compare, types: list[Schema | None]) -> list[Diagnostic]:
    """Each link of a comparison chain: the kinds must be comparable, and a string literal
    compared with an enum must be one of its values."""
    out: list[Diagnostic] = []
    operands = [node.left, *node.comparators]
    for i, op in enumerate(node.ops):
        left, right = operands[i], operands[i + 1]
        lt, rt = types[i], types[i + 1]
        if op in ("in", "not in"):
            out += _membership(left, lt, right, rt)
            continue
        if op in ("is", "is not"):
            continue
        outside = _outside_enum(left, lt, right) or _outside_enum(right, rt, left)
        if outside is not None:
            out.append(outside)
            continue
        lk, rk = kind(lt), kind(rt)
        if lk is None or rk is None or "null" in (lk, rk):
            continue
        ordering = op not in ("==", "!=")
        if ordering:
            fine = (is_number(lk) and is_number(rk)) or (lk == rk and lk in ("string", "list"))
        else:
            fine = lk == rk or (is_number(lk) and is_number(rk))
        if not fine:
            out.append(
                error(
                    "E0620",
                    f"`{op}` compares {_a(shown(lt))} with {_a(shown(rt))}",
                    _joined(left, right),
                    label=f"`{shown(lt)}` {op} `{shown(rt)}`",
                    help=_compare_help(lk, rk, lt, rt, ordering),
                )
            )
    return out


def _compare_help(lk: str, rk: str, lt: Schema | None, rt: Schema | None, ordering: bool) -> str:
    if "bool" in (lk, rk) and "string" in (lk, rk):
        return "a bool is `true` or `false`: compare with those, or use the value itself as the condition"
    if ordering and "string" in (lk, rk):
        return (
            "order numbers with numbers and strings with strings; a word from a model is best "
            'asked for as an enum (`"low" | "high"`) and tested with `==`'
        )
    return f"both sides must be of one kind; the values are `{shown(lt)}` and `{shown(rt)}`, and never equal"


def _outside_enum(side: ir.Expr, schema: Schema | None, other: ir.Expr) -> Diagnostic | None:
    if schema is None or not isinstance(other, ir.Constant) or not isinstance(other.value, str):
        return None
    values = unwrap_optional(schema).get("enum")
    if not isinstance(values, list) or other.value in values:
        return None
    listing = " | ".join(f'"{v}"' for v in values if v is not None)
    return error(
        "E0621",
        f'"{other.value}" is not a value of `{listing}`',
        other.span,
        label=f"`{text_of(side)}` is one of {listing}",
        help=did_you_mean(other.value, [str(v) for v in values if v is not None]) or "the comparison is never true",
    )


def _membership(left: ir.Expr, lt: Schema | None, right: ir.Expr, rt: Schema | None) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    if isinstance(right, (ir.ListExpr, ir.TupleExpr)):
        for element in right.elts:
            found = _outside_enum(left, lt, element)
            if found is not None:
                out.append(found)
    return out


def call(name: str, args: list[Schema | None]) -> Schema:
    """What an expression function returns."""
    if name in _RETURNS:
        return _RETURNS[name]
    kinds = [kind(a) for a in args]
    if name in ("abs", "round") and kinds and is_number(kinds[0]):
        return INTEGER if name == "round" and len(args) == 1 else (args[0] or ANY)
    if name in ("min", "max", "sum") and len(args) == 1:
        item = unwrap_optional(args[0] or {}).get("items")
        if isinstance(item, dict) and is_number(kind(item)):
            return NUMBER if name == "sum" and kind(item) == "float" else item
    return ANY


def aggregate(name: str, node: ir.Call, arg: Schema | None) -> list[Diagnostic]:
    """The value an aggregate ranges over must suit it: numbers for `mean` and the like,
    a condition for `proportion` (`count` takes any value, and counts the true ones)."""
    if not node.args:
        return []
    k = kind(arg)
    if k is None or k == "null":
        return []
    value = node.args[0]
    if name in NUMERIC_AGGREGATES:
        if is_number(k):
            return []
        help_text = (
            "`proportion(x)` gives the share of units where it is true, with its interval; `count(x)` their number"
            if k == "bool"
            else _enum_help(value, arg)
            if k == "string"
            else f"`{name}` here takes one number per unit; for a list per unit, e.g. `mean({name}(...))`"
            if k == "list"
            else f"`{name}` takes a number per unit"
        )
        return [
            error(
                "E0622",
                f"`{name}` of {_a(shown(arg))}: it takes numbers",
                value.span,
                label=f"this is `{shown(arg)}` for each unit",
                help=help_text,
            )
        ]
    if k in ("bool", "int", "float") or name == "count":  # `count(x)` counts the units where x is truthy
        return []
    return [
        error(
            "E0622",
            f"`{name}` of {_a(shown(arg))}: it takes a condition",
            value.span,
            label=f"this is `{shown(arg)}` for each unit",
            help=_enum_help(value, arg) if k == "string" else f"e.g. `{name}({text_of(value)} > 0)`",
        )
    ]


def _enum_help(value: ir.Expr, schema: Schema | None) -> str:
    values = unwrap_optional(schema or {}).get("enum")
    example = f'"{values[0]}"' if isinstance(values, list) and values and isinstance(values[0], str) else '"..."'
    return f"count a value instead: `proportion({text_of(value)} == {example})`"


def _joined(left: ir.Expr, right: ir.Expr) -> Span:
    return left.span.cover(right.span)


def article(word: str) -> str:
    """`a` or `an` before a word."""
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


def _a(text: str) -> str:
    if text.startswith('"'):
        return f"`{text}`"
    return f"{article(text)} `{text}`"


def text_of(node: ir.Expr, other: str = "x") -> str:
    """A name or field chain as written (`unit.meta.k`); `other` for anything else."""
    if isinstance(node, ir.Name):
        return node.id
    if isinstance(node, ir.Attribute):
        return f"{text_of(node.value, other)}.{node.attr}"
    return other
