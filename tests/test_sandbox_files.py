"""Issue #10, finding 7 (files outside the pipeline's folder) and the data that crashed the
checker (finding 6): each attack as the issue gives it, refused with a diagnostic on the
path's span that shows nothing of the refused file, and the user's `--allow-outside`.

A test that would hang on a regression (a FIFO read) runs under a deadline: in a
subprocess with a timeout, or in a thread that is released by opening the FIFO's other
end, so that it fails instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

from octolang import paths
from octolang.compiler import Compilation
from octolang.data import DataError, read_rows
from octolang.lsp.definition import definition
from octolang.lsp.incremental import IncrementalCompiler
from tests.conftest import codes, octoc, render

DEADLINE = 20.0  # seconds; the refusals take milliseconds, a hang never ends

PIPELINE = """pipeline p
seed 1
units u from "{source}"
step s = compute {{
  output {{ y: int }}
  code \"\"\"
    return {{"y": unit.x * 2}}
  \"\"\"
}}
report r {{ total = sum(s.y) }}
"""
SPAN = (3, 14)  # where the path's string starts


def pipeline(source: str) -> str:
    return PIPELINE.format(source=source)


def compile_in(folder: Path, source: str, access: paths.FileAccess | None = None) -> Compilation:
    from octolang.compiler import compile_source
    from octolang.source import SourceFile

    text = pipeline(source)
    (folder / "p.octo").write_text(text, encoding="utf-8")
    return compile_source(SourceFile(str(folder / "p.octo"), text), access)


def only_error(c: Compilation, code: str) -> Any:
    assert codes(c) == [code], render(c.diagnostics, c.source)
    d = c.diagnostics[0]
    assert (d.span.line, d.span.col) == SPAN
    assert c.program is not None and c.program.units[0].source_path is None
    return d


def everything_said(c: Compilation) -> str:
    return "\n".join(f"{d.message}\n{d.label}\n{d.help}" for d in c.diagnostics) + render(c.diagnostics, c.source)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A CSV outside the project, whose content must never be printed."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    path = outside / "secret.csv"
    path.write_text("x\n41\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- outside the folder


def test_an_absolute_path_is_refused(project: Path, secret: Path) -> None:
    c = compile_in(project, str(secret))
    d = only_error(c, "E0209")
    assert d.message == f"`{secret}` is outside the pipeline's folder (it is an absolute path)"
    assert (
        d.help == f"copy the file into the pipeline's folder, or let it read there: `--allow-outside {secret.parent}`"
    )


def test_etc_passwd_by_absolute_path_is_refused_before_its_suffix_is_looked_at(project: Path) -> None:
    c = compile_in(project, "/etc/passwd")
    assert only_error(c, "E0209").message == "`/etc/passwd` is outside the pipeline's folder (it is an absolute path)"


def test_dot_dot_is_refused(project: Path, secret: Path) -> None:
    c = compile_in(project, "../elsewhere/secret.csv")
    d = only_error(c, "E0209")
    assert d.message == "`../elsewhere/secret.csv` is outside the pipeline's folder (it goes up out of the folder)"


def test_dot_dot_that_comes_back_inside_is_fine(project: Path) -> None:
    (project / "data").mkdir()
    (project / "data" / "d.csv").write_text("x\n1\n2\n", encoding="utf-8")
    c = compile_in(project, "data/../data/d.csv")
    assert codes(c) == [], render(c.diagnostics, c.source)
    assert c.program is not None and c.program.unit_count == 2


def test_a_symlink_to_etc_passwd_shows_nothing_of_it(project: Path) -> None:
    passwd = Path("/etc/passwd")
    if not passwd.is_file():
        pytest.skip("no /etc/passwd here")
    (project / "d.csv").symlink_to(passwd)
    c = compile_in(project, "d.csv")
    d = only_error(c, "E0209")
    assert d.message == "`d.csv` is outside the pipeline's folder (a symlink leads it to /etc/passwd)"
    first_line = passwd.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    assert first_line not in everything_said(c)
    # and through the command line, text and JSON alike
    for args in (["check", "p.octo"], ["check", "--json", "p.octo"], ["run", "p.octo"]):
        result = octoc(*args, cwd=project, check=False, timeout=DEADLINE * 3)
        assert result.returncode == 1, result.stderr
        assert "E0209" in result.stdout + result.stderr
        assert first_line not in result.stdout + result.stderr
        for field in first_line.split(":"):
            if len(field) > 3:  # `root`, `/root`, `/bin/bash`: none of the file's words
                assert field not in (result.stdout + result.stderr).replace(str(passwd), "")


def test_a_symlinked_folder_leading_out_is_refused(project: Path, secret: Path) -> None:
    (project / "data").symlink_to(secret.parent, target_is_directory=True)
    c = compile_in(project, "data/secret.csv")
    assert only_error(c, "E0209").message == (
        f"`data/secret.csv` is outside the pipeline's folder (a symlink leads it to {secret})"
    )
    assert "41" not in everything_said(c)


def test_a_symlink_inside_the_folder_is_fine_and_its_name_picks_the_format(project: Path) -> None:
    (project / "rows.txt").write_text("x\n1\n", encoding="utf-8")
    (project / "d.csv").symlink_to(project / "rows.txt")
    c = compile_in(project, "d.csv")
    assert codes(c) == [], render(c.diagnostics, c.source)
    assert c.program is not None and c.program.units[0].source_path == str((project / "rows.txt").resolve())


# ---------------------------------------------------------------- the user's allowance


def test_allow_outside_lets_the_pipeline_read_there(project: Path, secret: Path) -> None:
    for source in (str(secret), "../elsewhere/secret.csv"):
        for allowed in (secret.parent, secret):
            c = compile_in(project, source, paths.file_access([str(allowed)], environ={}))
            assert codes(c) == [], render(c.diagnostics, c.source)
    elsewhere = project.parent / "other"
    elsewhere.mkdir()
    c = compile_in(project, str(secret), paths.file_access([str(elsewhere)], environ={}))
    assert codes(c) == ["E0209"]


def test_allow_outside_on_the_command_line_and_in_the_environment(project: Path, secret: Path) -> None:
    (project / "p.octo").write_text(pipeline("../elsewhere/secret.csv"), encoding="utf-8")
    refused = octoc("check", "-q", "p.octo", cwd=project, check=False, timeout=DEADLINE * 3)
    assert refused.returncode == 1 and "E0209" in refused.stdout
    octoc("check", "-q", "--allow-outside", str(secret.parent), "p.octo", cwd=project, timeout=DEADLINE * 3)
    run = octoc("run", "--allow-outside", str(secret), "p.octo", cwd=project, timeout=DEADLINE * 6)
    assert run.stdout.split("\n")[-2].split() == ["1", "82"]  # 41 * 2, read from the allowed file
    env = {**os.environ, paths.ALLOW_OUTSIDE_VAR: str(secret.parent)}
    status = octoc("status", "p.octo", cwd=project, env=env, timeout=DEADLINE * 3)
    assert "units: 1 done, 0 failed" in status.stdout
    missing = octoc("check", "--allow-outside", str(project / "nope"), "p.octo", cwd=project, check=False)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


# ---------------------------------------------------------------- not a regular file


def _release(fifo: Path) -> None:
    """Open the FIFO's write end, so that a reader stuck on it (a regression) returns."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


