"""From a model declaration to the provider object that answers it.

A *route* names where a chunk of requests goes, and is recorded with the chunk so that a
resumed run polls the same place: `mock`, or `<model name>:batch` / `<model name>:realtime`.
Keys come from the environment when a provider is made, only to the addresses the user
allowed (hosts.py), live only in its HTTP client's headers, and are never written to the
run state, logs or reports.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from octolang import ir
from octolang.providers.base import BatchProvider, BatchState, ProviderError, RealtimeClient, Request, Result
from octolang.providers.hosts import Allowance, destination

Mode = Literal["batch", "realtime"]
DEFAULT_AUTO_THRESHOLD = 100


class KeyMissing(Exception):
    """A provider's key is not in the environment."""


class KeyRefused(KeyMissing):
    """The file would send a key where the user has not allowed it (see hosts.py)."""


def mode_for(model: ir.ModelDecl, requests: int) -> Mode:
    """How `requests` requests of this model are sent. OpenAI-compatible servers are called
    one request at a time (few of them implement the batch endpoints)."""
    mode = model.mode
    if mode == "auto":
        return "batch" if requests >= int(model.setting("auto_threshold", DEFAULT_AUTO_THRESHOLD)) else "realtime"
    return "realtime" if mode == "realtime" else "batch"


def route_for(model: ir.ModelDecl, requests: int) -> str:
    if model.provider == "mock":
        return "mock"
    return f"{model.name}:{mode_for(model, requests)}"


def route_mode(route: str) -> Mode:
    return "realtime" if route.endswith(":realtime") else "batch"


def api_key(model: ir.ModelDecl, allow: Allowance | None = None) -> str | None:
    """The model's key from the environment; KeyRefused when the user has not allowed it to
    go where the model's requests go, KeyMissing when the provider needs one and it is not set."""
    dest = destination(model, allow or Allowance.from_env())
    if dest.refusal is not None:
        raise KeyRefused(f"model `{model.name}`: {dest.refusal.message}; {dest.refusal.help}")
    names = dest.key_vars
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    if names and model.provider != "openai_compatible":
        raise KeyMissing(
            f"model `{model.name}` ({model.provider}) needs an API key in {' or '.join(names)}; "
            f"set it in the environment (it is never stored), or run with `--provider mock` to answer offline"
        )
    return None


def missing_keys(models: list[ir.ModelDecl]) -> list[str]:
    """Why each of `models` cannot be given its key: refused by the user's allowance, or not set."""
    allow = Allowance.from_env()
    out = []
    for model in models:
        try:
            api_key(model, allow)
        except KeyMissing as exc:
            out.append(str(exc))
    return out


@dataclass
class ProviderSettings:
    folder: str  # the run folder, for ledgers
    concurrency: int = 8
    dry_run: bool = False  # write the requests to files; call nobody


def make_provider(route: str, model: ir.ModelDecl, settings: ProviderSettings) -> BatchProvider:
    from octolang.providers.realtime import RealtimeBatch

    key = "" if settings.dry_run else api_key(model)
    if route_mode(route) == "batch":
        kwargs = _base_url(model)
        if model.provider == "openai":
            from octolang.providers.openai import OpenAIBatch

            return OpenAIBatch(key or "", **kwargs)
        if model.provider == "anthropic":
            from octolang.providers.anthropic import AnthropicBatch

            return AnthropicBatch(key or "", **kwargs)
        if model.provider == "gemini":
            from octolang.providers.gemini import GeminiBatch

            return GeminiBatch(key or "", **kwargs)
        raise ValueError(f"no batch client for provider {model.provider}")
    ledger = os.path.join(settings.folder, f"realtime-{model.name}.sqlite")
    concurrency = int(model.setting("concurrency", settings.concurrency))
    return RealtimeBatch(realtime_client(model, key), ledger, concurrency=concurrency)


def realtime_client(model: ir.ModelDecl, key: str | None) -> RealtimeClient:
    """The model's provider called one request at a time (also what counts tokens exactly).
    `key` must come from `api_key`, which checked that it may go to this address."""
    kwargs = _base_url(model)
    if model.provider == "openai":
        from octolang.providers.openai import OpenAIRealtime

        return OpenAIRealtime(key or "", **kwargs)
    if model.provider == "anthropic":
        from octolang.providers.anthropic import AnthropicRealtime

        return AnthropicRealtime(key or "", **kwargs)
    if model.provider == "gemini":
        from octolang.providers.gemini import GeminiRealtime

        return GeminiRealtime(key or "", **kwargs)
    if model.provider == "openai_compatible":
        from octolang.providers.openai import OpenAICompatibleRealtime

        return OpenAICompatibleRealtime(key, **kwargs)
    raise ValueError(f"no realtime client for provider {model.provider}")


