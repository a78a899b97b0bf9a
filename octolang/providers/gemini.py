"""Gemini (the Gemini Developer API): the Batch API with inline requests, and realtime
`generateContent`.

A chunk becomes one batch (`POST models/{model}:batchGenerateContent`) whose requests
travel inline, each tagged with `metadata.key` = the custom id, and whose `displayName`
is a tag derived from the chunk key: that is how a batch created just before a crash is
found again (`GET batches`, page by page). The service answers with a long-running
operation named `batches/{id}`; its `metadata` holds the batch (state, stats) and, once
ended, `output.inlinedResponses`, matched back by key. Wire shapes and their sources:
docs/providers/gemini.md.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

import httpx

from octolang.providers.base import BatchState, ProviderError, Request, Result
from octolang.providers.http import HttpClient, realtime_answer
from octolang.providers.parameters import sendable
from octolang.providers.taxonomy import result_fault

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
# Appended to the base URL: google-genai 3.6's default for the Gemini Developer API
# (google/genai/_api_client.py, GOOGLE_AI_API_DEFAULT_VERSION = 'v1'; 'v1beta' only when
# GOOGLE_GENAI_API_VERSION=beta). Everything this client calls (batches, generateContent,
# countTokens) is in v1, the stable surface.
API_VERSION = "v1"
TAG_PREFIX = "octo:"
MAX_TAG = 128  # longer chunk keys are shortened with a hash, so that a tag names one chunk only
PAGE_SIZE = 100
_BATCH_NAME = re.compile(r"batches/[A-Za-z0-9_-]+\Z")
_ENDED = ("SUCCEEDED", "EXPIRED", "CANCELLED")
_UNANSWERED: dict[str, tuple[Literal["error", "expired", "cancelled"], str]] = {
    "SUCCEEDED": ("error", "the batch ended without a response for this request"),
    "EXPIRED": ("expired", "the batch expired before this request ran"),
    "CANCELLED": ("cancelled", "the batch was cancelled before this request ran"),
}
# The HTTP status a google.rpc.Code stands for (google/rpc/code.proto): an error inside a
# batch's results is a google.rpc.Status, whose `code` is the gRPC one.
RPC_HTTP = {1: 499, 2: 500, 3: 400, 4: 504, 5: 404, 6: 409, 7: 403, 8: 429, 9: 400, 10: 409, 11: 400, 12: 501,
            13: 500, 14: 503, 15: 500, 16: 401}  # fmt: skip
# The neutral params as GenerationConfig fields (REST JSON names, as google-genai sends them).
_PARAMS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "seed": "seed",
}


def chunk_tag(chunk_key: str) -> str:
    """The batch's displayName for a chunk: the key itself when short enough."""
    tag = TAG_PREFIX + chunk_key
    if len(tag) <= MAX_TAG:
        return tag
    digest = hashlib.sha256(chunk_key.encode()).hexdigest()[:16]
    return f"{tag[: MAX_TAG - 17]}~{digest}"


def model_path(model: str) -> str:
    """`models/{id}` as the URL wants it (the SDK's t_model rule)."""
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"


def generate_request(body: dict[str, Any]) -> dict[str, Any]:
    """A provider-neutral request body as a GenerateContentRequest (REST, camelCase)."""
    request: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": str(body.get("prompt", ""))}]}]}
    if body.get("system"):
        request["systemInstruction"] = {"parts": [{"text": str(body["system"])}]}
    config: dict[str, Any] = {}
    for name, value in sendable("gemini", str(body.get("model", "")), body.get("params") or {}).items():
        if name in _PARAMS:
            config[_PARAMS[name]] = value
    schema = body.get("schema") or None
    if schema:
        config["responseMimeType"] = "application/json"
        config["responseJsonSchema"] = schema
    if config:
        request["generationConfig"] = config
    return request