def within_deadline(action: Callable[[], Any], fifo: Path, seconds: float = DEADLINE) -> Any:
    """`action()`'s result, or a failure if it has not returned in `seconds` (then released)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = action()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    started = time.monotonic()
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        _release(fifo)
        thread.join(5)
        pytest.fail(f"still blocked on the FIFO after {seconds} s")
    assert time.monotonic() - started < seconds
    if "error" in box:
        raise box["error"]
    return box.get("result")


def test_a_fifo_as_units_source_is_refused_without_hanging(project: Path) -> None:
    fifo = project / "d.csv"
    os.mkfifo(fifo)
    c = within_deadline(lambda: compile_in(project, "d.csv"), fifo)
    assert only_error(c, "E0210").message == "`d.csv` is a named pipe (FIFO), not a regular file"
    result = octoc("check", "p.octo", cwd=project, check=False, timeout=DEADLINE)
    assert result.returncode == 1 and "error[E0210]" in result.stdout


def test_a_fifo_swapped_in_after_the_type_check_is_caught_on_the_descriptor(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fifo = project / "d.csv"
    os.mkfifo(fifo)
    regular = project / "regular.csv"
    regular.write_text("x\n1\n", encoding="utf-8")
    real_stat = os.stat
    # the path looked like a regular file when it was checked, and is a FIFO when opened
    monkeypatch.setattr(
        paths.os,
        "stat",
        lambda path, *a, **k: real_stat(regular) if str(path) == str(fifo) else real_stat(path, *a, **k),
    )
    with pytest.raises(paths.FileRefused) as refused:
        within_deadline(lambda: paths.read_regular(str(fifo), 1 << 20), fifo)
    assert refused.value.code == "E0210"


def test_dev_zero_symlink_is_refused_and_never_read(project: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    (project / "d.csv").symlink_to("/dev/zero")
    c = compile_in(project, "d.csv")
    assert (
        only_error(c, "E0209").message == "`d.csv` is outside the pipeline's folder (a symlink leads it to /dev/zero)"
    )
    # allowed by the user, it is still a device: refused, not read until memory runs out
    started = time.monotonic()
    c = compile_in(project, "d.csv", paths.file_access(["/dev"], environ={}))
    assert only_error(c, "E0210").message == "`d.csv` is a character device, not a regular file"
    assert time.monotonic() - started < DEADLINE
    result = octoc("check", "--allow-outside", "/dev", "p.octo", cwd=project, check=False, timeout=DEADLINE)
    assert result.returncode == 1 and "error[E0210]" in result.stdout


def test_a_file_over_the_size_bound(project: Path) -> None:
    (project / "d.csv").write_text("x\n" + "1\n" * (600 * 1024), encoding="utf-8")  # 1.2 MiB
    c = compile_in(project, "d.csv", paths.file_access(environ={paths.MAX_DATA_VAR: "1"}))
    d = only_error(c, "E0211")
    assert d.message == f"`d.csv` is {(project / 'd.csv').stat().st_size:,} bytes, over the 1 MiB a data file may hold"
    assert codes(compile_in(project, "d.csv", paths.file_access(environ={paths.MAX_DATA_VAR: "2"}))) == []
    bad = octoc("check", "p.octo", cwd=project, env={**os.environ, paths.MAX_DATA_VAR: "lots"}, check=False)
    assert bad.returncode == 2 and "OCTO_MAX_DATA_MB='lots' is not a whole number of MiB" in bad.stderr


def test_the_default_bound_is_256_mib() -> None:
    assert paths.file_access(environ={}).max_bytes == 256 * 1024 * 1024


# ---------------------------------------------------------------- the run folder


def test_a_symlinked_octo_folder_is_refused(project: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "state-elsewhere"
    elsewhere.mkdir()
    (project / "d.csv").write_text("x\n1\n", encoding="utf-8")
    (project / "p.octo").write_text(pipeline("d.csv"), encoding="utf-8")
    (project / ".octo").symlink_to(elsewhere, target_is_directory=True)
    for args in (["run", "p.octo"], ["run", "--dry-run", "p.octo"], ["status", "p.octo"], ["runs", "p.octo"]):
        result = octoc(*args, cwd=project, check=False, timeout=DEADLINE * 3)
        assert result.returncode == 1, (args, result.stderr)
        assert (
            f"the run folder is not inside the pipeline's folder: .octo leads to {elsewhere.resolve()}" in result.stderr
        )
    assert list(elsewhere.iterdir()) == []  # nothing was written there
    octoc("run", "--allow-outside", str(elsewhere), "p.octo", cwd=project, timeout=DEADLINE * 6)
    assert (elsewhere / "runs").is_dir()
    octoc("status", "--allow-outside", str(elsewhere), "p.octo", cwd=project, timeout=DEADLINE * 3)
    # the user's own --run-dir is the user's word already
    octoc("run", "--run-dir", str(elsewhere / "mine"), "p.octo", cwd=project, timeout=DEADLINE * 6)


def test_a_symlinked_run_folder_inside_octo_is_refused(project: Path, tmp_path: Path) -> None:
    (project / "d.csv").write_text("x\n1\n", encoding="utf-8")
    (project / "p.octo").write_text(pipeline("d.csv"), encoding="utf-8")
    octoc("run", "p.octo", cwd=project, timeout=DEADLINE * 6)
    (run,) = (project / ".octo" / "runs").iterdir()
    moved = tmp_path / "moved"
    run.rename(moved)
    run.symlink_to(moved, target_is_directory=True)
    refusal = paths.runs_root_refusal(str(project / ".octo" / "runs"), str(project / "p.octo"), paths.FileAccess())
    assert refusal is not None and f"leads to {moved.resolve()}" in refusal
    result = octoc("run", "p.octo", cwd=project, check=False, timeout=DEADLINE * 3)
    assert result.returncode == 1 and "the run folder is not inside the pipeline's folder" in result.stderr


def test_runs_inside_the_folder_are_fine(project: Path) -> None:
    (project / "state").mkdir()
    (project / ".octo").symlink_to(project / "state", target_is_directory=True)
    assert paths.runs_root_refusal(str(project / ".octo" / "runs"), str(project / "p.octo"), paths.FileAccess()) is None


# ---------------------------------------------------------------- data that crashed the checker


def test_a_jsonl_integer_of_5000_digits_is_a_diagnostic(project: Path) -> None:
    (project / "d.jsonl").write_text('{"x": 1}\n{"x": ' + "1" * 5000 + "}\n", encoding="utf-8")
    c = compile_in(project, "d.jsonl")
    d = only_error(c, "E0202")
    assert d.message == "d.jsonl:2: an integer has more than 4,300 digits, more than can be read"
    result = octoc("check", "p.octo", cwd=project, check=False)
    assert result.returncode == 1, result.stderr  # not 3, the internal error it was
    assert "internal error" not in result.stderr


ODD_DATA = [
    # (file name, bytes, message)
    (
        "deep.jsonl",
        b'{"x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
        "deep.jsonl:1: the line is nested more than 64 levels deep",
    ),
    (
        "deep65.jsonl",
        b'{"x": ' + b"[" * 64 + b"]" * 64 + b"}\n",
        "deep65.jsonl:1: the line is nested more than 64 levels deep",
    ),
    ("nan.jsonl", b'{"x": 1}\n{"x": NaN}\n', "nan.jsonl:2: `NaN` is not a finite number (JSON has no NaN or Infinity)"),
    (
        "inf.jsonl",
        b'{"x": -Infinity}\n',
        "inf.jsonl:1: `-Infinity` is not a finite number (JSON has no NaN or Infinity)",
    ),
    ("big.jsonl", b'{"x": 1e999}\n', "big.jsonl:1: `1e999` is not a finite number (JSON has no NaN or Infinity)"),
    (
        "long.jsonl",
        b'{"x": 1' + b"0" * 400 + b".5}\n",
        "long.jsonl:1: `100000000000...` (403 characters) is not a finite number (JSON has no NaN or Infinity)",
    ),
    (
        "nul.csv",
        b"x\n1\n2\x00\n",
        "nul.csv:3: the file holds a NUL byte, which text does not: is it a binary file, or UTF-16?",
    ),
    (
        "utf16.jsonl",
        '{"x": 1}\n'.encode("utf-16-le"),
        "utf16.jsonl:1: the file holds a NUL byte, which text does not: is it a binary file, or UTF-16?",
    ),
    ("latin1.csv", b"x\n1\n\xe9\n", "latin1.csv:3: the file is not UTF-8 text (invalid continuation byte)"),
    ("field.csv", b"x\n" + b"1" * (10 * 1024 * 1024 + 1) + b"\n", "field.csv:2: a field is longer than 10 MiB"),
]


@pytest.mark.parametrize(("name", "content", "message"), ODD_DATA, ids=[o[0] for o in ODD_DATA])
def test_odd_data_is_a_diagnostic_with_its_line(project: Path, name: str, content: bytes, message: str) -> None:
    (project / name).write_bytes(content)
    c = compile_in(project, name)
    assert only_error(c, "E0202").message == message


def test_nesting_up_to_the_bound_is_read(project: Path) -> None:
    (project / "d.jsonl").write_text('{"x": 1, "deep": ' + "[" * 63 + "]" * 63 + "}\n", encoding="utf-8")
    assert codes(compile_in(project, "d.jsonl")) == []


def test_the_runner_reads_through_the_same_guard(project: Path) -> None:
    fifo = project / "d.csv"
    os.mkfifo(fifo)
    with pytest.raises(DataError) as refused:
        within_deadline(lambda: read_rows(str(fifo)), fifo)
    assert refused.value.code == "E0210"


def test_json_output_of_a_refusal(project: Path, secret: Path) -> None:
    (project / "p.octo").write_text(pipeline(str(secret)), encoding="utf-8")
    result = octoc("check", "--json", "p.octo", cwd=project, check=False)
    (diagnostic,) = json.loads(result.stdout)["files"][0]["diagnostics"]
    assert (diagnostic["code"], diagnostic["line"], diagnostic["col"]) == ("E0209", *SPAN)


# ---------------------------------------------------------------- the language server


class _Editor:
    """`octoc lsp ARGS` started in a folder, with the diagnostics it publishes collected."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: LanguageClient) -> None:
        self.loop, self.client = loop, client
        self.published: dict[str, list[lsp.PublishDiagnosticsParams]] = {}

    def run(self, awaitable: Any, seconds: float = DEADLINE) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, seconds))

    def open(self, path: Path) -> list[lsp.Diagnostic]:
        uri = path.as_uri()
        item = lsp.TextDocumentItem(uri=uri, language_id="octo", version=1, text=path.read_text(encoding="utf-8"))
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=item))

        async def published() -> list[lsp.Diagnostic]:
            while not self.published.get(uri):
                await asyncio.sleep(0.01)
            return list(self.published[uri][0].diagnostics)

        diagnostics: list[lsp.Diagnostic] = self.run(published())
        return diagnostics


