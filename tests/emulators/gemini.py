"""A loopback Gemini Developer API: inline batches and generateContent, with the REST
shapes google-genai reads (google/genai/batches.py), Google's error bodies, and the
documented lifecycle (docs/providers/gemini.md).

A batch is `BATCH_STATE_PENDING` on creation, `RUNNING` from the first poll, and ends on
poll `faults.polls_to_end`: `SUCCEEDED`; `EXPIRED` when some of its requests drew the
expired outcome (they get no response, as when the service's window passes); `CANCELLED`
after a cancel (the first half of its requests answered, the rest not); `FAILED` when
`faults.fail_batches` says so (nothing runs). Executed requests are billed.

It serves the API versions `v1` (google-genai 3.6's default, `_api_client.py`
GOOGLE_AI_API_DEFAULT_VERSION) and `v1beta` (the SDK's `GOOGLE_GENAI_API_VERSION=beta`).
A request's own error inside a batch's results is a `google.rpc.Status` (`code` is the
gRPC code, as google-genai's JobError reads it), not an HTTP error body. An ended batch
can be deleted (`DELETE batches/{id}`). `countTokens` takes `contents` (what the SDK
sends) or a whole `generateContentRequest`. A JSON-mode answer (responseMimeType
application/json) is bare JSON, never fenced: only a `malformed` outcome spoils it.

Keys: a wrong `x-goog-api-key` answers 400 INVALID_ARGUMENT with reason API_KEY_INVALID
and a missing one 403 PERMISSION_DENIED, as Google does. A 429 carries a RetryInfo
`retryDelay` in its details instead of a Retry-After header. A prompt containing
`[[blocked]]` is answered with no text and finishReason SAFETY.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import Any

from tests.emulators.base import API_KEY, Call, Emulator, Faults, Reply, count_tokens
from tests.emulators.gemini_rules import BATCH_FIELDS, check_request, field, unknown_field

MAX_INLINE_BYTES = 20 * 1024 * 1024
BLOCK_MARKER = "[[blocked]]"
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
# google.rpc.Code of an HTTP status, for errors inside a batch's results (google/rpc/code.proto).
RPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 429: 8, 500: 13, 503: 14}
VERSIONS = ("v1", "v1beta")
# Account stops as Google answers them: (status, message, details).
ACCOUNT_STOPS: dict[str, tuple[int, str, list[dict[str, Any]]]] = {
    "quota": (
        429,
        "You exceeded your current quota, please check your plan and billing details. For more information on "
        "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: "
        "generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-2.5-flash",
        [
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [
                    {
                        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                    }
                ],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "33s"},
        ],
    ),
    "billing": (
        403,
        "This API method requires billing to be enabled. Please enable billing on the project and retry.",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "BILLING_DISABLED",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ],
    ),
}


def _timestamp(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def prompt_tokens(request: dict[str, Any]) -> int:
    """The prompt tokens a GenerateContentRequest is billed: its texts and its schema."""
    config = field(request, "generationConfig") or {}
    schema = field(config, "responseJsonSchema")
    texts = [str(p.get("text", "")) for c in request["contents"] for p in c.get("parts", [])]
    system = field(request, "systemInstruction") or {}
    texts += [str(p.get("text", "")) for p in system.get("parts", [])]
    return count_tokens("".join(texts)) + (count_tokens(json.dumps(schema)) if schema else 0)


class GeminiEmulator(Emulator):
    name = "gemini"

    def __init__(self, *, seed: int = 0, faults: Faults | None = None) -> None:
        super().__init__(seed=seed, faults=faults)
        self.batches: dict[str, dict[str, Any]] = {}  # name -> state, in creation order
        self.max_inline_bytes = MAX_INLINE_BYTES
        self.max_page_size = 100
        self.thoughts_tokens = 0  # thinking tokens reported on every answer
        self.cached_tokens = 0  # prompt tokens reported as served from the cache
        self.garble = 0  # the next `garble` routed calls answer 200 with a body that is not JSON
        self._realtime_failed: set[str] = set()
        self._counter = 0
        v = "/(?:" + "|".join(VERSIONS) + ")"
        self.route("POST", v + r"/models/(?P<model>[^/:]+):batchGenerateContent", self._create)
        self.route("GET", v + r"/batches", self._list)
        self.route("GET", v + r"/batches/(?P<id>[^/:]+)", self._get)
        self.route("DELETE", v + r"/batches/(?P<id>[^/:]+)", self._delete)
        self.route("POST", v + r"/batches/(?P<id>[^/:]+):cancel", self._cancel)
        self.route("POST", v + r"/models/(?P<model>[^/:]+):generateContent", self._generate)
        self.route("POST", v + r"/models/(?P<model>[^/:]+):countTokens", self._count_tokens)

    # ---------------------------------------------------------------- protocol
    def _authorise(self, call: Call) -> Reply | None:
        key = call.headers.get("x-goog-api-key") or call.query.get("key")
        if key == API_KEY:
            return None
        if not key:
            return self.error(
                403,
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
            )
        reply = self.error(400, "API key not valid. Please pass a valid API key.")
        reply.body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
        return reply

    def error(self, status: int, message: str) -> Reply:
        return Reply(
            status, {"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}}
        )

    def account_error(self, kind: str) -> Reply:
        status, message, details = ACCOUNT_STOPS[kind]
        body = {"code": status, "message": message, "status": STATUS_NAMES[status], "details": details}
        return Reply(status, {"error": body})

    def _fault(self, call: Call) -> Reply | None:
        """Google says how long to wait in the body (RetryInfo), not in a Retry-After header."""
        reply = super()._fault(call)
        if reply is not None and reply.status == 429:
            reply.headers.pop("retry-after", None)
            reply.body["error"]["message"] = "Resource has been exhausted (e.g. check quota)."
            if self.faults.retry_after is not None:
                reply.body["error"]["details"] = [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{self.faults.retry_after:g}s"}
                ]
        return reply

    def _route(self, call: Call) -> Reply:
        if self.garble > 0:
            self.garble -= 1
            return Reply(200, b"<html>upstream connect error</html>", content_type="text/html")
        return super()._route(call)

    def _name(self) -> str:
        self._counter += 1
        return "batches/" + hashlib.sha256(f"{self.seed}:{self._counter}".encode()).hexdigest()[:20]

    # ---------------------------------------------------------------- validation
    # ---------------------------------------------------------------- batches
    def _create(self, call: Call, match: re.Match[str]) -> Reply:
        stop = self.stopped("create")
        if stop:
            return self.account_error(stop)
        if len(call.body) > self.max_inline_bytes:
            return self.error(400, f"Request payload size exceeds the limit: {self.max_inline_bytes} bytes.")
        body = call.json()
        batch = body.get("batch") if isinstance(body, dict) else None
        if not isinstance(batch, dict):
            return self.error(400, "Invalid JSON payload received. batch is required.")
        unknown = unknown_field(batch, BATCH_FIELDS)
        if unknown:
            return self.error(
                400, f"Invalid JSON payload received. Unknown name \"{unknown}\" at 'batch': Cannot find field."
            )
        display_name = field(batch, "displayName")
        if not isinstance(display_name, str) or not display_name:
            return self.error(400, "batch.display_name is required")
        config = field(batch, "inputConfig") or {}
        if field(config, "fileName"):
            return self.error(400, "file input is not emulated")
        entries = (config.get("requests") or {}).get("requests")
        if not isinstance(entries, list) or not entries:
            return self.error(400, "batch.input_config.requests.requests must not be empty")
        keys: set[str] = set()
        for index, entry in enumerate(entries):
            problem = check_request(
                entry.get("request") if isinstance(entry, dict) else None,
                f"batch.input_config.requests.requests[{index}].request",
            )
            if problem:
                return self.error(400, problem)
            # Stricter than documented: keys are how results are matched, so each must be there once.
            key = (entry.get("metadata") or {}).get("key")
            if not isinstance(key, str) or not key:
                return self.error(400, f"requests[{index}].metadata.key is required (emulator rule)")
            if key in keys:
                return self.error(400, f"requests[{index}]: duplicate metadata.key {key!r} (emulator rule)")
            keys.add(key)
        name = self._name()
        now = time.time()
        self.batches[name] = {
            "name": name,
            "displayName": display_name,
            "model": f"models/{match['model']}",
            "entries": entries,
            "state": "BATCH_STATE_PENDING",
            "created": now,
            "updated": now,
            "ended": None,
            "polls": 0,
            "cancel": False,
            "output": None,
            "error": None,
        }
        self.batches_created += 1
        return Reply(200, self._operation(self.batches[name]))

    def _operation(self, batch: dict[str, Any], *, full: bool = True) -> dict[str, Any]:
        entries = batch["entries"]
        output = batch["output"]
        stats = {"requestCount": str(len(entries))}
        if output is None:
            stats["pendingRequestCount"] = str(len(entries))
        else:
            records = output["inlinedResponses"]["inlinedResponses"]
            stats["successfulRequestCount"] = str(sum("response" in r for r in records))
            stats["failedRequestCount"] = str(sum("error" in r for r in records))
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
            "model": batch["model"],
            "displayName": batch["displayName"],
            "createTime": _timestamp(batch["created"]),
            "updateTime": _timestamp(batch["updated"]),
            "batchStats": stats,
            "state": batch["state"],
            "name": batch["name"],
        }
        operation: dict[str, Any] = {"name": batch["name"], "metadata": metadata}
        if batch["ended"] is not None:
            metadata["endTime"] = _timestamp(batch["ended"])
            operation["done"] = True
        if output is not None and full:
            metadata["output"] = output
            operation["response"] = {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatchOutput",
                **output,
            }
        if batch["error"] is not None:
            operation["error"] = batch["error"]
        return operation

    def _list(self, call: Call, match: re.Match[str]) -> Reply:
        size = max(1, min(self.max_page_size, int(call.query.get("pageSize") or 50)))
        token = call.query.get("pageToken")
        start = 0
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("after:"))
            except ValueError:
                return self.error(400, "Invalid page token")
        newest_first = list(reversed(self.batches.values()))
        page = newest_first[start : start + size]
        body: dict[str, Any] = {"operations": [self._operation(b, full=False) for b in page]}
        if start + size < len(newest_first):
            body["nextPageToken"] = base64.urlsafe_b64encode(f"after:{start + size}".encode()).decode()
        return Reply(200, body)

    def _get(self, call: Call, match: re.Match[str]) -> Reply:
        batch = self.batches.get(f"batches/{match['id']}")
        if batch is None:
            return self.error(404, f"Batch batches/{match['id']} not found.")
        batch["polls"] += 1
        self._advance(batch)
        return Reply(200, self._operation(batch))

    def _cancel(self, call: Call, match: re.Match[str]) -> Reply:
        batch = self.batches.get(f"batches/{match['id']}")
        if batch is None:
            return self.error(404, f"Batch batches/{match['id']} not found.")
        if batch["ended"] is not None:
            return self.error(400, f"Batch {batch['name']} has already ended ({batch['state']}).")
        batch["cancel"] = True
        return Reply(200, {})

    def _delete(self, call: Call, match: re.Match[str]) -> Reply:
        """An ended batch and its results are gone (google.protobuf.Empty); a running one must be cancelled first."""
        name = f"batches/{match['id']}"
        batch = self.batches.get(name)
        if batch is None:
            return self.error(404, f"Batch {name} not found.")
        if batch["ended"] is None:
            return self.error(400, f"Batch {name} is still running; cancel it first.")
        del self.batches[name]
        return Reply(200, {})

    def _advance(self, batch: dict[str, Any]) -> None:
        if batch["ended"] is not None:
            return
        batch["updated"] = time.time()
        if batch["state"] == "BATCH_STATE_PENDING":
            if self.faults.fail_batches > 0:
                self.faults.fail_batches -= 1
                batch.update(state="BATCH_STATE_FAILED", ended=time.time())
                batch["error"] = {"code": 13, "message": "The batch failed.", "details": []}
                return
            batch["state"] = "BATCH_STATE_RUNNING"
            if not batch["cancel"]:
                return
        if batch["cancel"] or batch["polls"] >= self.faults.polls_to_end:
            self._finish(batch)

    def _finish(self, batch: dict[str, Any]) -> None:
        entries = batch["entries"]
        records: list[dict[str, Any]] = []
        expired = False
        stop = self.stopped("results")
        for index, entry in enumerate(entries):
            key = entry["metadata"]["key"]
            outcome = self.outcome(key)
            if batch["cancel"] and index >= len(entries) // 2:
                continue  # never reached: no response
            if stop:
                refused = self.account_error(stop)
                records.append({"error": _rpc_status(refused), "metadata": dict(entry["metadata"])})
                continue
            if outcome == "expired":
                expired = True
                continue
            if outcome == "error":
                error = _rpc_status(self.error(500, "An internal error has occurred."))
                records.append({"error": error, "metadata": dict(entry["metadata"])})
                continue
            response = self._answer(entry["request"], key, malformed=outcome == "malformed")
            records.append({"response": response, "metadata": dict(entry["metadata"])})
        # results in an order other than the input's
        records.sort(key=lambda r: hashlib.sha256(r["metadata"]["key"].encode()).hexdigest())
        batch["output"] = {"inlinedResponses": {"inlinedResponses": records}}
        state = "CANCELLED" if batch["cancel"] else "EXPIRED" if expired else "SUCCEEDED"
        batch.update(state=f"BATCH_STATE_{state}", ended=time.time())

    def _answer(self, request: dict[str, Any], key: str, *, malformed: bool) -> dict[str, Any]:
        """A GenerateContentResponse; billed."""
        config = field(request, "generationConfig") or {}
        schema = field(config, "responseJsonSchema")
        texts = [str(p.get("text", "")) for c in request["contents"] for p in c.get("parts", [])]
        prompt = prompt_tokens(request)
        usage: dict[str, Any] = {"promptTokenCount": prompt}
        self.billed.append(key)
        if any(BLOCK_MARKER in t for t in texts):
            usage["totalTokenCount"] = prompt
            candidate: dict[str, Any] = {"finishReason": "SAFETY", "index": 0, "safetyRatings": []}
        else:
            if field(config, "responseMimeType") == "application/json" and not malformed:
                text = self.bare_answer(key, schema)
            else:
                text = self.answer(key, schema, malformed)
            output = count_tokens(text)
            usage.update(candidatesTokenCount=output, totalTokenCount=prompt + output + self.thoughts_tokens)
            if self.thoughts_tokens:
                usage["thoughtsTokenCount"] = self.thoughts_tokens
            candidate = {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": "STOP", "index": 0}
        if self.cached_tokens:
            usage["cachedContentTokenCount"] = min(self.cached_tokens, prompt)
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": str(request.get("model") or "gemini"),
            "responseId": hashlib.sha256(f"{self.seed}:{key}:response".encode()).hexdigest()[:22],
        }

    # ---------------------------------------------------------------- realtime
    def _count_tokens(self, call: Call, match: re.Match[str]) -> Reply:
        """`models/{m}:countTokens` of a `generateContentRequest`: its prompt tokens."""
        body = call.json()
        if not isinstance(body, dict) or ("contents" in body) == ("generateContentRequest" in body):
            return self.error(400, "one of contents or generateContentRequest is required")
        request = body.get("generateContentRequest") or {"contents": body.get("contents")}
        if not isinstance(request, dict):
            return self.error(400, "generateContentRequest must be a GenerateContentRequest")
        problem = check_request(request, "generateContentRequest")
        if problem:
            return self.error(400, problem)
        return Reply(200, {"totalTokens": prompt_tokens(request)})

    def _generate(self, call: Call, match: re.Match[str]) -> Reply:
        stop = self.stopped("realtime")
        if stop:
            return self.account_error(stop)
        request = call.json()
        problem = check_request(request, "request")
        if problem:
            return self.error(400, problem)
        key = "rt-" + hashlib.sha256(call.body).hexdigest()[:16]
        outcome = self.outcome(key)
        if outcome == "error" and key not in self._realtime_failed:
            self._realtime_failed.add(key)  # fails once; the client's retry gets an answer
            return self.error(500, "An internal error has occurred.")
        request.setdefault("model", f"models/{match['model']}")
        return Reply(200, self._answer(request, key, malformed=outcome == "malformed"))


def _rpc_status(reply: Reply) -> dict[str, Any]:
    """An HTTP error answer as the google.rpc.Status a batch result carries: the gRPC code and the message."""
    error = reply.body["error"]
    return {"code": RPC_CODES.get(reply.status, 2), "message": error["message"]}
