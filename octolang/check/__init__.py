"""The static checks: one module per family, run in order by `check_program`.

Each pass reads the IR and returns diagnostics; the passes also fill in what the
backends need resolved (unit fields and count, output schemas, dependencies, order).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from octolang import ir
from octolang.check.code import check_code
from octolang.check.consts import check_consts
from octolang.check.declarations import check_declarations
from octolang.check.expressions import ReportContext, check_expression, shape
from octolang.check.graph import check_gate, find_cycles, topological_order, unused_steps
from octolang.check.prices import check_prices
from octolang.check.run import check_run
from octolang.check.scope import Scope
from octolang.check.templates import check_template
from octolang.check.units import check_units
from octolang.diagnostics import Diagnostic, error, sort_diagnostics, warning
from octolang.expressions import EXPRESSION_FUNCTIONS
from octolang.paths import FileAccess
from octolang.schema import SchemaCompiler, fields_of, infer_schema
from octolang.source import SourceFile
from octolang.templates import JINJA_GLOBALS

StepChecker = Callable[[list[ir.StepDecl], Scope], list[tuple[set[str], list[Diagnostic]]]]


def check_program(
    program: ir.Program, source: SourceFile, step_checker: StepChecker | None = None, access: FileAccess | None = None
) -> list[Diagnostic]:
    """All passes in order. `step_checker` replaces `check_steps` (the language server
    reuses the facts of steps an edit did not touch); `access` is the user's word on the
    files the units may be read from (`octolang.paths`)."""
    diagnostics = check_declarations(program)
    diagnostics += check_run(program)
    values, const_problems = check_consts(program)
    diagnostics += const_problems
    units = check_units(program, values, access)
    diagnostics += units.diagnostics
    program.unit_fields = units.fields
    program.unit_count = units.count
    diagnostics += _compile_types(program)

    unit_schema = units.schema() if not any(d.is_error for d in units.diagnostics) else {}
    scope = Scope(
        unit=unit_schema,
        steps={s.name: s.output_schema or {} for s in program.steps},
        consts={c.name: infer_schema([c.resolved]) if c.resolved is not None else {} for c in program.consts},
        functions=frozenset(EXPRESSION_FUNCTIONS),
    )
    deps: dict[str, set[str]] = {}
    read: set[str] = set()
    position = {s.name: i for i, s in reversed(list(enumerate(program.steps)))}
    checked = step_checker(program.steps, scope) if step_checker else check_steps(program.steps, scope, source)
    for step, (steps_read, found) in zip(program.steps, checked, strict=True):
        deps[step.name] = steps_read
        diagnostics += found
        read |= steps_read
    program.order = topological_order(program, deps)
    topo_position = {name: i for i, name in enumerate(program.order)}
    for gate in program.gates:
        facts = check_expression(gate.condition, scope, where="the gate's condition")
        gate.judges = sorted(facts.steps, key=position.__getitem__)
        diagnostics += facts.diagnostics
        read |= facts.steps
        if gate.feedback is not None:
            feedback = check_expression(gate.feedback, scope, where="the gate's feedback")
            diagnostics += feedback.diagnostics
            read |= feedback.steps
        diagnostics += check_gate(gate, program, deps, topo_position)
    for report in program.reports:
        read |= _check_report(report, scope, diagnostics)

    for step in program.steps:
        step.depends_on = sorted(deps[step.name] & position.keys(), key=position.__getitem__)
    diagnostics += find_cycles(program, deps)
    diagnostics += unused_steps(program, read)
    diagnostics += _unused_declarations(program)
    diagnostics += check_prices(program)
    return sort_diagnostics(diagnostics)


def _compile_types(program: ir.Program) -> list[Diagnostic]:
    compiler = SchemaCompiler(program.types)
    for decl in program.types:
        compiler.record(decl.record)
    declared_only = len(compiler.diagnostics)
    for step in program.steps:
        if step.output is None:
            continue
        schema = compiler.compile(step.output)
        if schema and fields_of(schema) is None:
            compiler.diagnostics.append(
                error(
                    "E0305",
                    f"the output of step `{step.name}` must be a record",
                    step.output.span,
                    help="wrap it in a record, e.g. `output { answer: string }`: providers' structured "
                    "output returns a JSON object",
                )
            )
            schema = {}
        step.output_schema = schema or None
    del declared_only
    return compiler.diagnostics


StepFacts = tuple[set[str], list[Diagnostic]]
PARALLEL_FROM = 500  # steps; below it a second process costs more than it saves


def check_steps(steps: list[ir.StepDecl], scope: Scope, source: SourceFile) -> list[StepFacts]:
    """Each step's templates, code and rules checked: the steps it reads and its diagnostics.

    The steps are independent of each other here, so a big file is split in two and the
    second half checked in a forked process on the other core (these checks are most of
    `octoc check`'s time after parsing). Anything odd about the fork (no fork, threads
    running, the child failing) falls back to checking everything here."""

    def run(part: list[ir.StepDecl]) -> list[StepFacts]:
        out = []
        for step in part:
            found: list[Diagnostic] = []
            out.append((_check_step(step, scope, source, found), found))
        return out

    if len(steps) < PARALLEL_FROM or not _can_fork():
        return run(steps)
    import os
    import pickle

    mid = len(steps) // 2
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: check the second half, send the facts, leave without cleanup
        code = 1
        try:
            os.close(read_end)
            data = pickle.dumps(run(steps[mid:]), protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    first = run(steps[:mid])
    with os.fdopen(read_end, "rb") as reader:
        data = reader.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        return first + run(steps[mid:])
    second: list[StepFacts] = pickle.loads(data)
    return first + second


def _can_fork() -> bool:
    import os
    import threading

    if not hasattr(os, "fork") or threading.active_count() > 1:
        return False  # forking a threaded process can deadlock the child
    try:
        return len(os.sched_getaffinity(0)) > 1
    except AttributeError:
        return (os.cpu_count() or 1) > 1


def _check_step(step: ir.StepDecl, scope: Scope, source: SourceFile, diagnostics: list[Diagnostic]) -> set[str]:
    steps: set[str] = set()
    own = Scope(
        scope.unit,
        scope.steps,
        scope.consts,
        {"feedback": {"type": "string"}, "attempt": {"type": "integer"}},
        scope.functions | JINJA_GLOBALS,
        current_step=step.name,
        declared=scope.declared_fields(),
    )
    for what, text in (("system prompt", step.system), ("prompt", step.prompt)):
        if text is not None:
            facts = check_template(text, own, source, what=f"{what} of step `{step.name}`")
            steps |= facts.steps
            diagnostics += facts.diagnostics
    if step.code is not None and step.kind == "compute":
        facts_code = check_code(
            step,
            Scope(
                scope.unit,
                scope.steps,
                scope.consts,
                {},
                frozenset(),
                current_step=step.name,
                declared=scope.declared_fields(),
            ),
            source,
        )
        steps |= facts_code.steps
        diagnostics += facts_code.diagnostics
    output_fields = fields_of(step.output_schema or {}) or {}
    rule_scope = Scope(
        scope.unit, scope.steps, scope.consts, dict(output_fields), scope.functions, declared=scope.declared_fields()
    )
    fields_unknown = step.output is not None and step.output_schema is None  # its type has an error
    for rule in step.validate_rules:
        facts_rule = check_expression(rule.condition, rule_scope, where=f"a rule of step `{step.name}`")
        steps |= facts_rule.steps - {step.name}
        # the output's fields are unknown, so a name that may be one of them is not an error of its own
        diagnostics += [d for d in facts_rule.diagnostics if not (fields_unknown and d.code == "E0106")]
    return steps


def _check_report(report: ir.ReportDecl, scope: Scope, diagnostics: list[Diagnostic]) -> set[str]:
    read: set[str] = set()
    where = f"report `{report.name}`"
    for key in report.group_by:
        facts = check_expression(key, scope, where=where)
        read |= facts.steps
        diagnostics += facts.diagnostics
    if report.where is not None:
        facts = check_expression(report.where, scope, where=where)
        read |= facts.steps
        diagnostics += facts.diagnostics
    context = ReportContext(group_keys=[shape(k) for k in report.group_by])
    metrics: dict[str, dict[str, str]] = {}
    for metric in report.metrics:
        facts = check_expression(metric.expr, scope.with_locals(**metrics), where=where, report=context)
        read |= facts.steps
        diagnostics += facts.diagnostics
        metrics[metric.name] = {}
    if not report.metrics:
        diagnostics.append(
            warning(
                "W0107",
                f"report `{report.name}` computes nothing",
                report.name_span,
                help="add statistics, e.g. `n = count()` or `avg = mean(step.field)`",
            )
        )
    return read


def _unused_declarations(program: ir.Program) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    used_models = {s.model for s in program.steps if s.model}
    for model in program.models:
        if model.name not in used_models:
            out.append(
                warning(
                    "W0105",
                    f"model `{model.name}` is not used by any step",
                    model.name_span,
                    help=f"use it with `step x = llm {model.name} {{ ... }}`, or remove it",
                )
            )
    used_types = set()
    nodes = [s.output for s in program.steps if s.output is not None] + [t.record for t in program.types]
    while nodes:
        node = nodes.pop()
        if isinstance(node, ir.NamedType):
            used_types.add(node.name)
        elif isinstance(node, ir.ListType):
            nodes.append(node.item)
        elif isinstance(node, ir.UnionType):
            nodes.extend(node.options)
        elif isinstance(node, ir.OptionalType):
            nodes.append(node.inner)
        elif isinstance(node, ir.RecordType):
            nodes.extend(f.type for f in node.fields)
    declared = [decl.name for decl in program.types]
    for name in list(used_types - set(declared)):  # `output Verdit` is E0104 and meant `Verdict`
        close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
        used_types.update(close)
    for decl in program.types:
        if decl.name not in used_types:
            out.append(
                warning(
                    "W0104",
                    f"type `{decl.name}` is not used",
                    decl.name_span,
                    help="use it as a step's `output`, or remove it",
                )
            )
    return out
