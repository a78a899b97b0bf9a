"""Output types -> JSON Schema, and the schema questions the checks ask.

JSON Schema is the one representation of a value's type after lowering: step outputs,
unit fields and consts all get one, templates and expressions are checked against
it, `jsonschema` validates against it at run time, and providers receive
`strict_variant(schema)` (OpenAI's strict structured-output subset).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from octolang import ir
from octolang.diagnostics import Diagnostic, did_you_mean, error

Schema = dict[str, Any]
PRIMITIVES = {"string": "string", "int": "integer", "float": "number", "bool": "boolean"}
# Keywords OpenAI's strict mode accepts besides the structural ones; the rest
# (string lengths, for one) are enforced by our own validation only.
_STRICT_KEYWORDS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "anyOf",
    "description",
    "minimum",
    "maximum",
    "minItems",
    "maxItems",
    "const",
    "pattern",
    "format",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "$defs",
    "$ref",
}


class SchemaCompiler:
    """Compiles type expressions, expanding named types, reporting ill-formed ones."""

    def __init__(self, types: Iterable[ir.TypeDecl]) -> None:
        self.types = {t.name: t for t in types}
        self.diagnostics: list[Diagnostic] = []
        self._expanding: list[str] = []

    def compile(self, node: ir.TypeExpr) -> Schema:
        if isinstance(node, ir.NamedType):
            return self._named(node)
        if isinstance(node, ir.ListType):
            schema: Schema = {"type": "array", "items": self.compile(node.item)}
            if node.has_range:
                self._bounds(
                    node,
                    node.min_items,
                    node.max_items,
                    "minItems",
                    "maxItems",
                    schema,
                    what="a list's length",
                    integral=True,
                )
            return schema
        if isinstance(node, ir.LiteralType):
            return {"type": "string" if isinstance(node.value, str) else "integer", "enum": [node.value]}
        if isinstance(node, ir.UnionType):
            return self._union(node)
        if isinstance(node, ir.OptionalType):
            inner = self.compile(node.inner)
            if _is_nullable(inner):
                return inner
            if "enum" in inner and "type" in inner and isinstance(inner["type"], str):
                return {"type": [inner["type"], "null"], "enum": [*inner["enum"], None]}
            return {"anyOf": [inner, {"type": "null"}]}
        return self.record(node)

    def record(self, node: ir.RecordType) -> Schema:
        properties: dict[str, Schema] = {}
        for field in node.fields:
            if field.name in properties:
                self.diagnostics.append(
                    error(
                        "E0304",
                        f"field `{field.name}` is declared twice",
                        field.span,
                        help="rename or remove one of them",
                    )
                )
                continue
            schema = self.compile(field.type)
            if field.description:
                schema = {**schema, "description": field.description}
            properties[field.name] = schema
        return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}

    def _named(self, node: ir.NamedType) -> Schema:
        if node.name in PRIMITIVES:
            schema: Schema = {"type": PRIMITIVES[node.name]}
            if node.has_range:
                if node.name == "bool":
                    self.diagnostics.append(
                        error(
                            "E0302",
                            "`bool` cannot have a range",
                            node.span,
                            help="ranges apply to `int`, `float`, `string` (length) and `list`",
                        )
                    )
                elif node.name == "string":
                    self._bounds(
                        node,
                        node.low,
                        node.high,
                        "minLength",
                        "maxLength",
                        schema,
                        what="a string's length",
                        integral=True,
                    )
                else:
                    self._bounds(
                        node,
                        node.low,
                        node.high,
                        "minimum",
                        "maximum",
                        schema,
                        what="an `int`" if node.name == "int" else "a `float`",
                        integral=node.name == "int",
                    )
            return schema
        declared = self.types.get(node.name)
        if declared is None:
            self.diagnostics.append(
                error(
                    "E0104",
                    f"unknown type `{node.name}`",
                    node.span,
                    help=did_you_mean(node.name, [*PRIMITIVES, "list", *self.types])
                    or "declare it with `type Name { field: type }` or use string, int, float, bool",
                )
            )
            return {}
        if node.has_range:
            self.diagnostics.append(
                error(
                    "E0302",
                    f"type `{node.name}` cannot have a range",
                    node.span,
                    help="ranges apply to `int`, `float`, `string` and `list`",
                )
            )
        if node.name in self._expanding:
            self.diagnostics.append(
                error(
                    "E0303",
                    f"type `{node.name}` contains itself",
                    node.span,
                    help="output types must be finite; use a list or an optional field",
                )
            )
            return {}
        self._expanding.append(node.name)
        try:
            return self.record(declared.record)
        finally:
            self._expanding.pop()

    def _union(self, node: ir.UnionType) -> Schema:
        options = [self.compile(o) for o in node.options]
        if options and all("enum" in o and o.get("type") == options[0].get("type") for o in options):
            values: list[Any] = []
            for option in options:
                for value in option["enum"]:
                    if value is None and None in values:
                        continue  # `("a")? | ("b")?`: both options allow null, which is no repetition
                    if value in values:
                        self.diagnostics.append(
                            error(
                                "E0306",
                                f"`{json.dumps(value)}` appears twice in this union",
                                node.span,
                                help="remove the repeated option",
                            )
                        )
                    else:
                        values.append(value)
            return {"type": options[0]["type"], "enum": values}
        return {"anyOf": options}

    def _bounds(
        self,
        node: ir.Node,
        low: Any,
        high: Any,
        low_key: str,
        high_key: str,
        schema: Schema,
        *,
        what: str,
        integral: bool,
    ) -> None:
        for bound in (low, high):
            if bound is not None and integral and not isinstance(bound, int):
                self.diagnostics.append(
                    error(
                        "E0301",
                        f"the bounds of {what} must be whole numbers",
                        node.span,
                        help=f"write e.g. `[1..10]`, not `[{bound}..]`",
                    )
                )
                return
        if low_key in ("minLength", "minItems") and any(b is not None and b < 0 for b in (low, high)):
            self.diagnostics.append(error("E0301", f"the bounds of {what} cannot be negative", node.span))
            return
        if low is not None and high is not None and low > high:
            self.diagnostics.append(
                error("E0301", f"empty range: {low} is greater than {high}", node.span, help=f"write `[{high}..{low}]`")
            )
            return
        if low is None and high is None:
            self.diagnostics.append(
                error(
                    "E0301",
                    "a range needs at least one bound",
                    node.span,
                    help="write `[low..]`, `[..high]` or `[low..high]`",
                )
            )
            return
        if low is not None:
            schema[low_key] = low
        if high is not None:
            schema[high_key] = high


def _is_nullable(schema: Schema) -> bool:
    kind = schema.get("type")
    return (
        kind == "null"
        or (isinstance(kind, list) and "null" in kind)
        or any(_is_nullable(o) for o in schema.get("anyOf", []))
    )


def strict_variant(schema: Schema) -> Schema:
    """The schema as OpenAI's strict json_schema mode accepts it (unsupported keywords removed)."""
    out: Schema = {}
    for key, value in schema.items():
        if key not in _STRICT_KEYWORDS:
            continue
        if key == "properties":
            out[key] = {k: strict_variant(v) for k, v in value.items()}
        elif key in ("items",):
            out[key] = strict_variant(value)
        elif key == "anyOf":
            out[key] = [strict_variant(v) for v in value]
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------- questions the checks ask


