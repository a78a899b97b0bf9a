"""Anthropic: the Message Batches API for batches, the Messages API for realtime calls.

Wire facts (confirmed in anthropics/anthropic-sdk-python, see docs/providers/anthropic.md):
`POST /v1/messages/batches` takes `{"requests": [{"custom_id", "params"}]}`; a batch is
`in_progress`, `canceling` or `ended`; its results are a JSONL file at `results_url`,
one line per request, in any order, readable only once the batch has ended.

Anthropic keeps no tag on a batch, so each request's custom id carries one on the wire:
`<custom id>_<10 hex of sha256(chunk key)>`. `fetch` strips it; `find_batch` reads it
back from a candidate's results to prove the batch is this chunk's before adopting it.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from datetime import datetime
from typing import Any

import httpx

from octolang.providers.base import BatchState, ProviderError, Request, Result
from octolang.providers.http import HttpClient, realtime_answer
from octolang.providers.parameters import sendable
from octolang.providers.taxonomy import result_fault

DEFAULT_BASE_URL = "https://api.anthropic.com"  # the SDK's; ANTHROPIC_BASE_URL replaces it, without /v1
# The `anthropic-version` header the official SDK sends (anthropic 2.14: _constants.py,
# ANTHROPIC_API_VERSION); the key goes as `Authorization: Bearer`, as the SDK's _client.py sends it.
API_VERSION = "2026-10-21"
DEFAULT_MAX_TOKENS = 4096  # Anthropic requires max_tokens; the model may set its own
MAX_REQUESTS = 100_000
MAX_CUSTOM_ID = 64
TAG_HEX = 10
TAG_SUFFIX = 1 + TAG_HEX  # "_" + tag, added to each custom id on the wire
# 256 MB per batch, read as 10^6 bytes, less what the wire adds to the encoded lines:
# a tag per request and the `{"requests":[...]}` envelope.
MAX_BYTES = 256_000_000 - MAX_REQUESTS * TAG_SUFFIX - 4096
CLOCK_SKEW = 120.0  # seconds between our clock and Anthropic's that find_batch tolerates
STATES: dict[str, BatchState] = {"in_progress": "running", "canceling": "running", "ended": "ended"}
# An errored result's error type as the HTTP status it stands for (Anthropic's error page).
ERROR_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402, "permission_error": 403,
    "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
    "overloaded_error": 529,
}  # fmt: skip
_TAGGED = re.compile(rf"(?P<id>.+)_(?P<tag>[0-9a-f]{{{TAG_HEX}}})")
_ID_PREFIX = b'{"custom_id":"'


def chunk_tag(chunk_key: str) -> str:
    """The tag a chunk's requests carry in their custom ids (40 bits of its key's hash)."""
    return hashlib.sha256(chunk_key.encode()).hexdigest()[:TAG_HEX]


def split_custom_id(wire_id: str) -> tuple[str, str | None]:
    """(the runner's custom id, the chunk tag) of a custom id as it came back."""
    match = _TAGGED.fullmatch(wire_id)
    return (match["id"], match["tag"]) if match else (wire_id, None)


COUNT_PARAMS = frozenset({"model", "system", "messages", "tools", "tool_choice"})  # what count_tokens takes


def message_params(body: dict[str, Any]) -> dict[str, Any]:
    """The Messages API params of a provider-neutral request body (octolang/runtime/requests.py).
    Structured output is one tool forced by `tool_choice`; the answer is its `input`."""
    settings = body.get("params") or {}
    params: dict[str, Any] = {
        "model": body["model"],
        "max_tokens": int(settings.get("max_tokens") or DEFAULT_MAX_TOKENS),
    }
    if body.get("system") is not None:
        params["system"] = body["system"]
    params["messages"] = [{"role": "user", "content": body.get("prompt", "")}]
    for name, value in sendable("anthropic", str(body["model"]), settings).items():
        if name != "max_tokens":  # none today: the API has no sampling parameters (parameters.py)
            params[name] = value
    schema = body.get("schema") or {}
    if schema:
        name = body["schema_name"]
        params["tools"] = [
            {"name": name, "description": f"Record the `{name}` answer in this exact shape.", "input_schema": schema}
        ]
        params["tool_choice"] = {"type": "tool", "name": name}
    return params


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def answer_text(message: dict[str, Any]) -> str | None:
    """The model's answer: the forced tool's input as JSON text, else the text blocks joined."""
    content = message.get("content")
    if not isinstance(content, list):
        return None
    for block in content:
        if isinstance(block, dict) and block.get("type") == "tool_use":
            return json.dumps(block.get("input"), ensure_ascii=False)
    texts = [str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"]
    return "".join(texts) if texts else None


def usage_of(message: dict[str, Any]) -> dict[str, int]:
    """Prompt tokens include those written to and read from the cache (all three are billed)."""
    usage = message.get("usage")
    usage = usage if isinstance(usage, dict) else {}

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) else 0

    cached = count("cache_read_input_tokens")
    return {
        "input_tokens": count("input_tokens") + count("cache_creation_input_tokens") + cached,
        "output_tokens": count("output_tokens"),
        "cached_tokens": cached,
    }


def message_result(custom_id: str, message: dict[str, Any], raw: str) -> Result:
    """A Message as the runner's Result; a message with no answer at all is an error."""
    text = answer_text(message)
    usage = usage_of(message)
    if text is None:
        reason = f"the message has no answer (stop_reason: {message.get('stop_reason')})"
        return Result(custom_id, "error", raw=raw, usage=usage, error=reason)
    return Result(custom_id, "ok", text=text, raw=raw, usage=usage)


def _error_reason(envelope: Any) -> str:
    """`type: message` of an ErrorResponse (`{"type": "error", "error": {"type", "message"}}`)."""
    inner = envelope.get("error") if isinstance(envelope, dict) else None
    error = inner if isinstance(inner, dict) else envelope if isinstance(envelope, dict) else {}
    return f"{error.get('type', 'error')}: {error.get('message', '')}".rstrip(": ")


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "anthropic-version": API_VERSION}


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProviderError(f"anthropic: {what} is not a JSON object: {str(value)[:200]!r}")
    return value


