"""The pygls server: documents in, diagnostics and answers out.

Every handler is guarded: an exception is logged (to stderr; stdout is the protocol
channel) and answered with an empty result, so no input can take the server down. The
features themselves live in their own modules as pure functions of an `Analysis`.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from octolang import __version__, ir
from octolang.compiler import compile_source
from octolang.lsp.actions import code_actions
from octolang.lsp.completion import completion
from octolang.lsp.definition import definition
from octolang.lsp.diagnostics import to_lsp_all
from octolang.lsp.hover import hover
from octolang.lsp.incremental import Analysis, IncrementalCompiler
from octolang.lsp.positions import UTF16, to_offset, to_position
from octolang.lsp.references import prepare_rename, references, rename
from octolang.lsp.symbols import document_symbols
from octolang.paths import FileAccess
from octolang.source import SourceFile

logger = logging.getLogger("octolang.lsp")
Handler = TypeVar("Handler", bound=Callable[..., Any])


# From this many lines, a syntax error is answered first with the broken declarations' own
# errors, and the whole-text compile that `octoc check` does follows from a thread: on
# 2,000 steps it takes over a second, and the text changes on every keystroke.
QUICK_SYNTAX_FROM_LINES = 3_000


@dataclass
class Document:
    uri: str
    text: str
    compiler: IncrementalCompiler
    version: int | None = None
    analysis: Analysis | None = None
    last_good: ir.Program | None = None  # names for completion while the text does not parse


class OctoLanguageServer(LanguageServer):
    def __init__(self, access: FileAccess | None = None) -> None:
        super().__init__("octoc-lsp", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Full)
        self.access = access  # the files outside a pipeline's folder its units may come from (`--allow-outside`)
        self.documents: dict[str, Document] = {}
        self.confirming: set[asyncio.Task[None]] = set()

    def analyse(self, uri: str, text: str, version: int | None) -> Analysis:
        """Compile the document's new text; a bug in the incremental path falls back to a full compile."""
        document = self.documents.get(uri)
        if document is None:
            path = to_fs_path(uri) or uri
            document = self.documents[uri] = Document(uri, text, IncrementalCompiler(path, self.access))
        document.text, document.version = text, version
        quick = text.count("\n") >= QUICK_SYNTAX_FROM_LINES
        try:
            analysis = document.compiler.compile(text, quick_syntax=quick)
        except Exception:
            logger.exception("incremental compile failed; compiling the whole file")
            document.compiler = IncrementalCompiler(document.compiler.path, self.access)
            analysis = Analysis(compile_source(SourceFile(document.compiler.path, _as_read(text)), self.access))
        self._keep(document, analysis)
        return analysis

    def _keep(self, document: Document, analysis: Analysis) -> None:
        # The IR of a big file is hundreds of thousands of long-lived objects: left to the
        # cyclic collector, a full collection over them (hundreds of ms) lands on a later
        # keystroke. Frozen, they are skipped; what an edit drops is acyclic and is freed
        # by reference counting all the same.
        gc.freeze()
        if analysis.program is not None:
            document.last_good = analysis.program
        analysis.names_from = document.last_good
        analysis.encoding = self.encoding
        document.analysis = analysis

    async def confirm(self, uri: str, text: str, version: int | None) -> None:
        """Replace quick syntax errors by the whole compile's, unless the text changed meanwhile."""
        document = self.documents.get(uri)
        if document is None:
            return
        path = document.compiler.path
        try:
            compilation = await asyncio.to_thread(compile_source, SourceFile(path, _as_read(text)), self.access)
        except Exception:
            logger.exception("compiling %s failed", uri)
            return
        document = self.documents.get(uri)
        if document is None or document.version != version or document.text != text:
            return
        analysis = Analysis(compilation)
        self._keep(document, analysis)
        _publish(self, uri, analysis, version)

    @property
    def encoding(self) -> str:
        """The position encoding agreed at `initialize` (UTF-16 unless the client offered others)."""
        try:
            encoding = self.workspace.position_encoding
        except Exception:  # before `initialize`: no workspace yet
            return UTF16
        value = getattr(encoding, "value", encoding)  # an enum member, or the string itself
        return value if isinstance(value, str) and value else UTF16

    def analysis(self, uri: str) -> Analysis | None:
        document = self.documents.get(uri)
        return document.analysis if document is not None else None