def unwrap_optional(schema: Schema) -> Schema:
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        if len(options) == 1:
            return unwrap_optional(options[0])
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind and len(kind) == 2 and "enum" not in schema:
        return {**schema, "type": next(k for k in kind if k != "null")}
    return schema


def fields_of(schema: Schema) -> dict[str, Schema] | None:
    """The fields of a record schema, or None when the value is not a record."""
    schema = unwrap_optional(schema)
    if schema.get("type") == "object" or "properties" in schema:
        return dict(schema.get("properties", {}))
    return None


def item_of(schema: Schema) -> Schema | None:
    schema = unwrap_optional(schema)
    if schema.get("type") == "array":
        return dict(schema.get("items", {}))
    return None


def is_any(schema: Schema) -> bool:
    return not schema or (set(schema) <= {"description"})


def kind_of(schema: Schema) -> str:
    schema = unwrap_optional(schema)
    kind = schema.get("type")
    return kind if isinstance(kind, str) else ""


def describe(schema: Schema) -> str:
    """A short, user-facing rendering of a schema: `list<int>`, `"a" | "b"`, `{text, tone}`."""
    if is_any(schema):
        return "any"
    if "anyOf" in schema:
        parts = [describe(o) for o in schema["anyOf"] if o.get("type") != "null"]
        text = " | ".join(parts)
        return text + "?" if len(parts) < len(schema["anyOf"]) else text
    kind = schema.get("type")
    nullable = isinstance(kind, list) and "null" in kind
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if "enum" in schema:
        text = " | ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in schema["enum"] if v is not None)
    elif kind == "array":
        text = f"list<{describe(schema.get('items', {}))}>"
    elif kind == "object":
        text = "{" + ", ".join(schema.get("properties", {})) + "}"
    else:
        text = {"integer": "int", "number": "float", "boolean": "bool"}.get(str(kind), str(kind))
    return text + "?" if nullable else text


def infer_schema(values: Iterable[Any]) -> Schema:
    """The narrowest schema covering JSON-like values (for data files, vary lists, consts)."""
    kinds: set[str] = set()
    items: list[Any] = []
    records: list[dict[str, Any]] = []
    nullable = False
    for value in values:
        if value is None:
            nullable = True
        elif isinstance(value, bool):
            kinds.add("boolean")
        elif isinstance(value, int):
            kinds.add("integer")
        elif isinstance(value, float):
            kinds.add("number")
        elif isinstance(value, str):
            kinds.add("string")
        elif isinstance(value, (list, tuple)):
            kinds.add("array")
            items.extend(value)
        elif isinstance(value, dict):
            kinds.add("object")
            records.append(value)
        else:
            return {}
    if kinds == {"integer", "number"}:
        kinds = {"number"}
    if len(kinds) != 1:
        return {} if kinds else ({"type": "null"} if nullable else {})
    kind = kinds.pop()
    schema: Schema = {"type": kind}
    if kind == "array":
        schema["items"] = infer_schema(items)
    elif kind == "object":
        names: list[str] = []
        for record in records:
            names.extend(k for k in record if k not in names)
        schema["properties"] = {n: infer_schema(r[n] for r in records if n in r) for n in names}
    return {"anyOf": [schema, {"type": "null"}]} if nullable else schema
