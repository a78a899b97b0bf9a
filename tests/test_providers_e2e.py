"""The NPC example end to end against each provider's emulator, in batch and realtime
mode: validation failures and gate retries resolved, every unit terminal, every paid
request recorded once, and the files `--dry-run` writes shaped as the reference says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import octoc
from tests.emulators.base import API_KEY, Faults
from tests.providers_e2e import environment, npc_pipeline, paid_attempts, serving, state

PROVIDER_NAMES = ["openai", "anthropic", "gemini"]


@pytest.mark.parametrize("mode", ["batch", "realtime"])
@pytest.mark.parametrize("provider", PROVIDER_NAMES)
def test_npc_runs_end_to_end(tmp_path: Path, provider: str, mode: str) -> None:
    path = npc_pipeline(tmp_path, provider, mode=mode)
    with serving(provider, seed=5, faults=Faults(malformed_rate=0.25, polls_to_end=2)) as emulator:
        env = environment(provider, emulator)
        run = octoc("run", path.name, "--poll", "0.02", cwd=tmp_path, env=env)
        assert "report quality" in run.stdout
        shown = octoc("status", path.name, "--json", cwd=tmp_path, env=env).stdout
        status = json.loads(shown)
        report = octoc("report", path.name, cwd=tmp_path, env=env).stdout
        billed = list(emulator.billed)
        created = emulator.batches_created
    assert status["units"]["total"] == 6 and status["units"]["pending"] == 0
    # the key reached the provider and nowhere else: not the run state, ledgers, output or reports
    written = [f.read_bytes() for f in (tmp_path / ".octo").rglob("*") if f.is_file()]
    assert written and not any(API_KEY.encode() in data for data in written)
    assert API_KEY not in run.stdout + run.stderr + shown + report
    db = state(tmp_path)
    try:
        invalid = db.execute("SELECT COUNT(*) FROM attempts WHERE status = 'invalid'").fetchone()[0]
        sent_back = db.execute("SELECT COUNT(*) FROM generations WHERE step = 'line' AND generation > 0").fetchone()[0]
        costs = [row[0] for row in db.execute("SELECT cost FROM attempts WHERE status = 'done'")]
    finally:
        db.close()
    assert invalid > 0, "no malformed answer was exercised"
    assert sent_back > 0, "the gate never sent a unit back"
    assert costs and all(float(c) > 0 for c in costs), "answers were not priced"
    paid = paid_attempts(tmp_path)
    assert len(billed) == len(paid), "the emulator billed a request the run did not record, or the reverse"
    if mode == "batch":
        assert sorted(billed) == paid
        assert created >= 2  # line and review at least
    else:
        assert created == 0  # realtime: no batch was ever created


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
def test_dry_run_files_hold_the_documented_lines(tmp_path: Path, provider: str, snapshot: object) -> None:
    """Each line of a dry run's file, with its texts elided, as the provider receives it."""
    path = npc_pipeline(tmp_path, provider)
    with serving(provider) as emulator:
        env = environment(provider, emulator)
        octoc("run", path.name, "--dry-run", cwd=tmp_path, env=env)
        assert emulator.log == [], "a dry run called the provider"
    files = sorted((tmp_path / ".octo" / "dry-runs").rglob("requests/*.jsonl"))
    # every step's requests: `review`'s too, made of the mock's answers to `line`
    assert {f.name.split("-", 1)[0] for f in files} == {"line", "review"}
    [first] = [f for f in files if re.match(r"line-\d+-u0-s0-a1\.", f.name)]
    lines = [json.loads(line) for line in first.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 6
    if provider == "anthropic":  # as sent: each custom id carries the chunk's tag
        tagged = [line["custom_id"] for line in lines]
        assert all(re.fullmatch(r"u\d-s0-a1_[0-9a-f]{10}", cid) for cid in tagged), tagged
        lines[0]["custom_id"] = lines[0]["custom_id"].split("_")[0]
    assert _shape(lines[0]) == snapshot


def _shape(value: object) -> object:
    """The structure of a request line: keys and types kept, free text replaced by its type."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    if isinstance(value, str) and len(value) > 40:
        return "<text>"
    return value


def test_the_estimate_matches_what_openai_bills(tmp_path: Path) -> None:
    """The estimate's input tokens for the first call of each unit against the prompt tokens
    the emulator bills for them (counted from the wire request, as OpenAI counts)."""
    path = npc_pipeline(tmp_path, "openai")
    with serving("openai", seed=5, faults=Faults(polls_to_end=1)) as emulator:
        env = environment("openai", emulator)
        checked = json.loads(octoc("check", path.name, "--json", cwd=tmp_path, env=env).stdout)
        octoc("run", path.name, "--poll", "0.02", cwd=tmp_path, env=env)
    estimate = {s["step"]: s["input_tokens"] for s in checked["files"][0]["estimate"]["steps"]}
    db = state(tmp_path)
    try:
        rows = db.execute(
            "SELECT step, usage FROM attempts WHERE attempt = 1 AND generation = 0 AND usage IS NOT NULL"
        ).fetchall()
    finally:
        db.close()
    billed: dict[str, int] = {}
    for step, usage in rows:
        billed[step] = billed.get(step, 0) + json.loads(usage)["input_tokens"]
    assert billed["line"] > 0
    # `line` reads only the unit: exact to 2%; `review` reads `line`'s answer, estimated from its type
    assert abs(estimate["line"] - billed["line"]) <= 0.02 * billed["line"], (estimate, billed)
    assert abs(estimate["review"] - billed["review"]) <= 0.5 * billed["review"], (estimate, billed)


def test_an_openai_compatible_server_end_to_end(tmp_path: Path) -> None:
    """A local server (here the OpenAI emulator) named by `base_url`, its key by `api_key_env`
    (both allowed by the user's environment);
    called in realtime whatever the mode, and answers priced at nothing (no known price)."""
    path = npc_pipeline(tmp_path, "openai")
    with serving("openai", seed=5, faults=Faults(malformed_rate=0.25)) as emulator:
        text = path.read_text(encoding="utf-8").replace(
            'openai "gpt-4.1-mini" {',
            f'openai_compatible "llama-3.1-8b" {{ base_url = "{emulator.base_url}/v1", api_key_env = "LOCAL_KEY",',
        )
        path.write_text(text, encoding="utf-8")
        env = {
            k: v for k, v in environment("openai", emulator).items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")
        }
        env["LOCAL_KEY"] = API_KEY
        # a file's server gets a key only from a variable and a host the user allowed
        env.update(OCTO_ALLOW_KEY_ENV="LOCAL_KEY", OCTO_ALLOW_HOST=emulator.base_url)
        octoc("run", path.name, "--poll", "0.02", cwd=tmp_path, env=env)
        status = json.loads(octoc("status", path.name, "--json", cwd=tmp_path, env=env).stdout)
        created, billed = emulator.batches_created, len(emulator.billed)
    assert status["units"]["pending"] == 0 and status["units"]["done"] + status["units"]["failed"] == 6
    assert created == 0 and billed == len(paid_attempts(tmp_path)) > 6


@pytest.mark.parametrize("provider", ["anthropic", "gemini"])
def test_exact_counts_calibrate_claude_and_gemini(tmp_path: Path, provider: str) -> None:
    """`octoc check --exact` counts a sample of each step's requests at the provider and
    scales the estimate: then it matches what the provider bills for the first calls."""
    path = npc_pipeline(tmp_path, provider)
    with serving(provider, seed=5, faults=Faults(polls_to_end=1)) as emulator:
        env = environment(provider, emulator)
        banded = json.loads(octoc("check", path.name, "--json", cwd=tmp_path, env=env).stdout)
        exact = json.loads(octoc("check", path.name, "--json", "--exact", cwd=tmp_path, env=env).stdout)
        octoc("run", path.name, "--poll", "0.02", cwd=tmp_path, env=env)
    [band_line, _] = banded["files"][0]["estimate"]["steps"]
    [line, _] = exact["files"][0]["estimate"]["steps"]
    assert any("count" in t.lower() and "sampled request" in t for t in exact["files"][0]["estimate"]["tokenizers"])
    db = state(tmp_path)
    try:
        billed = db.execute(
            "SELECT SUM(json_extract(usage, '$.input_tokens')) FROM attempts "
            "WHERE step = 'line' AND attempt = 1 AND generation = 0"
        ).fetchone()[0]
    finally:
        db.close()
    assert abs(line["input_tokens"] - billed) <= 0.02 * billed, (line, billed)
    assert line["input_tokens_low"] <= line["input_tokens"] <= line["input_tokens_high"]
    assert band_line["input_tokens"] != line["input_tokens"]  # the band's guess was replaced


def test_exact_without_a_key_keeps_the_band(tmp_path: Path) -> None:
    path = npc_pipeline(tmp_path, "anthropic")
    with serving("anthropic") as emulator:
        env = {k: v for k, v in environment("anthropic", emulator).items() if k != "ANTHROPIC_API_KEY"}
        checked = octoc("check", path.name, "--exact", cwd=tmp_path, env=env)
    assert "no exact count for `line`" in checked.stdout and "ANTHROPIC_API_KEY" in checked.stdout
    assert "Claude calibration band" in checked.stdout
