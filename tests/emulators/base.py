"""What every provider emulator shares: a loopback HTTP server, routes, the fault plan,
the bill, and the model's answers.

An emulator is a real HTTP server on 127.0.0.1 speaking a provider's documented wire
protocol (see ../shared/reference/provider-batch-apis.md and docs/providers.md). Tests
point a client's base URL at it. Its state (batches, files, the bill) lives in the
object, so `restart()` drops every connection and keeps what a real service keeps.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from octolang.providers.mock_answers import mock_answer

API_KEY = "test-key-0123456789"


@dataclass
class Faults:
    """What goes wrong. Per-request outcomes are drawn from the custom id, so a retry
    (a new attempt, a new id) gets a fresh draw and the same run gets the same faults."""

    error_rate: float = 0.0  # requests that fail inside a batch (a 400/500 for that request alone)
    expired_rate: float = 0.0  # requests the batch never reached before it expired
    malformed_rate: float = 0.0  # answers that are not what the schema asks for
    storm: int = 0  # the next `storm` HTTP calls answer `storm_status`
    storm_status: int = 429
    retry_after: float | None = 0.05  # seconds in the Retry-After header of a storm answer
    outage_until: float = 0.0  # time.monotonic() until which every call answers 503
    polls_to_end: int = 2  # polls of a batch before it has ended
    fail_batches: int = 0  # the next `fail_batches` batches fail as a whole
    # An account stop in the provider's own wire shape (each emulator's ACCOUNT_STOPS names
    # its kinds, e.g. "quota"), where it applies: "create" (creating a batch is refused),
    # "results" (a batch ending while it is on answers a billing error for every request,
    # unbilled), "realtime" (every realtime call is refused). None: the account is fine.
    account_stop: str | None = None
    account_stop_at: frozenset[str] = frozenset({"create", "results", "realtime"})
    broken: str | None = None  # "METHOD /path regex": every such call answers 500, for ever (a proxy's bug)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


Handler = Callable[[Call, "re.Match[str]"], Reply]


class Emulator:
    """Subclasses add routes in `__init__` with `self.route(method, pattern, handler)`."""

    name = "emulator"

    def __init__(self, *, seed: int = 0, faults: Faults | None = None) -> None:
        self.seed = seed
        self.faults = faults or Faults()
        self.lock = threading.RLock()
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.log: list[tuple[str, str, int]] = []  # (method, path, status) of every call
        self.calls: list[Call] = []  # every call as it came, for tests that check what clients send
        self.batches_created = 0
        self.billed: list[str] = []  # custom ids of every request the service executed (and billed)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---------------------------------------------------------------- serving
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + r"\Z"), handler))

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Emulator:
        emulator = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # answers go out at once (no Nagle wait for the client's delayed ACK)
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                call = Call(
                    self.command,
                    parts.path,
                    {k: v[-1] for k, v in parse_qs(parts.query).items()},
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                reply = emulator.dispatch(call)
                data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", reply.content_type)
                self.send_header("content-length", str(len(data)))
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def restart(self) -> None:
        """Down and up again on the same port, state kept (a deploy at the provider)."""
        self.stop()
        self.start()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dispatch(self, call: Call) -> Reply:
        with self.lock:
            reply = self._fault(call) or self._authorise(call)
            if reply is None:
                reply = self._route(call)
            self.log.append((call.method, call.path, reply.status))
            self.calls.append(call)
            return reply

    def _route(self, call: Call) -> Reply:
        for method, pattern, handler in self.routes:
            match = pattern.match(call.path)
            if match and method == call.method:
                try:
                    return handler(call, match)
                except (ValueError, KeyError, TypeError) as exc:
                    return self.error(400, f"invalid request: {exc}")
        return self.error(404, f"no route {call.method} {call.path}")

    def stopped(self, where: str) -> str | None:
        """The account stop in force at `where` (create, results, realtime), if any."""
        return self.faults.account_stop if where in self.faults.account_stop_at else None

    def account_error(self, kind: str) -> Reply:
        """The provider's HTTP answer for an account stop of this kind."""
        raise NotImplementedError

    def _fault(self, call: Call) -> Reply | None:
        if self.faults.broken is not None:
            method, pattern = self.faults.broken.split(" ", 1)
            if call.method == method and re.fullmatch(pattern, call.path):
                return self.error(500, "Internal server error")
        if time.monotonic() < self.faults.outage_until:
            return self.error(503, "the service is unavailable")
        if self.faults.storm > 0:
            self.faults.storm -= 1
            headers = {} if self.faults.retry_after is None else {"retry-after": f"{self.faults.retry_after:g}"}
            reply = self.error(self.faults.storm_status, "rate limited")
            reply.headers.update(headers)
            return reply
        return None

    # ---------------------------------------------------------------- per provider
    def _authorise(self, call: Call) -> Reply | None:
        """None when the call carries the key; the provider's 401 otherwise."""
        raise NotImplementedError

    def error(self, status: int, message: str) -> Reply:
        """The provider's error body."""
        raise NotImplementedError

    # ---------------------------------------------------------------- the model
    def outcome(self, custom_id: str) -> str:
        """ok, error, expired or malformed: drawn from the id, the same on every run."""
        digest = hashlib.sha256(f"{self.seed}:{custom_id}:outcome".encode()).digest()
        x = int.from_bytes(digest[:8], "big") / 2**64
        f = self.faults
        if x < f.error_rate:
            return "error"
        if x < f.error_rate + f.expired_rate:
            return "expired"
        if x < f.error_rate + f.expired_rate + f.malformed_rate:
            return "malformed"
        return "ok"

    def answer(self, custom_id: str, schema: dict[str, Any] | None, malformed: bool) -> str:
        """The model's text: JSON for the schema (a broken one when malformed)."""
        return mock_answer(
            schema or {"type": "string"}, key=custom_id, seed=self.seed, invalid_rate=1.0 if malformed else 0.0
        )

    def bare_answer(self, custom_id: str, schema: dict[str, Any] | None) -> str:
        """A valid answer as a JSON mode returns it: the JSON alone, never fenced or introduced."""
        return mock_answer(schema or {"type": "string"}, key=custom_id, seed=self.seed, wrapped=False)


def count_tokens(text: str) -> int:
    """Tokens billed for a text: its o200k_base count (tests/emulators/tokens.py)."""
    from tests.emulators.tokens import count_tokens as o200k

    return o200k(text)
