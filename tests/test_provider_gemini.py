"""The Gemini batch and realtime clients against the loopback emulator: the wire shapes,
the lifecycle, results matched by key, crash reconciliation, and every failure path."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from octolang.providers.base import ProviderError, Request
from octolang.providers.gemini import GeminiBatch, GeminiRealtime, chunk_tag, response_result, retry_delay
from octolang.providers.http import HttpClient
from tests.emulators.base import API_KEY, Faults
from tests.emulators.gemini import BLOCK_MARKER, GeminiEmulator

SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string"}, "tone": {"enum": ["calm", "angry"]}},
    "required": ["text", "tone"],
    "additionalProperties": False,
}


def body(prompt: str = "Say hello", **extra: Any) -> dict[str, Any]:
    return {
        "provider": "gemini",
        "model": "gemini-2.5-flash",
        "system": "You write NPC lines.",
        "prompt": prompt,
        "schema_name": "line",
        "schema": SCHEMA,
        "params": {"temperature": 0.7, "top_p": 0.9, "max_tokens": 300, "seed": 42},
        **extra,
    }


def requests(n: int, prefix: str = "u") -> list[Request]:
    return [Request(f"{prefix}{i}-s0-a1", body(f"Line for unit {i}")) for i in range(n)]


@pytest.fixture
def emulator() -> Iterator[GeminiEmulator]:
    with GeminiEmulator(seed=7, faults=Faults(retry_after=0.02)) as em:
        assert isinstance(em, GeminiEmulator)
        yield em


@pytest.fixture
def client(emulator: GeminiEmulator) -> Iterator[GeminiBatch]:
    c = GeminiBatch(API_KEY, base_url=emulator.base_url, backoff=0.001)
    yield c
    c.close()


def run_to_end(client: GeminiBatch, batch_id: str) -> list[str]:
    states = [client.poll(batch_id)]
    while states[-1] == "running" and len(states) < 10:
        states.append(client.poll(batch_id))
    return states


# ---------------------------------------------------------------- encoding
def test_encode_is_the_inline_request_shape() -> None:
    line = GeminiBatch("k").encode(Request("u1-s0-a1", body()))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "request": {
            "contents": [{"role": "user", "parts": [{"text": "Say hello"}]}],
            "systemInstruction": {"parts": [{"text": "You write NPC lines."}]},
            "generationConfig": {
                "temperature": 0.7,
                "topP": 0.9,
                "maxOutputTokens": 300,
                "seed": 42,
                "responseMimeType": "application/json",
                "responseJsonSchema": SCHEMA,
            },
        },
        "metadata": {"key": "u1-s0-a1"},
    }


def test_encode_free_text_sends_no_config_and_no_system() -> None:
    free = {
        "provider": "gemini",
        "model": "gemini-2.5-flash",
        "system": None,
        "prompt": "Hi",
        "schema": {},
        "params": {},
    }
    assert json.loads(GeminiBatch("k").encode(Request("a", free))) == {
        "request": {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]},
        "metadata": {"key": "a"},
    }
    assert json.loads(GeminiRealtime("k").encode(Request("a", free))) == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}]
    }


def test_chunk_tags_are_distinct_and_bounded() -> None:
    long_a, long_b = "r:" + "a" * 250, "r:" + "a" * 249 + "b"
    assert chunk_tag("run-1:c1") == "octo:run-1:c1"
    assert len(chunk_tag(long_a)) <= 128 and chunk_tag(long_a) != chunk_tag(long_b)


def test_answer_text_joins_the_first_candidates_parts_without_thoughts() -> None:
    response = {
        "candidates": [
            {"content": {"parts": [{"text": "Let me think.", "thought": True}, {"text": '{"a": '}, {"text": "1}"}]}},
            {"content": {"parts": [{"text": "another candidate"}]}},
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4, "thoughtsTokenCount": 3},
    }
    result = response_result("k", response, "raw")
    assert (result.status, result.text) == ("ok", '{"a": 1}')
    assert result.usage == {"input_tokens": 10, "output_tokens": 7, "cached_tokens": 0}
    blocked = response_result("k", {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}, "raw")
    assert (blocked.status, blocked.error) == ("error", "the prompt was blocked: PROHIBITED_CONTENT")


# ---------------------------------------------------------------- lifecycle
def test_submit_poll_fetch_mixed_outcomes(emulator: GeminiEmulator, client: GeminiBatch) -> None:
    emulator.faults.error_rate, emulator.faults.malformed_rate = 0.25, 0.25
    emulator.thoughts_tokens, emulator.cached_tokens = 7, 5
    sent = requests(24)
    batch_id = client.submit_batch("run-1:chunk-a", sent)
    assert batch_id.startswith("batches/") and emulator.batches_created == 1
    stored = emulator.batches[batch_id]
    assert stored["displayName"] == "octo:run-1:chunk-a" and stored["model"] == "models/gemini-2.5-flash"
    assert [json.dumps(e) for e in stored["entries"]] == [json.dumps(json.loads(client.encode(r))) for r in sent]

    assert run_to_end(client, batch_id) == ["running", "ended"]
    results = client.fetch(batch_id)
    by_id = {r.custom_id: r for r in results}
    assert sorted(by_id) == sorted(r.custom_id for r in sent)
    assert [r.custom_id for r in results] != [r.custom_id for r in sent]  # matched by key, not position
    outcomes = {r.custom_id: emulator.outcome(r.custom_id) for r in sent}
    assert set(outcomes.values()) == {"ok", "error", "malformed"}
    for cid, outcome in outcomes.items():
        result = by_id[cid]
        if outcome == "error":
            assert result.status == "error" and result.error == "INTERNAL: An internal error has occurred."
            assert result.fault == "provider"  # google.rpc.Status code 13: sent again, never counted
            assert result.text is None and json.loads(result.raw)["metadata"] == {"key": cid}
            continue
        assert result.status == "ok"  # a malformed answer is still an answer
        if outcome == "malformed":
            assert result.text == emulator.answer(cid, SCHEMA, True)
        else:  # JSON mode: the bare JSON, never fenced or introduced
            assert result.text == emulator.bare_answer(cid, SCHEMA) and json.loads(result.text)
        usage = json.loads(result.raw)["response"]["usageMetadata"]
        assert result.usage == {
            "input_tokens": usage["promptTokenCount"],
            "output_tokens": usage["candidatesTokenCount"] + 7,
            "cached_tokens": 5,
        }
    assert sorted(emulator.billed) == sorted(c for c, o in outcomes.items() if o != "error")


def test_errors_inside_results_are_rpc_statuses_read_by_their_grpc_code(
    emulator: GeminiEmulator, client: GeminiBatch
) -> None:
    """A result's error is a google.rpc.Status: code 3 (INVALID_ARGUMENT) is the request's
    own fault, 14 (UNAVAILABLE) the provider's; an HTTP-style body (code 500) still reads."""
    sent = requests(3)
    batch_id = client.submit_batch("run-1:chunk-b", sent)
    run_to_end(client, batch_id)
    records = emulator.batches[batch_id]["output"]["inlinedResponses"]["inlinedResponses"]
    errors = [{"code": 3, "message": "bad field"}, {"code": 14, "message": "try later"}, {"code": 500, "message": "x"}]
    for record, error in zip(sorted(records, key=lambda r: r["metadata"]["key"]), errors, strict=True):
        record.pop("response", None)
        record["error"] = error
    assert client.poll(batch_id) == "ended"  # the operation as it now reads
    results = {r.custom_id: r for r in client.fetch(batch_id)}
    assert (results["u0-s0-a1"].error, results["u0-s0-a1"].fault) == ("INVALID_ARGUMENT: bad field", None)
    assert (results["u1-s0-a1"].error, results["u1-s0-a1"].fault) == ("UNAVAILABLE: try later", "provider")
    assert results["u2-s0-a1"].fault == "provider"


