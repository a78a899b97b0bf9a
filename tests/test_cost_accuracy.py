"""The must-show of issue #5: for the NPC and blackjack examples, the estimate's input
tokens for OpenAI models are within 2% of what the OpenAI emulator bills for the same
requests. The requests are the runner's own (recorded by a mock run), turned into the
chat-completions bodies OpenAI would receive (octolang/providers/openai.py `chat_body`),
and billed by tests/emulators/tokens.py, which counts the wire body apart from the estimator."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from octolang.compiler import compile_source, read_source
from octolang.cost.estimate import estimate_cost
from octolang.providers.openai import chat_body
from tests.emulators.tokens import openai_prompt_tokens

ROOT = Path(__file__).resolve().parents[1]


def mock_run(tmp_path: Path, name: str, *data: str, max_units: int | None = None) -> sqlite3.Connection:
    for item in (name, *data):
        shutil.copy(ROOT / "examples" / item, tmp_path / item)
    args = [sys.executable, "-m", "octolang", "run", name, "--provider", "mock", "--mock-invalid-rate", "0"]
    if max_units is not None:
        args += ["--max-units", str(max_units)]
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    [run] = (tmp_path / ".octo" / "runs").iterdir()
    return sqlite3.connect(run / "state.sqlite")


def billed_first_calls(db: sqlite3.Connection, step: str) -> tuple[int, int]:
    """(requests, prompt tokens billed) of the step's first calls: attempt 1, no feedback,
    as the estimate's first calls are (retries and gates are estimated apart)."""
    total = count = 0
    for (request,) in db.execute(
        "SELECT request FROM attempts WHERE step = ? AND attempt = 1 AND generation = 0", (step,)
    ):
        body = json.loads(request)
        body["provider"] = "openai"  # as the file's model would send it (the run used the mock)
        total += openai_prompt_tokens(chat_body(body))
        count += 1
    return count, total


@pytest.mark.parametrize(
    ("example", "data", "step", "max_units"),
    [("npc_dialogue.octo", ("npcs.csv",), "line", None), ("blackjack.octo", (), "play", 150)],
)
def test_openai_input_estimate_within_two_percent_of_the_bill(
    tmp_path: Path, example: str, data: tuple[str, ...], step: str, max_units: int | None
) -> None:
    db = mock_run(tmp_path, example, *data, max_units=max_units)
    requests, billed = billed_first_calls(db, step)
    program = compile_source(read_source(str(tmp_path / example))).program
    assert program is not None
    estimate = estimate_cost(program, limit=max_units).step(step)
    assert estimate is not None and estimate.provider == "openai"
    assert requests == estimate.calls > 0
    assert abs(estimate.input_tokens - billed) <= 0.02 * billed, (estimate.input_tokens, billed)


def test_bill_counts_messages_priming_and_schema() -> None:
    """The emulator's rule on a hand-made body: framing, roles, priming and schema all count."""
    from tests.emulators.tokens import count_tokens

    schema = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
    plain = {"model": "m", "messages": [{"role": "user", "content": "hello world"}]}
    assert openai_prompt_tokens(plain) == 3 + count_tokens("user") + 2 + 3
    with_system = {**plain, "messages": [{"role": "system", "content": "be brief"}, *plain["messages"]]}
    assert openai_prompt_tokens(with_system) == openai_prompt_tokens(plain) + 3 + 1 + count_tokens("be brief")
    structured = {
        **plain,
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "strict": True, "schema": schema}},
    }
    schema_text = json.dumps({"name": "s", "strict": True, "schema": schema}, separators=(",", ":"))
    assert openai_prompt_tokens(structured) == openai_prompt_tokens(plain) + count_tokens(schema_text)
