"""Realtime calls behind the batch interface: every answer kept as it arrives, outages
paused, refused requests reported per request, nothing paid for asked again."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from octolang.providers.base import ProviderError, Request, Result
from octolang.providers.realtime import RealtimeBatch


class FakeClient:
    name = "fake"

    def __init__(self, *, down_after: int | None = None, refuse: set[str] | None = None) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()
        self.down_after = down_after
        self.refuse = refuse or set()

    def encode(self, request: Request) -> bytes:
        return (json.dumps({"id": request.custom_id, **request.body}) + "\n").encode()

    def call(self, request: Request) -> Result:
        with self.lock:
            if self.down_after is not None and len(self.calls) >= self.down_after:
                raise ProviderError("fake: 503 after 7 tries", status=503)
            self.calls.append(request.custom_id)
        if request.custom_id in self.refuse:
            raise ProviderError("fake: 400 invalid_request_error: bad schema", status=400)
        text = json.dumps({"echo": request.body["prompt"]})
        return Result(request.custom_id, "ok", text=text, raw=text, usage={"input_tokens": 3, "output_tokens": 2})


def requests(n: int) -> list[Request]:
    return [Request(f"u{i}-s0-a1", {"prompt": f"p{i}"}) for i in range(n)]


def test_calls_happen_on_poll_and_answers_come_back_by_id(tmp_path: Path) -> None:
    client = FakeClient()
    batch = RealtimeBatch(client, str(tmp_path / "ledger.sqlite"), concurrency=4)
    batch_id = batch.submit_batch("run:chunk", requests(20))
    assert client.calls == []  # submitting only records
    assert batch.find_batch("run:chunk") == batch_id
    assert batch.submit_batch("run:chunk", requests(20)) == batch_id  # the same chunk is one batch
    assert batch.poll(batch_id) == "ended"
    results = {r.custom_id: r for r in batch.fetch(batch_id)}
    assert len(results) == 20 and all(r.status == "ok" for r in results.values())
    assert json.loads(results["u7-s0-a1"].text or "") == {"echo": "p7"}
    assert sorted(client.calls) == sorted(r.custom_id for r in requests(20))


def test_an_outage_pauses_the_batch_and_nothing_is_asked_twice(tmp_path: Path) -> None:
    ledger = str(tmp_path / "ledger.sqlite")
    down = FakeClient(down_after=6)
    batch = RealtimeBatch(down, ledger, concurrency=2)
    batch_id = batch.submit_batch("run:chunk", requests(10))
    with pytest.raises(ProviderError):
        batch.poll(batch_id)
    batch.close()
    up = FakeClient()  # a new process after the outage (or a crash): same ledger
    again = RealtimeBatch(up, ledger, concurrency=2)
    assert again.find_batch("run:chunk") == batch_id
    assert again.poll(batch_id) == "ended"
    assert set(down.calls).isdisjoint(up.calls)
    assert sorted(down.calls + up.calls) == sorted(r.custom_id for r in requests(10))
    assert all(r.status == "ok" for r in again.fetch(batch_id))


def test_a_refused_request_is_that_request_s_error(tmp_path: Path) -> None:
    client = FakeClient(refuse={"u3-s0-a1"})
    batch = RealtimeBatch(client, str(tmp_path / "ledger.sqlite"))
    batch_id = batch.submit_batch("run:chunk", requests(5))
    assert batch.poll(batch_id) == "ended"
    results = {r.custom_id: r for r in batch.fetch(batch_id)}
    assert results["u3-s0-a1"].status == "error" and "bad schema" in (results["u3-s0-a1"].error or "")
    assert sum(r.status == "ok" for r in results.values()) == 4


def test_a_poll_stops_when_its_time_is_up_and_goes_on_later(tmp_path: Path) -> None:
    client = FakeClient()
    batch = RealtimeBatch(client, str(tmp_path / "ledger.sqlite"), concurrency=1, poll_seconds=0)
    batch_id = batch.submit_batch("run:chunk", requests(3))
    states = [batch.poll(batch_id) for _ in range(3)]
    assert states == ["running", "running", "ended"]  # one call a poll: the deadline is checked between calls


def test_cancel_leaves_unsent_requests_cancelled(tmp_path: Path) -> None:
    client = FakeClient()
    batch = RealtimeBatch(client, str(tmp_path / "ledger.sqlite"), concurrency=1, poll_seconds=0)
    batch_id = batch.submit_batch("run:chunk", requests(3))
    batch.poll(batch_id)
    batch.cancel(batch_id)
    assert batch.poll(batch_id) == "ended"
    assert sorted(r.status for r in batch.fetch(batch_id)) == ["cancelled", "cancelled", "ok"]


def test_a_models_concurrency_bounds_its_realtime_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from octolang.compiler import compile_source
    from octolang.providers.registry import ProviderSettings, make_provider
    from octolang.source import SourceFile

    text = (
        'pipeline p\nmodel m = openai "gpt-4.1-mini" { mode = realtime, concurrency = 3 }\n'
        'model d = openai "gpt-4.1-mini" { mode = realtime }\nunits u { trials 2 }\n'
        'step s = llm m { prompt "hi" output { a: int } }\nstep t = llm d { prompt "{{ s.a }}" output { a: int } }\n'
        "report r { x = mean(t.a) }\n"
    )
    program = compile_source(SourceFile("p.octo", text)).program
    assert program is not None
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    settings = ProviderSettings(folder=str(tmp_path))
    given = make_provider("m:realtime", program.models[0], settings)
    default = make_provider("d:realtime", program.models[1], settings)
    assert isinstance(given, RealtimeBatch) and isinstance(default, RealtimeBatch)
    assert (given.concurrency, default.concurrency) == (3, 8)
    given.close()
    default.close()