def test_expired_batch_ends_with_the_unanswered_requests_expired(emulator: GeminiEmulator, client: GeminiBatch) -> None:
    emulator.faults.expired_rate = 0.3
    sent = requests(20)
    batch_id = client.submit_batch("run-1:chunk-e", sent)
    assert run_to_end(client, batch_id)[-1] == "ended"
    assert emulator.batches[batch_id]["state"] == "BATCH_STATE_EXPIRED"
    statuses = {r.custom_id: r.status for r in client.fetch(batch_id)}
    expected = {r.custom_id: "expired" if emulator.outcome(r.custom_id) == "expired" else "ok" for r in sent}
    assert statuses == expected and "expired" in statuses.values() and "ok" in statuses.values()


def test_cancel_gives_partial_results(emulator: GeminiEmulator, client: GeminiBatch) -> None:
    sent = requests(10)
    batch_id = client.submit_batch("run-1:chunk-c", sent)
    assert client.poll(batch_id) == "running"
    client.cancel(batch_id)
    assert client.poll(batch_id) == "ended"
    assert emulator.batches[batch_id]["state"] == "BATCH_STATE_CANCELLED"
    statuses = {r.custom_id: r.status for r in client.fetch(batch_id)}
    assert statuses == {r.custom_id: "ok" if i < 5 else "cancelled" for i, r in enumerate(sent)}
    assert sorted(emulator.billed) == sorted(r.custom_id for r in sent[:5])
    with pytest.raises(ProviderError) as refused:
        client.cancel(batch_id)  # an ended batch cannot be cancelled
    assert refused.value.status == 400


