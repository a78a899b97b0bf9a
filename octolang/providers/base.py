"""The small interface the runner uses to talk to any provider.

A batch provider takes a chunk of requests at once and answers later; a realtime
client answers one request now. The runner only sees `BatchProvider`: realtime
clients are driven through `octolang.providers.realtime.RealtimeBatch`, which keeps
their answers in a local ledger so that a call paid for is never made twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Request:
    custom_id: str  # unique within a run; matches ^[a-zA-Z0-9_-]{1,64}$ (Anthropic's rule, the strictest)
    body: dict[str, Any]  # provider-neutral: see octolang/runtime/requests.py
    # The provider's encoding, when the runner already made it to measure the chunk: a
    # provider's submit_batch uses it instead of encoding the request a second time.
    wire: bytes | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Result:
    custom_id: str
    status: Literal["ok", "error", "expired", "cancelled"]
    text: str | None = None  # the model's answer text, when ok
    raw: str = ""  # the provider's raw record for this request, kept for audit
    usage: dict[str, int] = field(default_factory=dict)  # input_tokens, output_tokens, cached_tokens
    error: str | None = None
    # Whose fault a request without an answer is (docs/providers.md, "Errors"): None, the
    # request's own (counted toward its unit); "provider" (a 5xx inside the results: sent
    # again, never counted); "account" (a billing stop: the run pauses, the request waits).
    fault: Literal["provider", "account"] | None = None


ErrorKind = Literal["transient", "request", "too_large", "account"]


class ProviderError(Exception):
    """A call that failed as a whole (outage, 5xx after retries, auth); the runner retries later.
    `status` is the HTTP status of the last answer (None when the service was not reached).

    `kind` is where the error sits in the taxonomy of docs/providers.md: `transient` (an
    outage, a 5xx, a rate limit: tried again later), `request` (the request itself was
    refused: resending it unchanged fails again), `too_large` (the payload is over a size
    limit: split it), `account` (the key, quota, credit or billing: nothing on this account
    can go on until the user acts; `cause` says which, in a few words)."""

    def __init__(
        self, message: str, status: int | None = None, *, kind: ErrorKind | None = None, cause: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind: ErrorKind = kind or default_kind(status)
        self.cause = cause or (f"{message.split(':', 1)[0]} refused the key" if self.kind == "account" else None)

    @property
    def request_fault(self) -> bool:
        """The request itself was refused (a 4xx other than rate limits): resending it unchanged fails again."""
        return self.kind == "request"


def default_kind(status: int | None) -> ErrorKind:
    """The kind an HTTP status has when the provider's body says nothing more precise."""
    if status in (401, 402, 403):
        return "account"
    if status == 413:
        return "too_large"
    if status is not None and 400 <= status < 500 and status not in (408, 409, 429):
        return "request"
    return "transient"


# OpenAI's reasoning models: they take `max_completion_tokens`, not `max_tokens`, and only
# the default sampling (temperature and top_p 1); the chat snapshots of GPT-5 are not among them.
OPENAI_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


def openai_reasoning_model(model_id: str) -> bool:
    return model_id.startswith(OPENAI_REASONING_PREFIXES) and "-chat" not in model_id


BatchState = Literal["running", "ended", "failed"]


class BatchProvider(Protocol):
    name: str
    max_requests: int  # requests per batch the provider accepts
    max_bytes: int  # bytes of encoded requests per batch

    def encode(self, request: Request) -> bytes:
        """The request as the provider receives it (one JSONL line, newline included)."""

    def find_batch(self, chunk_key: str, *, count: int, since: float) -> str | None:
        """The id of a batch already created for this chunk (crash reconciliation), found
        by the tag `chunk_key` the provider keeps (or, for Anthropic, carried in the custom
        ids: a batch of `count` requests created after `since`, the intent's Unix time, and
        proven by its results); None when there is none. Raises ProviderError while a
        candidate cannot be proven yet, so that the chunk waits instead of paying twice."""

    def submit_batch(self, chunk_key: str, requests: list[Request]) -> str:
        """Create a batch tagged with `chunk_key`; returns its id."""

    def poll(self, batch_id: str) -> BatchState:
        """Where the batch is in its lifecycle."""

    def fetch(self, batch_id: str) -> list[Result]:
        """The per-request results of an ended batch, in any order; requests the provider
        never answered (expired, cancelled) come back with that status."""

    def cancel(self, batch_id: str) -> None:
        """Ask the provider to stop the batch."""


class RealtimeClient(Protocol):
    name: str

    def encode(self, request: Request) -> bytes:
        """The request body as it is sent (for `--dry-run` and the audit trail)."""

    def call(self, request: Request) -> Result:
        """One request, answered now. Retries 429/5xx itself (honouring Retry-After);
        raises ProviderError when the service stays unavailable."""
