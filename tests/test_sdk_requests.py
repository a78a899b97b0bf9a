"""Every request octolang's clients send, checked against the official SDKs' request types
(issue #12): each example in examples/, with all its models moved to one provider (openai,
anthropic, gemini) in one mode (batch, realtime), runs to the end against that provider's
emulator; every batch line and realtime body the emulator received is checked by
tests/sdk_referee.py. A quarter of the answers are malformed (seed SEED), so the lines of
retries (with their feedback) are checked too. The counts are printed and kept in COUNTS.

Anthropic's `temperature`/`top_p` are left to their own test, which fails until part 2 of
#12 (the params branch) stops sending them: anthropic 2.14's params type has neither."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import octoc
from tests.emulators.base import Faults
from tests.providers_e2e import PROVIDERS, environment, serving
from tests.sdk_referee import check, sent_requests

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.octo"))
SEED = 23
COUNTS: Counter[tuple[str, str, str]] = Counter()  # (example, provider, mode) -> lines checked
_MODEL = re.compile(r'^model (\w+) += +\w+ +"[^"]+" *(?:\{(.*?)\})?', re.M)


def moved(example: str, folder: Path, provider: str, mode: str) -> Path:
    """The example with each model on `provider`'s test model in `mode` (its settings kept), and its data."""
    for data in (ROOT / "examples").iterdir():
        if data.suffix != ".octo":
            shutil.copy(data, folder / data.name)
    model_id = PROVIDERS[provider][0]

    def rewrite(match: re.Match[str]) -> str:
        given = (match[2] or "").split(",")
        settings = [s.strip() for s in given if s.strip() and not s.strip().startswith("mode")]
        return f'model {match[1]} = {provider} "{model_id}" {{ {", ".join([*settings, f"mode = {mode}"])} }}'

    path = folder / example
    path.write_text(_MODEL.sub(rewrite, (ROOT / "examples" / example).read_text(encoding="utf-8")), encoding="utf-8")
    return path


def sent(example: str, folder: Path, provider: str, mode: str) -> list[tuple[str, Any]]:
    """What the clients sent while the example ran to its end against the emulator."""
    path = moved(example, folder, provider, mode)
    with serving(provider, seed=SEED, faults=Faults(malformed_rate=0.25, polls_to_end=1)) as emulator:
        octoc("run", path.name, "--poll", "0.01", cwd=folder, env=environment(provider, emulator), timeout=600)
        return list(sent_requests(provider, emulator.calls))


def has_llm_steps(example: str) -> bool:
    return bool(_MODEL.search((ROOT / "examples" / example).read_text(encoding="utf-8")))


@pytest.mark.parametrize("mode", ["batch", "realtime"])
@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize("example", EXAMPLES)
def test_every_request_line_passes_the_sdk_types(tmp_path: Path, example: str, provider: str, mode: str) -> None:
    if not has_llm_steps(example):
        text = (ROOT / "examples" / example).read_text(encoding="utf-8")
        assert "= llm" not in text  # a compute-only simulation: nothing is sent, nothing to check
        print(f"{example} {provider} {mode}: no llm step, 0 lines")
        return
    requests = sent(example, tmp_path, provider, mode)
    assert requests and {m for m, _ in requests} == {mode}, "the run sent nothing, or in another mode"
    failing = {}
    for number, (sent_mode, request) in enumerate(requests):
        problems = check(provider, sent_mode, request)
        if problems:
            failing[number] = problems
    COUNTS[(example, provider, mode)] = len(requests)
    print(f"{example} {provider} {mode}: {len(requests)} lines checked, {len(failing)} failing")
    assert not failing, dict(list(failing.items())[:3])


def test_the_referee_finds_what_the_sdk_types_refuse() -> None:
    """The checks can fail: an unknown key, a wrong type, a refused sampling key, a Gemini field misnamed."""
    body = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}]}
    assert check("openai", "realtime", body) == []
    assert check("openai", "realtime", {**body, "max_output_tokens": 5}) == [
        "max_output_tokens: not a field of the SDK's type"
    ]
    assert check("openai", "realtime", {**body, "messages": [{"role": "robot", "content": "hi"}]})
    line = {"custom_id": "u1", "method": "POST", "url": "/v1/chat/completions", "body": body}
    assert check("openai", "batch", line) == [] and check("openai", "batch", {**line, "url": "/v1/responses"})
    params = {"model": "claude-haiku-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    assert check("anthropic", "realtime", params) == []
    assert check("anthropic", "realtime", {**params, "seed": 1}) == ["seed: not a field of the SDK's type"]
    assert check("anthropic", "realtime", {**params, "temperature": 0.5}) == [
        "temperature: not a field of the SDK's type"
    ]
    assert check("anthropic", "batch", {"custom_id": "u1.s0", "params": params})  # off the pattern
    request = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "generationConfig": {"topP": 0.5}}
    assert check("gemini", "realtime", request) == []
    assert check("gemini", "realtime", {**request, "generationConfig": {"max_tokens": 5}})
    assert check("gemini", "batch", {"request": request, "metadata": {"key": "u1"}}) == []
    assert check("gemini", "batch", {"request": {**request, "safety": []}, "metadata": {"key": "u1"}})
