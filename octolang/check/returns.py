"""The dicts a `compute` code block returns, read off its AST (never run) and held
against the step's output type: every field there, none that is not."""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator

from octolang import ir
from octolang.diagnostics import Diagnostic, did_you_mean, error
from octolang.schema import fields_of
from octolang.source import Span


def check_returns(step: ir.StepDecl, tree: ast.Module, span_of: Callable[[ast.expr], Span]) -> list[Diagnostic]:
    """E0624 for a key the output type does not have, E0625 for a field a literal dict
    leaves out. Only `return {...}` with plain string keys is read: a dict built another
    way, or with `**`, is the runtime's to check."""
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
