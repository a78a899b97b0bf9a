"""A loopback Anthropic: the Message Batches API and `POST /v1/messages`, with the shapes,
ids, validation rules and lifecycle of anthropics/anthropic-sdk-python's types.

A batch is `in_progress` (every request counted as `processing`, as Anthropic counts
them) until it has been observed `faults.polls_to_end` times (a retrieve, or a list page
showing it, stands for time passing), then `ended` with its results at `results_url`
on this server. `cancel` makes it `canceling`; on the next observation it ends with the
requests already done (a share growing with the observations so far) and the rest
`canceled`. Anthropic has no failed state: a batch of `faults.fail_batches` is accepted,
then lost (404 from then on, never listed, nothing billed).

As the service does, a batch's create call checks only the envelope (the list, each
custom id); each request's params are validated as the batch runs, and a request the
Messages API would refuse comes back as an `errored` result (`invalid_request_error`).
Every answer carries a `request-id` header. The key is read from `x-api-key` or
`Authorization: Bearer` (the official SDK sends the latter), and `anthropic-version` must
name a version the API knows (VERSIONS).

The realtime endpoint draws its outcome from a hash of the request body: `error` answers
500 and `expired` answers 529 (overloaded, with retry-after) the first time that body is
sent, so the client's retry succeeds; `malformed` answers off the schema.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.emulators.anthropic_params import Invalid, check_params, params_problem
from tests.emulators.base import API_KEY, Call, Emulator, Faults, Reply, count_tokens

MAX_REQUESTS = 100_000
MAX_BATCH_BYTES = 256_000_000
CUSTOM_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
    413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error",
}  # fmt: skip
# Account stops as Anthropic answers them: (status, error type, message).
ACCOUNT_STOPS = {
    "credit": (
        400,
        "invalid_request_error",
        "Your credit balance is too low to access the Anthropic API. "
        "Please go to Plans & Billing to upgrade or purchase credits.",
    ),
    "spend": (
        429,
        "rate_limit_error",
        "You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC.",
    ),
    "billing": (402, "billing_error", "Your organization is out of credits."),
}
# `anthropic-version` values the emulator accepts: the first stable one, and the one
# anthropic 2.14 sends (anthropic/_constants.py, ANTHROPIC_API_VERSION).
VERSIONS = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


OCTO_TAG = re.compile(r"_[0-9a-f]{10}\Z")


def runner_id(custom_id: str) -> str:
    """The custom id without octolang's chunk tag. Outcomes, answers and the bill are keyed
    on it, so that runs whose chunks (hence tags) differ draw the same faults and bills
    compare with the run state; Anthropic itself treats the id as opaque."""
    return OCTO_TAG.sub("", custom_id)


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# what count_tokens takes (the SDK's MessageCountTokensParams): no max_tokens, no sampling
COUNT_PARAMS = frozenset({"model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers"})


def prompt_tokens(params: dict[str, Any]) -> int:
    """The input tokens a message is billed: its system, messages and tools, counted."""
    return count_tokens(json.dumps([params.get("system"), params["messages"], params.get("tools")]))


class AnthropicEmulator(Emulator):
    name = "anthropic"

    def __init__(self, *, seed: int = 0, faults: Faults | None = None) -> None:
        super().__init__(seed=seed, faults=faults)
        self.clock: Callable[[], float] = time.time  # tests move it to make batches look old
        self.max_batch_bytes = MAX_BATCH_BYTES
        self.cache_tokens = (0, 0)  # (cache_creation, cache_read) input tokens reported on every message
        self.batches: dict[str, dict[str, Any]] = {}  # id -> {"batch", "requests", "seen", "results", "lost"}
        self._counter = 0
        self._realtime_seen: set[str] = set()
        self.route("POST", r"/v1/messages/batches", self._create)
        self.route("GET", r"/v1/messages/batches", self._list)
        self.route("GET", r"/v1/messages/batches/(?P<id>[^/]+)", self._retrieve)
        self.route("POST", r"/v1/messages/batches/(?P<id>[^/]+)/cancel", self._cancel)
        self.route("GET", r"/v1/messages/batches/(?P<id>[^/]+)/results", self._results)
        self.route("DELETE", r"/v1/messages/batches/(?P<id>[^/]+)", self._delete)
        self.route("POST", r"/v1/messages", self._realtime)
        self.route("POST", r"/v1/messages/count_tokens", self._count_tokens)

    # ---------------------------------------------------------------- protocol
    def dispatch(self, call: Call) -> Reply:
        reply = super().dispatch(call)
        reply.headers.setdefault("request-id", self._id("req_"))
        return reply

    def _authorise(self, call: Call) -> Reply | None:
        key = call.headers.get("x-api-key")
        bearer = call.headers.get("authorization", "")
        if key is None and bearer.startswith("Bearer "):
            key = bearer.removeprefix("Bearer ")
        if key != API_KEY:
            return Reply(
                401, {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}
            )
        version = call.headers.get("anthropic-version")
        if not version:
            return self.error(400, "anthropic-version: header is required")
        if version not in VERSIONS:
            return self.error(400, f"anthropic-version: unknown version {version!r}")
        return None

    def error(self, status: int, message: str) -> Reply:
        kind = ERROR_TYPES.get(status, "api_error")
        return Reply(status, {"type": "error", "error": {"type": kind, "message": message}})

    def account_error(self, kind: str) -> Reply:
        status, error_type, message = ACCOUNT_STOPS[kind]
        return Reply(status, {"type": "error", "error": {"type": error_type, "message": message}})

    def _id(self, prefix: str) -> str:
        self._counter += 1
        digest = hashlib.sha256(f"{self.seed}:{prefix}:{self._counter}".encode()).digest()
        return prefix + "01" + "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:22])

    def _body(self, call: Call) -> Any:
        try:
            return call.json()
        except ValueError:
            raise Invalid("the request body is not valid JSON") from None

    # ---------------------------------------------------------------- batches
    def _create(self, call: Call, match: re.Match[str]) -> Reply:
        stop = self.stopped("create")
        if stop:
            return self.account_error(stop)
        if len(call.body) > self.max_batch_bytes:
            return self.error(413, f"Request exceeds the maximum size of {self.max_batch_bytes} bytes")
        try:
            requests = self._check_batch(self._body(call))
        except Invalid as exc:
            return self.error(400, str(exc))
        now = self.clock()
        batch_id = self._id("msgbatch_")
        batch = {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": {"processing": len(requests), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "ended_at": None,
            "created_at": rfc3339(now),
            "expires_at": rfc3339(now + 24 * 3600),
            "archived_at": None,
            "cancel_initiated_at": None,
            "results_url": None,
        }
        lost = self.faults.fail_batches > 0
        if lost:
            self.faults.fail_batches -= 1
        self.batches[batch_id] = {"batch": batch, "requests": requests, "seen": 0, "results": None, "lost": lost}
        self.batches_created += 1
        return Reply(200, batch)

    def _check_batch(self, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
            raise Invalid("requests: Field required")
        extra = sorted(set(body) - {"requests"})
        if extra:
            raise Invalid(f"{extra[0]}: Extra inputs are not permitted")
        requests: list[dict[str, Any]] = body["requests"]
        if not requests:
            raise Invalid("requests: List should have at least 1 item")
        if len(requests) > MAX_REQUESTS:
            raise Invalid(f"requests: List should have at most {MAX_REQUESTS} items")
        seen: set[str] = set()
        for i, request in enumerate(requests):
            if not isinstance(request, dict) or "custom_id" not in request or "params" not in request:
                raise Invalid(f"requests.{i}: custom_id and params are required")
            custom_id = request["custom_id"]
            if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
                raise Invalid(f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
            if custom_id in seen:
                raise Invalid(f"requests.{i}.custom_id: Duplicate custom_id '{custom_id}' within the batch")
            seen.add(custom_id)
            if not isinstance(request["params"], dict):
                raise Invalid(f"requests.{i}.params: Input should be an object")
        return requests

    def _entry(self, batch_id: str) -> dict[str, Any] | None:
        entry = self.batches.get(batch_id)
        return None if entry is None or entry["lost"] else entry

    def _observe(self, entry: dict[str, Any]) -> None:
        """Time passes for a batch each time it is looked at."""
        entry["seen"] += 1
        status = entry["batch"]["processing_status"]
        if status == "canceling" or (status == "in_progress" and entry["seen"] >= self.faults.polls_to_end):
            self._end(entry)

    def _retrieve(self, call: Call, match: re.Match[str]) -> Reply:
        entry = self._entry(match["id"])
        if entry is None:
            return self.error(404, f"Message batch {match['id']} not found")
        self._observe(entry)
        return Reply(200, entry["batch"])

    def _list(self, call: Call, match: re.Match[str]) -> Reply:
        limit = int(call.query.get("limit", "20"))
        if not 1 <= limit <= 1000:
            return self.error(400, "limit: Input should be between 1 and 1000")
        newest = [e for e in reversed(self.batches.values()) if not e["lost"]]
        ids = [e["batch"]["id"] for e in newest]
        start = 0
        if "after_id" in call.query:
            if call.query["after_id"] not in ids:
                return self.error(400, "after_id: unknown message batch")
            start = ids.index(call.query["after_id"]) + 1
        page = newest[start : start + limit]
        for entry in page:
            self._observe(entry)
        data = [e["batch"] for e in page]
        return Reply(
            200,
            {
                "data": data,
                "has_more": start + limit < len(newest),
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            },
        )

    def _cancel(self, call: Call, match: re.Match[str]) -> Reply:
        entry = self._entry(match["id"])
        if entry is None:
            return self.error(404, f"Message batch {match['id']} not found")
        batch = entry["batch"]
        if batch["processing_status"] == "in_progress":
            batch["processing_status"] = "canceling"
            batch["cancel_initiated_at"] = rfc3339(self.clock())
        return Reply(200, batch)

    def _delete(self, call: Call, match: re.Match[str]) -> Reply:
        entry = self._entry(match["id"])
        if entry is None:
            return self.error(404, f"Message batch {match['id']} not found")
        if entry["batch"]["processing_status"] != "ended":
            return self.error(400, "Message batches can only be deleted once they have finished processing")
        del self.batches[match["id"]]
        return Reply(200, {"id": match["id"], "type": "message_batch_deleted"})

    def _results(self, call: Call, match: re.Match[str]) -> Reply:
        entry = self._entry(match["id"])
        if entry is None:
            return self.error(404, f"Message batch {match['id']} not found")
        if entry["results"] is None:
            return self.error(400, f"Message batch {match['id']} has not finished processing")
        return Reply(200, entry["results"], content_type="application/binary")

    def _end(self, entry: dict[str, Any]) -> None:
        """Every request's result, in an order other than the input's; the bill."""
        batch = entry["batch"]
        canceled = batch["processing_status"] == "canceling"
        share = entry["seen"] / max(1, self.faults.polls_to_end)  # how far the batch got before the cancel
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        lines = []
        stop = self.stopped("results")
        for request in entry["requests"]:
            custom_id = request["custom_id"]
            key = runner_id(custom_id)
            outcome = self.outcome(key)
            problem = params_problem(request["params"])
            if canceled and self._draw(key, "done") >= share:
                result: dict[str, Any] = {"type": "canceled"}
            elif problem is not None:  # validated as the batch runs, not at create
                error = {"type": "invalid_request_error", "message": problem}
                result = {"type": "errored", "error": {"type": "error", "error": error}}
            elif stop:
                result = {"type": "errored", "error": self.account_error(stop).body}
            elif outcome == "expired":
                result = {"type": "expired"}
            elif outcome == "error":
                error = {
                    "type": "invalid_request_error",
                    "message": "prompt is too long: 210000 tokens > 200000 maximum",
                }
                result = {"type": "errored", "error": {"type": "error", "error": error}}
            else:
                self.billed.append(key)
                result = {"type": "succeeded", "message": self._message(key, request["params"], outcome)}
            counts[result["type"]] += 1
            lines.append((self._draw(custom_id, "order"), json.dumps({"custom_id": custom_id, "result": result})))
        batch.update(
            processing_status="ended",
            request_counts=counts,
            ended_at=rfc3339(self.clock()),
            results_url=f"{self.base_url}/v1/messages/batches/{batch['id']}/results",
        )
        entry["results"] = "".join(line + "\n" for _, line in sorted(lines)).encode()

    def _draw(self, custom_id: str, what: str) -> float:
        digest = hashlib.sha256(f"{self.seed}:{custom_id}:{what}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    # ---------------------------------------------------------------- the model
    def _message(self, key: str, params: dict[str, Any], outcome: str) -> dict[str, Any]:
        """A Message: the forced tool's `tool_use` block, or a text block for free text."""
        tools = {t["name"]: t["input_schema"] for t in params.get("tools", [])}
        choice = params.get("tool_choice") or {}
        schema = tools.get(choice.get("name")) if choice.get("type") == "tool" else None
        text = self.answer(key, schema, outcome == "malformed")
        if schema is not None:
            value = _json_object(text)
            content: list[dict[str, Any]] = [
                {"type": "tool_use", "id": self._id("toolu_"), "name": choice["name"], "input": value or {}}
            ]
            stop = "tool_use" if value is not None else "max_tokens"  # a cut answer leaves the input empty
        else:
            value = _json_object(text, str)
            content = [{"type": "text", "text": value if isinstance(value, str) else text}]
            stop = "end_turn"
        creation, read = self.cache_tokens
        return {
            "id": self._id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": params["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": prompt_tokens(params),
                "cache_creation_input_tokens": creation,
                "cache_read_input_tokens": read,
                "output_tokens": count_tokens(json.dumps(content)),
                "service_tier": "batch",
            },
        }

    def _count_tokens(self, call: Call, match: re.Match[str]) -> Reply:
        """`POST /v1/messages/count_tokens`: the input tokens the message would be billed."""
        try:
            params = self._body(call)
            if not isinstance(params, dict) or "model" not in params or "messages" not in params:
                raise Invalid("model and messages: Field required")
            extra = sorted(set(params) - COUNT_PARAMS)
            if extra:
                raise Invalid(f"{extra[0]}: Extra inputs are not permitted")
        except Invalid as exc:
            return self.error(400, str(exc))
        return Reply(200, {"input_tokens": prompt_tokens(params)})

    def _realtime(self, call: Call, match: re.Match[str]) -> Reply:
        stop = self.stopped("realtime")
        if stop:
            return self.account_error(stop)
        try:
            params = self._body(call)
            check_params(params, "params" if isinstance(params, dict) else "body")
        except Invalid as exc:
            return self.error(400, str(exc))
        key = "rt-" + hashlib.sha256(call.body.strip()).hexdigest()[:16]
        outcome = self.outcome(key)
        if outcome in ("error", "expired") and key not in self._realtime_seen:
            self._realtime_seen.add(key)
            if outcome == "error":
                return self.error(500, "Internal server error")
            reply = self.error(529, "Overloaded")
            reply.headers["retry-after"] = f"{self.faults.retry_after or 0:g}"
            return reply
        self.billed.append(key)
        message = self._message(key, params, outcome)
        message["usage"]["service_tier"] = "standard"
        return Reply(200, message)


def _json_object(text: str, kind: type = dict) -> Any:
    """The JSON value in a model's text (bare, fenced or after a sentence), if it is a `kind`."""
    for candidate in (text, text[text.find("{") : text.rfind("}") + 1]):
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, kind):
            return value
    return None
