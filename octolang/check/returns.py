"""The dicts a `compute` code block returns, read off its AST (never run) and held
against the step's output type: every field there, none that is not, and no literal value
the field's type cannot hold."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from octolang import ir
from octolang.check.types import article
from octolang.diagnostics import Diagnostic, did_you_mean, error
from octolang.schema import Schema, describe, fields_of, unwrap_optional
from octolang.source import Span


def check_returns(step: ir.StepDecl, tree: ast.Module, span_of: Callable[[ast.expr], Span]) -> list[Diagnostic]:
    """E0624 for a key the output type does not have, E0625 for a field a literal dict
    leaves out, E0626 for a literal value its field cannot hold. Only `return {...}` with
    plain string keys is read: a dict built another way, or with `**`, is the runtime's to
    check, and so are values other than literals (and `a if c else b` of literals)."""
    fields = fields_of(step.output_schema or {})
    if not fields:
        return []
    out: list[Diagnostic] = []
    listing = ", ".join(f"`{f}`" for f in fields)
    for node in _returned_dicts(tree.body):
        keys: list[tuple[str, ast.expr]] = []
        for key in node.keys:
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                break
            keys.append((key.value, key))
        else:
            given = {name for name, _ in keys}
            for (name, _), value in zip(keys, node.values, strict=True):
                if name in fields:
                    out += _literal_problems(step.name, name, fields[name], value, span_of)
            unknown = [(name, key) for name, key in keys if name not in fields]
            for name, key in unknown:
                out.append(
                    error(
                        "E0624",
                        f"step `{step.name}` returns a field `{name}` its output type does not have",
                        span_of(key),
                        label=f"the output has {listing}",
                        help=did_you_mean(name, [f for f in fields if f not in given]) or "remove it from the dict",
                    )
                )
            missing = [f for f in fields if f not in given]
            if missing and not unknown:  # a misspelt key is told once, as that
                names = ", ".join(f"`{f}`" for f in missing)
                plural = "s" if len(missing) > 1 else ""
                out.append(
                    error(
                        "E0625",
                        f"step `{step.name}` returns a dict without the field{plural} {names}",
                        span_of(node),
                        label=f"the output has {listing}",
                        help="every field of the output type is needed, an optional one (`T?`) as `None`",
                    )
                )
    return out


def _returned_dicts(body: list[ast.stmt]) -> Iterator[ast.Dict]:
    """The literal dicts of the code's own `return`s (not those of functions it defines)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Dict):
            yield node.value
        stack.extend(ast.iter_child_nodes(node))


def _literal_problems(
    step: str, name: str, schema: Schema, value: ast.expr, span_of: Callable[[ast.expr], Span]
) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for literal in _literals(value):
        wrong = _cannot_hold(schema, literal.value)
        if wrong is None:
            continue
        shown = repr(literal.value) if not isinstance(literal.value, str) else f'"{literal.value}"'
        options = unwrap_optional(schema).get("enum")
        hint = ""
        if isinstance(options, list) and isinstance(literal.value, str):
            hint = did_you_mean(literal.value, [o for o in options if isinstance(o, str)])
        elif literal.value is None:
            hint = f"declare the field optional, `{name}: {_type_text(schema)}?`, to allow `None`"
        elif unwrap_optional(schema).get("type") == "boolean":
            hint = "write `True` or `False`"
        out.append(
            error(
                "E0626",
                f"step `{step}` returns {shown} for `{name}`, which is `{_type_text(schema)}`",
                span_of(literal),
                label=wrong,
                help=hint or f"`{name}` takes `{_type_text(schema)}`",
            )
        )
    return out


def _literals(value: ast.expr) -> list[ast.Constant]:
    """The literal values an expression may give: itself, or the branches of `a if c else b`."""
    if isinstance(value, ast.Constant):
        return [value]
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.USub) and isinstance(value.operand, ast.Constant):
        number = value.operand.value
        if isinstance(number, (int, float)) and not isinstance(number, bool):
            negative = ast.Constant(value=-number)
            return [ast.copy_location(negative, value)]  # spans the `-` too
    if isinstance(value, ast.IfExp):
        return _literals(value.body) + _literals(value.orelse)
    return []


def _nullable(schema: Schema) -> bool:
    options = schema.get("anyOf")
    kind = schema.get("type")
    return (
        (isinstance(options, list) and any(o.get("type") == "null" for o in options))
        or (isinstance(kind, list) and "null" in kind)
        or None in (schema.get("enum") or ())
    )


def _cannot_hold(schema: Schema, value: object) -> str | None:
    """Why a field of this schema cannot hold the value, or None when it can (or it is not known)."""
    if value is None:
        return None if _nullable(schema) else "the field is not optional (`T?`)"
    inner = unwrap_optional(schema)
    options = inner.get("enum")
    if isinstance(options, list):
        fits = any(o == value and isinstance(o, bool) == isinstance(value, bool) for o in options)
        return None if fits else "not one of its values"
    kind = inner.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if not isinstance(kind, str):
        return None
    fits = {
        "string": isinstance(value, str),
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
    }.get(kind, False if kind in ("array", "object") else True)
    if not fits:
        given = {str: "string", int: "int", float: "float", bool: "bool"}.get(type(value), type(value).__name__)
        return f"{article(given)} `{given}`, not {article(describe({'type': kind}))} `{describe({'type': kind})}`"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = inner.get("minimum"), inner.get("maximum")
        if (isinstance(low, (int, float)) and value < low) or (isinstance(high, (int, float)) and value > high):
            return "outside its range"
    if isinstance(value, str):
        shortest, longest = inner.get("minLength"), inner.get("maxLength")
        if (isinstance(shortest, int) and len(value) < shortest) or (isinstance(longest, int) and len(value) > longest):
            return "a length outside its range"
    return None


def _type_text(schema: Schema) -> str:
    """The type as the output declares it, with a number's range: `int[0..]`, `float[0..1]?`."""
    text = describe(schema)
    inner = unwrap_optional(schema)
    low, high = inner.get("minimum"), inner.get("maximum")
    if low is None and high is None:
        return text
    optional = text.endswith("?")
    bounds = "..".join("" if b is None else f"{b:g}" for b in (low, high))
    return f"{text.removesuffix('?')}[{bounds}]" + ("?" if optional else "")
