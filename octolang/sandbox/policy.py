"""What user code may do: one policy, written as an allow-list, for compute bodies,
expressions (consts, `vary`, rows, rules, gates, reports) and templates. The checker
reports a breach as a diagnostic; the sandbox, the expression compiler and the template
environment refuse it before anything runs.

An attribute may be read only when its name is a public method or property of a plain
value (`str`, `list`, `dict`, `set`, `frozenset`, `tuple`, `int`, `float`, `bool`,
`range`), a public name of `math`, a method of `rng`, or a field the program declares;
never a name starting with `_`, the string-formatting methods (they walk attributes
inside the format string), `mro`, or a frame, code, generator or traceback attribute,
even as a field. Names are NFKC-normalised first, as Python does at parse time, so a
lookalike of `__class__` is `__class__`. Attributes are never assigned or deleted.
"""

from __future__ import annotations

import ast
import builtins
import math
import unicodedata
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

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


class ReadOnlyNamespace:
    """A private, read-only copy of a module's public names: code cannot replace
    `math.sqrt` for the code or the reports that come after it."""

    __slots__ = ("_names", "_title")

    def __init__(self, title: str, names: dict[str, Any]) -> None:
        object.__setattr__(self, "_names", dict(names))
        object.__setattr__(self, "_title", title)

    def __getattr__(self, name: str) -> Any:
        try:
            return object.__getattribute__(self, "_names")[name]
        except KeyError:
            raise AttributeError(f"`{self._title}` has no `{name}`") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"`{self._title}` is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"`{self._title}` is read-only")

    def __dir__(self) -> Iterator[str]:
        return iter(sorted(self._names))

    def __repr__(self) -> str:
        return f"<{self._title}>"


MATH_NAMES = frozenset(n for n in dir(math) if not n.startswith("_"))
SAFE_MODULES: dict[str, ReadOnlyNamespace] = {
    "math": ReadOnlyNamespace("math", {n: getattr(math, n) for n in MATH_NAMES})
}
# `rng`'s methods; not `seed`, `setstate` or `getstate`: a unit's stream is its own and
# cannot be reset, replayed or copied.
RNG_METHODS = frozenset(
    {
        "random",
        "uniform",
        "randint",
        "randrange",
        "choice",
        "choices",
        "sample",
        "shuffle",
        "gauss",
        "normalvariate",
        "lognormvariate",
        "expovariate",
        "vonmisesvariate",
        "gammavariate",
        "betavariate",
        "paretovariate",
        "weibullvariate",
        "triangular",
        "binomialvariate",
        "getrandbits",
        "randbytes",
    }
)
NEVER_ATTRIBUTES = frozenset({"format", "format_map", "mro"})
# Frames, code objects, generators, coroutines, async generators, tracebacks.
NEVER_PREFIXES = ("_", "f_", "co_", "gi_", "cr_", "ag_", "tb_")
SAFE_VALUE_TYPES: tuple[type, ...] = (str, list, dict, set, frozenset, tuple, int, float, bool, range)
VALUE_ATTRIBUTES = frozenset(n for t in SAFE_VALUE_TYPES for n in dir(t) if not n.startswith("_")) - NEVER_ATTRIBUTES
SAFE_ATTRIBUTES = VALUE_ATTRIBUTES | MATH_NAMES | RNG_METHODS


def normalise(name: str) -> str:
    """The name Python looks up: identifiers are NFKC-normalised when source is parsed."""
    return name if name.isascii() else unicodedata.normalize("NFKC", name)


def never_allowed(name: str) -> bool:
    """Attributes no user code may read, whatever it reads them on, even a record's field."""
    name = normalise(name)
    return name.startswith(NEVER_PREFIXES) or name in NEVER_ATTRIBUTES


def attribute_allowed(name: str, fields: Collection[str] | None = None) -> bool:
    """The allow-list. `fields`: the field names the program declares; None when they are
    not known (the run-time compilers), where only the names never allowed are refused."""
    name = normalise(name)
    if never_allowed(name):
        return False
    return fields is None or name in SAFE_ATTRIBUTES or name in fields


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
    {
        ast.Import,
        ast.ImportFrom,
        ast.Attribute,
        ast.MatchClass,
        ast.Name,
        ast.Global,
        ast.Nonlocal,
        ast.arg,
        *_REFUSED_STATEMENTS,
    }
)
_INTERNALS_HINT = (
    "names starting with `_`, string formatting methods and frame or generator attributes reach "
    "Python's internals; use f-strings to format text"
)


def attribute_violation(
    node: ast.AST, attr: str, fields: Collection[str] | None, owner: str | None = None
) -> Violation | None:
    """The policy's verdict on reading `owner.attr` (owner: the name it is read on, if a name)."""
    if never_allowed(attr):
        return _at(node, "E0602", f"attribute `{normalise(attr)}` is not allowed in code blocks", _INTERNALS_HINT)
    if owner == "rng" and attr not in RNG_METHODS:
        return _at(
            node,
            "E0611",
            f"`rng` has no method `{attr}` in code blocks",
            f"a unit's stream cannot be reseeded, saved or restored; `rng` offers {', '.join(sorted(RNG_METHODS))}",
        )
    if owner == "math" and attr not in MATH_NAMES:
        return _at(node, "E0611", f"`math` has no `{attr}`", "`math` offers the public names of Python's math module")
    if not attribute_allowed(attr, fields):
        return _at(
            node,
            "E0609",
            f"attribute `{attr}` is not on the sandbox's allow-list",
            "code may read the methods of strings, numbers, lists, dicts, sets and tuples, "
            '`math` and `rng`, and the fields the program declares; read other keys by index: `x["name"]`',
        )
    return None


def find_violations(
    tree: ast.AST, nodes: Sequence[ast.AST] | None = None, fields: Collection[str] | None = None
) -> list[Violation]:
    """`nodes`: `list(ast.walk(tree))` when the caller has it already (the checker walks once).
    `fields`: the field names the program declares (None: only what is never allowed is refused)."""
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
        elif isinstance(node, ast.Attribute):
            if not isinstance(node.ctx, ast.Load):
                out.append(
                    _at(
                        node,
                        "E0610",
                        f"code blocks cannot {'assign' if isinstance(node.ctx, ast.Store) else 'delete'} "
                        f"attribute `{node.attr}`",
                        "units, step outputs, consts, `math` and `rng` are read-only; "
                        "bind a new name or build a new dict instead",
                    )
                )
                continue
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            found = attribute_violation(node, node.attr, fields, owner)
            if found is not None:
                out.append(found)
        elif isinstance(node, ast.MatchClass):
            # `case str(format=f)` reads `subject.format`: keyword patterns are attribute reads.
            for attr in node.kwd_attrs:
                found = attribute_violation(node, attr, fields)
                if found is not None:
                    out.append(found)
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
