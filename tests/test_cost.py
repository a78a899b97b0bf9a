"""The cost estimator: prices, the offline tokenizer, the per-step estimate, the budget
refusal and estimate against actual after a mock run (issue #5)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from syrupy.assertion import SnapshotAssertion

from octolang import ir
from octolang.compiler import compile_source, read_source
from octolang.cost import tokens
from octolang.cost.estimate import estimate_cost
from octolang.cost.render import estimate_text
from octolang.pricing import price_for, price_table, usage_cost
from octolang.source import SourceFile
from tests.conftest import octoc as run_octoc

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")


def program_of(text: str) -> ir.Program:
    compilation = compile_source(SourceFile("test.octo", text))
    assert compilation.program is not None, compilation.diagnostics
    return compilation.program


def one_step(model_line: str, *, extra: str = "") -> str:
    return f"""pipeline p
{model_line}
{extra}
units u {{ rows [ {{ name: "Ann" }}, {{ name: "Bo" }} ] }}
step s = llm m {{
  prompt "Say hello to {{{{ unit.name }}}}."
  output {{ greeting: string[1..80] }}
}}
"""


def example(name: str) -> ir.Program:
    program = compile_source(read_source(str(ROOT / "examples" / name))).program
    assert program is not None
    return program


# ------------------------------------------------------------ prices
def test_batch_is_half_of_realtime_for_every_listed_model() -> None:
    for key, entry in price_table()["models"].items():
        provider, model_id = key.split("/", 1)
        price = price_for(program_of(one_step(f'model m = {provider} "{model_id}"')).models[0])
        assert price is not None, key
        assert price.input == Decimal(str(entry["input_per_mtok"]))
        assert price.batch_input == price.input / 2, key
        assert price.batch_output == price.output / 2, key


def test_price_override_wins_over_the_table() -> None:
    program = program_of(one_step('model m = openai "gpt-4.1-mini" { price in = $1/M, out = $3/M }'))
    model = program.models[0]
    price = price_for(model)
    assert price is not None and (price.input, price.output) == (Decimal(1), Decimal(3))
    assert (price.batch_input, price.batch_output) == (Decimal("0.5"), Decimal("1.5"))
    step = estimate_cost(program).steps[0]
    expected = (step.input_tokens * Decimal("0.5") + step.output_tokens * Decimal("1.5")) / 1_000_000
    assert step.cost_batch == expected and step.price_source == "price given in the pipeline"


def test_an_openai_compatible_server_is_priced_and_shown_as_realtime() -> None:
    """It is always called one request at a time, so a price given for it is paid in full
    (it used to be estimated at the batch half, and `octoc check` called it batch)."""
    program = program_of(
        one_step(
            'model m = openai_compatible "llama3" '
            '{ base_url = "http://127.0.0.1:8000/v1", price in = $1/M, out = $3/M }'
        )
    )
    model = program.models[0]
    assert model.mode == "realtime"
    step = estimate_cost(program).steps[0]
    assert step.mode == "realtime" and step.cost == step.cost_realtime + step.extra_realtime
    assert step.cost_realtime == 2 * step.cost_batch


def test_unknown_model_warns_in_check_and_in_the_estimate() -> None:
    text = one_step('model m = openai "gpt-nonesuch"')
    diagnostics = compile_source(SourceFile("test.octo", text)).diagnostics
    assert "W0102" in [d.code for d in diagnostics]
    estimate = estimate_cost(program_of(text))
    assert not estimate.steps[0].priced and estimate.steps[0].cost == 0
    assert "no price for openai `gpt-nonesuch`" in estimate.warnings[0]
    assert "price in = $" in estimate.warnings[0]
    assert "warning: no price" in estimate_text(estimate)


def test_a_prices_file_comes_before_the_table_and_after_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.json"
    mine = {"input_per_mtok": 0.5, "output_per_mtok": 2}
    prices.write_text(json.dumps({"models": {"openai/gpt-4.1-mini": mine, "openai/in-house-1": mine}}))
    monkeypatch.setenv("OCTO_PRICES", str(prices))
    listed = price_for(program_of(one_step('model m = openai "gpt-4.1-mini"')).models[0])
    assert listed is not None and (listed.input, listed.batch_input, listed.output) == (
        Decimal("0.5"),
        Decimal("0.25"),
        Decimal("2.0"),
    )
    assert listed.source == f"prices file {prices}"
    text = one_step('model m = openai "in-house-1"')
    assert "W0102" not in [d.code for d in compile_source(SourceFile("t.octo", text)).diagnostics]
    given = price_for(program_of(one_step('model m = openai "gpt-4.1-mini" { price in = $1/M, out = $3/M }')).models[0])
    assert given is not None and given.input == Decimal(1)  # the pipeline's own price wins


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{", "is not JSON"),
        ('{"prices": {}}', "needs a `models` object"),
        ('{"models": {"gpt-4.1-mini": {"input_per_mtok": 1, "output_per_mtok": 2}}}', "name a model `provider/"),
        ('{"models": {"openai/x": {"input_per_mtok": -1, "output_per_mtok": 2}}}', "must be a number"),
        ('{"models": {"openai/x": {"input_per_mtok": 1}}}', "are needed"),
    ],
)
def test_a_broken_prices_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, problem: str
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(content)
    monkeypatch.setenv("OCTO_PRICES", str(prices))
    [error] = [
        d
        for d in compile_source(SourceFile("t.octo", one_step('model m = openai "gpt-4.1-mini"'))).diagnostics
        if d.code == "E0805"
    ]
    assert str(prices) in error.message and problem in error.message
    monkeypatch.setenv("OCTO_PRICES", str(tmp_path / "absent.json"))
    codes = [
        d.code for d in compile_source(SourceFile("t.octo", one_step('model m = openai "gpt-4.1-mini"'))).diagnostics
    ]
    assert "E0805" in codes


def test_money_is_exact_over_100000_requests() -> None:
    model = program_of(one_step('model m = openai "gpt-4.1-mini"')).models[0]
    per_request = {"input_tokens": 123, "output_tokens": 45}
    total = sum((usage_cost(model, per_request) for _ in range(100_000)), Decimal(0))
    # batch: 123 x $0.20/M + 45 x $0.80/M = $0.0000606 a request
    assert total == Decimal("6.06")
    assert sum(0.0000606 for _ in range(100_000)) != 6.06  # what floats would have given


# ------------------------------------------------------------ the tokenizer
def test_tokenizer_is_offline_and_writes_no_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_network(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the tokenizer tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    tokens.encoding.cache_clear()
    try:
        encoding = tokens.encoding()
        # o200k_base ids of tiktoken's own test sentence; the same counts as OpenAI's tokenizer
        assert encoding.encode("hello world") == [24912, 2375]
        assert encoding.name == "o200k_base"
        assert tokens.count_tokens("hello world") == 2
        assert tokens.count_many(["hello world", "", "hello"]) == [2, 0, 1]
    finally:
        tokens.encoding.cache_clear()
    assert list(tmp_path.iterdir()) == []


def test_damaged_encoding_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "SHA256", "0" * 64)
    with pytest.raises(tokens.TokenizerError, match="SHA-256"):
        tokens._read_ranks()


def test_check_without_llm_steps_loads_no_tokenizer() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from octolang.cli import main;"
        "r = CliRunner().invoke(main, ['check', 'examples/drunken_sailor.octo']);"
        "print(r.exit_code, 'tiktoken' in sys.modules, 'octolang.cost.estimate' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False", "False"]


# ------------------------------------------------------------ the estimate
@pytest.mark.parametrize("name", ["npc_dialogue.octo", "blackjack.octo", "qa_eval.octo"])
def test_estimate_table_of_the_examples(name: str, snapshot: SnapshotAssertion) -> None:
    assert estimate_text(estimate_cost(example(name))) == snapshot


def test_retries_gates_and_bands() -> None:
    estimate = estimate_cost(example("npc_dialogue.octo"))
    line, review = estimate.steps
    assert (line.units, line.calls) == (6, 6)
    # retries 3 at the default 5% failure rate; the gate (max 2) re-runs line and review at 20%
    assert line.retry_calls == pytest.approx(6 * (0.05 + 0.05**2 + 0.05**3))
    assert line.gate_calls == review.gate_calls == pytest.approx(6 * (0.2 + 0.2**2))
    assert line.input_tokens_low == line.input_tokens == line.input_tokens_high  # OpenAI: exact tokenizer
    assert review.input_tokens_low < review.input_tokens < review.input_tokens_high  # Claude: a band
    assert line.output_upper_per_call == 300  # max_tokens caps the 400-character text
    assert estimate.total == line.cost + review.cost
    assert estimate.total_realtime == 2 * estimate.total_batch


def test_a_declared_failure_rate_sets_the_expected_retries() -> None:
    text = (ROOT / "examples" / "npc_dialogue.octo").read_text(encoding="utf-8")
    text = text.replace("max_tokens = 300 }", "max_tokens = 300, failure_rate = 0.3 }")
    compilation = compile_source(SourceFile(str(ROOT / "examples" / "npc_dialogue.octo"), text))
    assert compilation.ok and compilation.program is not None, compilation.diagnostics
    line = estimate_cost(compilation.program).steps[0]
    assert line.retry_calls == pytest.approx(6 * (0.3 + 0.3**2 + 0.3**3))


def test_later_steps_render_with_upstream_outputs_at_expected_size() -> None:
    text = """pipeline p
