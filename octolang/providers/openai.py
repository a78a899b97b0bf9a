"""OpenAI: the Batch API, realtime chat completions, and OpenAI-compatible local servers.

A chunk becomes one JSONL file (`POST /files`, purpose `batch`) and one batch
(`POST /batches`, endpoint `/v1/chat/completions`) tagged with the chunk key in its
`metadata`, which is how a batch created just before a crash is found again
(`GET /batches`, newest first). Results come from the batch's output file (answers)
and error file (failed, expired and cancelled requests), matched by `custom_id`.
Wire shapes and their sources: docs/providers/openai.md.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from octolang.providers.base import BatchState, ProviderError, Request, Result, openai_reasoning_model
from octolang.providers.http import HttpClient, realtime_answer
from octolang.providers.parameters import sendable
from octolang.providers.taxonomy import result_fault
from octolang.schema import strict_variant

DEFAULT_BASE_URL = "https://api.openai.com/v1"
ENDPOINT = "/v1/chat/completions"
TAG = "octo_chunk"  # the metadata key that carries the chunk key
CLOCK_SKEW = 300.0  # seconds: batches listed back to this long before the intent was recorded


def chat_body(body: dict[str, Any], *, structured: bool = True) -> dict[str, Any]:
    """A provider-neutral request body as a chat-completions body. With `structured`, the
    output schema goes in `response_format` (json_schema, strict); without it (a server
    that refuses response_format) the schema is asked for in the prompt instead."""
    messages = []
    if body.get("system"):
        messages.append({"role": "system", "content": body["system"]})
    prompt = str(body.get("prompt", ""))
    schema = strict_variant(body["schema"]) if body.get("schema") else None  # lengths: checked on our side
    if schema and not structured:
        prompt += (
            "\n\nAnswer with a single JSON object and nothing else. It must match this JSON Schema:\n"
            + json.dumps(schema, separators=(",", ":"))
        )
    messages.append({"role": "user", "content": prompt})
    model = str(body["model"])
    chat: dict[str, Any] = {"model": model, "messages": messages}
    provider = str(body.get("provider") or "openai")
    for name, value in sendable(provider, model, body.get("params") or {}).items():
        if name == "max_tokens" and openai_reasoning_model(model):  # they refuse `max_tokens`
            name = "max_completion_tokens"
        chat[name] = value
    if schema and structured:
        chat["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": str(body.get("schema_name") or "output"), "strict": True, "schema": schema},
        }
    return chat


def batch_line(request: Request) -> bytes:
    line = {"custom_id": request.custom_id, "method": "POST", "url": ENDPOINT, "body": chat_body(request.body)}
    return (json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def completion_result(custom_id: str, completion: Any, raw: str) -> Result:
    """One chat.completion object as a Result: the answer text and the usage, or why there is none."""
    usage = _usage(completion.get("usage") if isinstance(completion, dict) else None)
    try:
        message = completion["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return Result(custom_id, "error", raw=raw, usage=usage, error="the answer has no message")
    content = message.get("content")
    if isinstance(content, str):
        return Result(custom_id, "ok", text=content, raw=raw, usage=usage)
    refusal = message.get("refusal")
    why = f"the model refused: {refusal}" if refusal else "the answer has no content"
    return Result(custom_id, "error", raw=raw, usage=usage, error=why)


def _usage(usage: Any) -> dict[str, int]:
    if not isinstance(usage, dict):
        return {}
    details = usage.get("prompt_tokens_details") or {}
    return {
        "input_tokens": int(usage.get("prompt_tokens") or 0),
        "output_tokens": int(usage.get("completion_tokens") or 0),
        "cached_tokens": int(details.get("cached_tokens") or 0),
    }


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        inner = error.get("error", error)
        if isinstance(inner, dict):
            code = inner.get("code") or inner.get("type") or ""
            message = inner.get("message") or ""
            return f"{code}: {message}".strip(": ") or "unknown error"
    return str(error)[:300] or "unknown error"


class OpenAIBatch:
    name = "openai"
    max_requests = 50_000
    max_bytes = 190 * 1024 * 1024  # the file limit is 200 MB; room for the multipart envelope

    def __init__(self, api_key: str, *, base_url: str | None = None, backoff: float | None = None) -> None:
        self.http = HttpClient(
            base_url or DEFAULT_BASE_URL, {"Authorization": f"Bearer {api_key}"}, provider="openai", backoff=backoff
        )
        self._batches: dict[str, dict[str, Any]] = {}  # the last state seen of each batch

    def encode(self, request: Request) -> bytes:
        return batch_line(request)

    def find_batch(self, chunk_key: str, *, count: int = 0, since: float = 0.0) -> str | None:
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after"] = after
            page = self._object("GET", "/batches", params=params)
            batches = page.get("data") or []
            for batch in batches:
                if (batch.get("metadata") or {}).get(TAG) == chunk_key:
                    self._batches[batch["id"]] = batch
                    return str(batch["id"])
            older = batches and float(batches[-1].get("created_at") or 0) < since - CLOCK_SKEW
            if not page.get("has_more") or not batches or older:
                return None
            after = str(page.get("last_id") or batches[-1]["id"])

    def submit_batch(self, chunk_key: str, requests: list[Request]) -> str:
        data = b"".join(r.wire or self.encode(r) for r in requests)
        name = "octo-" + chunk_key.replace(":", "-").replace("/", "-")[-200:] + ".jsonl"
        upload = self._object(
            "POST", "/files", data={"purpose": "batch"}, files={"file": (name, data, "application/jsonl")}
        )
        batch = self._object(
            "POST",
            "/batches",
            idempotent=False,
            json={
                "input_file_id": upload["id"],
                "endpoint": ENDPOINT,
                "completion_window": "24h",
                "metadata": {TAG: chunk_key[:512]},
            },
        )
        self._batches[batch["id"]] = batch
        return str(batch["id"])

    def poll(self, batch_id: str) -> BatchState:
        batch = self._object("GET", f"/batches/{batch_id}")
        self._batches[batch_id] = batch
        status = batch.get("status")
        if status == "failed":
            return "failed"
        if status in ("completed", "expired", "cancelled"):
            return "ended"
        return "running"

    def failure(self, batch_id: str) -> str | None:
        """Why a failed batch failed (its input file's validation errors), when known."""
        errors = ((self._batches.get(batch_id) or {}).get("errors") or {}).get("data") or []
        return "; ".join(_error_message(e) for e in errors[:3]) or None

    def fetch(self, batch_id: str) -> list[Result]:
        batch = self._batches.get(batch_id) or self._object("GET", f"/batches/{batch_id}")
        results: list[Result] = []
        for file_key in ("output_file_id", "error_file_id"):
            file_id = batch.get(file_key)
            if not file_id:
                continue
            content = self.http.request("GET", f"/files/{file_id}/content").content
            for raw_line in content.splitlines():
                result = self._line_result(raw_line)
                if result is not None:
                    results.append(result)
        return results

    def cancel(self, batch_id: str) -> None:
        self._object("POST", f"/batches/{batch_id}/cancel")

    def close(self) -> None:
        self.http.close()

    def _object(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        answer = self.http.json(method, url, **kwargs)
        if not isinstance(answer, dict):
            raise ProviderError(f"openai: {method} {url} answered {str(answer)[:200]!r}, not an object")
        return answer

    @staticmethod
    def _line_result(raw_line: bytes) -> Result | None:
        """One line of an output or error file; None for a line that names no request
        (the request then counts as unanswered and is sent again)."""
        raw = raw_line.decode("utf-8", "replace").strip()
        if not raw:
            return None
        try:
            record = json.loads(raw)
            custom_id = str(record["custom_id"])
        except (ValueError, KeyError, TypeError):
            return None
        response = record.get("response")
        error = record.get("error")
        if isinstance(response, dict) and response.get("status_code") == 200:
            return completion_result(custom_id, response.get("body"), raw)
        if isinstance(response, dict):
            found = response.get("body")
            body: dict[str, Any] = found if isinstance(found, dict) else {}
            message = _error_message(body.get("error"))
            code = response.get("status_code")
            fault, cause = result_fault("openai", code if isinstance(code, int) else 0, body)
            error = f"HTTP {code}: {message}" + (f" [{cause}]" if cause else "")
            return Result(custom_id, "error", raw=raw, error=error, fault=fault)
        code = error.get("code") if isinstance(error, dict) else None
        status = {"batch_expired": "expired", "batch_cancelled": "cancelled"}.get(str(code), "error")
        return Result(custom_id, status, raw=raw, error=_error_message(error))  # type: ignore[arg-type]


class OpenAIRealtime:
    """One chat completion per request."""

    name = "openai"

    def __init__(self, api_key: str | None, *, base_url: str | None = None, backoff: float | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = HttpClient(base_url or DEFAULT_BASE_URL, headers, provider=self.name, backoff=backoff)

    def encode(self, request: Request) -> bytes:
        return (json.dumps(chat_body(request.body), separators=(",", ":"), ensure_ascii=False) + "\n").encode()

    def call(self, request: Request) -> Result:
        return self._call(request, chat_body(request.body))

    def _call(self, request: Request, body: dict[str, Any]) -> Result:
        answer = realtime_answer(lambda: self.http.request("POST", "/chat/completions", json=body), request, self.name)
        return answer if isinstance(answer, Result) else completion_result(request.custom_id, *answer)

    def close(self) -> None:
        self.http.close()


class OpenAICompatibleRealtime(OpenAIRealtime):
    """A server speaking the chat-completions protocol (vLLM, llama.cpp, Ollama, LM Studio,
    the LiteLLM proxy). Not every server takes every parameter: when one refuses a request
    naming parameters it carries (`response_format`, `seed`, ...), that request is sent again
    without all of them, and the model's requests leave them out from then on. Without
    `response_format` the schema is asked for in the prompt, and validation does the rest.
    The decision is each request's own: one refused while another request already dropped
    the parameter is still sent again, never recorded as a failure."""

    name = "openai_compatible"
    FALLBACKS = 4  # resends of one request, each without the parameters its refusal named

    def __init__(self, api_key: str | None, *, base_url: str, backoff: float | None = None) -> None:
        super().__init__(api_key, base_url=base_url, backoff=backoff)
        self._lock = threading.Lock()
        self._dropped: dict[str, frozenset[str]] = {}  # model -> parameters its server refused

    def dropped(self, model: str) -> frozenset[str]:
        """The parameters this model's requests no longer carry."""
        with self._lock:
            return self._dropped.get(model, frozenset())

    def encode(self, request: Request) -> bytes:
        body = self._body(request, self.dropped(str(request.body.get("model"))))
        return (json.dumps(body, separators=(",", ":"), ensure_ascii=False) + "\n").encode()

    def call(self, request: Request) -> Result:
        model = str(request.body.get("model"))
        dropped = self.dropped(model)
        for _ in range(self.FALLBACKS + 1):
            body = self._body(request, dropped)
            result = self._call(request, body)
            named = _refused_parameters(result, body) if result.status == "error" else set()
            if not named:
                return result
            dropped = dropped | named
            with self._lock:
                self._dropped[model] = self._dropped.get(model, frozenset()) | named
        return result

    @staticmethod
    def _body(request: Request, dropped: frozenset[str]) -> dict[str, Any]:
        body = chat_body(request.body, structured="response_format" not in dropped)
        return {k: v for k, v in body.items() if k not in dropped}


# The fields of a chat body a server may refuse (model and messages it cannot do without).
_OPTIONAL = ("response_format", "seed", "temperature", "top_p", "top_k", "max_tokens", "max_completion_tokens")


def _refused_parameters(result: Result, body: dict[str, Any]) -> set[str]:
    """The optional parameters of `body` that a refusal names (`json_schema` stands for
    `response_format`): what a resend leaves out. Empty when it names none of them."""
    text = (result.error or "").lower()
    named = {name for name in _OPTIONAL if name in body and re.search(rf"\b{name}\b", text)}
    if "response_format" in body and ("json_schema" in text or "structured output" in text):
        named.add("response_format")
    return named
