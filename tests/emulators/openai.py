"""A loopback OpenAI: Files, Batches and chat completions, with the documented shapes,
ids, limits and status lifecycle (../shared/reference/provider-batch-apis.md).

A batch is `validating` on creation, `in_progress` from the first poll, `finalizing` on
poll `faults.polls_to_end` (its results not yet written), and ends on the poll after:
`completed`, or `expired` when some of its requests drew
the expired outcome (those land in the error file with `batch_expired`, as OpenAI does
when the window passes), or `failed` when its input file breaks a rule the real
service checks (nothing runs, nothing is billed). A cancelled batch (even one cancelled
while `validating`) ends with the first half of its requests answered and the rest in its
error file as cancelled; its `request_counts` add up to its `total`. Every executed
request is billed. Files are FileObjects (`status` `processed`), readable at
`GET /v1/files/{id}` and their content at `/content`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from tests.emulators.base import API_KEY, Call, Emulator, Faults, Reply, count_tokens
from tests.emulators.tokens import openai_prompt_tokens

ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/embeddings", "/v1/completions")
MAX_REQUESTS = 50_000
MAX_FILE_BYTES = 200 * 1024 * 1024


# Account stops as OpenAI answers them: (status, error type, code, message).
ACCOUNT_STOPS = {
    "quota": (
        429,
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota, please check your plan and billing details. For more information on "
        "this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
    ),
    "billing": (
        400,
        "invalid_request_error",
        "billing_hard_limit_reached",
        "Billing hard limit has been reached",
    ),
}


class OpenAIEmulator(Emulator):
    name = "openai"

    def __init__(self, *, seed: int = 0, faults: Faults | None = None) -> None:
        super().__init__(seed=seed, faults=faults)
        self.max_file_bytes = MAX_FILE_BYTES  # an upload over it answers 413, as the service's front does
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, dict[str, Any]] = {}  # id -> the batch object, in creation order
        self._polls: dict[str, int] = {}
        self._realtime_failed: set[str] = set()
        self._counter = 0
        self.route("POST", r"/v1/files", self._upload)
        self.route("GET", r"/v1/files/(?P<id>[^/]+)/content", self._content)
        self.route("GET", r"/v1/files/(?P<id>[^/]+)", self._file)
        self.route("POST", r"/v1/batches", self._create)
        self.route("GET", r"/v1/batches", self._list)
        self.route("GET", r"/v1/batches/(?P<id>[^/]+)", self._retrieve)
        self.route("POST", r"/v1/batches/(?P<id>[^/]+)/cancel", self._cancel)
        self.route("POST", r"/v1/chat/completions", self._chat)

    # ---------------------------------------------------------------- protocol
    def _authorise(self, call: Call) -> Reply | None:
        if call.headers.get("authorization") == f"Bearer {API_KEY}":
            return None
        reply = self.error(401, "Incorrect API key provided.")
        reply.body["error"].update(type="invalid_request_error", code="invalid_api_key")
        return reply

    def error(self, status: int, message: str) -> Reply:
        kind = "invalid_request_error" if status < 500 else "server_error"
        return Reply(status, {"error": {"message": message, "type": kind, "param": None, "code": None}})

    def account_error(self, kind: str) -> Reply:
        status, kind_, code, message = ACCOUNT_STOPS[kind]
        return Reply(status, {"error": {"message": message, "type": kind_, "param": None, "code": code}})

    def _id(self, prefix: str) -> str:
        self._counter += 1
        return prefix + hashlib.sha256(f"{self.seed}:{self._counter}".encode()).hexdigest()[:24]

    def _upload(self, call: Call, match: re.Match[str]) -> Reply:
        form = multipart_fields(call)
        if form.get("purpose", (None, b""))[1] != b"batch":
            return self.error(400, "purpose must be 'batch' for a batch input file")
        if "file" not in form:
            return self.error(400, "no file in the upload")
        filename, content = form["file"]
        if not (filename or "").endswith(".jsonl"):
            return self.error(400, "a batch input file must be a .jsonl file")
        if len(call.body) > self.max_file_bytes:
            return self.error(413, f"Request Entity Too Large: at most {self.max_file_bytes} bytes")
        file_id = self._id("file-")
        record = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": "batch",
            "status": "processed",
            "expires_at": None,
            "status_details": None,
        }
        self.files[file_id] = {**record, "content": content}
        return Reply(200, record)

    def _file(self, call: Call, match: re.Match[str]) -> Reply:
        record = self.files.get(match["id"])
        if record is None:
            return self.error(404, f"No such File object: {match['id']}")
        return Reply(200, {k: v for k, v in record.items() if k != "content"})

    def _content(self, call: Call, match: re.Match[str]) -> Reply:
        record = self.files.get(match["id"])
        if record is None:
            return self.error(404, f"No such File object: {match['id']}")
        return Reply(200, record["content"], content_type="application/octet-stream")

    def _create(self, call: Call, match: re.Match[str]) -> Reply:
        stop = self.stopped("create")
        if stop:
            return self.account_error(stop)
        body = call.json()
        if body.get("endpoint") not in ENDPOINTS:
            return self.error(400, f"invalid endpoint {body.get('endpoint')!r}")
        if body.get("completion_window") != "24h":
            return self.error(400, "completion_window must be '24h'")
        metadata = body.get("metadata") or {}
        if len(metadata) > 16 or any(len(k) > 64 or len(str(v)) > 512 for k, v in metadata.items()):
            return self.error(400, "metadata: at most 16 pairs, keys up to 64 and values up to 512 characters")
        if body.get("input_file_id") not in self.files:
            return self.error(400, f"No such File object: {body.get('input_file_id')}")
        now = int(time.time())
        batch_id = self._id("batch_")
        batch = {
            "id": batch_id,
            "object": "batch",
            "endpoint": body["endpoint"],
            "errors": None,
            "input_file_id": body["input_file_id"],
            "completion_window": "24h",
            "status": "validating",
            "output_file_id": None,
            "error_file_id": None,
            "created_at": now,
            "in_progress_at": None,
            "expires_at": now + 86400,
            "finalizing_at": None,
            "completed_at": None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
            "metadata": metadata,
        }
        self.batches[batch_id] = batch
        self._polls[batch_id] = 0
        self.batches_created += 1
        return Reply(200, batch)

    def _list(self, call: Call, match: re.Match[str]) -> Reply:
        limit = max(1, min(100, int(call.query.get("limit", 20))))
        newest_first = list(reversed(self.batches.values()))
        after = call.query.get("after")
        if after:
            ids = [b["id"] for b in newest_first]
            if after not in ids:
                return self.error(400, f"unknown cursor {after}")
            newest_first = newest_first[ids.index(after) + 1 :]
        page = newest_first[:limit]
        return Reply(
            200,
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(newest_first) > limit,
            },
        )

    def _retrieve(self, call: Call, match: re.Match[str]) -> Reply:
        batch = self.batches.get(match["id"])
        if batch is None:
            return self.error(404, f"No such Batch object: {match['id']}")
        self._polls[batch["id"]] += 1
        self._advance(batch)
        return Reply(200, batch)

    def _cancel(self, call: Call, match: re.Match[str]) -> Reply:
        batch = self.batches.get(match["id"])
        if batch is None:
            return self.error(404, f"No such Batch object: {match['id']}")
        if batch["status"] not in ("validating", "in_progress", "finalizing"):
            return self.error(400, f"cannot cancel a batch that is {batch['status']}")
        batch["status"] = "cancelling"
        batch["cancelling_at"] = int(time.time())
        return Reply(200, batch)

    # ---------------------------------------------------------------- lifecycle
    def _advance(self, batch: dict[str, Any]) -> None:
        now = int(time.time())
        status = batch["status"]
        if status == "validating":
            lines, problem = self._validate(batch)
            if problem is not None or self.faults.fail_batches > 0:
                if problem is None:
                    self.faults.fail_batches -= 1
                    problem = {"code": "server_error", "message": "the batch failed", "line": None, "param": None}
                batch.update(status="failed", failed_at=now, errors={"object": "list", "data": [problem]})
                return
            batch.update(status="in_progress", in_progress_at=now)
            batch["request_counts"]["total"] = len(lines)
        elif status == "cancelling":
            self._finish(batch, cancelled=True)
        elif status == "in_progress" and self._polls[batch["id"]] >= self.faults.polls_to_end:
            batch.update(status="finalizing", finalizing_at=now)
        elif status == "finalizing":
            self._finish(batch, cancelled=False)

    def _validate(self, batch: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        content: bytes = self.files[batch["input_file_id"]]["content"]
        lines: list[dict[str, Any]] = []
        seen: set[str] = set()
        models: set[str] = set()

        def bad(number: int, code: str, message: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            return [], {"code": code, "message": message, "line": number, "param": None}

        for number, raw in enumerate(content.splitlines(), 1):
            try:
                line = json.loads(raw)
            except ValueError:
                return bad(number, "invalid_json_line", "This line is not parseable as valid JSON.")
            custom_id = line.get("custom_id") if isinstance(line, dict) else None
            if not isinstance(custom_id, str) or not custom_id:
                return bad(number, "missing_required_parameter", "custom_id is required")
            if custom_id in seen:
                return bad(number, "duplicate_custom_id", f"The custom_id '{custom_id}' is duplicated.")
            if line.get("method") != "POST" or line.get("url") != batch["endpoint"]:
                return bad(number, "invalid_url", "method must be POST and url the batch's endpoint")
            body = line.get("body")
            if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
                return bad(number, "missing_required_parameter", "body needs model and messages")
            fmt = body.get("response_format")
            if fmt is not None and (fmt.get("type") != "json_schema" or not _strict_ok(fmt["json_schema"]["schema"])):
                return bad(number, "invalid_request", "response_format: a strict schema lists every property")
            seen.add(custom_id)
            models.add(str(body["model"]))
            lines.append(line)
        if len(models) > 1:
            return bad(0, "mixed_models", "A batch input file must use one model.")
        if len(lines) > MAX_REQUESTS:
            return bad(0, "too_many_requests", f"A batch holds at most {MAX_REQUESTS} requests.")
        return lines, None

    def _finish(self, batch: dict[str, Any], *, cancelled: bool) -> None:
        now = int(time.time())
        lines, _ = self._validate(batch)
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        expired = False
        stop = self.stopped("results")
        for index, line in enumerate(lines):
            custom_id = line["custom_id"]
            outcome = self.outcome(custom_id)
            unreached = cancelled and index >= len(lines) // 2
            if stop and not unreached:
                refused = self.account_error(stop)
                errors.append(
                    {
                        "id": self._id("batch_req_"),
                        "custom_id": custom_id,
                        "response": {
                            "status_code": refused.status,
                            "request_id": self._id("req_"),
                            "body": refused.body,
                        },
                        "error": None,
                    }
                )
            elif unreached:
                errors.append(self._gone(custom_id, "batch_cancelled", "This request was cancelled."))
            elif outcome == "expired":
                expired = True
                errors.append(self._gone(custom_id, "batch_expired", "This request could not be executed in time."))
            elif outcome == "error":
                errors.append(
                    {
                        "id": self._id("batch_req_"),
                        "custom_id": custom_id,
                        "response": {
                            "status_code": 500,
                            "request_id": self._id("req_"),
                            "body": self.error(500, "The server had an error processing your request.").body,
                        },
                        "error": None,
                    }
                )
            else:
                completion = self._completion(line["body"], custom_id, malformed=outcome == "malformed")
                outputs.append(
                    {
                        "id": self._id("batch_req_"),
                        "custom_id": custom_id,
                        "response": {"status_code": 200, "request_id": self._id("req_"), "body": completion},
                        "error": None,
                    }
                )
        # results in an order other than the input's: the service finishes requests as it likes
        outputs.sort(key=lambda r: hashlib.sha256(r["custom_id"].encode()).hexdigest())
        errors.reverse()
        batch["request_counts"].update(total=len(lines), completed=len(outputs), failed=len(errors))
        if outputs:
            batch["output_file_id"] = self._store_output(batch, "output", outputs)
        if errors:
            batch["error_file_id"] = self._store_output(batch, "errors", errors)
        if cancelled:
            batch.update(status="cancelled", cancelled_at=now)
        elif expired:
            batch.update(status="expired", expired_at=now)
        else:
            batch.update(status="completed", completed_at=now)

    def _store_output(self, batch: dict[str, Any], kind: str, records: list[dict[str, Any]]) -> str:
        content = b"".join(json.dumps(r).encode() + b"\n" for r in records)
        file_id = self._id("file-")
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": f"batch_{batch['id']}_{kind}.jsonl",
            "purpose": "batch_output",
            "status": "processed",
            "expires_at": None,
            "status_details": None,
            "content": content,
        }
        return file_id

    def _completion(self, body: dict[str, Any], key: str, *, malformed: bool) -> dict[str, Any]:
        schema = (body.get("response_format") or {}).get("json_schema", {}).get("schema")
        # strict json_schema output is the bare JSON: only a malformed outcome spoils it
        text = (
            self.bare_answer(key, schema)
            if schema is not None and not malformed
            else self.answer(key, schema, malformed)
        )
        self.billed.append(key)
        prompt = openai_prompt_tokens(body)
        completion = count_tokens(text)
        return {
            "id": self._id("chatcmpl-"),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        }

    def _gone(self, custom_id: str, code: str, message: str) -> dict[str, Any]:
        """An error-file line for a request the batch never ran (it still has its own id)."""
        error = {"code": code, "message": message}
        return {"id": self._id("batch_req_"), "custom_id": custom_id, "response": None, "error": error}

    # ---------------------------------------------------------------- realtime
    def _chat(self, call: Call, match: re.Match[str]) -> Reply:
        stop = self.stopped("realtime")
        if stop:
            return self.account_error(stop)
        body = call.json()
        if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
            return self.error(400, "model and messages are required")
        fmt = body.get("response_format")
        if fmt is not None and (fmt.get("type") != "json_schema" or not _strict_ok(fmt["json_schema"]["schema"])):
            return self.error(400, "Invalid schema for response_format: a strict schema lists every property")
        key = "rt-" + hashlib.sha256(call.body).hexdigest()[:16]
        outcome = self.outcome(key)
        if outcome == "error" and key not in self._realtime_failed:
            self._realtime_failed.add(key)  # fails once; the client's retry gets an answer
            return self.error(500, "The server had an error processing your request.")
        return Reply(200, self._completion(body, key, malformed=outcome == "malformed"))


def _strict_ok(schema: Any) -> bool:
    """OpenAI's strict mode: every object lists all its properties as required and allows no others,
    and string lengths and defaults are not supported keywords."""
    if isinstance(schema, dict):
        if "minLength" in schema or "maxLength" in schema or "default" in schema:
            return False  # not supported in strict mode
        if schema.get("type") == "object" or "properties" in schema:
            props = schema.get("properties") or {}
            if schema.get("additionalProperties") is not False or set(schema.get("required") or []) != set(props):
                return False
        return all(_strict_ok(v) for v in schema.values())
    if isinstance(schema, list):
        return all(_strict_ok(v) for v in schema)
    return True


def multipart_fields(call: Call) -> dict[str, tuple[str | None, bytes]]:
    """A multipart/form-data body as field -> (filename, bytes)."""
    head = f"Content-Type: {call.headers.get('content-type', '')}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + call.body)
    fields: dict[str, tuple[str | None, bytes]] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = (part.get_filename(), payload)
    return fields
