"""`--provider` / `--model NAME=provider:model` on `octoc run`, `tick`, `check` and the dry
run, and a dry run that writes every llm step's requests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, octoc


def npc(folder: Path) -> Path:
    shutil.copy(EXAMPLES / "npc_dialogue.octo", folder / "npc_dialogue.octo")
    shutil.copy(EXAMPLES / "npcs.csv", folder / "npcs.csv")
    return folder / "npc_dialogue.octo"


def written(folder: Path) -> dict[str, list[dict[str, object]]]:
    """The dry run's request lines, by step (the file name's first part)."""
    out: dict[str, list[dict[str, object]]] = {}
    for path in sorted((folder / ".octo" / "dry-runs").glob("*/requests/*.jsonl")):
        step = path.name.split("-", 1)[0]
        out.setdefault(step, []).extend(json.loads(line) for line in path.read_text().splitlines())
    return out


def test_a_dry_run_writes_the_requests_of_every_llm_step(tmp_path: Path) -> None:
    npc(tmp_path)
    result = octoc("run", "npc_dialogue.octo", "--dry-run", cwd=tmp_path)
    assert "dry run: nothing was sent" in result.stdout
    lines = written(tmp_path)
    assert set(lines) == {"line", "review"}
    first = [r for r in lines["line"] if str(r["custom_id"]).endswith("-a1")]
    assert len(first) == 6  # one first attempt per NPC, on OpenAI's batch lines
    reviews = [r["params"] for r in lines["review"]]
    assert len(reviews) >= 6 and all("temperature" not in p for p in reviews)  # type: ignore[operator]
    # the review prompts quote the writer's (mock) answers: the upstream step really answered
    assert all("Line (" in p["messages"][0]["content"] for p in reviews)  # type: ignore[index]


def test_dry_run_with_provider_gemini_writes_both_steps_valid_for_google_genai(tmp_path: Path) -> None:
    types = pytest.importorskip("google.genai.types")
    npc(tmp_path)
    octoc("run", "npc_dialogue.octo", "--dry-run", "--provider", "gemini", cwd=tmp_path)
    lines = written(tmp_path)
    assert set(lines) == {"line", "review"}
    checked = 0
    for entry in lines["line"] + lines["review"]:
        request = entry["request"]
        assert isinstance(request, dict)
        for content in request["contents"]:
            types.Content.model_validate(content)
        types.GenerateContentConfig.model_validate(request["generationConfig"])
        checked += 1
    assert checked >= 12
    writer = [e["request"]["generationConfig"] for e in lines["line"]]  # type: ignore[index]
    assert all(c["temperature"] == 0.9 and c["maxOutputTokens"] == 300 for c in writer)  # kept across providers


def test_check_prices_and_lists_hosts_for_the_overridden_models(tmp_path: Path) -> None:
    npc(tmp_path)
    result = octoc("check", "npc_dialogue.octo", "--json", "--model", "critic=gemini:gemini-2.5-pro", cwd=tmp_path)
    [file] = json.loads(result.stdout)["files"]
    models = {s["step"]: s["model"] for s in file["estimate"]["steps"]}
    assert models == {"line": "gpt-4.1-mini", "review": "gemini-2.5-pro"}
    text = octoc("check", "npc_dialogue.octo", "--provider", "anthropic", cwd=tmp_path).stdout
    assert "api.anthropic.com (https): critic, writer; key ANTHROPIC_API_KEY" in text
    assert "warning[W0109]: anthropic `claude-haiku-4-5` ignores `temperature`" in text


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (
            ("--model", "writer=openai:gpt-9"),
            "model `writer`: no price known for openai model `gpt-9` (known: gpt-4.1,",
        ),
        (("--model", "author=openai:gpt-4.1"), "the file has no model `author` (its models: writer, critic)"),
        (("--model", "writer=gpt-4.1"), "write NAME=PROVIDER:MODEL"),
        (("--model", "writer=azure:gpt-4.1"), "unknown provider `azure`"),
        (("--provider", "azure"), "'azure' is not one of 'openai', 'anthropic', 'gemini', 'mock'"),
    ],
)
def test_an_override_that_cannot_be_made_is_a_clear_error(tmp_path: Path, args: tuple[str, ...], said: str) -> None:
    npc(tmp_path)
    for command in ("check", "run"):
        result = octoc(command, "npc_dialogue.octo", *args, cwd=tmp_path, check=False)
        assert result.returncode in (1, 2) and said in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / ".octo").exists()


def test_an_override_to_a_model_that_refuses_a_setting_is_refused(tmp_path: Path) -> None:
    npc(tmp_path)
    result = octoc("run", "npc_dialogue.octo", "--model", "writer=anthropic:claude-opus-4-7", cwd=tmp_path, check=False)
    assert result.returncode == 1
    assert "error[E0812]: anthropic `claude-opus-4-7` refuses `temperature`" in result.stderr
    assert "1 error(s) in the models as --model writer=anthropic:claude-opus-4-7 makes them" in result.stderr


def test_a_run_resumes_only_with_the_models_it_started_with(tmp_path: Path) -> None:
    """Other models make a new run (taking over what the unchanged model answered); the run
    itself, named with --run, refuses them."""
    npc(tmp_path)
    mocks = ("--model", "writer=mock:w", "--model", "critic=mock:c")
    first = octoc("run", "npc_dialogue.octo", "--once", "--max-units", "2", *mocks, cwd=tmp_path)
    run = first.stderr.split("started run ", 1)[1].split()[0]
    other = ("--model", "writer=mock:w", "--model", "critic=mock:c2")
    refused = octoc("run", "npc_dialogue.octo", "--run", run, *other, cwd=tmp_path, check=False)
    assert refused.returncode == 1
    assert "has changed since run" in refused.stderr and ": model critic changed." in refused.stderr
    assert "this time: --model writer=mock:w --model critic=mock:c2" in refused.stderr
    ticked = octoc("tick", "npc_dialogue.octo", *mocks, cwd=tmp_path, check=False)  # tick takes them too
    assert ticked.returncode == 0 and "resuming run" in ticked.stderr, ticked.stderr
    again = octoc("run", "npc_dialogue.octo", *other, "--poll", "0.01", cwd=tmp_path, check=False)
    assert again.returncode in (0, 1) and f"reusing run {run}" in again.stderr, again.stderr
    assert "started run" in again.stderr


REFUSED_BY_CLAUDE = ("temperature", "top_p", "top_k", "seed")


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("example", ["npc_dialogue", "qa_eval", "blackjack"])
def test_every_example_dry_runs_on_every_provider_without_a_refused_parameter(
    tmp_path: Path, example: str, provider: str
) -> None:
    for path in EXAMPLES.iterdir():
        if path.suffix in (".octo", ".csv", ".jsonl"):
            shutil.copy(path, tmp_path / path.name)
    octoc("run", f"{example}.octo", "--dry-run", "--provider", provider, "--max-units", "3", cwd=tmp_path)
    lines = [line for step in written(tmp_path).values() for line in step]
    assert lines
    for line in lines:
        if provider == "anthropic":  # a batch entry's params, or a realtime body
            params = line.get("params", line)
            assert isinstance(params, dict) and not set(REFUSED_BY_CLAUDE) & set(params), params
            assert str(params["model"]) == "claude-haiku-4-5"
        elif provider == "openai":
            body = line.get("body", line)
            # a model already on OpenAI keeps its id (qa_eval's grader, gpt-4.1); the others get the default
            assert isinstance(body, dict) and "top_k" not in body and body["model"] in ("gpt-4.1-mini", "gpt-4.1")
        else:
            request = line.get("request", line)
            assert isinstance(request, dict) and "contents" in request
