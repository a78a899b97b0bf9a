"""Source file -> checked program: the front end every command shares."""

from __future__ import annotations

from dataclasses import dataclass, field

from octolang import ir
from octolang.diagnostics import Diagnostic, error, sort_diagnostics
from octolang.paths import FileAccess
from octolang.source import SourceFile


@dataclass
class Compilation:
    source: SourceFile
    program: ir.Program | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.program is not None and not any(d.is_error for d in self.diagnostics)


def compile_source(source: SourceFile, access: FileAccess | None = None) -> Compilation:
    """Parse, lower and check. Never raises for any input text. `access`: which files the
    units may be read from, as the user allows (default: the pipeline's folder)."""
    import gc

    from octolang.check import check_program
    from octolang.syntax import parse_program

    # Compiling allocates hundreds of thousands of small objects and frees none of them
    # until the end: the cyclic collector's passes over them are pure cost (they doubled
    # the time of a 2,000-step file). Collection resumes as soon as compiling is done.
    collecting = gc.isenabled()
    gc.disable()
    try:
        program, diagnostics = parse_program(source)
        if program is None:
            return Compilation(source, None, diagnostics)
        diagnostics = diagnostics + check_program(program, source, access=access)
        return Compilation(source, program, sort_diagnostics(diagnostics))
    except RecursionError:
        # The grammar nests freely; the passes recurse. A thousand nested terms is not a
        # pipeline anyone writes, but it must get an answer, not a traceback.
        return Compilation(
            source,
            None,
            [
                error(
                    "E0006",
                    "expressions are nested too deeply to check",
                    source.span(0, 0),
                    help="split long chains of operators or brackets (hundreds of levels) into consts or steps",
                )
            ],
        )
    finally:
        if collecting:
            gc.enable()


def read_source(path: str) -> SourceFile | Diagnostic:
    """Read a `.octo` file, or a diagnostic saying why it cannot be read."""
    empty = SourceFile(path, "").span(0, 0)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return error("E0010", f"no such file: {path}", empty)
    except IsADirectoryError:
        return error("E0010", f"{path} is a folder, not a .octo file", empty)
    except OSError as exc:
        return error("E0010", f"cannot read {path}: {exc.strerror or exc}", empty)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        where = SourceFile(path, data[: exc.start].decode("utf-8", errors="replace"))
        offset = len(where.text)
        return error(
            "E0011",
            f"the file is not UTF-8 text (byte {exc.start}, line {line})",
            where.span(offset, offset),
            help="save the file as UTF-8",
        )
    if "\x00" in text:
        offset = text.index("\x00")
        return error(
            "E0011",
            "the file contains a NUL byte",
            SourceFile(path, text).span(offset, offset + 1),
            help="is this a binary file? .octo files are text",
        )
    return SourceFile(path, text.replace("\r\n", "\n").replace("\r", "\n"))