def test_blocked_answer_is_an_error_with_the_reason(emulator: GeminiEmulator, client: GeminiBatch) -> None:
    sent = [Request("ok-1", body("fine")), Request("bad-1", body(f"please {BLOCK_MARKER}"))]
    batch_id = client.submit_batch("run-1:chunk-s", sent)
    run_to_end(client, batch_id)
    by_id = {r.custom_id: r for r in client.fetch(batch_id)}
    assert by_id["ok-1"].status == "ok"
    assert by_id["bad-1"].status == "error" and by_id["bad-1"].error == "no answer text (finishReason SAFETY)"


def test_failed_batch_polls_failed(emulator: GeminiEmulator, client: GeminiBatch) -> None:
    emulator.faults.fail_batches = 1
    batch_id = client.submit_batch("run-1:chunk-f", requests(3))
    assert client.poll(batch_id) == "failed"
    assert client.failure(batch_id) == "INTERNAL: The batch failed."  # a google.rpc.Status, named from its code
    assert emulator.billed == []


# ---------------------------------------------------------------- crash reconciliation
def test_find_batch_after_a_crash_pages_and_never_takes_another_chunk(emulator: GeminiEmulator) -> None:
    emulator.max_page_size = 3
    first = GeminiBatch(API_KEY, base_url=emulator.base_url, backoff=0.001)
    names = {
        key: first.submit_batch(key, requests(1, prefix=key.split(":")[1]))
        for key in [f"run-1:c{i}" for i in range(1, 11)]
    }
    first.close()  # the process dies before the ids are recorded
    fresh = GeminiBatch(API_KEY, base_url=emulator.base_url, backoff=0.001)
    before = sum(1 for m, p, _ in emulator.log if m == "GET" and p == "/v1/batches")
    assert fresh.find_batch("run-1:c1", count=1, since=time.time() - 60) == names["run-1:c1"]  # the oldest: last page
    lists = sum(1 for m, p, _ in emulator.log if m == "GET" and p == "/v1/batches") - before
    assert lists == 4  # 10 batches, 3 a page
    assert fresh.find_batch("run-1:c10", count=1, since=0) == names["run-1:c10"]
    assert fresh.find_batch("run-1:c11", count=1, since=0) is None
    assert fresh.find_batch("run-1:c", count=1, since=0) is None
    # a fresh client fetches what the service answered (the request keys are not echoed)
    assert run_to_end(fresh, names["run-1:c3"])[-1] == "ended"
    assert [r.custom_id for r in fresh.fetch(names["run-1:c3"])] == ["c30-s0-a1"]
    fresh.close()


