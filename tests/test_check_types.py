"""Output types: shape checks, the JSON Schemas they compile to, OpenAI strict mode, validation."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from octolang.schema import SchemaCompiler, strict_variant
from octolang.source import SourceFile
from octolang.syntax import parse_program
from tests.conftest import EXAMPLE_FILES, assert_clean, codes, compile_at, expect

HEAD = 'pipeline p\nmodel m = mock "m"\nunits u { trials 2 }\n'  # lines 1-3
REPORT = "report r { n = count() }\n"


def with_output(output: str, extra: str = ""):
    """The step's `output` is on line 6."""
    return compile_at(HEAD + f'step a = llm m {{\n  prompt "hi"\n  output {output}\n}}\n' + extra + REPORT)


# ---------------------------------------------------------------- OpenAI strict mode

STRICT_KEYWORDS = {
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
    "$defs",
    "$ref",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
}


def assert_openai_strict(schema: dict[str, Any]) -> None:
    """What OpenAI's structured outputs accept with `strict: true`: the root is an object; every object
    lists all its properties as required and forbids others; only the supported keywords appear."""
    assert schema.get("type") == "object", "the root must be an object"
    assert "anyOf" not in schema, "the root cannot be anyOf"

    def walk(node: Any, where: str) -> None:
        assert isinstance(node, dict), f"{where}: a schema must be an object"
        unknown = set(node) - STRICT_KEYWORDS
        assert not unknown, f"{where}: keywords strict mode rejects: {sorted(unknown)}"
        kinds = node.get("type")
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if "object" in kinds or "properties" in node:
            properties = node.get("properties", {})
            assert node.get("additionalProperties") is False, f"{where}: additionalProperties must be false"
            assert sorted(node.get("required", [])) == sorted(properties), f"{where}: every property is required"
            for name, sub in properties.items():
                walk(sub, f"{where}.{name}")
        if "items" in node:
            walk(node["items"], f"{where}[]")
        for i, option in enumerate(node.get("anyOf", [])):
            walk(option, f"{where}|{i}")
        for name, sub in node.get("$defs", {}).items():
            walk(sub, f"{where}$defs.{name}")
        if "enum" in node:
            assert isinstance(node["enum"], list) and node["enum"], f"{where}: enum must be a non-empty list"

    walk(schema, "$")


def test_the_strict_checker_catches_what_openai_rejects() -> None:
    good = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False}
    assert_openai_strict(good)
    for bad in (
        {**good, "required": []},
        {**good, "additionalProperties": True},
        {**good, "properties": {"a": {"type": "string", "minLength": 1}}},
        {"type": "array", "items": good},
        {**good, "properties": {"a": {"type": "object", "properties": {}, "required": []}}},
    ):
        with pytest.raises(AssertionError):
            assert_openai_strict(bad)


def _example_llm_steps():
    for path in EXAMPLE_FILES:
        source = SourceFile(str(path), path.read_text(encoding="utf-8"))
        program, diagnostics = parse_program(source)
        assert program is not None and diagnostics == []
        for step in program.steps:
            if step.kind == "llm":
                yield pytest.param(program, step, id=f"{path.stem}.{step.name}")


@pytest.mark.parametrize(("program", "step"), list(_example_llm_steps()))
def test_every_example_llm_output_is_accepted_by_openai_strict_mode(program, step) -> None:
    compiler = SchemaCompiler(program.types)
    schema = compiler.compile(step.output)
    assert compiler.diagnostics == []
    assert_openai_strict(strict_variant(schema))
    json.dumps(schema)  # plain JSON


def test_examples_cover_several_llm_steps() -> None:
    assert len(list(_example_llm_steps())) >= 5


# ---------------------------------------------------------------- compiled schemas, validated

ALL_KINDS = (
    '{ x: int[1..10], s: string[1..5] "desc", l: list<float[0..1]>[1..3], o: ("a" | "b")?, '
    "u: int | string, n: int?, r: { q: bool }?, lit: 3, big: float[-2.5..] }"
)