model m = openai "gpt-4.1-mini"
units u { rows [ { n: 1 } ] }
step a = llm m { prompt "Start {{ unit.n }}" output { words: list<string[3..3]>[4..4] } }
step b = llm m { prompt "Join {{ a.words | join('-') }}" output { ok: bool } }
"""
    program = program_of(text)
    from octolang.cost.estimate import _render_all

    _, prompts, failed, stopped = _render_all(program, program.steps[1], program.models[0], [{"n": 1}])
    assert failed == 0 and not stopped and prompts == ["Join The-The-The-The"]


def test_check_json_carries_the_estimate_and_the_budget(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from octolang.cli import main

    result = CliRunner().invoke(
        main, ["check", "--json", "--budget", "0.001", str(ROOT / "examples" / "blackjack.octo")]
    )
    data = json.loads(result.output)["files"][0]
    assert data["estimate"]["steps"][0]["step"] == "play"
    assert data["estimate"]["over_budget"] is True and data["estimate"]["budget_usd"] == "0.001"
    assert data["estimate"]["prices_as_of"] == price_table()["as_of"]
    sailor = CliRunner().invoke(main, ["check", "--json", str(ROOT / "examples" / "drunken_sailor.octo")])
    assert "estimate" not in json.loads(sailor.output)["files"][0]


# ------------------------------------------------------------ budgets
def octoc(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`octoc ARGS` without any provider key in its environment, whatever its exit."""
    return run_octoc(*args, cwd=cwd, env={k: v for k, v in os.environ.items() if k not in KEYS}, check=False)


