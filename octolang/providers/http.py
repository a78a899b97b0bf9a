"""One HTTP client for every provider: retries with backoff, Retry-After, and errors
that never carry the caller's key.

Retried: connection failures and timeouts, 408, 409, 429, 500, 502, 503, 504 and 529
(Anthropic's "overloaded"), except an account stop (a 429 for a quota that is used up:
octolang/providers/taxonomy.py), which no wait heals. A Retry-After header (seconds or an HTTP date, or
Anthropic's `retry-after-ms`) is honoured up to `max_delay`; otherwise the delay
doubles from `backoff`, with full jitter so that many clients do not retry in step.
"""

from __future__ import annotations

import email.utils
import os
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from octolang.providers.base import ProviderError, Request, Result
from octolang.providers.taxonomy import classify_response

RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def default_backoff() -> float:
    """Seconds before the first retry; `OCTO_HTTP_BACKOFF` lowers it for tests."""
    try:
        return float(os.environ.get("OCTO_HTTP_BACKOFF", "1.0"))
    except ValueError:
        return 1.0


class HttpClient:
    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        provider: str,
        retries: int = 6,
        backoff: float | None = None,
        max_delay: float = 60.0,
        timeout: float = 120.0,
        sleep: Callable[[float], None] = time.sleep,
        retry_hint: Callable[[httpx.Response], float | None] | None = None,
    ) -> None:
        self.provider = provider
        self.retries = retries
        self.backoff = default_backoff() if backoff is None else backoff
        self.max_delay = max_delay
        self.sleep = sleep
        # A provider's own way to say how long to wait when it sends no Retry-After
        # (Gemini: a RetryInfo `retryDelay` in the error body's details).
        self.retry_hint = retry_hint
        self.retried = 0  # how many times a call was retried, for the run's report
        self._client = httpx.Client(base_url=base_url.rstrip("/"), headers=dict(headers), timeout=timeout)

    def request(self, method: str, url: str, *, idempotent: bool = True, **kwargs: Any) -> httpx.Response:
        """The response of a call that succeeded (2xx); ProviderError otherwise.

        A call that is not `idempotent` (one that creates a paid batch) is retried only
        when the service surely did not act on it: a refused connection or a 429. After a
        timeout or a 5xx the batch may exist; the caller finds it again instead of asking twice."""
        attempt = 0
        while True:
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                if attempt >= self.retries or not (idempotent or isinstance(exc, httpx.ConnectError)):
                    raise ProviderError(
                        f"{self.provider}: {method} {_path(url)} failed after {attempt + 1} tries: "
                        f"{type(exc).__name__}: {exc}"
                    ) from None
                self._wait(attempt, None)
                attempt += 1
                continue
            if response.status_code < 300:
                return response
            verdict = classify_response(self.provider, response.status_code, response.text)
            retry = RETRY_STATUS if idempotent else frozenset({429})
            if response.status_code in retry and verdict.kind == "transient" and attempt < self.retries:
                self._wait(attempt, response)
                attempt += 1
                continue
            advice = f" ({verdict.advice})" if verdict.advice else ""
            raise ProviderError(
                f"{self.provider}: {method} {_path(url)} answered {response.status_code}"
                f"{' after ' + str(attempt + 1) + ' tries' if attempt else ''}: {_error_text(response)}" + advice,
                status=response.status_code,
                kind=verdict.kind,
                cause=f"{self.provider}: {verdict.cause}" if verdict.cause else None,
            )

    def json(self, method: str, url: str, *, idempotent: bool = True, **kwargs: Any) -> Any:
        response = self.request(method, url, idempotent=idempotent, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                f"{self.provider}: {method} {_path(url)} answered with something that is not JSON: "
                f"{response.text[:200]!r}"
            ) from None

    def _wait(self, attempt: int, response: httpx.Response | None) -> None:
        self.retried += 1
        asked = retry_after(response.headers) if response is not None else None
        if asked is None and response is not None and self.retry_hint is not None:
            asked = self.retry_hint(response)
        if asked is not None:
            delay = min(asked, self.max_delay)
        else:
            delay = random.uniform(0, min(self.max_delay, self.backoff * 2**attempt))
        self.sleep(delay)

    def close(self) -> None:
        self._client.close()


def realtime_answer(send: Callable[[], httpx.Response], request: Request, provider: str) -> tuple[Any, str] | Result:
    """A realtime call's answer as (its JSON, its raw text); or, when the provider refused
    the request for what it is (a 4xx that resending cannot fix), that request's error
    Result. Outages and garbled answers raise ProviderError."""
    try:
        response = send()
    except ProviderError as exc:
        if exc.request_fault or exc.kind == "too_large":
            return Result(request.custom_id, "error", error=str(exc))
        raise
    raw = response.text
    try:
        return response.json(), raw
    except ValueError:
        raise ProviderError(f"{provider}: the answer is not JSON: {raw[:200]!r}") from None


def retry_after(headers: httpx.Headers) -> float | None:
    """The delay a server asked for, in seconds."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _path(url: str) -> str:
    return httpx.URL(url).path or url


def _error_text(response: httpx.Response) -> str:
    """The provider's own error message, short; never the request (it may echo headers)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip() or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        nested = error.get("error")
        inner: dict[str, Any] = nested if isinstance(nested, dict) else error
        message = inner.get("message") or inner.get("type") or ""
        kind = inner.get("type") or inner.get("status") or inner.get("code") or ""
        return f"{kind}: {message}".strip(": ")[:300]
    return str(body)[:300]