def _as_read(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _guarded(default: Callable[[], object]) -> Callable[[Handler], Handler]:
    """Answer `default()` instead of failing: a handler's error is logged, never sent as a crash."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def guarded(*args: Any) -> Any:
            try:
                return handler(*args)
            except Exception:
                logger.exception("%s failed", handler.__name__)
                return default()

        return cast(Handler, guarded)

    return wrap


def _publish(server: OctoLanguageServer, uri: str, analysis: Analysis, version: int | None) -> None:
    diagnostics = to_lsp_all(analysis.compilation.diagnostics, analysis.source, uri, analysis.encoding)
    server.text_document_publish_diagnostics(
        lsp.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
    )


def _changed(ls: OctoLanguageServer, uri: str, text: str, version: int | None) -> None:
    """Compile and publish now, in the handler (so a request after the change sees it);
    a quick answer to a syntax error is confirmed by a background task."""
    analysis = ls.analyse(uri, text, version)
    _publish(ls, uri, analysis, version)
    if not analysis.exact:
        task = asyncio.get_running_loop().create_task(ls.confirm(uri, text, version))
        ls.confirming.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(ls.confirming.discard)


def _apply(text: str, change: lsp.TextDocumentContentChangeEvent, encoding: str = UTF16) -> str:
    """A change event applied (full sync sends the whole text; a range edit is applied too)."""
    if isinstance(change, lsp.TextDocumentContentChangePartial):
        source = SourceFile("", text)
        start = to_offset(source, change.range.start, encoding)
        end = to_offset(source, change.range.end, encoding)
        return text[:start] + change.text + text[end:]
    return change.text


def make_server(access: FileAccess | None = None) -> OctoLanguageServer:
    server = OctoLanguageServer(access)

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    @_guarded(lambda: None)
    def did_open(ls: OctoLanguageServer, params: lsp.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        _changed(ls, doc.uri, doc.text, doc.version)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    @_guarded(lambda: None)
    def did_change(ls: OctoLanguageServer, params: lsp.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        document = ls.documents.get(uri)
        text = document.text if document is not None else ""
        for change in params.content_changes:
            text = _apply(text, change, ls.encoding)
        _changed(ls, uri, text, params.text_document.version)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    @_guarded(lambda: None)
    def did_close(ls: OctoLanguageServer, params: lsp.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.pop(uri, None)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    @_guarded(lambda: None)
    def on_hover(ls: OctoLanguageServer, params: lsp.HoverParams) -> lsp.Hover | None:
        analysis = ls.analysis(params.text_document.uri)
        return hover(analysis, params.position) if analysis is not None else None

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    @_guarded(lambda: None)
    def on_definition(ls: OctoLanguageServer, params: lsp.DefinitionParams) -> lsp.Location | None:
        uri = params.text_document.uri
        analysis = ls.analysis(uri)
        return definition(analysis, params.position, uri) if analysis is not None else None

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=["."]))
    @_guarded(lambda: lsp.CompletionList(is_incomplete=False, items=[]))
    def on_completion(ls: OctoLanguageServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        analysis = ls.analysis(params.text_document.uri)
        if analysis is None:
            return lsp.CompletionList(is_incomplete=False, items=[])
        return completion(analysis, params.position)

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    @_guarded(list)
    def on_symbols(ls: OctoLanguageServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        analysis = ls.analysis(params.text_document.uri)
        return document_symbols(analysis) if analysis is not None else []

    @server.feature(
        lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix])
    )
    @_guarded(list)
    def on_code_action(ls: OctoLanguageServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        uri = params.text_document.uri
        analysis = ls.analysis(uri)
        return code_actions(analysis, uri, params.range) if analysis is not None else []

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    @_guarded(list)
    def on_references(ls: OctoLanguageServer, params: lsp.ReferenceParams) -> list[lsp.Location]:
        uri = params.text_document.uri
        analysis = ls.analysis(uri)
        if analysis is None:
            return []
        return references(analysis, params.position, uri, params.context.include_declaration)

    @server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
    @_guarded(lambda: None)
    def on_prepare_rename(ls: OctoLanguageServer, params: lsp.PrepareRenameParams) -> lsp.Range | None:
        analysis = ls.analysis(params.text_document.uri)
        return prepare_rename(analysis, params.position) if analysis is not None else None

    @server.feature(lsp.TEXT_DOCUMENT_RENAME)
    @_guarded(lambda: None)
    def on_rename(ls: OctoLanguageServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
        uri = params.text_document.uri
        analysis = ls.analysis(uri)
        return rename(analysis, params.position, uri, params.new_name) if analysis is not None else None

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    @_guarded(lambda: None)
    def on_formatting(ls: OctoLanguageServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
        document = ls.documents.get(params.text_document.uri)
        if document is None:
            return None
        return formatting_edits(document.compiler.path, document.text, ls.encoding)

    return server


def formatting_edits(path: str, text: str, encoding: str) -> list[lsp.TextEdit] | None:
    """The whole document replaced by `octoc fmt`'s layout; nothing while it does not parse."""
    from octolang.syntax.format import FormatError, format_source

    source = SourceFile(path, _as_read(text))
    try:
        formatted = format_source(source)
    except FormatError:
        return None
    if formatted == text:
        return []
    whole = lsp.Range(start=lsp.Position(line=0, character=0), end=to_position(source, len(source.text), encoding))
    return [lsp.TextEdit(range=whole, new_text=formatted)]


def serve(access: FileAccess | None = None) -> None:
    """Run the server over stdin/stdout until the client says exit."""
    logging.basicConfig(level=logging.WARNING, format="octoc lsp: %(levelname)s %(name)s: %(message)s")
    make_server(access).start_io()
