"""The official SDKs as clients of the emulators (issue #12): openai, anthropic and
google-genai (the `test` extra) each drive their emulator on 127.0.0.1 through a batch's
whole life (create, retrieve, list, cancel, results; files for OpenAI), count tokens and
make a realtime call with structured output, and every answer is parsed with the SDK's
own response models (`model_validate`, not the SDKs' lenient construction). An emulator
the official client cannot use fails here. Seeds are fixed (SEED)."""

from __future__ import annotations

import json
import logging
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import Message, MessageTokensCount
from anthropic.types.messages import DeletedMessageBatch, MessageBatch, MessageBatchIndividualResponse
from google import genai
from google.genai import types as gtypes
from openai.types import Batch, BatchError, FileObject
from openai.types.chat import ChatCompletion
from pydantic import BaseModel, ConfigDict

from tests.emulators.anthropic import AnthropicEmulator
from tests.emulators.base import API_KEY, Emulator, Faults
from tests.emulators.gemini import GeminiEmulator
from tests.emulators.openai import OpenAIEmulator

SEED = 12
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string"}, "tone": {"type": "string", "enum": ["warm", "curt"]}},
    "required": ["text", "tone"],
    "additionalProperties": False,
}

JSON_SCHEMA = {"name": "line", "strict": True, "schema": SCHEMA}


class Line(BaseModel):
    """SCHEMA as a pydantic model, for openai's `chat.completions.parse`."""

    model_config = ConfigDict(extra="forbid")
    text: str
    tone: str


def calls_made(emulator: Emulator, provider: str) -> int:
    """The HTTP calls the SDK made, printed for the report; none was refused unless `refused` says so."""
    print(f"{provider}: the official SDK made {len(emulator.log)} calls")
    return len(emulator.log)


def parsed(model: type[Any], raw: Any) -> Any:
    """The raw answer of an SDK call (`with_raw_response`) validated with the SDK's model."""
    return model.model_validate(raw.http_response.json())


# ------------------------------------------------------------------ OpenAI
def openai_lines(n: int) -> bytes:
    lines = []
    for i in range(n):
        body = {
            "model": "gpt-4.1-mini",
            "messages": [{"role": "user", "content": f"line {i}"}],
            "response_format": {"type": "json_schema", "json_schema": JSON_SCHEMA},
        }
        lines.append({"custom_id": f"u{i}-s0-a1", "method": "POST", "url": "/v1/chat/completions", "body": body})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def openai_results(client: openai.OpenAI, file_id: str) -> list[dict[str, Any]]:
    """An output or error file, each line checked: its own id, and a body the SDK's models parse."""
    record = parsed(FileObject, client.files.with_raw_response.retrieve(file_id))
    assert record.purpose == "batch_output" and record.status == "processed"
    lines = [json.loads(line) for line in client.files.content(file_id).content.splitlines()]
    for line in lines:
        assert isinstance(line["id"], str) and line["id"].startswith("batch_req_"), line
        if line["response"] is not None and line["response"]["status_code"] == 200:
            completion = ChatCompletion.model_validate(line["response"]["body"])
            assert Line.model_validate_json(completion.choices[0].message.content or "")
        elif line["response"] is not None:
            assert openai.types.shared.ErrorObject.model_validate(line["response"]["body"]["error"])
        else:
            assert BatchError.model_validate(line["error"]).code in ("batch_cancelled", "batch_expired")
    return lines