@contextmanager
def editor(folder: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[_Editor]:
    loop = asyncio.new_event_loop()
    client = LanguageClient("octolang-files-tests", "1")
    session = _Editor(loop, client)

    @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
        session.published.setdefault(params.uri, []).append(params)

    session.run(client.start_io(sys.executable, "-m", "octolang", "lsp", *args, cwd=str(folder), env=env), 60)
    try:
        params = lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), root_uri=folder.as_uri(), process_id=None)
        session.run(client.initialize_async(params), 60)
        client.initialized(lsp.InitializedParams())
        yield session
        session.run(client.shutdown_async(None))
        client.exit(None)
    finally:
        server = client._server  # after a failure no `exit` was sent: end the process we started
        if server is not None and server.returncode is None:
            server.kill()
        session.run(client.stop())
        loop.close()


def test_the_language_server_refuses_a_fifo_and_keeps_answering(project: Path) -> None:
    fifo = project / "d.csv"
    os.mkfifo(fifo)
    (project / "p.octo").write_text(pipeline("d.csv"), encoding="utf-8")
    try:
        with editor(project) as session:
            started = time.monotonic()
            (diagnostic,) = session.open(project / "p.octo")
            assert diagnostic.code == "E0210"
            assert diagnostic.message.startswith("`d.csv` is a named pipe (FIFO), not a regular file")
            assert (diagnostic.range.start.line, diagnostic.range.start.character) == (SPAN[0] - 1, SPAN[1] - 1)
            where = lsp.Position(line=3, character=6)  # on the step's name
            doc = lsp.TextDocumentIdentifier(uri=(project / "p.octo").as_uri())
            answer = session.run(session.client.text_document_hover_async(lsp.HoverParams(doc, where)))
            assert answer is not None
            assert time.monotonic() - started < DEADLINE
    finally:
        _release(fifo)