def copy_npc(tmp_path: Path, budget: str | None = None) -> Path:
    shutil.copy(ROOT / "examples" / "npcs.csv", tmp_path / "npcs.csv")
    text = (ROOT / "examples" / "npc_dialogue.octo").read_text(encoding="utf-8")
    if budget is not None:
        text = text.replace("\nmodel writer", f"\nbudget ${budget}\nmodel writer", 1)
    (tmp_path / "npc_dialogue.octo").write_text(text, encoding="utf-8")
    return tmp_path / "npc_dialogue.octo"


def test_run_refuses_a_budget_below_the_estimate(tmp_path: Path) -> None:
    copy_npc(tmp_path, budget="0.0001")
    refused = octoc("run", "npc_dialogue.octo", cwd=tmp_path)
    assert refused.returncode == 1
    assert "refused: the estimate $0.00" in refused.stderr and "--over-budget" in refused.stderr
    assert not (tmp_path / ".octo").exists()  # nothing created, nothing sent
    # --budget replaces the file's budget; --over-budget lets it start: both get past the
    # estimate and stop later for the missing API keys, not for the budget
    for extra in (["--budget", "5"], ["--over-budget"]):
        started = octoc("run", "npc_dialogue.octo", *extra, cwd=tmp_path)
        assert started.returncode == 1 and "refused" not in started.stderr
        assert "OPENAI_API_KEY" in started.stderr


