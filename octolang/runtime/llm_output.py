"""What the runner does with a model's answer: find the JSON, check it against the
output type, then against the step's `validate` rules."""

from __future__ import annotations

import ast
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import CodeType
from typing import Any, Literal

from octolang import ir
from octolang.expressions import compile_expression, scope_with, to_python

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


class OutputError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def extract_json(text: str) -> Any:
    """The answer's JSON object: the whole text, a fenced block, or the first balanced
    `{...}` in prose. Lenient about where the JSON is, strict about the JSON itself."""
    stripped = text.strip().lstrip("\ufeff").strip()
    if not stripped:
        raise OutputError("parse", "the answer is empty")
    candidates = [stripped] + [m.group(1).strip() for m in _FENCE.finditer(stripped)]
    span = _first_object(stripped)
    if span is not None:
        candidates.append(span)
    first_error: json.JSONDecodeError | None = None
    for candidate in candidates:
        try:
            value = json.loads(candidate, parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            first_error = first_error or exc
            continue
        except ValueError as exc:
            raise OutputError("parse", str(exc)) from None
        if isinstance(value, dict):
            return value
    if "{" not in stripped:
        raise OutputError("parse", "the answer contains no JSON object")
    detail = (
        f"invalid JSON at line {first_error.lineno} column {first_error.colno}: {first_error.msg}"
        if first_error
        else "the JSON is not an object"
    )
    raise OutputError("parse", detail)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"`{name}` is not valid JSON")


def _first_object(text: str) -> str | None:
    """The first balanced `{...}` span (braces inside JSON strings ignored), if any."""
    start = text.find("{")
    while start != -1:
        depth = 0
        in_string = escaped = False
        for index in range(start, len(text)):
            char = text[index]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    return text[start : index + 1]
        start = text.find("{", start + 1)
    return None


def conforms(value: Any, schema: Mapping[str, Any]) -> bool:
    """A quick check for the schemas the type compiler makes: True only when `value`
    certainly validates. False means "ask jsonschema", which also explains why."""
    if not schema:
        return True
    if "anyOf" in schema:
        return any(conforms(value, option) for option in schema["anyOf"])
    kind = schema.get("type")
    if isinstance(kind, list):
        if value is None and "null" in kind:
            return "enum" not in schema or None in schema["enum"]
        kind = next((k for k in kind if k != "null"), None)
    if "enum" in schema and value not in schema["enum"]:
        return False
    if kind == "object":
        if not isinstance(value, dict):
            return False
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is False and not value.keys() <= properties.keys():
            return False
        if any(name not in value for name in schema.get("required", ())):
            return False
        return all(conforms(value[name], sub) for name, sub in properties.items() if name in value)
    if kind == "array":
        if (
            not isinstance(value, list)
            or len(value) < schema.get("minItems", 0)
            or len(value) > schema.get("maxItems", len(value))
        ):
            return False
        item = schema.get("items")
        return item is None or all(conforms(v, item) for v in value)
    if kind == "string":
        if not isinstance(value, str):
            return False
        return bool(schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)))
    if kind in ("integer", "number"):
        if isinstance(value, bool) or not isinstance(value, int if kind == "integer" else (int, float)):
            return False
        return bool(schema.get("minimum", value) <= value <= schema.get("maximum", value))
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    return False