def batch_entry(request: Request) -> bytes:
    """One inline request of a batch, as the runner measures and the batch carries it."""
    entry = {"request": generate_request(request.body), "metadata": {"key": request.custom_id}}
    return (json.dumps(entry, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def response_result(key: str, response: Any, raw: str) -> Result:
    """A GenerateContentResponse as a Result: the first candidate's text, or why there is none."""
    if not isinstance(response, dict):
        return Result(key, "error", raw=raw, error="the answer is not an object")
    usage = _usage(response.get("usageMetadata"))
    candidates = response.get("candidates") or []
    candidate = candidates[0] if candidates and isinstance(candidates[0], dict) else {}
    parts = (candidate.get("content") or {}).get("parts") or []
    texts = [
        p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str) and not p.get("thought")
    ]
    if texts:
        return Result(key, "ok", text="".join(texts), raw=raw, usage=usage)
    blocked = (response.get("promptFeedback") or {}).get("blockReason")
    reason = candidate.get("finishReason")
    why = f"the prompt was blocked: {blocked}" if blocked else f"no answer text (finishReason {reason or 'missing'})"
    return Result(key, "error", raw=raw, usage=usage, error=why)


def _usage(metadata: Any) -> dict[str, int]:
    if not isinstance(metadata, dict):
        return {}

    def count(name: str) -> int:
        try:
            return int(metadata.get(name) or 0)
        except (TypeError, ValueError):
            return 0

    return {
        "input_tokens": count("promptTokenCount"),  # includes the cached tokens
        "output_tokens": count("candidatesTokenCount") + count("thoughtsTokenCount"),
        "cached_tokens": count("cachedContentTokenCount"),
    }


RPC_NAMES = {1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
             6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
             10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
             15: "DATA_LOSS", 16: "UNAUTHENTICATED"}  # fmt: skip


def _status_text(error: Any) -> str:
    """`STATUS: message` of an HTTP error body's `error` or of a google.rpc.Status (named from its code)."""
    if isinstance(error, dict):
        code = error.get("code")
        kind = error.get("status") or (RPC_NAMES.get(code) if isinstance(code, int) else None) or code or ""
        return f"{kind}: {error.get('message') or ''}".strip(": ") or "unknown error"
    return str(error)[:300] or "unknown error"


def retry_delay(response: httpx.Response) -> float | None:
    """Seconds asked for by a google.rpc.RetryInfo detail (`"retryDelay": "2s"`), if any."""
    try:
        details = response.json()["error"]["details"]
    except (ValueError, KeyError, TypeError):
        return None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)s\s*", str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _http(api_key: str, base_url: str | None, backoff: float | None) -> HttpClient:
    base = (base_url or DEFAULT_BASE_URL).rstrip("/") + "/" + API_VERSION
    return HttpClient(base, {"x-goog-api-key": api_key}, provider="gemini", backoff=backoff, retry_hint=retry_delay)


