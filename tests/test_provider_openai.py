"""The OpenAI client against the loopback emulator: the documented shapes, the batch
lifecycle, mixed outcomes, crash reconciliation, faults, realtime and local servers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from octolang.providers.base import ProviderError, Request
from octolang.providers.openai import OpenAIBatch, OpenAICompatibleRealtime, OpenAIRealtime
from tests.emulators.base import API_KEY, Call, Faults, Reply
from tests.emulators.openai import OpenAIEmulator

SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string", "maxLength": 40}, "tone": {"enum": ["warm", "curt"]}},
    "required": ["text", "tone"],
    "additionalProperties": False,
}
# What strict mode receives: string lengths are not among its keywords (our validation checks them)
STRICT = {**SCHEMA, "properties": {"text": {"type": "string"}, "tone": {"enum": ["warm", "curt"]}}}


def body(prompt: str = "Say hello", **extra: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": "gpt-4.1-mini",
        "system": "You write dialogue.",
        "prompt": prompt,
        "schema_name": "line",
        "schema": SCHEMA,
        "params": {"temperature": 0.9, "max_tokens": 300},
        **extra,
    }


def requests(n: int, prefix: str = "u") -> list[Request]:
    return [Request(f"{prefix}{i}-s0-a1", body(f"Line {i}")) for i in range(n)]


@pytest.fixture
def emulator() -> Iterator[OpenAIEmulator]:
    with OpenAIEmulator(seed=3) as server:
        assert isinstance(server, OpenAIEmulator)
        yield server


def client(emulator: OpenAIEmulator, key: str = API_KEY) -> OpenAIBatch:
    return OpenAIBatch(key, base_url=emulator.base_url + "/v1", backoff=0.001)


def run_to_end(batch: OpenAIBatch, batch_id: str) -> str:
    for _ in range(20):
        state = batch.poll(batch_id)
        if state != "running":
            return state
    raise AssertionError("the batch never ended")


def test_a_request_line_has_the_documented_shape() -> None:
    line = json.loads(OpenAIBatch("k").encode(Request("u42-s0-a1", body("Hi"))))
    assert line == {
        "custom_id": "u42-s0-a1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4.1-mini",
            "messages": [
                {"role": "system", "content": "You write dialogue."},
                {"role": "user", "content": "Hi"},
            ],
            "temperature": 0.9,
            "max_tokens": 300,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "line", "strict": True, "schema": STRICT},
            },
        },
    }
    free = json.loads(OpenAIBatch("k").encode(Request("u1-s0-a1", body(system=None, schema={}))))
    assert [m["role"] for m in free["body"]["messages"]] == ["user"] and "response_format" not in free["body"]


def test_reasoning_models_get_max_completion_tokens() -> None:
    line = json.loads(OpenAIBatch("k").encode(Request("u1-s0-a1", body(model="gpt-5-mini"))))
    assert line["body"]["max_completion_tokens"] == 300 and "max_tokens" not in line["body"]


def test_a_batch_runs_through_its_lifecycle_with_mixed_outcomes(emulator: OpenAIEmulator) -> None:
    emulator.faults = Faults(error_rate=0.2, expired_rate=0.1, malformed_rate=0.1, polls_to_end=3)
    batch = client(emulator)
    sent = requests(60)
    batch_id = batch.submit_batch("run-1:chunk-a", sent)
    assert batch_id.startswith("batch_")
    assert batch.poll(batch_id) == "running"
    assert run_to_end(batch, batch_id) == "ended"
    assert emulator.batches[batch_id]["status"] == "expired"  # some requests drew `expired`
    results = {r.custom_id: r for r in batch.fetch(batch_id)}
    assert set(results) == {r.custom_id for r in sent}
    assert [r.custom_id for r in batch.fetch(batch_id)] != sorted(results)  # not in input order
    outcomes = {cid: emulator.outcome(cid) for cid in results}
    for cid, result in results.items():
        expected = {"ok": "ok", "malformed": "ok", "error": "error", "expired": "expired"}[outcomes[cid]]
        assert result.status == expected, (cid, outcomes[cid], result)
        if result.status == "ok":
            assert result.text and result.usage["input_tokens"] > 0 and result.usage["output_tokens"] > 0
            assert json.loads(result.raw)["custom_id"] == cid
        else:
            assert result.error
    assert {o for o in outcomes.values()} == {"ok", "malformed", "error", "expired"}
    assert json.loads(results[next(c for c, o in outcomes.items() if o == "ok")].text or "")["tone"] in ("warm", "curt")
    assert sorted(emulator.billed) == sorted(c for c, o in outcomes.items() if o in ("ok", "malformed"))


def test_cancel_keeps_the_finished_half(emulator: OpenAIEmulator) -> None:
    batch = client(emulator)
    batch_id = batch.submit_batch("run-1:chunk-c", requests(10))
    batch.cancel(batch_id)
    assert run_to_end(batch, batch_id) == "ended"
    statuses = sorted(r.status for r in batch.fetch(batch_id))
    assert statuses == ["cancelled"] * 5 + ["ok"] * 5


def test_a_crashed_submit_is_found_by_its_tag_across_pages(emulator: OpenAIEmulator) -> None:
    first = client(emulator)
    since = time.time()
    wanted = first.submit_batch("run-1:chunk-wanted", requests(2))
    for i in range(130):  # more than one page of newer batches
        first.submit_batch(f"run-1:chunk-{i}", requests(1, prefix=f"x{i}-"))
    fresh = client(emulator)  # a new process after the crash
    assert fresh.find_batch("run-1:chunk-wanted", count=2, since=since) == wanted
    assert fresh.find_batch("run-1:chunk-never", count=2, since=since) is None
    assert fresh.find_batch("run-2:chunk-wanted", count=2, since=since) is None


def test_an_invalid_file_fails_the_batch_with_the_reason(emulator: OpenAIEmulator) -> None:
    batch = client(emulator)
    twice = [Request("u1-s0-a1", body()), Request("u1-s0-a1", body())]
    batch_id = batch.submit_batch("run-1:dup", twice)
    assert run_to_end(batch, batch_id) == "failed"
    assert "duplicate_custom_id" in (batch.failure(batch_id) or "")
    assert emulator.billed == []


def test_rate_limits_and_server_errors_are_retried(emulator: OpenAIEmulator) -> None:
    emulator.faults = Faults(storm=3, retry_after=0.01)
    batch = client(emulator)
    batch_id = batch.submit_batch("run-1:storm", requests(3))
    emulator.faults.storm, emulator.faults.storm_status = 2, 502
    assert run_to_end(batch, batch_id) == "ended"
    assert sum(1 for _, _, status in emulator.log if status == 429) == 3
    assert batch.http.retried == 5


def test_a_batch_create_that_may_have_happened_is_not_repeated(emulator: OpenAIEmulator) -> None:
    batch = client(emulator)
    original = emulator.dispatch

    def lose_the_answer(call: Call) -> Reply:
        reply = original(call)
        if call.method == "POST" and call.path == "/v1/batches":
            return emulator.error(502, "bad gateway")  # created, but the answer is lost
        return reply

    emulator.dispatch = lose_the_answer  # type: ignore[method-assign]
    with pytest.raises(ProviderError):
        batch.submit_batch("run-1:lost", requests(2))
    assert emulator.batches_created == 1
    emulator.dispatch = original  # type: ignore[method-assign]
    assert batch.find_batch("run-1:lost", count=2, since=time.time() - 5) is not None


def test_an_outage_is_a_provider_error(emulator: OpenAIEmulator) -> None:
    emulator.faults = Faults(outage_until=time.monotonic() + 60)
    with pytest.raises(ProviderError) as info:
        client(emulator).poll("batch_x")
    assert info.value.status == 503 and not info.value.request_fault


def test_a_refused_key_never_appears_in_the_error(emulator: OpenAIEmulator) -> None:
    secret = "sk-secret-do-not-print-0123"
    with pytest.raises(ProviderError) as info:
        client(emulator, key=secret).submit_batch("run-1:k", requests(1))
    assert info.value.status == 401
    assert secret not in str(info.value) and "OPENAI_API_KEY" in str(info.value)


def test_a_garbled_answer_is_a_provider_error(emulator: OpenAIEmulator) -> None:
    emulator.route(
        "GET", r"/v1/batches/garbled", lambda call, match: Reply(200, b"<html>oops", content_type="text/html")
    )
    emulator.routes.insert(0, emulator.routes.pop())
    with pytest.raises(ProviderError, match="not JSON"):
        client(emulator).poll("garbled")


def test_realtime_answers_retries_and_refusals(emulator: OpenAIEmulator) -> None:
    emulator.faults = Faults(error_rate=0.5)
    realtime = OpenAIRealtime(API_KEY, base_url=emulator.base_url + "/v1", backoff=0.001)
    results = [realtime.call(r) for r in requests(8)]
    assert all(r.status == "ok" and r.usage["input_tokens"] > 0 for r in results)
    assert any(status == 500 for _, _, status in emulator.log)  # some failed once and were retried
    not_strict = dict(SCHEMA, required=["text"])
    refused = realtime.call(Request("u9-s0-a1", body(schema=not_strict)))
    assert refused.status == "error" and "400" in (refused.error or "")


def test_a_local_server_without_json_schema_gets_the_schema_in_the_prompt(emulator: OpenAIEmulator) -> None:
    seen: list[dict[str, Any]] = []
    original = emulator.dispatch

    def no_response_format(call: Call) -> Reply:
        payload = call.json()
        seen.append(payload)
        if "response_format" in payload:
            return emulator.error(400, "response_format is not supported by this server")
        return original(call)

    emulator.dispatch = no_response_format  # type: ignore[method-assign]
    local = OpenAICompatibleRealtime(API_KEY, base_url=emulator.base_url + "/v1", backoff=0.001)
    first = local.call(Request("u1-s0-a1", body()))
    second = local.call(Request("u2-s0-a1", body()))
    assert first.status == second.status == "ok"
    assert len(seen) == 3  # one refusal, then never again
    assert "JSON Schema" in seen[-1]["messages"][-1]["content"]
