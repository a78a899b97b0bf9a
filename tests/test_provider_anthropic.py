"""The Anthropic client against the loopback emulator: the wire shape, the batch
lifecycle with mixed outcomes, cancellation, finding a batch again after a crash, every
failure the service can answer, and the realtime endpoint."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from octolang.providers.anthropic import AnthropicBatch, AnthropicRealtime, chunk_tag
from octolang.providers.base import ProviderError, Request
from tests.emulators import anthropic as emulator_module
from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.base import API_KEY, Call, Faults, Reply

SCHEMA = {
    "type": "object",
    "properties": {"text": {"type": "string"}, "tone": {"type": "string", "enum": ["calm", "angry"]}},
    "required": ["text", "tone"],
    "additionalProperties": False,
}


def body(prompt: str = "Say hi", **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "system": "You are terse.",
        "prompt": prompt,
        "schema_name": "line",
        "schema": SCHEMA,
        "params": {"temperature": 0.5, "max_tokens": 300, "seed": 7},
    }
    out.update(changes)
    return out


def requests(n: int, prefix: str = "u") -> list[Request]:
    return [Request(f"{prefix}{i}-s0-a1", body(f"line {i}")) for i in range(n)]


@pytest.fixture
def emulator() -> Iterator[AnthropicEmulator]:
    with AnthropicEmulator(seed=3, faults=Faults(retry_after=0.01)) as running:
        assert isinstance(running, AnthropicEmulator)
        yield running


def batch_client(emulator: AnthropicEmulator, key: str = API_KEY) -> AnthropicBatch:
    return AnthropicBatch(key, base_url=emulator.base_url, backoff=0.001)


@pytest.fixture
def client(emulator: AnthropicEmulator) -> Iterator[AnthropicBatch]:
    made = batch_client(emulator)
    yield made
    made.close()


def run_to_end(client: AnthropicBatch, batch_id: str) -> None:
    for _ in range(10):
        if client.poll(batch_id) == "ended":
            return
    raise AssertionError("the batch never ended")


# ------------------------------------------------------------------ the wire
def test_encode_is_one_requests_entry_with_the_tool_forced() -> None:
    """`temperature` and `seed` are not sent: the Messages API has neither (providers/parameters.py)."""
    client = AnthropicBatch("k")
    line = client.encode(Request("u1-s0-a1", body()))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == {
        "custom_id": "u1-s0-a1",
        "params": {
            "model": "claude-haiku-4-5",
            "max_tokens": 300,
            "system": "You are terse.",
            "messages": [{"role": "user", "content": "Say hi"}],
            "tools": [
                {
                    "name": "line",
                    "description": "Record the `line` answer in this exact shape.",
                    "input_schema": SCHEMA,
                }
            ],
            "tool_choice": {"type": "tool", "name": "line"},
        },
    }


def test_free_text_without_system_gets_the_default_max_tokens() -> None:
    params = {"top_p": 0.9, "top_k": 5}  # neither sent, to an older Claude model or a newer one
    line = AnthropicBatch("k").encode(Request("u2-s1-a3", body(system=None, schema={}, params=params)))
    assert json.loads(line) == {
        "custom_id": "u2-s1-a3",
        "params": {
            "model": "claude-haiku-4-5",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "Say hi"}],
        },
    }


def test_the_wire_ids_carry_the_chunk_tag_and_the_encoded_params(
    emulator: AnthropicEmulator, client: AnthropicBatch
) -> None:
    sent = requests(3)
    batch_id = client.submit_batch("run-1:line-1-u0", sent)
    assert re.fullmatch(r"msgbatch_01[0-9A-Za-z]{22}", batch_id)
    tag = chunk_tag("run-1:line-1-u0")
    on_wire = emulator.batches[batch_id]["requests"]
    assert [r["custom_id"] for r in on_wire] == [f"{r.custom_id}_{tag}" for r in sent]
    assert [r["params"] for r in on_wire] == [json.loads(client.encode(r))["params"] for r in sent]


# ------------------------------------------------------------------ the lifecycle
def test_submit_poll_fetch_with_mixed_outcomes_out_of_order(
    emulator: AnthropicEmulator, client: AnthropicBatch
) -> None:
    emulator.faults.error_rate, emulator.faults.expired_rate, emulator.faults.malformed_rate = 0.2, 0.15, 0.2
    emulator.cache_tokens = (5, 7)
    sent = requests(40)
    key = "run-1:line-1-u0"
    batch_id = client.submit_batch(key, sent)
    assert client.poll(batch_id) == "running"
    assert client.poll(batch_id) == "ended"
    results = client.fetch(batch_id)
    assert sorted(r.custom_id for r in results) == sorted(r.custom_id for r in sent)
    assert [r.custom_id for r in results] != [r.custom_id for r in sent]  # any order: matched by id

    wire = {r.custom_id: f"{r.custom_id}_{chunk_tag(key)}" for r in sent}
    expected = {r.custom_id: emulator.outcome(r.custom_id) for r in sent}  # drawn without the tag
    assert set(expected.values()) == {"ok", "error", "expired", "malformed"}
    status = {"ok": "ok", "malformed": "ok", "error": "error", "expired": "expired"}
    for result in results:
        outcome = expected[result.custom_id]
        assert result.status == status[outcome], result
        assert json.loads(result.raw)["custom_id"] == wire[result.custom_id]
        if outcome == "ok":
            answer = json.loads(result.text or "")
            assert set(answer) == {"text", "tone"} and answer["tone"] in ("calm", "angry")
        if result.status == "ok":
            usage = json.loads(result.raw)["result"]["message"]["usage"]
            assert result.usage == {
                "input_tokens": usage["input_tokens"] + 12,
                "output_tokens": usage["output_tokens"],
                "cached_tokens": 7,
            }
        else:
            assert result.text is None and result.error
    errored = next(r for r in results if r.status == "error")
    assert errored.error and errored.error.startswith("invalid_request_error: prompt is too long")
    assert sorted(emulator.billed) == sorted(cid for cid in wire if expected[cid] in ("ok", "malformed"))
    assert emulator.batches_created == 1


def test_free_text_answers_come_back_as_text(emulator: AnthropicEmulator, client: AnthropicBatch) -> None:
    batch_id = client.submit_batch("run:free", [Request("u1-s0-a1", body(schema={}))])
    run_to_end(client, batch_id)
    (result,) = client.fetch(batch_id)
    assert result.status == "ok" and result.text and not result.text.startswith('"')


def test_cancel_gives_partial_results(emulator: AnthropicEmulator, client: AnthropicBatch) -> None:
    emulator.faults.polls_to_end = 4
    sent = requests(40)
    batch_id = client.submit_batch("run:c", sent)
    assert client.poll(batch_id) == "running"
    client.cancel(batch_id)
    assert emulator.batches[batch_id]["batch"]["processing_status"] == "canceling"
    assert client.poll(batch_id) == "ended"
    results = client.fetch(batch_id)
    done = {r.custom_id for r in results if r.status == "ok"}
    cancelled = {r.custom_id for r in results if r.status == "cancelled"}
    assert done and cancelled and len(done) + len(cancelled) == 40
    assert set(emulator.billed) == done  # only what ran is billed


def test_a_batch_that_failed_as_a_whole_polls_failed(emulator: AnthropicEmulator, client: AnthropicBatch) -> None:
    emulator.faults.fail_batches = 1
    lost = client.submit_batch("run:lost", requests(2))
    kept = client.submit_batch("run:kept", requests(2, "v"))
    assert client.poll(lost) == "failed"
    assert client.poll(kept) == "running"
    assert emulator.billed == []


# ------------------------------------------------------------------ crash reconciliation
def test_find_batch_adopts_only_this_chunks_batch_across_pages(emulator: AnthropicEmulator) -> None:
    first = batch_client(emulator)
    real_clock = emulator.clock
    emulator.clock = lambda: real_clock() - 3600  # an hour ago: outside any window
    for n in range(3):
        first.submit_batch(f"old:{n}", requests(5, f"o{n}-"))
    emulator.clock = real_clock
    since = time.time()
    first.submit_batch("run:a", requests(5, "a"))
    ours = first.submit_batch("run:b", requests(5, "b"))  # the crash: created, never recorded
    first.submit_batch("run:c", requests(5, "c"))
    for n in range(6):
        first.submit_batch(f"run:other{n}", requests(n + 1, f"x{n}-"))  # other sizes
    first.close()

    fresh = batch_client(emulator)
    fresh.page_size = 2
    with pytest.raises(ProviderError, match="checked only once it has ended"):
        fresh.find_batch("run:b", count=5, since=since)  # three candidates, none ended yet
    lists = [entry for entry in emulator.log if entry[:2] == ("GET", "/v1/messages/batches")]
    assert len(lists) == 5  # 12 batches, 2 a page: stops at the first one older than the window
    assert fresh.find_batch("run:b", count=5, since=since) == ours  # ended now: proven by its tag
    reads = len(emulator.log)
    assert sorted(r.custom_id for r in fresh.fetch(ours)) == sorted(r.custom_id for r in requests(5, "b"))
    assert [e for e in emulator.log[reads:] if e[1].endswith("/results")] == []  # read once, while proving it
    assert fresh.find_batch("run:b", count=5, since=since) == ours
    assert fresh.find_batch("run:never-sent", count=5, since=since) is None  # the others are not its
    assert fresh.find_batch("run:b", count=4, since=since) == ours  # known to this client now
    fresh.close()
    assert emulator.batches_created == 12


def test_batches_this_client_polled_are_not_candidates(emulator: AnthropicEmulator) -> None:
    first = batch_client(emulator)
    since = time.time()
    recorded = first.submit_batch("run:a", requests(3))
    first.close()
    fresh = batch_client(emulator)
    assert fresh.poll(recorded) == "running"  # the runner polls only batches it recorded
    assert fresh.find_batch("run:b", count=3, since=since) is None
    fresh.close()


def test_a_client_alive_since_the_intent_does_not_look(emulator: AnthropicEmulator, client: AnthropicBatch) -> None:
    batch_id = client.submit_batch("run:a", requests(2))
    assert client.find_batch("run:a", count=2, since=time.time()) == batch_id
    calls = len(emulator.log)
    assert client.find_batch("run:b", count=2, since=time.time()) is None
    assert len(emulator.log) == calls


def test_a_create_that_may_have_acted_is_looked_for(emulator: AnthropicEmulator, client: AnthropicBatch) -> None:
    emulator.faults.storm, emulator.faults.storm_status = 1, 500
    with pytest.raises(ProviderError) as failed:
        client.submit_batch("run:a", requests(2))
    assert failed.value.status == 500 and emulator.batches_created == 0  # not retried: it may have acted
    calls = len(emulator.log)
    assert client.find_batch("run:a", count=2, since=time.time() - 1) is None
    assert len(emulator.log) == calls + 1  # it listed before saying no

    def garbled(call: Call, match: re.Match[str]) -> Reply:
        emulator.routes.pop(0)
        emulator._create(call, match)  # created, but the answer is lost in transit
        return Reply(200, b"<html>bad gateway</html>", content_type="text/html")

    emulator.routes.insert(0, ("POST", re.compile(r"/v1/messages/batches\Z"), garbled))
    since = time.time()
    with pytest.raises(ProviderError, match="not JSON"):
        client.submit_batch("run:b", requests(2, "b"))
    assert emulator.batches_created == 1
    with pytest.raises(ProviderError, match="checked only once it has ended"):
        client.find_batch("run:b", count=2, since=since)
    [created] = emulator.batches
    assert client.find_batch("run:b", count=2, since=since) == created  # ended on the second look


# ------------------------------------------------------------------ failures
def test_a_429_storm_is_waited_out(emulator: AnthropicEmulator, client: AnthropicBatch) -> None:
    emulator.faults.storm = 3
    batch_id = client.submit_batch("run:a", requests(2))
    assert [s for _, _, s in emulator.log] == [429, 429, 429, 200]
    assert emulator.batches_created == 1 and client.http.retried == 3 and batch_id in emulator.batches


def test_5xx_and_529_on_a_poll_are_retried(emulator: AnthropicEmulator, client: AnthropicBatch) -> None:
    batch_id = client.submit_batch("run:a", requests(2))
    emulator.faults.storm, emulator.faults.storm_status = 2, 503
    assert client.poll(batch_id) == "running"
    emulator.faults.storm, emulator.faults.storm_status = 2, 529
    assert client.poll(batch_id) == "ended"


def test_an_outage_is_a_provider_error(emulator: AnthropicEmulator, client: AnthropicBatch) -> None:
    emulator.faults.outage_until = time.monotonic() + 60
    with pytest.raises(ProviderError) as failed:
        client.poll("msgbatch_01x")
    assert failed.value.status == 503 and not failed.value.request_fault


def test_a_wrong_key_is_refused_and_never_shown(emulator: AnthropicEmulator) -> None:
    secret = "sk-ant-api03-very-secret-value"
    for make in (AnthropicBatch, AnthropicRealtime):
        wrong = make(secret, base_url=emulator.base_url, backoff=0.001)
        with pytest.raises(ProviderError) as failed:
            if isinstance(wrong, AnthropicBatch):
                wrong.submit_batch("run:a", requests(1))
            else:
                wrong.call(requests(1)[0])
        wrong.close()
        assert failed.value.status == 401
        assert "authentication_error: invalid x-api-key" in str(failed.value)
        assert "ANTHROPIC_API_KEY" in str(failed.value) and secret not in str(failed.value)


def test_malformed_answers_from_the_service_are_provider_errors(
    emulator: AnthropicEmulator, client: AnthropicBatch
) -> None:
    batch_id = client.submit_batch("run:a", requests(2))
    replies = {"html": Reply(200, b"<html>oops</html>", content_type="text/html"), "shape": Reply(200, {"x": 1})}
    for kind, reply in replies.items():

        def answer(call: Call, match: re.Match[str], reply: Reply = reply) -> Reply:
            return reply

        emulator.routes.insert(0, ("GET", re.compile(rf"/v1/messages/batches/{batch_id}\Z"), answer))
        with pytest.raises(ProviderError, match="not JSON" if kind == "html" else "not a message batch"):
            client.poll(batch_id)
        emulator.routes.pop(0)
    run_to_end(client, batch_id)
    emulator.batches[batch_id]["results"] += b'{"custom_id": "u9-s0-a1", "result": \n'
    with pytest.raises(ProviderError, match=r"line 3 of batch .* is not JSON"):
        client.fetch(batch_id)


def test_results_on_another_host_are_not_followed(emulator: AnthropicEmulator, client: AnthropicBatch) -> None:
    batch_id = client.submit_batch("run:a", requests(1))
    run_to_end(client, batch_id)
    emulator.batches[batch_id]["batch"]["results_url"] = "https://elsewhere.example/results"
    with pytest.raises(ProviderError, match="another host"):
        client.fetch(batch_id)


# ------------------------------------------------------------------ what the service refuses
def test_the_emulator_refuses_what_anthropic_refuses(
    emulator: AnthropicEmulator, client: AnthropicBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch envelope is checked at create; each request's params only as the batch runs."""

    def refused(batch: list[dict[str, Any]]) -> str:
        response = httpx.post(
            f"{emulator.base_url}/v1/messages/batches",
            json={"requests": batch},
            headers={"authorization": f"Bearer {API_KEY}", "anthropic-version": "2026-10-21"},
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert response.headers["request-id"].startswith("req_")
        return str(response.json()["error"]["message"])

    good = json.loads(client.encode(requests(1)[0]))
    params = good["params"]
    assert "pattern" in refused([{"custom_id": "u1.s0", "params": params}])
    assert "pattern" in refused([{"custom_id": "x" * 65, "params": params}])
    assert "Duplicate" in refused([good, good])
    assert "params: Input should be an object" in refused([{"custom_id": "a", "params": [1]}])
    assert "at least 1" in refused([])
    monkeypatch.setattr(emulator_module, "MAX_REQUESTS", 3)
    assert "at most 3" in refused([{"custom_id": f"a{i}", "params": params} for i in range(4)])
    with pytest.raises(ProviderError) as failed:
        client.submit_batch("run:a", [Request("u1.s0", body())])
    assert failed.value.status == 400 and failed.value.request_fault
    emulator.max_batch_bytes = 100
    with pytest.raises(ProviderError) as too_big:
        client.submit_batch("run:a", requests(1))
    assert too_big.value.status == 413 and "request_too_large" in str(too_big.value)
    assert emulator.batches_created == 0


def test_bad_params_come_back_as_errored_results_of_those_requests(
    emulator: AnthropicEmulator, client: AnthropicBatch
) -> None:
    """As the service does, a batch with bad params is accepted; each bad request ends
    `errored` (invalid_request_error), which the client reads as that request's own fault."""
    good = requests(1)[0]
    bad = {
        "u1-s0-a1": body(params={"max_tokens": -1}),
        "u2-s0-a1": body(schema_name="a line"),
        "u3-s0-a1": body(schema={"type": "string"}),
    }
    batch_id = client.submit_batch("run:a", [good, *(Request(cid, b) for cid, b in bad.items())])
    run_to_end(client, batch_id)
    results = {r.custom_id: r for r in client.fetch(batch_id)}
    assert results[good.custom_id].status == "ok"
    expected = {"u1-s0-a1": "max_tokens", "u2-s0-a1": "tools.0.name", "u3-s0-a1": "input_schema.type"}
    for custom_id, field in expected.items():
        result = results[custom_id]
        assert result.status == "error" and result.fault is None, result
        assert result.error is not None and result.error.startswith("invalid_request_error: params.")
        assert field in result.error
    counts = emulator.batches[batch_id]["batch"]["request_counts"]
    assert counts["errored"] == 3 and counts["succeeded"] == 1
    assert emulator.billed == ["u0-s0-a1"]


def test_the_version_header_is_required(emulator: AnthropicEmulator) -> None:
    response = httpx.get(f"{emulator.base_url}/v1/messages/batches", headers={"x-api-key": API_KEY})
    assert response.status_code == 400 and "anthropic-version" in response.json()["error"]["message"]
    unknown = {"x-api-key": API_KEY, "anthropic-version": "2099-01-01"}
    response = httpx.get(f"{emulator.base_url}/v1/messages/batches", headers=unknown)
    assert response.status_code == 400 and "unknown version" in response.json()["error"]["message"]
    for auth in ({"x-api-key": API_KEY}, {"authorization": f"Bearer {API_KEY}"}):
        headers = {**auth, "anthropic-version": "2026-10-21"}
        response = httpx.get(f"{emulator.base_url}/v1/messages/batches", headers=headers)
        assert response.status_code == 200, auth


# ------------------------------------------------------------------ realtime
@pytest.fixture
def realtime(emulator: AnthropicEmulator) -> Iterator[AnthropicRealtime]:
    made = AnthropicRealtime(API_KEY, base_url=emulator.base_url, backoff=0.001)
    yield made
    made.close()


def test_realtime_answers_with_text_and_usage(emulator: AnthropicEmulator, realtime: AnthropicRealtime) -> None:
    request = requests(1)[0]
    assert json.loads(realtime.encode(request)) == json.loads(AnthropicBatch("k").encode(request))["params"]
    result = realtime.call(request)
    assert result.status == "ok" and set(json.loads(result.text or "")) == {"text", "tone"}
    message = json.loads(result.raw)
    assert result.usage["input_tokens"] == message["usage"]["input_tokens"] > 0
    assert result.usage["output_tokens"] == message["usage"]["output_tokens"] > 0
    assert len(emulator.billed) == 1


def test_realtime_refused_request_is_that_requests_error(
    emulator: AnthropicEmulator, realtime: AnthropicRealtime
) -> None:
    request = Request("u1-s0-a1", body(params={"max_tokens": -5}))
    result = realtime.call(request)
    assert result.status == "error" and "max_tokens" in (result.error or "") and emulator.billed == []


@pytest.mark.parametrize(("fault", "status"), [("error_rate", 500), ("expired_rate", 529)])
def test_realtime_retries_until_the_service_answers(
    emulator: AnthropicEmulator, realtime: AnthropicRealtime, fault: str, status: int
) -> None:
    setattr(emulator.faults, fault, 1.0)
    result = realtime.call(requests(1)[0])
    assert result.status == "ok"
    assert [s for _, _, s in emulator.log] == [status, 200]


def test_realtime_503s_are_retried_and_an_outage_raises(
    emulator: AnthropicEmulator, realtime: AnthropicRealtime
) -> None:
    emulator.faults.storm, emulator.faults.storm_status = 2, 503
    assert realtime.call(requests(1)[0]).status == "ok"
    emulator.faults.outage_until = time.monotonic() + 60
    with pytest.raises(ProviderError) as failed:
        realtime.call(requests(2)[1])
    assert failed.value.status == 503


def test_results_split_only_on_newlines(emulator: AnthropicEmulator, client: AnthropicBatch) -> None:
    batch_id = client.submit_batch("run:a", [Request("u1-s0-a1", body(schema={}))])
    run_to_end(client, batch_id)
    record = json.loads(emulator.batches[batch_id]["results"])
    record["result"]["message"]["content"] = [{"type": "text", "text": "one\u2028two\u0085three"}]
    emulator.batches[batch_id]["results"] = (json.dumps(record, ensure_ascii=False) + "\r\n").encode()
    (result,) = client.fetch(batch_id)
    assert result.status == "ok" and result.text == "one\u2028two\u0085three"
