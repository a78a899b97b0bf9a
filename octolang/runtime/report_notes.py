"""Why a report's statistic is empty or doubtful: what its values were left out for, and
the range declared for the value a mean's interval may run out of."""

from __future__ import annotations

from types import CodeType
from typing import Any

from octolang import ir
from octolang.runtime.tallies import MISSING


def declared_range(program: ir.Program, expr: ir.Expr) -> tuple[float | None, float | None] | None:
    """The range a mean's argument is declared in (`step.field` or `unit.field` of a type
    such as `float[0..1]`), or None."""
    if not (isinstance(expr, ir.Call) and len(expr.args) == 1 and isinstance(expr.args[0], ir.Attribute)):
        return None
    arg = expr.args[0]
    if not isinstance(arg.value, ir.Name):
        return None
    schema: Any = None
    if arg.value.id == "unit":
        schema = next((f.type for f in program.unit_fields if f.name == arg.attr), None)
    else:
        step = next((s for s in program.steps if s.name == arg.value.id), None)
        if step is not None and step.output_schema:
            schema = step.output_schema.get("properties", {}).get(arg.attr)
    if not isinstance(schema, dict):
        return None
    low, high = schema.get("minimum"), schema.get("maximum")
    numbers = (int, float)
    if not isinstance(low, numbers) and not isinstance(high, numbers):
        return None
    return (float(low) if isinstance(low, numbers) else None, float(high) if isinstance(high, numbers) else None)


def left_out(function: str, code: CodeType, value: Any, names: dict[str, Any]) -> str:
    """Why a unit's value was left out of an aggregate, in a few words."""
    if value is MISSING:
        try:
            eval(code, names)
        except Exception as exc:  # the same error as the first time: the expressions are pure
            if isinstance(exc, (AttributeError, KeyError)):
                return f"no value ({type(exc).__name__}: {str(exc)[:60]})"
            return f"{type(exc).__name__}: {str(exc)[:60]}"
        return "no value"
    if value is None:
        return "the value is null"
    shown = repr(value) if isinstance(value, (str, int, float, bool)) else type(value).__name__
    if len(shown) > 40:
        shown = shown[:37] + "..."
    wanted = "a condition" if function == "proportion" else "a number"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{shown} is too large for a float"
    return f"not {wanted}, e.g. {shown}"


def empty_because(missing: int, n: int | None, reason: str | None) -> str:
    """Why a report table's cell is empty, after its `-`."""
    if missing:
        return f" ({missing:,} missing: {reason})" if reason else f" ({missing:,} missing)"
    if n == 0:
        return " (no units)"
    return ""
