"""A model's answer: JSON found in prose or fences, checked against the type and rules;
and the mock model's answers, valid (or invalid on purpose) and deterministic."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from octolang.compiler import compile_source, read_source
from octolang.providers.mock_answers import mock_answer
from octolang.runtime.llm_output import (
    OutputError,
    check_answer,
    compile_rules,
    conformance,
    conforms,
    extract_json,
    validate_schema,
)

ROOT = Path(__file__).resolve().parents[1]
NPC = compile_source(read_source(str(ROOT / "examples" / "npc_dialogue.octo"))).program
assert NPC is not None
LINE = NPC.step("line")
REVIEW = NPC.step("review")
assert LINE is not None and REVIEW is not None


@pytest.mark.parametrize(
    "text",
    [
        '{"a": 1}',
        '\ufeff {"a": 1} ',
        'Sure! Here it is:\n```json\n{"a": 1}\n```\nAnything else?',
        'The answer is {"a": 1} as requested.',
        '```\n{"a": 1}\n```',
    ],
)
def test_json_is_found_in_prose_and_fences(text: str) -> None:
    assert extract_json(text) == {"a": 1}


def test_braces_inside_strings_do_not_confuse_the_search() -> None:
    assert extract_json('Result: {"s": "a } b {", "n": 2} done') == {"s": "a } b {", "n": 2}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no json here", "no JSON object"),
        ('{"a": 1,}', "invalid JSON at line 1"),
        ("{'a': 1}", "invalid JSON"),
        ('{"a": NaN}', "not valid JSON"),
        ("", "empty"),
    ],
)
def test_bad_json_is_rejected_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(OutputError) as raised:
        extract_json(text)
    assert message in raised.value.message


def test_schema_problems_read_well() -> None:
    schema = REVIEW.output_schema or {}
    assert validate_schema({"score": 11, "reason": "x"}, schema) == ["`score`: 11 is greater than the maximum of 10"]
    assert validate_schema({"score": 5}, schema) == ["missing field `reason`"]
    assert validate_schema({"score": 5, "reason": "x", "mood": 1}, schema) == ["unexpected field `mood`"]
    tone = validate_schema({"text": "hi", "tone": "angry"}, LINE.output_schema or {})
    assert tone == ["`tone`: 'angry' is not one of ['warm', 'curt', 'menacing']"]


def test_rules_see_the_output_and_the_unit() -> None:
    rules = compile_rules(LINE, "npc.octo")
    context = {"unit": {"name": "Tam", "role": "innkeeper", "town": "Emberfall"}}
    ok = check_answer('{"text": "Welcome, traveller.", "tone": "warm"}', LINE.output_schema or {}, rules, context)
    assert ok.kind == "ok" and ok.output == {"text": "Welcome, traveller.", "tone": "warm"}
    bad = check_answer('{"text": "I am Tam.", "tone": "warm"}', LINE.output_schema or {}, rules, context)
    assert bad.kind == "rule" and bad.problems == ["an NPC does not say its own name"]
    assert "an NPC does not say its own name" in bad.feedback()


def test_a_rule_that_raises_fails_with_the_reason() -> None:
    text = (
        'pipeline p\nmodel m = mock "m"\nunits u { trials 1 }\n'
        'step s = llm m {\n  prompt "x"\n  output { n: int }\n  validate { 10 / n > 1 : "small" }\n}\n'
        "report r { k = mean(s.n) }\n"
    )
    from octolang.source import SourceFile

    program = compile_source(SourceFile("p.octo", text)).program
    assert program is not None
    step = program.step("s")
    assert step is not None
    check = check_answer('{"n": 0}', step.output_schema or {}, compile_rules(step, "p.octo"), {"unit": {}})
    assert check.kind == "rule"
    assert check.problems == ["rule `10 / n > 1` could not be evaluated: ZeroDivisionError: division by zero"]


def test_the_quick_check_agrees_with_jsonschema_on_valid_and_invalid_values() -> None:
    schema = LINE.output_schema or {}
    for value in (
        {"text": "hi", "tone": "warm"},
        {"text": "", "tone": "warm"},
        {"text": "hi"},
        {"text": "hi", "tone": "warm", "x": 1},
        {"text": 3, "tone": "curt"},
    ):
        assert conforms(value, schema) == (validate_schema(value, schema) == [])


@pytest.mark.parametrize("step", [LINE, REVIEW], ids=["line", "review"])
def test_mock_answers_are_valid_and_deterministic(step) -> None:  # type: ignore[no-untyped-def]
    schema = step.output_schema or {}
    answers = [mock_answer(schema, key=f"u{i}-s0-a1", seed=3) for i in range(300)]
    for text in answers:
        assert validate_schema(extract_json(text), schema) == []
    assert answers == [mock_answer(schema, key=f"u{i}-s0-a1", seed=3) for i in range(300)]
    assert len(set(answers)) > 100


def test_the_invalid_share_is_what_was_asked() -> None:
    schema = REVIEW.output_schema or {}
    n, rate = 2000, 0.3
    invalid = 0
    for i in range(n):
        text = mock_answer(schema, key=f"k{i}", seed=1, invalid_rate=rate)
        try:
            value = extract_json(text)
        except OutputError:
            invalid += 1
            continue
        invalid += bool(validate_schema(value, schema))
    sigma = math.sqrt(n * rate * (1 - rate))
    assert abs(invalid - n * rate) < 4 * sigma


def _values(rng: random.Random, depth: int = 0) -> object:
    """Any JSON-ish value, with the edges the checks care about (bools as ints, NaN, bounds)."""
    kind = rng.randrange(9 if depth < 2 else 7)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([-1, 0, 1, 2, 7, 10, 11, 100, 10**20])
    if kind == 2:
        return rng.choice([0.0, 0.5, 1.0, 1.5, -0.5, float("nan"), float("inf")])
    if kind in (3, 4):
        return rng.choice(["", "a", "ship", "water", "warm", "curt", "x" * 300])
    if kind in (5, 6):
        return rng.choice(["outcome", "steps", "text", "tone", "score", "reason"])
    if kind == 7:
        return [_values(rng, depth + 1) for _ in range(rng.randrange(4))]
    names = ["outcome", "steps", "text", "tone", "score", "reason", "extra"]
    return {rng.choice(names): _values(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_the_prebuilt_check_answers_as_the_quick_check_does_for_every_example_schema() -> None:
    seed = 20261130
    print(f"seed {seed}")
    rng = random.Random(seed)
    schemas = []
    for path in sorted((ROOT / "examples").glob("*.octo")):
        program = compile_source(read_source(str(path))).program
        assert program is not None
        schemas += [s.output_schema for s in program.steps if s.output_schema]
    assert len(schemas) >= 6
    for schema in schemas:
        check = conformance(schema)
        properties = list(schema.get("properties", {}))
        answers = set()
        for i in range(2000):
            if i % 2:  # a valid answer (the mock model's), often with one field changed
                value = extract_json(mock_answer(schema, key=f"k{i}", seed=seed))
                if properties and i % 4 == 1:
                    value[rng.choice([*properties, "extra"])] = _values(rng, 1)
            else:
                value = _values(rng)
            answer = check(value)
            assert answer == conforms(value, schema), (schema, value)
            answers.add(answer)
        assert answers == {True, False}, schema  # both sides of every schema were tried
