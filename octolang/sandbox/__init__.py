"""The sandbox for `compute` code: the AST policy, compilation, time limits, `rng`."""

from octolang.sandbox.compile import (
    CompiledCode,
    FrozenList,
    Record,
    SandboxSyntaxError,
    SandboxTimeout,
    SandboxViolation,
    TimeLimit,
    as_record,
    compile_code,
    freeze,
    record_from_json,
    run_with_timeout,
)
from octolang.sandbox.policy import ALLOWED_BUILTINS, SAFE_MODULES, Violation, code_free_names, find_violations
from octolang.sandbox.rng import UnitRandom

__all__ = [
    "ALLOWED_BUILTINS",
    "SAFE_MODULES",
    "CompiledCode",
    "FrozenList",
    "Record",
    "SandboxSyntaxError",
    "SandboxTimeout",
    "SandboxViolation",
    "TimeLimit",
    "UnitRandom",
    "Violation",
    "as_record",
    "code_free_names",
    "compile_code",
    "find_violations",
    "freeze",
    "record_from_json",
    "run_with_timeout",
]