def exact_counter() -> Callable[[ir.ModelDecl, list[dict[str, Any]]], list[int]]:
    """What `octoc check --exact` counts with: each model's realtime client asked for the
    billed input tokens of request bodies. A missing key or a failing service raises
    `ExactUnavailable`, and the estimate keeps its band."""
    from octolang.cost.exact import ExactUnavailable

    clients: dict[str, Any] = {}

    def count(model: ir.ModelDecl, bodies: list[dict[str, Any]]) -> list[int]:
        try:
            client: Any = clients.get(model.name)  # Anthropic's and Gemini's have count_tokens
            if client is None:
                client = clients[model.name] = realtime_client(model, api_key(model))
            return [int(client.count_tokens(Request(f"count-{i}", body))) for i, body in enumerate(bodies)]
        except (KeyMissing, ProviderError) as exc:
            raise ExactUnavailable(str(exc)) from None

    return count


def _base_url(model: ir.ModelDecl) -> dict[str, Any]:
    """The address the model's key was checked against, as a keyword argument of the clients:
    a built-in provider's official URL or the user's override, an `openai_compatible` model's
    `base_url`."""
    return {"base_url": destination(model, Allowance.from_env()).url or ""}


class ProviderPool:
    """The providers of one run, made when a route is first used and closed together."""

    def __init__(self, settings: ProviderSettings, *, seed: int) -> None:
        self.settings = settings
        self.seed = seed
        self._made: dict[str, BatchProvider] = {}
        self._answers: BatchProvider | None = None

    def get(self, route: str, model: ir.ModelDecl) -> BatchProvider:
        provider = self._made.get(route)
        if provider is None:
            if route == "mock":
                provider = self._mock()
            else:
                provider = make_provider(route, model, self.settings)
            if self.settings.dry_run:
                folder = os.path.join(self.settings.folder, "requests")
                provider = DryRun(provider, folder, route, answers=self._mock())
            self._made[route] = provider
        return provider

    def _mock(self) -> BatchProvider:
        """The run's mock provider (one ledger); in a dry run, also what answers every route,
        with valid answers only (a mock model's requests carry their own `invalid_rate`)."""
        from octolang.providers.mock import MockProvider

        if self._answers is None:
            path = os.path.join(self.settings.folder, "mock_provider.sqlite")
            kwargs = {"invalid_rate": 0.0} if self.settings.dry_run else {}
            self._answers = MockProvider(path, seed=self.seed, **kwargs)
        return self._answers

    def written(self) -> list[tuple[str, int, int]]:
        """The files a dry run wrote: (path, requests, bytes)."""
        return [f for p in self._made.values() if isinstance(p, DryRun) for f in p.files]

    def close(self) -> None:
        made = {id(p): p for p in [*self._made.values(), self._answers] if p is not None}
        for provider in made.values():
            close = getattr(provider, "close", None)
            if close is not None:
                close()
        self._made.clear()
        self._answers = None


class DryRun:
    """A provider's encoding without the provider: each chunk is written to
    `requests/<chunk>.jsonl`, exactly the lines that would be sent, and answered by the
    mock (`answers`), so that the steps after it get their requests written too."""

    def __init__(self, provider: BatchProvider, folder: str, route: str, *, answers: BatchProvider) -> None:
        self.provider = provider
        self.answers = answers
        self.name = provider.name
        self.max_requests = provider.max_requests
        self.max_bytes = provider.max_bytes
        self.folder = folder
        self.route = route
        self.files: list[tuple[str, int, int]] = []  # (path, requests, bytes)

    def encode(self, request: Request) -> bytes:
        return self.provider.encode(request)

    def find_batch(self, chunk_key: str, *, count: int = 0, since: float = 0.0) -> str | None:
        return None

    def submit_batch(self, chunk_key: str, requests: list[Request]) -> str:
        os.makedirs(self.folder, exist_ok=True)
        chunk = chunk_key.split(":", 1)[-1]
        path = os.path.join(self.folder, f"{chunk}.{self.route.replace(':', '-')}.jsonl")
        # a provider that changes lines per chunk (Anthropic tags the custom ids) says how
        wire_lines = getattr(self.provider, "wire_lines", None)
        lines = wire_lines(chunk_key, requests) if wire_lines else [self.encode(r) for r in requests]
        size = 0
        with open(path, "wb") as out:
            for line in lines:
                size += len(line)
                out.write(line)
        self.files.append((path, len(requests), size))
        return self.answers.submit_batch(chunk_key, requests)

    def poll(self, batch_id: str) -> BatchState:
        return self.answers.poll(batch_id)

    def fetch(self, batch_id: str) -> list[Result]:
        return self.answers.fetch(batch_id)

    def cancel(self, batch_id: str) -> None:
        self.answers.cancel(batch_id)

    def close(self) -> None:
        close = getattr(self.provider, "close", None)
        if close is not None:
            close()
