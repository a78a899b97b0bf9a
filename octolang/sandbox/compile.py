"""Compiling a code block once per step into a plain Python function, and running it
with a time limit. Line numbers in errors are those of the `.octo` file."""

from __future__ import annotations

import ast
import difflib
import signal
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from types import FrameType
from typing import Any

from octolang.sandbox.policy import Violation, find_violations, safe_builtins


class SandboxViolation(Exception):
    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(v.message for v in violations))
        self.violations = violations


class SandboxSyntaxError(Exception):
    def __init__(self, message: str, lineno: int, col: int) -> None:
        super().__init__(f"line {lineno}: {message}")
        self.message = message
        self.lineno = lineno
        self.col = col


class SandboxTimeout(Exception):
    pass


class Record(Mapping[str, Any]):
    """A unit's fields or a step's output: read-only, by key or by attribute."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_data", {k: _wrap(v) for k, v in data.items()})

    def __getattr__(self, name: str) -> Any:
        data = object.__getattribute__(self, "_data")
        try:
            return data[name]
        except KeyError:
            close = difflib.get_close_matches(name, list(data), n=1)
            hint = f"; did you mean `{close[0]}`?" if close else ""
            raise AttributeError(f"no field `{name}` (fields: {', '.join(data) or 'none'}){hint}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("fields are read-only")

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(self._data)

    def __str__(self) -> str:
        return str(self._data)

    def __eq__(self, other: object) -> bool:
        return bool(self._data == (other._data if isinstance(other, Record) else other))

    __hash__ = None  # type: ignore[assignment]


def record_from_json(data: dict[str, Any]) -> Record:
    """`Record(data)` for a dict fresh from `json.loads`, as its `object_hook`: the objects
    inside it are records already (the hook runs innermost first) and its lists are its own,
    so nothing is copied or wrapped again."""
    record = Record.__new__(Record)
    object.__setattr__(record, "_data", data)
    return record


def as_record(data: dict[str, Any]) -> Record:
    """What `json.loads(text, object_hook=record_from_json)` gives, from `json.loads(text)`
    (`data`, which is left as it is): the dicts inside it records, flat ones not copied."""
    for value in data.values():
        if isinstance(value, (dict, list)):
            return record_from_json({key: _as_json_value(item) for key, item in data.items()})
    return record_from_json(data)


def _as_json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return as_record(value)
    if isinstance(value, list):
        return [_as_json_value(item) for item in value]
    return value


def _wrap(value: Any) -> Any:
    """Nested records get attribute access; lists are copied, so code cannot change the caller's."""
    if isinstance(value, dict):
        return Record(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class FrozenList(tuple[Any, ...]):
    """A const's list as code and expressions get it: read-only, so no unit sees what
    another appended. `+` with a list gives a new list (`xs = C + [1]`, `C += [1]` rebind
    a local name and change nothing shared); it compares equal to the list it was."""

    __slots__ = ()

    def __add__(self, other: Any) -> Any:
        if isinstance(other, list):
            return [*self, *other]
        return tuple(self) + other

    def __radd__(self, other: Any) -> Any:
        if isinstance(other, list):
            return [*other, *self]
        return other + tuple(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, list):
            return list(self) == other
        return tuple.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = tuple.__hash__

    def __repr__(self) -> str:
        return repr(list(self))


def freeze(value: Any) -> Any:
    """`value` with every list a `FrozenList` and every dict a `Record`, at any depth."""
    if isinstance(value, (list, tuple)) and not isinstance(value, FrozenList):
        return FrozenList(freeze(v) for v in value)
    if isinstance(value, dict):
        return Record({k: freeze(v) for k, v in value.items()})
    return value


class CompiledCode:
    def __init__(self, function: Callable[..., Any], params: Sequence[str]) -> None:
        self.function = function
        self.params = tuple(params)

    def __call__(self, **kwargs: Any) -> Any:
        return self.function(**kwargs)


def compile_code(
    source: str,
    *,
    filename: str,
    first_line: int,
    params: Sequence[str],
    name: str,
    fields: Collection[str] | None = None,
) -> CompiledCode:
    """`fields`: the field names the program declares, for the attribute allow-list (None:
    only the attributes never allowed are refused; the checker has applied the whole list)."""
    try:
        body = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise SandboxSyntaxError(exc.msg, (exc.lineno or 1) + first_line - 1, exc.offset or 0) from None
    violations = find_violations(body, fields=fields)
    if violations:
        raise SandboxViolation(violations)
    arguments = ast.arguments(
        posonlyargs=[],
        args=[ast.arg(arg=p) for p in params],
        vararg=None,
        kwonlyargs=[],
        kw_defaults=[],
        kwarg=None,
        defaults=[],
    )
    function = ast.FunctionDef(
        name=f"step_{name}",
        args=arguments,
        body=body.body or [ast.Pass()],
        decorator_list=[],
        returns=None,
    )
    module = ast.Module(body=[function], type_ignores=[])
    ast.fix_missing_locations(module)
    ast.increment_lineno(module, first_line - 1)
    code = compile(module, filename, "exec")
    namespace: dict[str, Any] = {"__builtins__": safe_builtins()}
    exec(code, namespace)
    return CompiledCode(namespace[f"step_{name}"], params)


def run_with_timeout(function: Callable[..., Any], kwargs: Mapping[str, Any], seconds: float) -> Any:
    """Call with a wall-clock limit (SIGALRM: main thread of the process only; elsewhere
    the call runs unbounded)."""
    with TimeLimit(seconds) as limit:
        return limit.call(function, kwargs)


class TimeLimit:
    """A wall-clock limit for many calls in a row: the SIGALRM handler is installed once,
    each call only arms and disarms the timer. Outside the main thread, calls are unbounded."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.active = seconds > 0 and threading.current_thread() is threading.main_thread()
        self._previous: Any = None

    def __enter__(self) -> TimeLimit:
        if self.active:
            self._previous = signal.signal(signal.SIGALRM, self._expire)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous)

    def _expire(self, signum: int, frame: FrameType | None) -> None:
        raise SandboxTimeout(f"ran longer than {self.seconds:g} s")

    def arm(self) -> None:
        """Start the clock for what follows, until `disarm` (many cheap calls under one limit)."""
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def disarm(self) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def call(self, function: Callable[..., Any], kwargs: Mapping[str, Any]) -> Any:
        if not self.active:
            return function(**kwargs)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)
        try:
            return function(**kwargs)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
