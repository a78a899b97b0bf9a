"""Values known before anything runs: consts, `vary` lists and inline rows.

Checking never runs unbounded code: an expression goes through the sandbox's policy
first, then is evaluated here only when it is plainly cheap (literals, small values, a
few small calls); anything else runs in a forked child with a wall deadline, a CPU limit
and a memory bound (`octolang/sandbox/isolate.py`), killed on a breach, which becomes a
diagnostic on the expression. Outcomes are remembered by expression and inputs, so the
language server does not pay a deadline again on every keystroke.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from octolang import ir
from octolang.check.expressions import policy_diagnostics, shape, type_errors
from octolang.diagnostics import Diagnostic, error
from octolang.expressions import evaluate, too_costly, walk
from octolang.sandbox.compile import SandboxTimeout, run_with_timeout
from octolang.sandbox.isolate import Isolated

StaticValues = dict[str, Any]
STATIC_SECONDS = 2.0
STATIC_MEMORY_BYTES = 512 * 2**20
_JSONABLE = (str, int, float, bool, type(None), list, tuple)
# The fast path: sizes below which evaluating here is plainly cheap.
_SMALL_INT_BITS = 64
_SMALL_LENGTH = 1_000
_SMALL_RANGE = 10_000
_CHEAP_CALLS = frozenset({"abs", "len", "min", "max", "round", "bool", "float", "int", "str", "sqrt", "floor", "ceil"})
_CHEAP_BINARY = frozenset({"+", "-", "/", "//"})
_OUTCOMES: OrderedDict[str, Isolated] = OrderedDict()
_OUTCOMES_KEPT = 512


def evaluate_static(node: ir.Expr, values: StaticValues, diagnostics: list[Diagnostic], *, what: str) -> Any:
    """Evaluate an expression that may use consts only; None (and a diagnostic) when it cannot."""
    refused = policy_diagnostics(node, (), where=what)
    if refused:
        diagnostics.extend(refused)
        return None
    mistyped = type_errors(node, values)
    if mistyped:
        diagnostics.extend(mistyped)
        return None
    costly = too_costly(node)
    if costly is not None:
        diagnostics.append(
            error("E0503", f"{what} would take too long to compute", costly.span, help="use smaller numbers")
        )
        return None
    if _cheap(node, values):
        try:
            outcome = Isolated("ok", run_with_timeout(lambda: _jsonable(evaluate(node, values)), {}, STATIC_SECONDS))
        except SandboxTimeout:
            outcome = Isolated("timeout")
        except Exception as exc:
            outcome = Isolated("error", error_type=type(exc).__name__, error_text=str(exc)[:300])
    else:
        outcome = _isolated(node, values)
    return _result(node, outcome, diagnostics, what)


def _isolated(node: ir.Expr, values: StaticValues) -> Isolated:
    used = {sub.id for sub in walk(node) if isinstance(sub, ir.Name) and sub.id in values}
    try:
        key = repr((shape(node), sorted((n, values[n]) for n in used)))  # spans left out: edits move them
    except (RecursionError, ValueError):
        key = None
    known = _OUTCOMES.get(key) if key is not None else None
    if known is not None:
        _OUTCOMES.move_to_end(key)  # type: ignore[arg-type]
        return known
    from octolang.sandbox.isolate import run_isolated

    outcome = run_isolated(
        lambda: _jsonable(evaluate(node, values)), seconds=STATIC_SECONDS, memory_bytes=STATIC_MEMORY_BYTES
    )
    if key is not None and len(key) < 100_000:
        _OUTCOMES[key] = outcome
        if len(_OUTCOMES) > _OUTCOMES_KEPT:
            _OUTCOMES.popitem(last=False)
    return outcome


def _jsonable(result: Any) -> Any:
    """A range as a list, a tuple as a list; anything but JSON-like data is a TypeError."""
    if isinstance(result, range):
        result = list(result)
    if not isinstance(result, _JSONABLE) or (
        isinstance(result, (list, tuple)) and not all(isinstance(x, _JSONABLE) for x in result)
    ):
        raise _NotData(type(result).__name__)
    return list(result) if isinstance(result, tuple) else result


class _NotData(TypeError):
    pass


def _result(node: ir.Expr, outcome: Isolated, diagnostics: list[Diagnostic], what: str) -> Any:
    if outcome.outcome == "ok":
        return outcome.value
    if outcome.outcome == "timeout":
        diagnostics.append(
            error(
                "E0506",
                f"{what} takes more than {STATIC_SECONDS:g} s to compute",
                node.span,
                label="stopped here",
                help="values known before the run must be cheap to compute; compute big ones in a step",
            )
        )
    elif outcome.outcome in ("memory", "too_large"):
        diagnostics.append(
            error(
                "E0507",
                f"{what} needs more than {STATIC_MEMORY_BYTES // 2**20} MB to compute"
                if outcome.outcome == "memory"
                else f"{what} is too large a value (more than 16 MB)",
                node.span,
                label="stopped here",
                help="values known before the run must be small; compute big ones in a step",
            )
        )
    elif outcome.error_type == "NameError":
        text = outcome.error_text
        name = text.split("'")[1] if "'" in text else text
        diagnostics.append(
            error(
                "E0503",
                f"{what} can only use consts and literals, not `{name}`",
                node.span,
                help="declare it first with `const`",
            )
        )
    elif outcome.error_type == "_NotData":
        diagnostics.append(
            error(
                "E0503",
                f"{what} must be a string, number, boolean or list, not {outcome.error_text}",
                node.span,
            )
        )
    else:
        diagnostics.append(
            error("E0503", f"{what} cannot be computed: {outcome.error_type}: {outcome.error_text}", node.span)
        )
    return None


def _cheap(node: ir.Expr, values: StaticValues) -> bool:
    """Plainly cheap to evaluate here: small literals and consts, no comprehension, no
    attribute, `*` only between numbers, a few calls on small arguments, small ranges."""
    for sub in walk(node):
        if isinstance(sub, ir.Constant):
            if not _small(sub.value):
                return False
        elif isinstance(sub, ir.Name):
            if sub.id in values and not _small(values[sub.id]):
                return False
        elif isinstance(sub, ir.Binary):
            if sub.op == "*":
                if not (_number(sub.left, values) and _number(sub.right, values)):
                    return False
            elif sub.op not in _CHEAP_BINARY:
                return False
        elif isinstance(sub, ir.Call):
            if not isinstance(sub.func, ir.Name) or sub.keywords:
                return False
            if sub.func.id == "range":
                if not _small_range(sub.args, values):
                    return False
            elif sub.func.id not in _CHEAP_CALLS:
                return False
        elif isinstance(sub, (ir.Attribute, ir.Comprehension)):
            return False
    return True


def _small(value: Any) -> bool:
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return True
    if isinstance(value, int):
        return value.bit_length() <= _SMALL_INT_BITS
    if isinstance(value, (str, list, tuple)):
        return len(value) <= _SMALL_LENGTH and (isinstance(value, str) or all(_small(v) for v in value))
    return False


def _number(node: ir.Expr, values: StaticValues) -> bool:
    while isinstance(node, ir.Unary):
        node = node.operand
    value = node.value if isinstance(node, ir.Constant) else values.get(node.id) if isinstance(node, ir.Name) else None
    return isinstance(value, (int, float)) and _small(value)


def _small_range(args: list[ir.Expr], values: StaticValues) -> bool:
    numbers: list[int] = []
    for arg in args:
        signed = 1
        while isinstance(arg, ir.Unary) and arg.op in ("-", "+"):
            signed *= -1 if arg.op == "-" else 1
            arg = arg.operand
        value = arg.value if isinstance(arg, ir.Constant) else values.get(arg.id) if isinstance(arg, ir.Name) else None
        if not isinstance(value, int) or isinstance(value, bool) or not _small(value):
            return False
        numbers.append(signed * value)
    if not 1 <= len(numbers) <= 3 or (len(numbers) == 3 and numbers[2] == 0):
        return False
    if len(numbers) == 1:
        numbers = [0, numbers[0]]
    start, stop, step = numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else 1
    return len(range(start, stop, step)) <= _SMALL_RANGE


def check_consts(program: ir.Program) -> tuple[StaticValues, list[Diagnostic]]:
    values: StaticValues = {}
    diagnostics: list[Diagnostic] = []
    for const in program.consts:
        value = evaluate_static(const.value, values, diagnostics, what=f"const `{const.name}`")
        const.resolved = value
        values[const.name] = value
    return values, diagnostics