# ---------------------------------------------------------------- transport failures
def test_429_storm_honours_retry_info(emulator: GeminiEmulator, client: GeminiBatch) -> None:
    batch_id = client.submit_batch("run-1:chunk-r", requests(2))
    slept: list[float] = []
    client.http.sleep = slept.append
    emulator.faults.storm, emulator.faults.retry_after = 3, 0.25
    assert client.poll(batch_id) == "running"
    assert slept == [0.25, 0.25, 0.25]
    assert [s for _, _, s in emulator.log[-4:]] == [429, 429, 429, 200]


def test_http_client_uses_the_retry_hint_only_when_given(emulator: GeminiEmulator) -> None:
    for hint, expected in ((retry_delay, [0.25, 0.25]), (None, None)):
        slept: list[float] = []
        http = HttpClient(
            emulator.base_url + "/v1beta",
            {"x-goog-api-key": API_KEY},
            provider="gemini",
            backoff=0.001,
            sleep=slept.append,
            retry_hint=hint,
        )
        emulator.faults.storm, emulator.faults.retry_after = 2, 0.25
        assert http.json("GET", "/batches") == {"operations": []}
        if expected is not None:
            assert slept == expected
        else:  # no hint, no header: jittered backoff from 0.001 s
            assert len(slept) == 2 and max(slept) <= 0.002
        http.close()


def test_retry_delay_reads_google_durations() -> None:
    def answer(delay: str) -> httpx.Response:
        detail = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
        return httpx.Response(429, json={"error": {"code": 429, "details": [{"@type": "x.Other"}, detail]}})

    assert retry_delay(answer("2s")) == 2.0 and retry_delay(answer("1.5s")) == 1.5
    assert retry_delay(answer("soon")) is None and retry_delay(httpx.Response(429, text="busy")) is None


def test_5xx_is_retried_on_reads_but_not_on_create(emulator: GeminiEmulator, client: GeminiBatch) -> None:
    batch_id = client.submit_batch("run-1:chunk-5", requests(2))
    emulator.faults.storm, emulator.faults.storm_status = 2, 503
    assert client.poll(batch_id) == "running"
    emulator.faults.storm = 1
    with pytest.raises(ProviderError) as down:
        client.submit_batch("run-1:chunk-6", requests(2))  # may have been created: found again, not re-sent
    assert down.value.status == 503 and emulator.batches_created == 1
    emulator.faults.storm, emulator.faults.storm_status = 1, 429
    client.submit_batch("run-1:chunk-6", requests(2))  # a 429 surely created nothing: retried
    assert emulator.batches_created == 2


def test_outage_raises_provider_error(emulator: GeminiEmulator, client: GeminiBatch) -> None:
    emulator.faults.outage_until = time.monotonic() + 30
    with pytest.raises(ProviderError) as down:
        client.find_batch("run-1:x", count=1, since=0)
    assert down.value.status == 503 and not down.value.request_fault


def test_refused_key_stops_like_a_401_and_never_shows_the_key(emulator: GeminiEmulator) -> None:
    secret = "AIzaSy-not-the-right-key-0000"
    for key, status in ((secret, 401), ("", 403)):
        bad = GeminiBatch(key, base_url=emulator.base_url, backoff=0.001)
        with pytest.raises(ProviderError) as refused:
            bad.submit_batch("run-1:k", requests(1))
        assert refused.value.status == status and not refused.value.request_fault
        assert secret not in str(refused.value) and "GEMINI_API_KEY" in str(refused.value)
        bad.close()
    realtime = GeminiRealtime(secret, base_url=emulator.base_url, backoff=0.001)
    with pytest.raises(ProviderError) as refused:
        realtime.call(Request("u1", body()))
    assert refused.value.status == 401 and secret not in str(refused.value)
    assert emulator.batches_created == 0


def test_answer_that_is_not_json_is_a_provider_error(emulator: GeminiEmulator, client: GeminiBatch) -> None:
    batch_id = client.submit_batch("run-1:chunk-j", requests(1))
    emulator.garble = 1
    with pytest.raises(ProviderError, match="not JSON"):
        client.poll(batch_id)
    emulator.garble = 1
    with pytest.raises(ProviderError, match="not JSON"):
        GeminiRealtime(API_KEY, base_url=emulator.base_url).call(Request("u1", body()))