def conformance(schema: Mapping[str, Any]) -> Callable[[Any], bool]:
    """`conforms` with the schema read once: a function of the value that gives the same
    answers (a compute step checks every unit's output with it)."""
    if not schema:
        return lambda value: True
    kind = schema.get("type")
    if "anyOf" in schema or isinstance(kind, list) or "enum" in schema:
        return lambda value: conforms(value, schema)
    if kind == "object":
        properties = [(name, conformance(sub)) for name, sub in schema.get("properties", {}).items()]
        names = {name for name, _ in properties}
        closed = schema.get("additionalProperties") is False
        required = tuple(schema.get("required", ()))

        def check_object(value: Any) -> bool:
            if not isinstance(value, dict) or (closed and not value.keys() <= names):
                return False
            for name in required:
                if name not in value:
                    return False
            for name, check in properties:
                if name in value and not check(value[name]):
                    return False
            return True

        return check_object
    if kind in ("integer", "number"):
        types: Any = int if kind == "integer" else (int, float)
        low, high = schema.get("minimum"), schema.get("maximum")

        def check_number(value: Any) -> bool:
            if isinstance(value, bool) or not isinstance(value, types):
                return False
            return bool((value if low is None else low) <= value <= (value if high is None else high))  # NaN: False

        return check_number
    if kind == "string" and "minLength" not in schema and "maxLength" not in schema:
        return lambda value: isinstance(value, str)
    return lambda value: conforms(value, schema)


@functools.lru_cache(maxsize=256)
def _validator(schema_json: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def validate_schema(value: Any, schema: Mapping[str, Any]) -> list[str]:
    """Readable schema violations, sorted: "`score`: 11 is greater than the maximum of 10"."""
    if not schema:
        return []
    validator = _validator(json.dumps(schema, sort_keys=True))
    problems = []
    for err in validator.iter_errors(value):
        path = ".".join(str(p) for p in err.absolute_path)
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else err.message
            problems.append(f"missing field `{(path + '.') if path else ''}{missing}`")
        elif err.validator == "additionalProperties":
            extra = re.findall(r"'([^']+)'", err.message)
            problems.append(f"unexpected field `{(path + '.') if path else ''}{', '.join(extra)}`")
        else:
            problems.append(f"`{path}`: {err.message}" if path else err.message)
    return sorted(set(problems))


@dataclass(frozen=True)
class CompiledRule:
    code: CodeType
    message: str
    source: str


@dataclass(frozen=True)
class CompiledRules:
    step: str
    rules: tuple[CompiledRule, ...]

    def failures(self, output: Mapping[str, Any], context: Mapping[str, Any]) -> list[str]:
        if not self.rules:
            return []
        from octolang.sandbox import Record

        names = scope_with(
            {k: Record(v) if isinstance(v, Mapping) and not isinstance(v, Record) else v for k, v in context.items()}
        )
        wrapped = Record(output)
        names.update({k: wrapped[k] for k in wrapped})
        names[self.step] = wrapped
        out = []
        for rule in self.rules:
            try:
                ok = eval(rule.code, names)
            except Exception as exc:
                out.append(f"rule `{rule.source}` could not be evaluated: {type(exc).__name__}: {exc}")
                continue
            if not ok:
                out.append(rule.message)
        return out


def compile_rules(step: ir.StepDecl, filename: str) -> CompiledRules:
    return CompiledRules(
        step.name,
        tuple(
            CompiledRule(compile_expression(r.condition, filename), r.message, ast.unparse(to_python(r.condition)))
            for r in step.validate_rules
        ),
    )


@dataclass(frozen=True)
class AnswerCheck:
    output: dict[str, Any] | None
    kind: Literal["ok", "parse", "schema", "rule"]
    problems: list[str] = field(default_factory=list)

    def feedback(self) -> str:
        """What a retry's prompt receives as `feedback`."""
        listed = "; ".join(self.problems)
        if self.kind == "parse":
            return f"Your answer was not valid JSON ({listed}). Answer with one JSON object only."
        if self.kind == "schema":
            return f"Your answer did not match the required format: {listed}."
        if self.kind == "rule":
            return f"Your answer broke these rules: {listed}."
        return ""


def check_answer(text: str, schema: Mapping[str, Any], rules: CompiledRules, context: Mapping[str, Any]) -> AnswerCheck:
    try:
        value = extract_json(text)
    except OutputError as exc:
        return AnswerCheck(None, "parse", [exc.message])
    problems = [] if conforms(value, schema) else validate_schema(value, schema)
    if problems:
        return AnswerCheck(None, "schema", problems)
    failures = rules.failures(value, context)
    if failures:
        return AnswerCheck(None, "rule", failures)
    return AnswerCheck(value, "ok")