def test_the_language_server_takes_allow_outside(project: Path, secret: Path) -> None:
    (project / "p.octo").write_text(pipeline("../elsewhere/secret.csv"), encoding="utf-8")
    with editor(project) as session:
        assert [d.code for d in session.open(project / "p.octo")] == ["E0209"]
    with editor(project, "--allow-outside", str(secret.parent)) as session:
        assert session.open(project / "p.octo") == []
    with editor(project, env={**os.environ, paths.ALLOW_OUTSIDE_VAR: str(secret)}) as session:
        assert session.open(project / "p.octo") == []


def test_go_to_a_column_does_not_follow_a_fifo_swapped_in(project: Path) -> None:
    (project / "d.csv").write_text("x\n1\n", encoding="utf-8")
    text = pipeline("d.csv")
    analysis = IncrementalCompiler(str(project / "p.octo")).compile(text)
    assert analysis.compilation.diagnostics == []
    position = lsp.Position(line=6, character=text.splitlines()[6].index("unit.x") + 5)
    found = definition(analysis, position, (project / "p.octo").as_uri())
    assert found is not None and found.uri == (project / "d.csv").resolve().as_uri()
    (project / "d.csv").unlink()
    os.mkfifo(project / "d.csv")
    fallback = within_deadline(lambda: definition(analysis, position, "file:///x"), project / "d.csv")
    assert fallback is not None and fallback.uri == "file:///x"  # the units declaration, not the FIFO