def test_check_budget_flag_replaces_the_files_budget(tmp_path: Path) -> None:
    copy_npc(tmp_path, budget="0.0001")
    above = octoc("check", "npc_dialogue.octo", cwd=tmp_path)
    assert "budget $0.000100: the estimate is ABOVE it" in above.stdout
    within = octoc("check", "npc_dialogue.octo", "--budget", "10", cwd=tmp_path)
    assert "budget $10.0000: the estimate is within it" in within.stdout


def test_guard_worst_case_uses_the_output_types_bound() -> None:
    from octolang.runtime.budget import DEFAULT_MAX_TOKENS, WORST_INPUT_TOKENS, worst_case

    program = example("blackjack.octo")
    model, play = program.models[0], program.step("play")
    assert play is not None
    bounded = worst_case(model, 10, schema=play.output_schema)
    crude = 10 * usage_cost(model, {"input_tokens": WORST_INPUT_TOKENS, "output_tokens": DEFAULT_MAX_TOKENS})
    assert 0 < bounded < crude
    assert worst_case(model, 10, schema=play.output_schema, input_tokens=100) < bounded


# ------------------------------------------------------------ estimate against actual
def test_status_and_report_show_estimate_against_actual(tmp_path: Path) -> None:
    copy_npc(tmp_path)
    run = octoc("run", "npc_dialogue.octo", "--provider", "mock", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    status = json.loads(octoc("status", "npc_dialogue.octo", "--json", cwd=tmp_path).stdout)
    by_step = {c["step"]: c for c in status["cost"]}
    assert set(by_step) == {"line", "review"}
    line = by_step["line"]
    assert line["estimate"]["calls"] >= 6 and line["actual"]["requests"] >= 6
    assert line["actual"]["input_tokens"] > 0 and line["units_left"] == 0
    report = octoc("report", "npc_dialogue.octo", cwd=tmp_path).stdout
    assert "cost: estimate against actual" in report and "\n  line " in report
    # the estimate compared is the one the run started with, for the models it ran (the mock)
    [run] = (tmp_path / ".octo" / "runs").iterdir()
    db = sqlite3.connect(run / "state.sqlite")
    [(recorded,)] = db.execute("SELECT value FROM meta WHERE key = 'estimate'").fetchall()
    db.close()
    assert [s["provider"] for s in json.loads(recorded)["steps"]] == ["mock", "mock"]


def test_remaining_estimate_counts_units_not_yet_done(tmp_path: Path) -> None:
    from octolang.runtime.status import ESTIMATE_KEY, step_accounts
    from octolang.runtime.store import RunStore

    program = example("npc_dialogue.octo")
    store = RunStore(str(tmp_path / "state.sqlite"))
    estimate = {
        "steps": [
            {"step": "line", "units": 4, "calls": 4, "input_tokens": 400, "cost_usd": "0.40"},
            {"step": "review", "units": 4, "calls": 4, "input_tokens": 800, "cost_usd": "0.80"},
        ]
    }
    with store.transaction() as db:
        store.set_meta(db, **{ESTIMATE_KEY: estimate})
        for i, state in enumerate(["done", "pending", "pending", "failed"]):
            db.execute("INSERT INTO units (id, ordinal, fields, status) VALUES (?, ?, '{}', ?)", (f"u{i}", i, state))
        db.execute("INSERT INTO results VALUES ('u0', 'line', '{}', 1)")
        db.execute("INSERT INTO results VALUES ('u0', 'review', '{}', 1)")
        db.execute("INSERT INTO results VALUES ('u1', 'line', '{}', 1)")
        db.execute(
            "INSERT INTO attempts (unit_id, step, attempt, generation, status, custom_id, request, usage, cost, "
            "created_at) VALUES ('u0', 'line', 1, 0, 'done', 'c0', '{}', ?, '0.11', 0)",
            (json.dumps({"input_tokens": 90, "output_tokens": 20}),),
        )
    accounts = {a.name: a for a in step_accounts(program, store)}
    store.close()
    assert accounts["line"].spend == Decimal("0.11") and accounts["line"].input_tokens == 90
    assert accounts["line"].units_left == 1 and accounts["line"].remaining_cost == Decimal("0.10")
    assert accounts["review"].units_left == 2 and accounts["review"].remaining_cost == Decimal("0.40")


def test_guard_bounds_requests_in_flight_by_their_recorded_bodies(tmp_path: Path) -> None:
    from octolang.runtime.budget import WORST_INPUT_TOKENS, BudgetGuard, worst_case
    from octolang.runtime.requests import CompiledPrompt
    from octolang.runtime.store import RunStore
    from tests.emulators.tokens import openai_prompt_tokens

    program = example("blackjack.octo")
    model, play = program.models[0], program.step("play")
    assert play is not None
    body = CompiledPrompt(play, model).render(
        {"unit": {"strategy": "basic"}, "deal": {"player": [10, 7], "dealer_up": 4}, "feedback": "", "attempt": 1}
    )
    store = RunStore(str(tmp_path / "state.sqlite"))
    with store.transaction() as db:
        db.executemany(
            "INSERT INTO attempts (unit_id, step, attempt, generation, status, custom_id, request, created_at) "
            "VALUES (?, 'play', 1, 0, 'submitted', ?, ?, 0)",
            [(f"u{i}", f"c{i}", json.dumps(body)) for i in range(50)],
        )
    guard = BudgetGuard(store, Decimal(1), lambda name: model if name == "play" else None)
    in_flight = guard._in_flight()
    store.close()
    from octolang.providers.openai import chat_body

    billed = openai_prompt_tokens(chat_body(body))
    output_most = 57  # `actions`: at most 12 of "hit"/"stand" (see sizes.structural_upper)
    assert 50 * usage_cost(model, {"input_tokens": billed, "output_tokens": output_most}) <= in_flight
    assert in_flight < worst_case(model, 50, schema=play.output_schema, input_tokens=WORST_INPUT_TOKENS)


def test_guard_admits_a_chunk_by_its_bodies(tmp_path: Path) -> None:
    from octolang.runtime.budget import BudgetGuard
    from octolang.runtime.requests import CompiledPrompt
    from octolang.runtime.store import RunStore

    program = example("blackjack.octo")
    model, play = program.models[0], program.step("play")
    assert play is not None
    body = CompiledPrompt(play, model).render(
        {"unit": {"strategy": "basic"}, "deal": {"player": [10, 7], "dealer_up": 4}, "feedback": "", "attempt": 1}
    )
    store = RunStore(str(tmp_path / "state.sqlite"))
    # 1,000 requests: about $0.85 at the crude 4,000 input tokens, about $0.22 by their bodies
    crude = BudgetGuard(store, Decimal("0.50"), lambda name: model)
    assert crude.admit(model, play, 1000) is not None
    by_bodies = BudgetGuard(store, Decimal("0.50"), lambda name: model)
    assert by_bodies.admit(model, play, 1000, [body] * 1000) is None
    store.close()


def test_the_exact_sample_is_spread_over_the_units() -> None:
    from octolang.cost.exact import sample

    assert sample(5) == [0, 1, 2, 3, 4]
    picked = sample(1000)
    assert len(picked) == 20 and picked[0] == 0 and picked[-1] == 999
    assert all(b - a in (52, 53) for a, b in itertools.pairwise(picked))


def test_exact_counts_scale_a_claude_step_by_the_measured_ratio() -> None:
    program = example("npc_dialogue.octo")
    seen: list[int] = []

    def counter(model: ir.ModelDecl, bodies: list[dict[str, Any]]) -> list[int]:
        assert model.provider == "anthropic" and all(b["model"] == "claude-haiku-4-5" for b in bodies)
        seen.append(len(bodies))
        return [400 + i for i in range(len(bodies))]

    banded = estimate_cost(program).steps[1]
    exact = estimate_cost(program, exact=counter).steps[1]
    assert seen == [6]  # six units, all counted; the OpenAI step is exact offline and not asked
    assert exact.input_tokens_low <= exact.input_tokens <= exact.input_tokens_high
    assert exact.input_tokens != banded.input_tokens and exact.cost_batch != banded.cost_batch
