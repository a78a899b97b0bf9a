"""`octoc lsp` in a subprocess, started in a folder of the test's choosing, for the
sandbox tests (the LSP tests' own harness starts it in the repository)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lsprotocol import types as lsp

from tests.test_lsp import Session


@contextmanager
def lsp_in(cwd: Path) -> Iterator[Session]:
    from pygls.lsp.client import LanguageClient

    loop = asyncio.new_event_loop()
    client = LanguageClient("octolang-sandbox-tests", "1")
    session = Session(loop, client)

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
        session.published[params.uri].append(params)

    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([repo, os.environ.get("PYTHONPATH", "")])}
    session.run(client.start_io(sys.executable, "-m", "octolang", "lsp", cwd=str(cwd), env=env))
    try:
        session.run(
            client.initialize_async(
                lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=cwd.as_uri(), process_id=None)
            )
        )
        client.initialized(lsp.InitializedParams())
        yield session
        session.run(client.shutdown_async(None))
        client.exit(None)
    finally:
        session.run(client.stop())
        loop.close()


def timed_hover(session: Session, uri: str, position: lsp.Position) -> tuple[float, lsp.Hover | None]:
    started = time.monotonic()
    answer = session.run(
        session.client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri=uri), position))
    )
    return time.monotonic() - started, answer
