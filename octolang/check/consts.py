"""Values known before anything runs: consts, `vary` lists and inline rows."""

from __future__ import annotations

from typing import Any

from octolang import ir
from octolang.diagnostics import Diagnostic, error
from octolang.expressions import evaluate, too_costly
from octolang.sandbox.compile import SandboxTimeout, run_with_timeout

StaticValues = dict[str, Any]
STATIC_SECONDS = 2.0
_JSONABLE = (str, int, float, bool, type(None), list, tuple)


def evaluate_static(node: ir.Expr, values: StaticValues, diagnostics: list[Diagnostic], *, what: str) -> Any:
    """Evaluate an expression that may use consts only; None (and a diagnostic) when it cannot."""
    costly = too_costly(node)
    if costly is not None:
        diagnostics.append(
            error("E0503", f"{what} would take too long to compute", costly.span, help="use smaller numbers")
        )
        return None
    try:
        result = run_with_timeout(lambda: evaluate(node, values), {}, STATIC_SECONDS)
    except SandboxTimeout:
        diagnostics.append(
            error(
                "E0503",
                f"{what} takes more than {STATIC_SECONDS:g} s to compute",
                node.span,
                help="values known before the run must be small; compute big ones in a step",
            )
        )
        return None
    except NameError as exc:
        name = str(exc).split("'")[1] if "'" in str(exc) else str(exc)
        diagnostics.append(
            error(
                "E0503",
                f"{what} can only use consts and literals, not `{name}`",
                node.span,
                help="declare it first with `const`",
            )
        )
        return None
    except Exception as exc:
        diagnostics.append(error("E0503", f"{what} cannot be computed: {type(exc).__name__}: {exc}", node.span))
        return None
    if isinstance(result, range):
        result = list(result)
    if not isinstance(result, _JSONABLE) or (
        isinstance(result, (list, tuple)) and not all(isinstance(x, _JSONABLE) for x in result)
    ):
        diagnostics.append(
            error("E0503", f"{what} must be a string, number, boolean or list, not {type(result).__name__}", node.span)
        )
        return None
    return list(result) if isinstance(result, tuple) else result


def check_consts(program: ir.Program) -> tuple[StaticValues, list[Diagnostic]]:
    values: StaticValues = {}
    diagnostics: list[Diagnostic] = []
    for const in program.consts:
        value = evaluate_static(const.value, values, diagnostics, what=f"const `{const.name}`")
        const.resolved = value
        values[const.name] = value
    return values, diagnostics