def test_the_openai_sdk_drives_the_openai_emulator() -> None:
    with OpenAIEmulator(seed=SEED, faults=Faults(polls_to_end=2, error_rate=0.3)) as emulator:
        client = openai.OpenAI(api_key=API_KEY, base_url=emulator.base_url + "/v1", max_retries=0)
        upload = parsed(
            FileObject, client.files.with_raw_response.create(file=("in.jsonl", openai_lines(8)), purpose="batch")
        )
        assert upload.status == "processed" and upload.purpose == "batch"
        assert parsed(FileObject, client.files.with_raw_response.retrieve(upload.id)) == upload

        def create() -> Batch:
            raw = client.batches.with_raw_response.create(
                input_file_id=upload.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                metadata={"octo_chunk": "run:c1"},
            )
            return parsed(Batch, raw)

        batch = create()
        statuses = [batch.status]
        while batch.status not in ("completed", "failed", "expired", "cancelled"):
            batch = parsed(Batch, client.batches.with_raw_response.retrieve(batch.id))
            statuses.append(batch.status)
        assert statuses == ["validating", "in_progress", "finalizing", "completed"]
        counts = batch.request_counts
        assert counts is not None and counts.total == 8 == counts.completed + counts.failed and counts.failed > 0
        assert batch.output_file_id and batch.error_file_id
        done = openai_results(client, batch.output_file_id) + openai_results(client, batch.error_file_id)
        assert sorted(line["custom_id"] for line in done) == sorted(f"u{i}-s0-a1" for i in range(8))

        cancelled = create()  # cancelled while it is still validating
        assert parsed(Batch, client.batches.with_raw_response.cancel(cancelled.id)).status == "cancelling"
        cancelled = parsed(Batch, client.batches.with_raw_response.retrieve(cancelled.id))
        counts = cancelled.request_counts
        assert cancelled.status == "cancelled" and counts is not None
        assert counts.total == 8 == counts.completed + counts.failed
        assert cancelled.error_file_id is not None
        lines = openai_results(client, cancelled.error_file_id)
        assert any(line["error"] and line["error"]["code"] == "batch_cancelled" for line in lines)

        page = client.batches.with_raw_response.list(limit=1).http_response.json()
        assert [Batch.model_validate(b).id for b in page["data"]] == [cancelled.id] and page["has_more"]
        assert [b.id for b in client.batches.list(limit=1)] == [cancelled.id, batch.id]  # the SDK pages on

        answer = parsed(
            ChatCompletion,
            client.chat.completions.with_raw_response.create(
                model="gpt-4.1-mini",
                messages=[{"role": "user", "content": "Say a line."}],
                response_format={"type": "json_schema", "json_schema": JSON_SCHEMA},
            ),
        )
        assert Line.model_validate_json(answer.choices[0].message.content or "")
        structured = client.chat.completions.parse(
            model="gpt-4.1-mini", messages=[{"role": "user", "content": "Another line."}], response_format=Line
        )
        assert isinstance(structured.choices[0].message.parsed, Line)
        assert all(status < 400 for _, _, status in emulator.log), emulator.log
        assert calls_made(emulator, "openai") >= 20


# ------------------------------------------------------------------ Anthropic
def anthropic_params(i: int) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 300,
        "system": "You write dialogue.",
        "messages": [{"role": "user", "content": f"line {i}"}],
        "tools": [{"name": "line", "description": "Record the line.", "input_schema": SCHEMA}],
        "tool_choice": {"type": "tool", "name": "line"},
    }


def anthropic_results(client: anthropic.Anthropic, batch_id: str) -> dict[str, MessageBatchIndividualResponse]:
    out = {}
    for item in client.messages.batches.results(batch_id):
        checked = MessageBatchIndividualResponse.model_validate(item.to_dict())
        out[checked.custom_id] = checked
    return out


def test_the_anthropic_sdk_drives_the_anthropic_emulator() -> None:
    with AnthropicEmulator(seed=SEED, faults=Faults(polls_to_end=2, error_rate=0.2)) as emulator:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=emulator.base_url, max_retries=0)
        requests: list[Any] = [{"custom_id": f"u{i}-s0-a1", "params": anthropic_params(i)} for i in range(6)]
        requests.append({"custom_id": "bad-s0-a1", "params": {**anthropic_params(6), "max_tokens": -1}})
        raw = client.messages.batches.with_raw_response.create(requests=requests)
        assert raw.headers["request-id"].startswith("req_")
        batch = parsed(MessageBatch, raw)
        assert batch.processing_status == "in_progress" and batch.request_counts.processing == 7
        while batch.processing_status != "ended":
            batch = parsed(MessageBatch, client.messages.batches.with_raw_response.retrieve(batch.id))
        results = anthropic_results(client, batch.id)
        assert len(results) == 7 and batch.request_counts.errored >= 1
        bad = results["bad-s0-a1"].result
        assert bad.type == "errored" and bad.error.error.type == "invalid_request_error"  # validated as it ran
        for custom_id, item in results.items():
            if item.result.type == "succeeded":
                [block] = item.result.message.content
                assert block.type == "tool_use" and set(block.input) == {"text", "tone"}, custom_id

        other = parsed(MessageBatch, client.messages.batches.with_raw_response.create(requests=requests[:4]))
        canceling = parsed(MessageBatch, client.messages.batches.with_raw_response.cancel(other.id))
        assert canceling.processing_status == "canceling"
        other = parsed(MessageBatch, client.messages.batches.with_raw_response.retrieve(other.id))
        assert other.processing_status == "ended" and other.request_counts.canceled >= 1
        assert {r.result.type for r in anthropic_results(client, other.id).values()} <= {"succeeded", "canceled"}

        page = client.messages.batches.with_raw_response.list(limit=1).http_response.json()
        assert [MessageBatch.model_validate(b).id for b in page["data"]] == [other.id] and page["has_more"]
        assert [b.id for b in client.messages.batches.list(limit=1)] == [other.id, batch.id]
        deleted = parsed(DeletedMessageBatch, client.messages.batches.with_raw_response.delete(other.id))
        assert deleted.id == other.id

        params = anthropic_params(0)
        counted = parsed(
            MessageTokensCount,
            client.messages.with_raw_response.count_tokens(
                model=params["model"], system=params["system"], messages=params["messages"], tools=params["tools"]
            ),
        )
        assert counted.input_tokens > 0
        raw_message = client.messages.with_raw_response.create(**params)
        assert raw_message.headers["request-id"].startswith("req_")
        message = parsed(Message, raw_message)
        assert message.stop_reason == "tool_use" and message.content[0].type == "tool_use"
        assert set(message.content[0].input) == {"text", "tone"}

        with pytest.raises(anthropic.AuthenticationError) as refused:
            anthropic.Anthropic(api_key="wrong", base_url=emulator.base_url, max_retries=0).messages.batches.list()
        assert refused.value.request_id is not None and refused.value.request_id.startswith("req_")
        made = calls_made(emulator, "anthropic")
        assert [s for _, _, s in emulator.log if s >= 400] == [401]  # the wrong key, and nothing else
        assert made >= 15


