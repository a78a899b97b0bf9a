"""Step fingerprints: a digest of everything that decides a step's result.

A pure function of the checked IR. A step's fingerprint covers its declaration (prompt,
system, code, output type, validators, retries, timeout), its model as the run calls it
(provider, model id, settings; not its price), the values of the consts it reads, the unit
fields it reads (their names and types: their values are compared unit by unit when a run
takes over another's results), the seed when its code draws from `rng`, and its upstream
steps' fingerprints. Nothing else: source positions, comments, the pipeline's title, a
report, an unused const or model change no fingerprint.

Each fingerprint has two parts, so that a change of validators alone can be told apart:
`request` (what decides the answer: everything above but the validators) and `checks` (the
validation rules, `retries`, and the output type with its bounds). Gates have fingerprints
too (their declaration and the fingerprints of the steps they read): a unit whose gate sent
a step back carries the gate's feedback in that step's later answers.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from octolang import ir
from octolang.expressions import walk
from octolang.sandbox.policy import code_free_names

_POSITIONS = ir.POSITION_FIELDS
_BOUNDS = frozenset({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength"})
_BOUNDS_LISTS = frozenset({"minItems", "maxItems"})
# How a model is called (batch or realtime, how many at once): its answers are the same.
_HOW_CALLED = frozenset({"mode", "auto_threshold", "concurrency"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TEMPLATE_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.S)
_UNIT_FIELD = re.compile(r"\bunit\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)")
_UNIT_ANY = re.compile(r"\bunit\b(?!\s*\.\s*[A-Za-z_])")


@dataclass(frozen=True)
class StepFingerprint:
    """`full` is the step's fingerprint; `request` and `checks` are its own two parts
    (without the upstream steps), `unit_fields` the unit fields it reads."""

    full: str
    request: str
    checks: str
    unit_fields: tuple[str, ...]
    uses_rng: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "full": self.full,
            "request": self.request,
            "checks": self.checks,
            "unit_fields": list(self.unit_fields),
            "uses_rng": self.uses_rng,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StepFingerprint:
        return cls(
            str(data["full"]),
            str(data["request"]),
            str(data["checks"]),
            tuple(data.get("unit_fields", [])),
            bool(data.get("uses_rng", False)),
        )


@dataclass
class Fingerprints:
    steps: dict[str, StepFingerprint] = field(default_factory=dict)
    gates: list[str] = field(default_factory=list)  # one per gate, in declaration order

    def to_json(self) -> dict[str, Any]:
        return {"steps": {k: v.to_json() for k, v in self.steps.items()}, "gates": list(self.gates)}

    @classmethod
    def from_json(cls, data: Any) -> Fingerprints | None:
        if not isinstance(data, dict) or "steps" not in data:
            return None
        return cls(
            {k: StepFingerprint.from_json(v) for k, v in data["steps"].items()}, [str(g) for g in data.get("gates", [])]
        )


def step_fingerprints(program: ir.Program, *, provider: str | None = None) -> Fingerprints:
    """Every step's fingerprint (in the program's order) and every gate's. `provider`: the
    run's `--provider mock`, which replaces every model's provider (it decides the answers)."""
    consts = {c.name: c.resolved for c in program.consts}
    field_types = {f.name: f.type for f in program.unit_fields}
    out = Fingerprints()
    for name in program.order or [s.name for s in program.steps]:
        step = program.step(name)
        if step is None:
            continue
        names, fields, uses_rng = _reads(step, field_types)
        model = program.model(step.model or "") if step.kind == "llm" else None
        model_data = _model_data(model, provider) if model is not None else None
        schema = step.output_schema or {}
        request = _digest(
            {
                "name": step.name,
                "kind": step.kind,
                "model": model_data,
                "system": step.system.value if step.system else None,
                "prompt": step.prompt.value if step.prompt else None,
                "code": step.code.value if step.code else None,
                "timeout": step.timeout_seconds,
                "shape": _without_bounds(schema),
                "consts": {n: consts[n] for n in sorted(names & consts.keys())},
                "unit_fields": {n: field_types.get(n) for n in fields},
                "seed": program.seed if uses_rng else None,
            }
        )
        checks = _digest(
            {
                "schema": schema,
                "output": _plain(step.output.model_dump(mode="json")) if step.output else None,
                "rules": [_plain(r.model_dump(mode="json")) for r in step.validate_rules],
                "retries": step.retry_limit,
            }
        )
        upstream = [out.steps[d].full for d in step.depends_on if d in out.steps]
        full = _digest([request, checks, upstream])
        out.steps[step.name] = StepFingerprint(full, request, checks, fields, uses_rng)
    for gate in program.gates:
        read = {n.id for n in _expr_names(gate.condition)} | (
            {n.id for n in _expr_names(gate.feedback)} if gate.feedback is not None else set()
        )
        out.gates.append(
            _digest(
                {
                    "gate": _plain(gate.model_dump(mode="json", exclude={"judges"})),
                    "steps": {n: out.steps[n].full for n in sorted(read & out.steps.keys())},
                    "consts": {n: consts[n] for n in sorted(read & consts.keys())},
                }
            )
        )
    return out


def _reads(step: ir.StepDecl, field_types: dict[str, Any]) -> tuple[set[str], tuple[str, ...], bool]:
    """The names a step's templates, code and rules read, the unit fields among them (all of
    them when `unit` is used other than as `unit.field`), and whether its code uses `rng`."""
    names: set[str] = set()
    fields: set[str] = set()
    whole_unit = False
    for text in (step.system, step.prompt):
        if text is None:
            continue
        for block in _TEMPLATE_CODE.findall(text.value):
            names |= set(_IDENTIFIER.findall(block))
            fields |= set(_UNIT_FIELD.findall(block))
            whole_unit = whole_unit or bool(_UNIT_ANY.search(block))
    uses_rng = False
    if step.code is not None:
        code = step.code.value
        try:
            tree = ast.parse(code)
        except SyntaxError:
            free = set(_IDENTIFIER.findall(code))
            whole_unit = True
        else:
            free = code_free_names(tree)
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "unit":
                    fields.add(node.attr)
            units_as_attribute = sum(
                1
                for node in ast.walk(tree)
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "unit"
            )
            unit_loads = sum(1 for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "unit")
            whole_unit = whole_unit or unit_loads > units_as_attribute
        names |= free
        uses_rng = step.kind == "compute" and "rng" in free
    for rule in step.validate_rules:
        for expr in walk(rule.condition):
            if isinstance(expr, ir.Name):
                names.add(expr.id)
            elif isinstance(expr, ir.Attribute) and isinstance(expr.value, ir.Name) and expr.value.id == "unit":
                fields.add(expr.attr)
        unit_names = [n for n in walk(rule.condition) if isinstance(n, ir.Name) and n.id == "unit"]
        attributes = [
            n
            for n in walk(rule.condition)
            if isinstance(n, ir.Attribute) and isinstance(n.value, ir.Name) and n.value.id == "unit"
        ]
        whole_unit = whole_unit or len(unit_names) > len(attributes)
    if whole_unit:
        fields |= set(field_types)
    return names, tuple(sorted(fields)), uses_rng


def _expr_names(expr: ir.Expr) -> list[ir.Name]:
    return [n for n in walk(expr) if isinstance(n, ir.Name)]


def _model_data(model: ir.ModelDecl, provider: str | None) -> dict[str, Any]:
    data = _plain(model.model_dump(mode="json", exclude={"price", "name"}))
    data["settings"] = [s for s in data.get("settings", []) if s.get("name") not in _HOW_CALLED]
    if provider and model.provider != provider:
        data["provider"] = provider
    return dict(data)


def _without_bounds(schema: Any) -> Any:
    """The output's shape: the schema without the bounds a validator-only edit may change."""
    if isinstance(schema, dict):
        return {k: _without_bounds(v) for k, v in schema.items() if k not in _BOUNDS and k not in _BOUNDS_LISTS}
    if isinstance(schema, list):
        return [_without_bounds(v) for v in schema]
    return schema


def _plain(value: Any) -> Any:
    """A dumped IR node without its source positions."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in _POSITIONS}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