def _call(http: HttpClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A call whose refused key reads as one: Google answers a bad key with 400
    INVALID_ARGUMENT (reason API_KEY_INVALID), which stops a run like a 401 (an account
    stop, octolang/providers/taxonomy.py), not as the request's own fault."""
    try:
        return http.request(method, url, **kwargs)
    except ProviderError as exc:
        if exc.status == 400 and exc.kind == "account":
            raise ProviderError(str(exc), status=401, kind="account", cause=exc.cause) from None
        raise


def _object(http: HttpClient, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    response = _call(http, method, url, **kwargs)
    try:
        answer = response.json()
    except ValueError:
        raise ProviderError(
            f"gemini: {method} {url} answered with something that is not JSON: {response.text[:200]!r}"
        ) from None
    if not isinstance(answer, dict):
        raise ProviderError(f"gemini: {method} {url} answered {str(answer)[:200]!r}, not an object")
    return answer


class GeminiBatch:
    name = "gemini"
    # Inline requests are limited to 20 MB per batch; the envelope and JSON escaping need
    # the margin. No count limit is documented: 10,000 is the runner's own chunk size.
    max_requests = 10_000
    max_bytes = 19 * 1024 * 1024

    def __init__(self, api_key: str, *, base_url: str | None = None, backoff: float | None = None) -> None:
        self.http = _http(api_key, base_url, backoff)
        self._operations: dict[str, dict[str, Any]] = {}  # the last operation seen of each batch
        self._keys: dict[str, list[str]] = {}  # the custom ids of each batch this client created

    def encode(self, request: Request) -> bytes:
        return batch_entry(request)

    def find_batch(self, chunk_key: str, *, count: int = 0, since: float = 0.0) -> str | None:
        """Every page is read: the list's order is not documented, so none can be skipped."""
        tag = chunk_tag(chunk_key)
        token: str | None = None
        while True:
            params: dict[str, Any] = {"pageSize": PAGE_SIZE}
            if token:
                params["pageToken"] = token
            page = _object(self.http, "GET", "/batches", params=params)
            for operation in page.get("operations") or []:
                if isinstance(operation, dict) and (operation.get("metadata") or {}).get("displayName") == tag:
                    return str(operation["name"])
            token = page.get("nextPageToken") or None
            if not token:
                return None

    def submit_batch(self, chunk_key: str, requests: list[Request]) -> str:
        models = {str(r.body["model"]) for r in requests}
        if len(models) != 1:
            raise ValueError(f"a Gemini batch takes one model, not {sorted(models)}")
        entries = b",".join((r.wire or self.encode(r)).rstrip(b"\n") for r in requests)
        head = json.dumps({"displayName": chunk_tag(chunk_key)}, ensure_ascii=False)[:-1].encode()
        body = head + b',"inputConfig":{"requests":{"requests":[' + entries + b"]}}}"
        operation = _object(
            self.http,
            "POST",
            f"/{model_path(models.pop())}:batchGenerateContent",
            idempotent=False,
            content=b'{"batch":' + body + b"}",
            headers={"content-type": "application/json"},
        )
        name = str(operation.get("name") or "")
        if not _BATCH_NAME.match(name):
            raise ProviderError(f"gemini: the batch was created under an unexpected name {name[:100]!r}")
        self._operations[name] = operation
        self._keys[name] = [r.custom_id for r in requests]
        return name

    def poll(self, batch_id: str) -> BatchState:
        operation = _object(self.http, "GET", f"/{_checked(batch_id)}")
        self._operations[batch_id] = operation
        state = _state(operation)
        if state == "FAILED":
            return "failed"
        if state in _ENDED:
            return "ended"
        return "running"

    def failure(self, batch_id: str) -> str | None:
        """Why a failed batch failed, when the service said."""
        error = (self._operations.get(batch_id) or {}).get("error")
        return _status_text(error) if error else None

    def fetch(self, batch_id: str) -> list[Result]:
        operation = self._operations.pop(batch_id, None)  # an ended batch's output can be 20 MB: not kept
        if operation is None or _state(operation) not in _ENDED:
            operation = _object(self.http, "GET", f"/{_checked(batch_id)}")
        output = (operation.get("metadata") or {}).get("output") or operation.get("response") or {}
        inlined = output.get("inlinedResponses") if isinstance(output, dict) else None
        if isinstance(output, dict) and output.get("responsesFile") and not inlined:
            raise ProviderError(
                f"gemini: batch {batch_id} wrote its results to a file, which this client does not read"
            )
        records = inlined.get("inlinedResponses") if isinstance(inlined, dict) else []
        if not isinstance(output, dict) or not isinstance(records, list):
            raise ProviderError(f"gemini: batch {batch_id} answered an output of an unknown shape")
        results: dict[str, Result] = {}
        for record in records:
            result = _inlined_result(record)
            if result is not None:
                results[result.custom_id] = result
        # Requests without a response: the batch's end says why (known only to the client that sent them).
        unanswered = _UNANSWERED.get(_state(operation))
        if unanswered is not None:
            status, why = unanswered
            for key in self._keys.get(batch_id, []):
                if key not in results:
                    results[key] = Result(key, status, error=why)
        return list(results.values())

    def cancel(self, batch_id: str) -> None:
        _call(self.http, "POST", f"/{_checked(batch_id)}:cancel", json={})

    def close(self) -> None:
        self.http.close()


def _checked(batch_id: str) -> str:
    if not _BATCH_NAME.match(batch_id):
        raise ProviderError(f"gemini: {batch_id[:100]!r} is not a batch name (batches/...)")
    return batch_id


def _state(operation: dict[str, Any]) -> str:
    """BATCH_STATE_X (REST) as X; the SDK's JOB_STATE_X names are accepted too."""
    state = str((operation.get("metadata") or {}).get("state") or "")
    for prefix in ("BATCH_STATE_", "JOB_STATE_"):
        if state.startswith(prefix):
            return state[len(prefix) :]
    if operation.get("done"):
        return "FAILED" if operation.get("error") else "SUCCEEDED"
    return "PENDING"


def _inlined_result(record: Any) -> Result | None:
    """One inlined response; None when it names no request (it then counts as unanswered)."""
    if not isinstance(record, dict):
        return None
    key = (record.get("metadata") or {}).get("key")
    if not isinstance(key, str) or not key:
        return None
    raw = json.dumps(record, separators=(",", ":"), ensure_ascii=False)
    error = record.get("error")
    if error:
        code = error.get("code") if isinstance(error, dict) else None
        status = (RPC_HTTP.get(code, 500) if code < 100 else code) if isinstance(code, int) else 0
        fault, cause = result_fault("gemini", status, {"error": error})
        return Result(key, "error", raw=raw, error=_status_text(error) + (f" [{cause}]" if cause else ""), fault=fault)
    return response_result(key, record.get("response"), raw)


class GeminiRealtime:
    """One generateContent call per request."""

    name = "gemini"

    def __init__(self, api_key: str, *, base_url: str | None = None, backoff: float | None = None) -> None:
        self.http = _http(api_key, base_url, backoff)

    def encode(self, request: Request) -> bytes:
        return (json.dumps(generate_request(request.body), separators=(",", ":"), ensure_ascii=False) + "\n").encode()

    def call(self, request: Request) -> Result:
        url = f"/{model_path(str(request.body['model']))}:generateContent"
        body = generate_request(request.body)
        answer = realtime_answer(lambda: _call(self.http, "POST", url, json=body), request, self.name)
        return answer if isinstance(answer, Result) else response_result(request.custom_id, *answer)

    def count_tokens(self, request: Request) -> int:
        """The prompt tokens Google bills for the request (`models/{m}:countTokens`, free)."""
        model = model_path(str(request.body["model"]))
        body = {"generateContentRequest": {"model": model, **generate_request(request.body)}}
        answer = _object(self.http, "POST", f"/{model}:countTokens", json=body)
        tokens = answer.get("totalTokens")
        if not isinstance(tokens, int):
            raise ProviderError(f"gemini: countTokens answered {str(answer)[:200]!r}")
        return tokens

    def close(self) -> None:
        self.http.close()
