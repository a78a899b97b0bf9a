"""The small interface the runner uses to talk to any provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class Request:
    custom_id: str
    body: dict[str, Any]  # provider-neutral: see octolang/runtime/requests.py


@dataclass(frozen=True)
class Result:
    custom_id: str
    status: Literal["ok", "error", "expired", "cancelled"]
    text: str | None = None  # the model's answer text, when ok
    raw: str = ""  # the provider's raw record for this request, kept for audit
    usage: dict[str, int] = field(default_factory=dict)  # input_tokens, output_tokens, cached_tokens
    error: str | None = None


class ProviderError(Exception):
    """A call that failed as a whole (outage, 5xx after retries, auth); the runner retries later."""


class BatchProvider(Protocol):
    name: str

    def find_batch(self, chunk_key: str) -> str | None:
        """The id of a batch already created for this chunk (crash reconciliation)."""

    def submit_batch(self, chunk_key: str, requests: list[Request]) -> str:
        """Create a batch tagged with `chunk_key`; returns its id."""

    def poll(self, batch_id: str) -> Literal["running", "ended", "failed"]:
        """Where the batch is in its lifecycle."""

    def fetch(self, batch_id: str) -> list[Result]:
        """The per-request results of an ended batch, in any order."""

    def cancel(self, batch_id: str) -> None:
        """Ask the provider to stop the batch."""
