"""What a name means where: the scope of templates, code and expressions, and the one
routine that resolves `root.field.sub` chains against unit fields, step outputs and consts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from octolang import ir
from octolang.diagnostics import Diagnostic, did_you_mean, error
from octolang.schema import Schema, describe, fields_of, infer_schema, is_any, item_of, kind_of
from octolang.source import Span

# Methods a template or expression may call on values of these kinds.
_STRING_METHODS = {name for name in dir(str) if not name.startswith("_")} - {"format", "format_map"}
_LIST_METHODS = {"count", "index"}


@dataclass
class Scope:
    """The names visible in one template, code block or expression."""

    unit: Schema
    steps: dict[str, Schema]
    consts: dict[str, Schema]
    locals: dict[str, Schema] = field(default_factory=dict)
    functions: frozenset[str] = frozenset()
    current_step: str | None = None
    step_spans: dict[str, Span] = field(default_factory=dict)
    declared: frozenset[str] | None = None  # every field name of the program, once computed

    def names(self) -> list[str]:
        return ["unit", *self.steps, *self.consts, *self.locals, *self.functions]

    def with_locals(self, **extra: Schema) -> Scope:
        return Scope(
            self.unit,
            self.steps,
            self.consts,
            {**self.locals, **extra},
            self.functions,
            self.current_step,
            self.step_spans,
            self.declared,
        )

    def declared_fields(self) -> frozenset[str]:
        """Every field name the program declares, at any depth (unit fields, step outputs,
        records in consts): the names the sandbox's attribute allow-list adds."""
        if self.declared is None:
            if not self.unit or not all(self.steps.values()):
                self.declared = _UNKNOWN_FIELDS
            else:
                names: set[str] = set()
                for schema in (self.unit, *self.steps.values(), *self.consts.values()):
                    _collect_fields(schema, names)
                self.declared = frozenset(names)
        return self.declared

    def allowed_fields(self) -> frozenset[str] | None:
        """The field names for the sandbox's allow-list; None when an earlier error left the
        units' or a step's fields unknown (then only what is never allowed is refused, and
        that error is the one to fix)."""
        declared = self.declared_fields()
        return None if declared is _UNKNOWN_FIELDS else declared


# What `declared_fields` holds when a schema it needs is unknown (compared by identity).
_UNKNOWN_FIELDS: frozenset[str] = frozenset({"<unknown>"})


def program_fields(program: ir.Program) -> frozenset[str]:
    """`Scope.declared_fields` of a checked program, for the runner: the same names, from
    the resolved unit fields, step outputs and const values."""
    names = {f.name for f in program.unit_fields}
    for schema in (
        *(f.type for f in program.unit_fields),
        *(s.output_schema for s in program.steps if s.output_schema),
        *(infer_schema([c.resolved]) for c in program.consts if c.resolved is not None),
    ):
        _collect_fields(schema, names)
    return frozenset(names)


def _collect_fields(schema: object, names: set[str]) -> None:
    stack = [schema]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            properties = current.get("properties")
            if isinstance(properties, dict):
                names.update(k for k in properties if isinstance(k, str))
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)


@dataclass
class Resolution:
    schema: Schema | None
    step: str | None = None  # the step this chain reads, if any (a dependency)
    diagnostics: list[Diagnostic] = field(default_factory=list)


SpanOrLater = Span | Callable[[], Span]  # a span, or how to find it: only errors need one


def _at(span: SpanOrLater) -> Span:
    return span() if callable(span) else span


def resolve_root(scope: Scope, name: str, span: SpanOrLater, *, where: str) -> Resolution:
    if name in scope.locals:
        return Resolution(scope.locals[name])
    if name == "unit":
        return Resolution(scope.unit)
    if name in scope.steps:
        if name == scope.current_step:
            return Resolution(
                None,
                diagnostics=[
                    error(
                        "E0704",
                        f"step `{name}` reads its own output",
                        _at(span),
                        label="this is the step being defined",
                        help="a step sees its previous answer only through `feedback` on a retry",
                    )
                ],
            )
        return Resolution(scope.steps[name], step=name)
    if name in scope.consts:
        return Resolution(scope.consts[name])
    if name in scope.functions:
        return Resolution({})
    hint = did_you_mean(name, scope.names())
    return Resolution(
        None,
        diagnostics=[
            error(
                "E0106",
                f"unknown name `{name}` in {where}",
                _at(span),
                label="not defined here",
                help=hint or f"{where} can use `unit`, the steps ({_steps_listing(scope)}), consts and {_extra(scope)}",
            )
        ],
    )


def _steps_listing(scope: Scope) -> str:
    usable = sorted(s for s in scope.steps if s != scope.current_step)
    return ", ".join(usable) or "none"


def _extra(scope: Scope) -> str:
    extra = sorted(n for n in scope.locals if not n.startswith("_"))
    return ", ".join(f"`{n}`" for n in extra) if extra else "built-in functions"


def resolve_attribute(
    schema: Schema | None, owner: str, attr: str, span: SpanOrLater
) -> tuple[Schema | None, list[Diagnostic]]:
    """The schema of `owner.attr` given owner's schema; None (with a diagnostic) when unknown."""
    if schema is None or is_any(schema):
        return ({} if schema is not None else None), []
    fields = fields_of(schema)
    if fields is not None:
        if not fields and not schema.get("properties"):
            return {}, []  # a record of unknown shape (e.g. a JSONL object column)
        if attr in fields:
            return fields[attr], []
        listing = ", ".join(f"`{f}`" for f in fields)
        is_unit = owner == "unit"
        return None, [
            error(
                "E0103",
                f"unknown field `{attr}` on {'the units' if is_unit else f'`{owner}`'}",
                _at(span),
                label=f"`{owner}` has {listing}" if is_unit else f"`{owner}` outputs {listing}",
                help=did_you_mean(attr, fields),
            )
        ]
    kind = kind_of(schema)
    if kind == "string" and attr in _STRING_METHODS:
        return {}, []
    if kind == "array" and attr in _LIST_METHODS:
        return {}, []
    described = describe(schema)
    article = "an" if described[:1] in ("a", "e", "i", "o", "u") else "a"
    return None, [
        error(
            "E0404",
            f"`{owner}` is {article} {described} and has no field `{attr}`",
            _at(span),
            label=f"`{owner}` is `{describe(schema)}`",
            help="only records (output types and units) have fields",
        )
    ]


def element_schema(schema: Schema | None) -> Schema:
    """What iterating over a value yields, for loop variables."""
    if schema is None:
        return {}
    item = item_of(schema)
    if item is not None:
        return item
    if kind_of(schema) == "string":
        return {"type": "string"}
    return {}