# ---------------------------------------------------------------- realtime
def test_realtime_ok_refused_and_retried(emulator: GeminiEmulator) -> None:
    realtime = GeminiRealtime(API_KEY, base_url=emulator.base_url, backoff=0.001)
    ok = realtime.call(Request("u1-s0-a1", body()))
    raw = json.loads(ok.raw)
    assert ok.status == "ok" and ok.text == raw["candidates"][0]["content"]["parts"][0]["text"]
    assert ok.usage == {
        "input_tokens": raw["usageMetadata"]["promptTokenCount"],
        "output_tokens": raw["usageMetadata"]["candidatesTokenCount"],
        "cached_tokens": 0,
    }
    refused = realtime.call(Request("u2-s0-a1", body("")))  # the service refuses an empty text part
    assert refused.status == "error" and "empty text parameter" in (refused.error or "")
    blocked = realtime.call(Request("u3-s0-a1", body(BLOCK_MARKER)))
    assert blocked.status == "error" and "SAFETY" in (blocked.error or "")
    emulator.faults.storm, emulator.faults.storm_status = 2, 503
    assert realtime.call(Request("u4-s0-a1", body("again"))).status == "ok"
    emulator.faults.error_rate = 1.0  # every body fails once with a 500, then answers
    assert realtime.call(Request("u5-s0-a1", body("flaky"))).status == "ok"
    assert [s for m, _, s in emulator.log if m == "POST"][-2:] == [500, 200]
    realtime.close()


# ---------------------------------------------------------------- the emulator's rules
def raw_create(emulator: GeminiEmulator, batch: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        emulator.base_url + "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        json={"batch": batch},
        headers={"x-goog-api-key": API_KEY},
    )


def entry(key: str | None = "k1", **config: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    if config:
        request["generationConfig"] = config
    return {"request": request, **({"metadata": {"key": key}} if key else {})}


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ({"inputConfig": {"requests": {"requests": [entry()]}}}, "display_name is required"),
        ({"displayName": "t", "inputConfig": {"requests": {"requests": []}}}, "must not be empty"),
        ({"displayName": "t", "inputConfig": {"requests": {"requests": [entry(), entry()]}}}, "duplicate"),
        ({"displayName": "t", "inputConfig": {"requests": {"requests": [entry(None)]}}}, "metadata.key is required"),
        (
            {"displayName": "t", "inputConfig": {"requests": {"requests": [entry(max_tokens=5)]}}},
            'Unknown name "max_tokens"',
        ),
        (
            {"displayName": "t", "inputConfig": {"requests": {"requests": [entry(responseJsonSchema=SCHEMA)]}}},
            "response_mime_type",
        ),
        (
            {"displayName": "t", "input_config": {"requests": {"requests": [{"request": {}}]}}},
            "contents is not specified",
        ),
        ({"displayName": "t", "metadata": {}}, 'Unknown name "metadata"'),
    ],
)
def test_emulator_rejects_what_the_service_rejects(
    emulator: GeminiEmulator, batch: dict[str, Any], message: str
) -> None:
    answer = raw_create(emulator, batch)
    assert answer.status_code == 400 and message in answer.json()["error"]["message"]
    assert answer.json()["error"]["status"] == "INVALID_ARGUMENT" and emulator.batches_created == 0


def test_emulator_accepts_snake_case_and_rejects_oversized_batches(
    emulator: GeminiEmulator, client: GeminiBatch
) -> None:
    ok = raw_create(emulator, {"display_name": "t", "input_config": {"requests": {"requests": [entry()]}}})
    assert ok.status_code == 200 and ok.json()["metadata"]["state"] == "BATCH_STATE_PENDING"
    emulator.max_inline_bytes = 2_000
    with pytest.raises(ProviderError) as too_big:
        client.submit_batch("run-1:big", requests(20))
    assert too_big.value.status == 400 and too_big.value.kind == "too_large" and "payload size" in str(too_big.value)
