"""Recompiling a document after an edit in well under the time a full compile takes.

A full `compile_source` of a 2,000-step file takes over a second, mostly in parsing and
in checking each step's templates and code; an editor wants diagnostics within a few
hundred milliseconds of a keystroke, and a keystroke changes one declaration.

So the text is cut at the lines that start a top-level declaration (the same
resynchronisation points the parser's error recovery uses), and each piece is parsed
and lowered on its own, as its own little file: its spans are local to the piece, and
their `file` names the piece (`<path>#<n>`). A piece whose text did not change keeps
its IR from the last compile. The checker then runs over the merged program as
`check_program` does, except that a step's own checks (templates, code, rules: most of
the checker's time) are reused unless the step, its output type, the output types of
the steps it reads, or the unit fields, consts and step names changed. Diagnostics are
finally moved from piece-local spans to file spans; features map IR spans through
`Analysis.start`/`Analysis.end` in the same way.

Whenever the result could differ from `compile_source` (a syntax error anywhere, whose
recovery and messages depend on the whole text; a header line given twice), the whole
text is compiled the ordinary way; for a big file the server first publishes the broken
pieces' own syntax errors (`quick_syntax`) and then the whole compile's, from a thread.
`tests/test_lsp.py` compares the two on every example, the broken fixtures and fuzzed
edits of them.
"""

from __future__ import annotations

import gc
import re
from dataclasses import dataclass, field

from octolang import ir
from octolang.check import check_program, check_steps
from octolang.check.scope import Scope
from octolang.compiler import Compilation, compile_source
from octolang.diagnostics import Diagnostic, Label, sort_diagnostics
from octolang.paths import FileAccess
from octolang.schema import Schema
from octolang.source import SourceFile, Span, construct, make_span
from octolang.syntax import parse_program
from octolang.syntax.grammar import TOP_LEVEL_KEYWORDS
from octolang.syntax.parse import MAX_SYNTAX_ERRORS

PIECE_MARK = "#"
_DECL_START = re.compile(r"^(?:" + "|".join(TOP_LEVEL_KEYWORDS) + r")\b", re.MULTILINE)
StepFacts = tuple[set[str], list[Diagnostic]]


@dataclass
class Piece:
    """One declaration's text (with the comments and blank lines after it), compiled alone."""

    file: str
    text: str
    program: ir.Program | None
    diagnostics: list[Diagnostic]
    source: SourceFile


@dataclass
class Analysis:
    """A compiled document: the `Compilation` (diagnostics in file spans) and where each
    piece starts, to map the IR's spans to offsets of the whole text."""

    compilation: Compilation
    bases: dict[str, int] = field(default_factory=dict)
    # the last program that compiled, for completion while the text does not parse
    names_from: ir.Program | None = None
    # False: syntax errors found piece by piece, before `compile_source` confirms them
    exact: bool = True
    # how the client counts columns (LSP's position encoding), set by the server
    encoding: str = "utf-16"

    @property
    def source(self) -> SourceFile:
        return self.compilation.source

    @property
    def program(self) -> ir.Program | None:
        return self.compilation.program

    def start(self, span: Span) -> int:
        return self.bases.get(span.file, 0) + span.start

    def end(self, span: Span) -> int:
        return self.bases.get(span.file, 0) + span.end

    def contains(self, span: Span, offset: int) -> bool:
        """Whether offset is in the span or just after its end (the cursor after a word)."""
        return self.start(span) <= offset <= self.end(span)