def test_a_record_with_every_kind_of_type_compiles_to_this_schema() -> None:
    c = with_output(ALL_KINDS)
    assert_clean(c, allow=["W0101"])
    schema = c.program.step("a").output_schema
    assert schema == {
        "type": "object",
        "properties": {
            "x": {"type": "integer", "minimum": 1, "maximum": 10},
            "s": {"type": "string", "minLength": 1, "maxLength": 5, "description": "desc"},
            "l": {
                "type": "array",
                "items": {"type": "number", "minimum": 0, "maximum": 1},
                "minItems": 1,
                "maxItems": 3,
            },
            "o": {"type": ["string", "null"], "enum": ["a", "b", None]},
            "u": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "n": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "r": {
                "anyOf": [
                    {
                        "type": "object",
                        "properties": {"q": {"type": "boolean"}},
                        "required": ["q"],
                        "additionalProperties": False,
                    },
                    {"type": "null"},
                ]
            },
            "lit": {"type": "integer", "enum": [3]},
            "big": {"type": "number", "minimum": -2.5},
        },
        "required": ["x", "s", "l", "o", "u", "n", "r", "lit", "big"],
        "additionalProperties": False,
    }
    assert_openai_strict(strict_variant(schema))
    assert "minLength" not in strict_variant(schema)["properties"]["s"]


VALID = {"x": 1, "s": "abcde", "l": [0, 0.5], "o": None, "u": "w", "n": 3, "r": {"q": True}, "lit": 3, "big": -2.5}


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({}, True),
        ({"x": 10, "o": "b", "u": 4, "n": None, "r": None, "big": 1e9}, True),
        ({"x": 0}, False),
        ({"x": 11}, False),
        ({"x": 1.5}, False),
        ({"s": ""}, False),
        ({"s": "abcdef"}, False),
        ({"l": []}, False),
        ({"l": [0, 0, 0, 0]}, False),
        ({"l": [1.01]}, False),
        ({"o": "c"}, False),
        ({"u": True}, False),
        ({"r": {}}, False),
        ({"r": {"q": True, "extra": 1}}, False),
        ({"lit": 4}, False),
        ({"big": -3}, False),
        ({"extra": 1}, False),
    ],
)
def test_values_are_validated_against_the_full_schema(change: dict[str, Any], valid: bool) -> None:
    schema = with_output(ALL_KINDS).program.step("a").output_schema
    value = {**VALID, **change}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(value))
    assert (not errors) == valid, errors


def test_a_missing_field_is_invalid() -> None:
    schema = with_output(ALL_KINDS).program.step("a").output_schema
    value = dict(VALID)
    del value["n"]
    assert not jsonschema.Draft202012Validator(schema).is_valid(value)


def test_named_types_are_expanded() -> None:
    c = with_output(
        "{ line: Line, lines: list<Line>[..2] }", extra='type Line { text: string, tone: "warm" | "curt" }\n'
    )
    schema = c.program.step("a").output_schema
    line = {
        "type": "object",
        "properties": {"text": {"type": "string"}, "tone": {"type": "string", "enum": ["warm", "curt"]}},
        "required": ["text", "tone"],
        "additionalProperties": False,
    }
    assert schema["properties"]["line"] == line
    assert schema["properties"]["lines"] == {"type": "array", "items": line, "maxItems": 2}
    assert_openai_strict(strict_variant(schema))


# ---------------------------------------------------------------- ill-formed types