def _batch(value: Any, what: str) -> dict[str, Any]:
    batch = _object(value, what)
    if not isinstance(batch.get("id"), str) or batch.get("processing_status") not in STATES:
        raise ProviderError(f"anthropic: {what} is not a message batch: {json.dumps(batch)[:200]}")
    return batch


def _timestamp(value: Any) -> float:
    """Seconds since the epoch of an RFC 3339 time (fractions beyond microseconds dropped)."""
    if not isinstance(value, str):
        raise ProviderError(f"anthropic: a batch's created_at is not a time: {value!r}")
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ProviderError(f"anthropic: a batch's created_at is not a time: {value!r}") from None


class AnthropicBatch:
    """The Message Batches API behind octolang's BatchProvider interface."""

    name = "anthropic"
    max_requests = MAX_REQUESTS
    max_bytes = MAX_BYTES
    page_size = 100  # batches per list page while looking for a lost batch

    def __init__(self, api_key: str, *, base_url: str | None = None, backoff: float | None = None) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.http = HttpClient(self.base_url, _headers(api_key), provider=self.name, backoff=backoff)
        self.started = time.time()
        self._chunk_of: dict[str, str | None] = {}  # batch id -> its chunk key (None: a recorded chunk's)
        self._batch_of: dict[str, str] = {}  # chunk key -> the batch id made or found for it
        self._unsure: set[str] = set()  # chunk keys whose create call failed after it may have acted
        self._checked: tuple[str, list[tuple[str, dict[str, Any]]]] | None = None  # the adopted batch's results

    def encode(self, request: Request) -> bytes:
        """One `requests[]` entry, without its chunk tag (submit_batch adds `_<tag>` to the id)."""
        return _dumps({"custom_id": request.custom_id, "params": message_params(request.body)}) + b"\n"

    def wire_lines(self, chunk_key: str, requests: list[Request]) -> list[bytes]:
        """The `requests[]` entries as they are sent: each custom id with the chunk's tag
        (what a dry run writes, too)."""
        tag = chunk_tag(chunk_key).encode()
        lines = []
        for request in requests:
            line = request.wire or self.encode(request)
            if len(request.custom_id) + TAG_SUFFIX <= MAX_CUSTOM_ID:
                cut = len(_ID_PREFIX) + len(request.custom_id)
                line = line[:cut] + b"_" + tag + line[cut:]
            lines.append(line)
        return lines

    def submit_batch(self, chunk_key: str, requests: list[Request]) -> str:
        entries = [line[:-1] for line in self.wire_lines(chunk_key, requests)]
        body = b'{"requests":[' + b",".join(entries) + b"]}"
        try:
            created = self.http.json(
                "POST",
                "/v1/messages/batches",
                idempotent=False,
                content=body,
                headers={"content-type": "application/json"},
            )
            batch_id = str(_batch(created, "the created batch")["id"])
        except ProviderError as exc:
            if exc.status is None or exc.status >= 500:
                self._unsure.add(chunk_key)  # it may exist: find_batch must look before a resend
            raise
        self._chunk_of[batch_id] = chunk_key
        self._batch_of[chunk_key] = batch_id
        self._unsure.discard(chunk_key)
        return batch_id

    def _retrieve(self, batch_id: str) -> dict[str, Any]:
        self._chunk_of.setdefault(batch_id, None)  # the runner polls only batches it recorded
        return _batch(self.http.json("GET", f"/v1/messages/batches/{batch_id}"), f"batch {batch_id}")

    def poll(self, batch_id: str) -> BatchState:
        """`canceling` is still running; a batch Anthropic no longer knows (404) has failed."""
        try:
            batch = self._retrieve(batch_id)
        except ProviderError as exc:
            if exc.status == 404:
                return "failed"
            raise
        return STATES[batch["processing_status"]]

    def fetch(self, batch_id: str) -> list[Result]:
        checked, self._checked = self._checked, None
        if checked is not None and checked[0] == batch_id:
            lines = checked[1]  # read moments ago by find_batch to prove whose batch it is
        else:
            lines = self._results(self._retrieve(batch_id))
        return [self._result(raw, record) for raw, record in lines]

    def cancel(self, batch_id: str) -> None:
        self._chunk_of.setdefault(batch_id, None)
        self.http.json("POST", f"/v1/messages/batches/{batch_id}/cancel")

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------ results
    def _results(self, batch: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Each line of an ended batch's results file, raw and parsed."""
        url = batch.get("results_url")
        if batch["processing_status"] != "ended" or not isinstance(url, str):
            status = batch["processing_status"]
            raise ProviderError(f"anthropic: batch {batch['id']} has no results_url (processing_status {status})")
        if httpx.URL(url).netloc != httpx.URL(self.base_url).netloc:  # the key goes only to our host
            raise ProviderError(f"anthropic: batch {batch['id']} has its results on another host: {url[:200]}")
        response = self.http.request("GET", url, headers={"accept": "application/binary"})
        lines = []
        # split on "\n" only: str.splitlines() would also cut at U+2028 inside a JSON string
        for number, line in enumerate(response.content.decode("utf-8", errors="replace").split("\n"), 1):
            raw = line.rstrip("\r")
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError:
                raise ProviderError(
                    f"anthropic: line {number} of batch {batch['id']}'s results is not JSON: {raw[:200]!r}"
                ) from None
            record = _object(record, f"line {number} of batch {batch['id']}'s results")
            if not isinstance(record.get("custom_id"), str) or not isinstance(record.get("result"), dict):
                raise ProviderError(f"anthropic: line {number} of batch {batch['id']}'s results: {raw[:200]}")
            lines.append((raw, record))
        return lines

    def _result(self, raw: str, record: dict[str, Any]) -> Result:
        custom_id, _ = split_custom_id(record["custom_id"])
        result = record["result"]
        kind = result.get("type")
        if kind == "succeeded":
            return message_result(custom_id, _object(result.get("message"), f"{custom_id}'s message"), raw)
        if kind == "errored":
            envelope = result.get("error")
            inner = envelope.get("error") if isinstance(envelope, dict) else None
            error = inner if isinstance(inner, dict) else envelope if isinstance(envelope, dict) else {}
            error_type = error.get("type")
            fault, cause = result_fault("anthropic", ERROR_STATUS.get(str(error_type), 400), envelope)
            reason = _error_reason(envelope) + (f" [{cause}]" if cause else "")
            return Result(custom_id, "error", raw=raw, error=reason, fault=fault)
        if kind == "canceled":
            return Result(custom_id, "cancelled", raw=raw, error="canceled: the batch was canceled before it ran")
        if kind == "expired":
            return Result(custom_id, "expired", raw=raw, error="expired: the batch ended (24 h) before it ran")
        raise ProviderError(f"anthropic: {custom_id} has a result of unknown type {kind!r}")

    # ------------------------------------------------------------ crash reconciliation
    def find_batch(self, chunk_key: str, *, count: int, since: float) -> str | None:
        """The batch created for this chunk, proven by the chunk tag in its results.

        Anthropic shows a batch's custom ids only in its results, once it has ended. A
        candidate (created after `since`, less the clock skew, with `count` requests) that
        has not ended cannot be told apart from another chunk's: then this raises
        ProviderError, so that the runner neither adopts a stranger's batch nor pays twice,
        and asks again on a later tick."""
        if chunk_key in self._batch_of:
            return self._batch_of[chunk_key]
        if self.started < since and chunk_key not in self._unsure:
            return None  # this client was alive since the intent and sent nothing that may have landed
        tag = chunk_tag(chunk_key)
        waiting = []
        for batch in sorted(self._candidates(count, since), key=lambda b: _timestamp(b["created_at"])):
            if batch["processing_status"] != "ended":
                waiting.append(batch["id"])
                continue
            if not isinstance(batch.get("results_url"), str):
                continue  # ended and archived: no results to adopt, whoever it belonged to
            try:
                lines = self._results(batch)
            except ProviderError as exc:
                if exc.status != 404:
                    raise
                continue  # its results are gone (archived): nothing left to adopt
            if tag in {split_custom_id(record["custom_id"])[1] for _, record in lines}:
                self._chunk_of[batch["id"]] = chunk_key
                self._batch_of[chunk_key] = batch["id"]
                self._checked = (batch["id"], lines)
                return str(batch["id"])
            self._chunk_of[batch["id"]] = None  # another chunk's (or not octolang's)
        if waiting:
            raise ProviderError(
                f"anthropic: chunk {chunk_key} may already have a batch: {', '.join(waiting)} "
                f"({count} requests, created since its intent) can be checked only once it has ended "
                "(Anthropic shows custom ids only in the results); checking again later"
            )
        self._unsure.discard(chunk_key)
        return None

    def _candidates(self, count: int, since: float) -> list[dict[str, Any]]:
        """Unclaimed batches with `count` requests created since `since`, newest first,
        paging back until the list is older than that."""
        found: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            query: dict[str, Any] = {"limit": self.page_size}
            if after:
                query["after_id"] = after
            page = _object(self.http.json("GET", "/v1/messages/batches", params=query), "the batch list")
            data = page.get("data")
            if not isinstance(data, list):
                raise ProviderError(f"anthropic: the batch list has no data: {json.dumps(page)[:200]}")
            for item in data:
                batch = _batch(item, "a listed batch")
                if _timestamp(batch.get("created_at")) < since - CLOCK_SKEW:
                    return found  # newest first: the rest are older still
                counts = batch.get("request_counts")
                total = sum(v for v in counts.values() if isinstance(v, int)) if isinstance(counts, dict) else -1
                if total == count and batch["id"] not in self._chunk_of:
                    found.append(batch)
            after = page.get("last_id") if isinstance(page.get("last_id"), str) else None
            if not page.get("has_more") or not data or after is None:
                return found


class AnthropicRealtime:
    """One request at a time through `POST /v1/messages` (429 and 529 retried by HttpClient)."""

    name = "anthropic"

    def __init__(self, api_key: str, *, base_url: str | None = None, backoff: float | None = None) -> None:
        self.http = HttpClient(
            (base_url or DEFAULT_BASE_URL).rstrip("/"),
            {**_headers(api_key), "content-type": "application/json"},
            provider=self.name,
            backoff=backoff,
            timeout=600.0,  # a long answer without streaming; the SDK's default is 10 minutes too
        )

    def encode(self, request: Request) -> bytes:
        return _dumps(message_params(request.body)) + b"\n"

    def call(self, request: Request) -> Result:
        content = self.encode(request)
        answer = realtime_answer(lambda: self.http.request("POST", "/v1/messages", content=content), request, self.name)
        if isinstance(answer, Result):
            return answer
        message, raw = answer
        return message_result(request.custom_id, _object(message, "the message"), raw)

    def count_tokens(self, request: Request) -> int:
        """The input tokens Anthropic bills for the request (`POST /v1/messages/count_tokens`,
        free): its system, message and tool, without the sampling parameters it refuses."""
        params = {k: v for k, v in message_params(request.body).items() if k in COUNT_PARAMS}
        answer = self.http.json("POST", "/v1/messages/count_tokens", content=_dumps(params))
        tokens = answer.get("input_tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, int):
            raise ProviderError(f"anthropic: count_tokens answered {str(answer)[:200]!r}")
        return tokens

    def close(self) -> None:
        self.http.close()