# ------------------------------------------------------------------ Gemini
def gemini_config() -> gtypes.GenerateContentConfig:
    return gtypes.GenerateContentConfig(
        system_instruction="You write dialogue.",
        temperature=0.7,
        max_output_tokens=300,
        response_mime_type="application/json",
        response_json_schema=SCHEMA,
    )


def test_the_gemini_sdk_drives_the_gemini_emulator(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="google_genai")  # the SDK logs fields it cannot type as warnings
    with GeminiEmulator(seed=SEED, faults=Faults(polls_to_end=2, error_rate=0.3)) as emulator:
        client = genai.Client(api_key=API_KEY, http_options=gtypes.HttpOptions(base_url=emulator.base_url))

        def create(n: int, tag: str) -> gtypes.BatchJob:
            src = [
                gtypes.InlinedRequest(contents=f"line {i}", metadata={"key": f"u{i}-s0-a1"}, config=gemini_config())
                for i in range(n)
            ]
            return client.batches.create(
                model="gemini-2.5-flash", src=src, config=gtypes.CreateBatchJobConfig(display_name=tag)
            )

        job = create(8, "octo:run:c1")
        assert job.state == gtypes.JobState.JOB_STATE_PENDING and job.display_name == "octo:run:c1"
        while not job.done:
            assert job.name is not None
            job = client.batches.get(name=job.name)
        assert job.state == gtypes.JobState.JOB_STATE_SUCCEEDED and job.dest is not None
        responses = job.dest.inlined_responses or []
        assert sorted((r.metadata or {})["key"] for r in responses) == sorted(f"u{i}-s0-a1" for i in range(8))
        errors = [r.error for r in responses if r.error is not None]
        assert errors and all(e.code == 13 and e.message for e in errors)  # google.rpc.Status: INTERNAL
        for r in responses:
            if r.response is not None:  # JSON mode: the bare JSON, never fenced
                assert set(json.loads(r.response.text or "")) == {"text", "tone"}

        other = create(4, "octo:run:c2")
        assert other.name is not None
        client.batches.cancel(name=other.name)
        other = client.batches.get(name=other.name)
        assert other.state == gtypes.JobState.JOB_STATE_CANCELLED

        listed = [b.name for b in client.batches.list(config=gtypes.ListBatchJobsConfig(page_size=1))]
        assert listed == [other.name, job.name]  # two pages, newest first
        for name in listed:
            assert name is not None
            client.batches.delete(name=name)
        assert list(client.batches.list()) == []

        counted = client.models.count_tokens(model="gemini-2.5-flash", contents="Count these words.")
        assert isinstance(counted.total_tokens, int) and counted.total_tokens > 0
        config = gemini_config()
        answer = client.models.generate_content(model="gemini-2.5-flash", contents="Say a line.", config=config)
        assert set(json.loads(answer.text or "")) == {"text", "tone"}
        assert answer.usage_metadata is not None and answer.usage_metadata.prompt_token_count

        paths = {path.split("/")[1] for _, path, _ in emulator.log}
        assert paths == {"v1"}, paths  # google-genai's default API version
        assert all(status < 400 for _, _, status in emulator.log), emulator.log
        assert calls_made(emulator, "gemini") >= 12
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("google_genai")]