class IncrementalCompiler:
    """Compiles successive versions of one document, reusing what an edit left alone."""

    def __init__(self, path: str, access: FileAccess | None = None) -> None:
        self.path = path
        self.access = access
        self._pieces: dict[str, list[Piece]] = {}
        self._counter = 0
        self._shared: tuple[Schema, dict[str, Schema], list[str]] | None = None
        self._facts: dict[int, _Checked] = {}
        self.rechecked = 0  # steps whose own checks ran in the last compile (the rest were reused)

    def compile(self, text: str, *, quick_syntax: bool = False) -> Analysis:
        """The analysis of a new text. With a syntax error, the whole text is compiled the
        ordinary way, or, with `quick_syntax`, the pieces' own syntax errors are returned at
        once (`exact=False`): the caller then runs `compile_source` in the background."""
        # As in `compile_source`: the cyclic collector's passes over the IR of a big file
        # cost more than the compile itself, and nothing made here is garbage yet.
        collecting = gc.isenabled()
        gc.disable()
        try:
            # line ends as `read_source` leaves them; LSP positions (line, column) do not move
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            source = SourceFile(self.path, text)
            try:
                pieces = self._split(text)
                broken = [p for p in pieces if p.program is None]
                if broken and quick_syntax:
                    return _quick_syntax(source, pieces, broken)
                if not broken and not _header_twice(pieces):
                    return self._check(source, pieces)
            except RecursionError:  # hundreds of nested brackets: `compile_source` says so (E0006)
                self._pieces = {}
            self._shared = None
            return Analysis(compile_source(source, self.access))
        finally:
            if collecting:
                gc.enable()

    # ------------------------------------------------------------ parsing
    def _split(self, text: str) -> list[Piece]:
        starts = [m.start() for m in _DECL_START.finditer(text)]
        if not starts or starts[0] != 0:
            starts.insert(0, 0)
        bounds = [*starts[1:], len(text)]
        previous, self._pieces = self._pieces, {}
        pieces = []
        for begin, end in zip(starts, bounds, strict=True):
            chunk = text[begin:end]
            reusable = previous.get(chunk)
            piece = reusable.pop(0) if reusable else self._parse(chunk)
            self._pieces.setdefault(chunk, []).append(piece)
            pieces.append(piece)
        return pieces

    def _parse(self, chunk: str) -> Piece:
        self._counter += 1
        name = f"{self.path}{PIECE_MARK}{self._counter}"
        source = SourceFile(name, chunk)
        program, diagnostics = parse_program(source)
        return Piece(name, chunk, program, diagnostics, source)

    # ------------------------------------------------------------ checking
    def _check(self, source: SourceFile, pieces: list[Piece]) -> Analysis:
        program = construct(ir.Program, span=source.span(0, len(source.text)), file=self.path)
        bases: dict[str, int] = {}
        offset = 0
        local: list[Diagnostic] = []
        for piece in pieces:
            bases[piece.file] = offset
            offset += len(piece.text)
            part = piece.program
            assert part is not None
            _merge(program, part)
            local += piece.diagnostics
        _forget_resolved(program)
        local += self._check_program(program, pieces)
        diagnostics = sort_diagnostics(_to_file(d, source, bases) for d in local)
        return Analysis(Compilation(source, program, diagnostics), bases)

    def _check_program(self, program: ir.Program, pieces: list[Piece]) -> list[Diagnostic]:
        """`octolang.check.check_program`, with each step's facts reused."""
        sources = {p.file: p.source for p in pieces}
        return check_program(
            program,
            pieces[0].source,
            step_checker=lambda steps, scope: self._step_facts(steps, scope, sources),
            access=self.access,
        )

    def _step_facts(self, steps: list[ir.StepDecl], scope: Scope, sources: dict[str, SourceFile]) -> list[StepFacts]:
        """Each step's facts, reused when nothing its check looked at changed: the same step
        object, its own output type, the output types of the steps it read, and what every
        step's check may look at (the unit fields, the consts, the names of all steps, which
        unknown-name errors and their suggestions list)."""
        shared = (scope.unit, scope.consts, list(scope.steps))
        known = self._facts if shared == self._shared else {}
        self._shared = shared
        self._facts = {}
        self.rechecked = 0
        out: list[StepFacts] = []
        for step in steps:
            own = step.output_schema or {}
            cached = known.get(id(step))
            if (
                cached is not None
                and cached.step is step
                and cached.own == own
                and all(scope.steps.get(name) == schema for name, schema in cached.read.items())
            ):
                facts = cached.facts
            else:
                source = sources.get(step.span.file, SourceFile(step.span.file, ""))
                facts = check_steps([step], scope, source)[0]
                self.rechecked += 1
            read = {name: scope.steps.get(name) for name in facts[0]}
            self._facts[id(step)] = _Checked(step, facts, own, read)
            out.append((set(facts[0]), list(facts[1])))
        return out


@dataclass
class _Checked:
    """A step's facts and what they were computed against."""

    step: ir.StepDecl
    facts: StepFacts
    own: Schema
    read: dict[str, Schema | None]


def _quick_syntax(source: SourceFile, pieces: list[Piece], broken: list[Piece]) -> Analysis:
    """The broken pieces' own syntax errors, in file spans: what the parser's recovery finds
    in most texts, in the time of parsing the edited piece. The recovery over the whole
    text can differ (an unclosed string swallows the declarations after it), hence `exact=False`."""
    bases: dict[str, int] = {}
    offset = 0
    for piece in pieces:
        bases[piece.file] = offset
        offset += len(piece.text)
    found = [_to_file(d, source, bases) for piece in broken for d in piece.diagnostics]
    diagnostics = sort_diagnostics(found)[:MAX_SYNTAX_ERRORS]
    return Analysis(Compilation(source, None, diagnostics), bases, exact=False)


def _merge(program: ir.Program, part: ir.Program) -> None:
    if part.pipeline is not None:
        program.pipeline = part.pipeline
    if part.seed is not None:
        program.seed = part.seed
    if part.budget is not None:
        program.budget, program.budget_span = part.budget, part.budget_span
    if part.run is not None:
        program.run = part.run
    program.consts.extend(part.consts)
    program.models.extend(part.models)
    program.types.extend(part.types)
    program.units.extend(part.units)
    program.steps.extend(part.steps)
    program.gates.extend(part.gates)
    program.reports.extend(part.reports)


def _header_twice(pieces: list[Piece]) -> bool:
    """A header given in two pieces: the lowering's "given twice" diagnostic needs the whole file."""
    programs = [p.program for p in pieces if p.program is not None]
    headers = ("pipeline", "seed", "budget", "run")
    return any(sum(1 for p in programs if getattr(p, what) is not None) > 1 for what in headers)


def _forget_resolved(program: ir.Program) -> None:
    """Clear what the checker fills in: reused IR must not keep a value from an earlier text.
    (Written to `__dict__`: pydantic's `__setattr__` costs 15 ms over a 2,000-step file.)"""
    for step in program.steps:
        step.__dict__.update(depends_on=[], output_schema=None)
    for gate in program.gates:
        gate.__dict__["judges"] = []
    for const in program.consts:
        const.__dict__["resolved"] = None
    for units in program.units:
        units.__dict__["source_path"] = None
        for vary in units.vary:
            vary.__dict__["resolved"] = []


def _to_file(diagnostic: Diagnostic, source: SourceFile, bases: dict[str, int]) -> Diagnostic:
    def move(span: Span) -> Span:
        base = bases.get(span.file)
        if base is None:
            return span
        line, col = source.position(base + span.start)
        end_line, end_col = source.position(base + span.end)
        return make_span(source.path, line, col, end_line, end_col, base + span.start, base + span.end)

    labels = tuple(Label(span=move(lab.span), message=lab.message) for lab in diagnostic.labels)
    return diagnostic.model_copy(update={"span": move(diagnostic.span), "labels": labels})