@pytest.mark.parametrize(
    ("output", "code", "message", "where"),
    [
        ("{ x: int[1.5..3] }", "E0301", "the bounds of an `int` must be whole numbers", (6, 15, 6, 26)),
        ("{ x: string[-1..3] }", "E0301", "the bounds of a string's length cannot be negative", (6, 15, 6, 28)),
        ("{ x: list<int>[0.5..] }", "E0301", "the bounds of a list's length must be whole numbers", (6, 15, 6, 31)),
        ("{ x: int[5..1] }", "E0301", "empty range: 5 is greater than 1", (6, 15, 6, 24)),
        ("{ x: int[..] }", "E0301", "a range needs at least one bound", (6, 15, 6, 22)),
        ("{ x: bool[1..2] }", "E0302", "`bool` cannot have a range", (6, 15, 6, 25)),
        ("{ x: int, x: string }", "E0304", "field `x` is declared twice", (6, 20, 6, 29)),
        ("int", "E0305", "the output of step `a` must be a record", (6, 10, 6, 13)),
        ("list<int>", "E0305", "the output of step `a` must be a record", (6, 10, 6, 19)),
        ('"a" | "b"', "E0305", "the output of step `a` must be a record", (6, 10, 6, 19)),
        ('{ x: "a" | "b" | "a" }', "E0306", '`"a"` appears twice in this union', (6, 15, 6, 30)),
        ("{ x: 1 | 2 | 2 }", "E0306", "`2` appears twice in this union", (6, 15, 6, 24)),
        ("{ x: Lst }", "E0104", "unknown type `Lst`", (6, 15, 6, 18)),
    ],
)
def test_ill_formed_output_types(output: str, code: str, message: str, where: tuple[int, ...]) -> None:
    c = with_output(output)
    expect(c, code, message, where)
    assert all(d.code in (code, "W0101") for d in c.diagnostics)


def test_ranges_on_named_types_and_recursive_types() -> None:
    c = with_output("{ x: T[1..2] }", extra="type T { a: int }\n")
    expect(c, "E0302", "type `T` cannot have a range", (6, 15, 6, 22))
    c = with_output("{ x: T }", extra="type T { a: int, t: T? }\n")
    expect(
        c,
        "E0303",
        "type `T` contains itself",
        (8, 21, 8, 22),
        help="output types must be finite; use a list or an optional field",
    )


@pytest.mark.parametrize(
    ("step", "code", "message", "where"),
    [
        ("step a = llm m { output { x: int } }", "E0308", "llm step `a` has no `prompt`", (4, 6, 4, 7)),
        ("step a = compute { output { x: int } }", "E0308", "compute step `a` has no `code`", (4, 6, 4, 7)),
        ('step a = llm m { prompt "x" }', "E0307", "step `a` declares no `output` type", (4, 6, 4, 7)),
        (
            'step a = llm m { prompt "p" code "return 1" output { x: int } }',
            "E0309",
            "`code` belongs to compute steps",
            (4, 34, 4, 44),
        ),
    ],
)
def test_step_shape(step: str, code: str, message: str, where: tuple[int, ...]) -> None:
    c = compile_at(HEAD + step + "\nreport r { n = mean(a.x) }\n")
    expect(c, code, message, where)


# ---------------------------------------------------------------- generated types

_NAMES = st.sampled_from(["a", "b", "c", "d", "e", "f"])


def _range(low: int | None, high: int | None) -> str:
    return f"[{'' if low is None else low}..{'' if high is None else high}]"


@st.composite
def int_type(draw: st.DrawFn) -> tuple[str, st.SearchStrategy[Any]]:
    low = draw(st.none() | st.integers(-50, 50))
    high = draw(st.none() | st.integers(low if low is not None else -50, 60))
    if low is None and high is None and draw(st.booleans()):
        return "int", st.integers(-1000, 1000)
    if low is None and high is None:
        low = 0
    return f"int{_range(low, high)}", st.integers(low if low is not None else -1000, high if high is not None else 1000)


@st.composite
def float_type(draw: st.DrawFn) -> tuple[str, st.SearchStrategy[Any]]:
    low = draw(st.none() | st.integers(-5, 5))
    high = draw(st.none() | st.integers(low if low is not None else -5, 9))
    if low is None and high is None:
        return "float", st.floats(-1e6, 1e6)
    return f"float{_range(low, high)}", st.floats(low if low is not None else -1e6, high if high is not None else 1e6)


@st.composite
def string_type(draw: st.DrawFn) -> tuple[str, st.SearchStrategy[Any]]:
    low = draw(st.none() | st.integers(0, 4))
    high = draw(st.none() | st.integers(low or 0, 8))
    if low is None and high is None:
        return "string", st.text(max_size=10)
    return f"string{_range(low, high)}", st.text(min_size=low or 0, max_size=high if high is not None else 10)


