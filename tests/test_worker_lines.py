"""What a compute worker sends back for a unit is one line of JSON, read strictly by the
runner: a line that is not exactly one JSON value, or holds NaN or Infinity (which
Python's reader takes by default), fails its unit instead of reaching the state, and so
does an output the step's type refuses (checked by the runner, not the worker); and
`as_record` gives what decoding with `record_from_json` gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from octolang.compiler import compile_source, read_source
from octolang.runtime.compute import CompiledStep, ComputeJob, ComputeOutcome
from octolang.sandbox import Record, as_record, record_from_json

ROOT = Path(__file__).resolve().parents[1]
SAILOR = compile_source(read_source(str(ROOT / "examples" / "drunken_sailor.octo"))).program
assert SAILOR is not None
STEP = CompiledStep(SAILOR.steps[0], SAILOR, "drunken_sailor.octo", seed=42)
JOB = ComputeJob("start=5/trial=1", {"unit": {"start": 5}}, None)
_outcome = STEP.outcome
UNREADABLE = "its worker sent a result the runner could not read"


def test_an_output_line_is_kept_as_the_text_the_state_stores() -> None:
    outcome = _outcome(JOB, b'{"outcome":"ship","steps":17}')
    assert outcome == ComputeOutcome(
        JOB.unit_id, {"outcome": "ship", "steps": 17}, None, None, '{"outcome":"ship","steps":17}'
    )


@pytest.mark.parametrize(
    "line",
    [
        b'{"x":NaN}',
        b'{"x":Infinity}',
        b'{"x":-Infinity}',
        b'{"x":1} {"y":2}',
        b'{"x":1}garbage',
        b' {"x":1}',
        b'{"x":',
        b"[1,2]",
        b'"text"',
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_a_line_that_is_not_one_strict_json_result_fails_its_unit(line: bytes) -> None:
    outcome = _outcome(JOB, line)
    assert outcome.output is None and outcome.text is None
    assert outcome.error == UNREADABLE


def test_an_output_the_steps_type_refuses_fails_its_unit() -> None:
    outcome = _outcome(JOB, b'{"outcome":"boat","steps":-1}')
    assert outcome.output is None and outcome.error is not None
    assert outcome.error.startswith("step `walk` returned an invalid output: ")
    assert "'boat' is not one of ['ship', 'water']" in outcome.error


def test_an_error_line_gives_the_error_and_a_lost_job_keeps_the_runners_own_outcome() -> None:
    outcome = _outcome(JOB, json.dumps([None, "p.octo:3: ZeroDivisionError: division by zero", None]).encode())
    assert outcome.output is None and outcome.error == "p.octo:3: ZeroDivisionError: division by zero"
    lost = ComputeOutcome(JOB.unit_id, None, "step `walk` did not finish: killed", None)
    assert _outcome(JOB, lost) is lost


@pytest.mark.parametrize(
    "text",
    ['{"a":1,"b":"x"}', '{"a":{"b":[1,{"c":2}]},"d":[[{"e":null}]]}', "{}", '{"a":[]}'],
)
def test_as_record_gives_what_decoding_into_records_gives(text: str) -> None:
    plain = json.loads(text)
    made, decoded = as_record(plain), json.loads(text, object_hook=record_from_json)
    assert made == decoded and json.dumps(made, default=dict) == json.dumps(decoded, default=dict)

    def shape(value: object) -> object:
        if isinstance(value, Record):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, dict):
            return "a dict, not a record"
        if isinstance(value, list):
            return [shape(v) for v in value]
        return value

    assert shape(made) == shape(decoded)
    assert plain == json.loads(text)  # the decoded value it was made from is left as it was
