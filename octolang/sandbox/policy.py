"""What code blocks may do: one AST policy, used by the checker (as diagnostics) and by
the sandbox before it compiles anything (as a refusal).

The sandbox is a guard against mistakes and against LLM output ever becoming code, not
a boundary against a hostile author of the `.octo` file: code runs in-process, with no
import, no file or network access (no names reach them), and no underscore attributes
(the way out of every Python sandbox goes through `__class__`, `__globals__`, ...).
"""

from __future__ import annotations

import ast
import builtins
import math
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

ALLOWED_BUILTINS = frozenset(
    {
        "abs",
        "all",
        "any",
        "bool",
        "dict",
        "divmod",
        "enumerate",
        "filter",
        "float",
        "frozenset",
        "int",
        "isinstance",
        "len",
        "list",
        "map",
        "max",
        "min",
        "pow",
        "range",
        "reversed",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
        "zip",
        "chr",
        "ord",
        "ValueError",
        "TypeError",
        "KeyError",
        "IndexError",
        "ZeroDivisionError",
        "ArithmeticError",
        "Exception",
    }
)
SAFE_MODULES: dict[str, ModuleType] = {"math": math}
FORBIDDEN_NAMES = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "open",
        "__import__",
        "globals",
        "locals",
        "vars",
        "getattr",
        "setattr",
        "delattr",
        "breakpoint",
        "input",
        "help",
        "memoryview",
        "type",
        "object",
        "super",
        "classmethod",
        "staticmethod",
        "property",
        "dir",
        "id",
        "hasattr",
        "__builtins__",
    }
)
FORBIDDEN_ATTRIBUTES = frozenset(
    {"format", "format_map", "mro", "gi_frame", "gi_code", "f_globals", "f_locals", "f_back", "cr_frame", "tb_frame"}
)


@dataclass(frozen=True)
class Violation:
    code: str
    message: str
    hint: str
    lineno: int
    col: int
    end_lineno: int
    end_col: int


def _at(node: ast.AST, code: str, message: str, hint: str) -> Violation:
    lineno = getattr(node, "lineno", 1)
    col = getattr(node, "col_offset", 0)
    return Violation(
        code,
        message,
        hint,
        lineno,
        col,
        getattr(node, "end_lineno", None) or lineno,
        getattr(node, "end_col_offset", None) or col + 1,
    )


_REFUSED_STATEMENTS: tuple[type[ast.AST], ...] = (
    ast.ClassDef,
    ast.AsyncFunctionDef,
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
    ast.AsyncFor,
    ast.AsyncWith,
    ast.With,
    ast.Try,
    *((ast.TryStar,) if hasattr(ast, "TryStar") else ()),
)
# The node types the policy looks at; every other node (most of them) is skipped at once.
_WATCHED = frozenset(
    {ast.Import, ast.ImportFrom, ast.Attribute, ast.Name, ast.Global, ast.Nonlocal, ast.arg, *_REFUSED_STATEMENTS}
)


def find_violations(tree: ast.AST, nodes: Sequence[ast.AST] | None = None) -> list[Violation]:
    """`nodes`: `list(ast.walk(tree))` when the caller has it already (the checker walks once)."""
    out: list[Violation] = []
    for node in nodes if nodes is not None else ast.walk(tree):
        if type(node) not in _WATCHED:
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.append(
                _at(
                    node,
                    "E0601",
                    "code blocks cannot import modules",
                    "`math` is available without importing; other modules are not",
                )
            )
        elif isinstance(node, ast.Attribute) and (node.attr.startswith("_") or node.attr in FORBIDDEN_ATTRIBUTES):
            out.append(
                _at(
                    node,
                    "E0602",
                    f"attribute `{node.attr}` is not allowed in code blocks",
                    "names starting with `_` and string formatting methods reach Python's internals; "
                    "use f-strings to format text",
                )
            )
        elif isinstance(node, ast.Name) and node.id.startswith("__"):
            out.append(
                _at(
                    node,
                    "E0602",
                    f"name `{node.id}` is not allowed in code blocks",
                    "names starting with `__` reach Python's internals",
                )
            )
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            out.append(
                _at(
                    node,
                    "E0603",
                    f"`{node.id}` is not available in code blocks",
                    "code blocks compute values from `unit`, earlier steps, consts and `rng`; they "
                    "cannot run other code, read files or inspect objects",
                )
            )
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            keyword = "global" if isinstance(node, ast.Global) else "nonlocal"
            out.append(
                _at(
                    node,
                    "E0604",
                    f"`{keyword}` is not allowed in code blocks",
                    "return values instead of changing outer variables",
                )
            )
        elif isinstance(node, _REFUSED_STATEMENTS):
            what = {
                ast.ClassDef: "class definitions",
                ast.With: "`with` blocks",
                ast.Try: "`try` blocks",
                ast.Yield: "`yield`",
                ast.YieldFrom: "`yield`",
                ast.Await: "`await`",
            }.get(type(node), "async code")
            out.append(
                _at(
                    node,
                    "E0605",
                    f"{what} are not allowed in code blocks",
                    "a code block is the body of one function that returns the step's output; "
                    "an error in it should fail the unit, not be caught",
                )
            )
        elif isinstance(node, ast.arg) and node.arg.startswith("__"):
            out.append(
                _at(
                    node,
                    "E0602",
                    f"parameter `{node.arg}` is not allowed in code blocks",
                    "names starting with `__` reach Python's internals",
                )
            )
    out.sort(key=lambda v: (v.lineno, v.col, v.code))
    return out


def code_free_names(tree: ast.AST, nodes: Sequence[ast.AST] | None = None) -> set[str]:
    """Names the code reads but never binds anywhere: what it expects from its scope."""
    bound: set[str] = set()
    loaded: set[str] = set()
    for node in nodes if nodes is not None else ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.MatchAs) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchStar) and node.name:
            bound.add(node.name)
    return loaded - bound


def safe_builtins() -> dict[str, object]:
    table: dict[str, object] = {name: getattr(builtins, name) for name in ALLOWED_BUILTINS}
    table.update(SAFE_MODULES)
    table.update({"True": True, "False": False, "None": None})
    return table