@st.composite
def literal_union(draw: st.DrawFn) -> tuple[str, st.SearchStrategy[Any]]:
    if draw(st.booleans()):
        words = draw(st.lists(st.sampled_from(["warm", "curt", "x y", "é", ""]), min_size=1, max_size=4, unique=True))
        return " | ".join(json.dumps(w) for w in words), st.sampled_from(words)
    numbers = draw(st.lists(st.integers(-3, 9), min_size=1, max_size=4, unique=True))
    return " | ".join(str(n) for n in numbers), st.sampled_from(numbers)


_LEAVES = st.one_of(int_type(), float_type(), string_type(), literal_union(), st.just(("bool", st.booleans())))


def _extend(children: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, Any]]:
    @st.composite
    def list_of(draw: st.DrawFn) -> tuple[str, Any]:
        text, values = draw(children)
        low = draw(st.none() | st.integers(0, 2))
        high = draw(st.none() | st.integers(max(low or 0, 1), 3))
        bounds = "" if low is None and high is None else _range(low, high)
        return f"list<{text}>{bounds}", st.lists(values, min_size=low or 0, max_size=high if high is not None else 3)

    @st.composite
    def optional(draw: st.DrawFn) -> tuple[str, Any]:
        text, values = draw(children)
        return f"({text})?", st.none() | values

    @st.composite
    def union(draw: st.DrawFn) -> tuple[str, Any]:
        options = draw(st.lists(children, min_size=2, max_size=3))
        text = " | ".join(f"({t})" for t, _ in options)
        if all(t.startswith('"') for t, _ in options) or all(t.lstrip("-")[:1].isdigit() for t, _ in options):
            text = options[0][0]  # repeated literals would be E0306; keep one
            return text, options[0][1]
        return text, st.one_of(*(v for _, v in options))

    return st.one_of(list_of(), optional(), union(), record(children))


def record(children: st.SearchStrategy[tuple[str, Any]]) -> st.SearchStrategy[tuple[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> tuple[str, Any]:
        names = draw(st.lists(_NAMES, min_size=1, max_size=4, unique=True))
        fields = [(n, draw(children)) for n in names]
        described = [
            f"{n}: {t}{' ' + json.dumps('about ' + n) if i % 2 else ''}" for i, (n, (t, _)) in enumerate(fields)
        ]
        return "{ " + ", ".join(described) + " }", st.fixed_dictionaries({n: v for n, (_, v) in fields})

    return build()


TYPES = st.recursive(_LEAVES, _extend, max_leaves=8)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), output=record(TYPES))
def test_generated_output_types_compile_to_strict_schemas_that_accept_their_values(data, output) -> None:
    text, values = output
    c = with_output(text)
    # literal options repeated across a union, e.g. `((0)?) | ((0)?)`, are rightly E0306
    assume("E0306" not in codes(c))
    assert_clean(c, allow=["W0101"])
    schema = c.program.step("a").output_schema
    assert_openai_strict(strict_variant(schema))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for _ in range(3):
        value = data.draw(values)
        assert validator.is_valid(value), (value, list(validator.iter_errors(value)))
    assert not validator.is_valid({**value, "zz_extra": 1})


@settings(max_examples=60, deadline=None)
@given(low=st.integers(-100, 100), width=st.integers(0, 50), outside=st.integers(1, 1000))
def test_int_ranges_are_enforced(low: int, width: int, outside: int) -> None:
    high = low + width
    schema = with_output(f"{{ v: int[{low}..{high}] }}").program.step("a").output_schema
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"v": low}) and validator.is_valid({"v": high})
    assert not validator.is_valid({"v": low - outside})
    assert not validator.is_valid({"v": high + outside})
    assert [x for x in codes(with_output(f"{{ v: int[{high + 1}..{low}] }}")) if x != "W0101"] == ["E0301"]
