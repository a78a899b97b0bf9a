"""The checked program as a Graphviz diagram (`octoc graph`).

A pure backend: `build_graph` turns the IR (and, optionally, a run's counts and a cost
line per step) into a `graphviz.Digraph`; nothing here reads `.octo` text or the disk.
`render` is the one effect, and only for drawn formats: it runs Graphviz's `dot`, which
DOT output never needs.

The DOT must not churn between runs (its tests are snapshots): nodes and edges come in
declaration and dependency order, and no path, date or run id is written into it.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import graphviz

from octolang import ir
from octolang.expressions import walk
from octolang.runtime.status import RunStatus, StepStatus
from octolang.summary import expression_text

FORMATS = ("dot", "svg", "png", "pdf")
DRAWN_FORMATS = ("svg", "png", "pdf")

# Fill colours of a step by the state of a run (`--run`); also listed in docs/cli.md.
STATE_COLOURS = {
    "waiting": "#eeeeee",
    "running": "#cfe3f7",
    "in flight": "#ffe08a",
    "failed": "#f6b3b3",
    "done": "#b9e3b0",
}
_UNITS_COLOUR = "#dde7f3"
_REPORT_COLOUR = "#f3ead2"
_PLAIN_COLOUR = "#ffffff"


class GraphvizMissing(Exception):
    """Graphviz's `dot` program is not on PATH (only drawn formats need it)."""


class GraphvizFailed(Exception):
    """`dot` ran and failed; the message is what it printed."""


def build_graph(
    program: ir.Program,
    *,
    costs: Mapping[str, str] | None = None,
    run: RunStatus | None = None,
) -> graphviz.Digraph:
    """The pipeline's DAG: units source -> steps -> reports, gates as dashed back edges.

    `costs` maps a step name to a line of text shown in its node (the cost estimate, when
    the caller has one); `run` colours each step by that run's state and shows its counts.
    """
    name = program.pipeline.name if program.pipeline else "pipeline"
    graph = graphviz.Digraph(name=name)
    graph.attr(rankdir="TB", fontname="Helvetica", labelloc="t", label=_html(_bold(_pipeline_title(program))))
    graph.attr("node", shape="box", style="rounded,filled", fontname="Helvetica", fontsize="11")
    graph.attr("edge", fontname="Helvetica", fontsize="9", color="#555555")

    steps = {s.name: s for s in program.steps}
    ordered = [n for n in program.order if n in steps]
    order = ordered + sorted(set(steps) - set(ordered), key=list(steps).index)
    position = {step: index for index, step in enumerate(order)}
    by_status = {s.name: s for s in run.steps} if run is not None else {}

    for units in program.units:
        graph.node(_units_id(units), _html(_units_label(program, units, run)), fillcolor=_UNITS_COLOUR)
    for step_name in order:
        step = steps[step_name]
        fill, foot = _PLAIN_COLOUR, []
        if costs and step_name in costs:
            foot.append(_esc(costs[step_name]))
        if run is not None:
            counts = by_status.get(step_name, StepStatus(step_name, step.kind))
            fill = STATE_COLOURS[step_state(counts, pending=run.pending)]
            foot.append(f"<i>{counts.done:,} done · {counts.failed:,} failed · {counts.in_flight:,} in flight</i>")
        head, body = _step_lines(program, step)
        graph.node(_step_id(step_name), _html(_table(head, body, foot)), fillcolor=fill)
    for index, gate in enumerate(program.gates, start=1):
        if gate.action == "skip":
            graph.node(_skip_id(index), "skipped", shape="plaintext", style="", fontcolor="#777777")
    for report in program.reports:
        label = _html(_table(*_report_lines(report)))
        graph.node(_report_id(report.name), label, fillcolor=_REPORT_COLOUR, shape="note", style="filled")

    first_units = _units_id(program.units[0]) if program.units else None
    for step_name in order:
        upstream = sorted((d for d in steps[step_name].depends_on if d in position), key=position.__getitem__)
        if not upstream and first_units is not None:
            graph.edge(first_units, _step_id(step_name))
        for dep in upstream:
            graph.edge(_step_id(dep), _step_id(step_name))
    for index, gate in enumerate(program.gates, start=1):
        _gate_edge(graph, gate, index, position)
    for report in program.reports:
        read = report_reads(report, position)
        sources = [_step_id(s) for s in read] or ([first_units] if first_units else [])
        for source in sources:
            graph.edge(source, _report_id(report.name))
    return graph


def step_state(counts: StepStatus, *, pending: int) -> str:
    """One word for a step's fill colour: what a reader most needs to see first."""
    if counts.in_flight:
        return "in flight"
    if counts.failed:
        return "failed"
    if counts.done:
        return "done" if pending == 0 else "running"
    return "waiting"


def report_reads(report: ir.ReportDecl, position: Mapping[str, int]) -> list[str]:
    """The steps a report's keys, filter and statistics read, in run order."""
    roots: list[ir.Expr] = [*report.group_by, *(m.expr for m in report.metrics)]
    if report.where is not None:
        roots.append(report.where)
    read = {node.id for root in roots for node in walk(root) if isinstance(node, ir.Name) and node.id in position}
    return sorted(read, key=position.__getitem__)


def type_text(node: ir.TypeExpr) -> str:
    """A type as it is written in `.octo` source (`list<int[1..10]>`, `"a" | "b"`, `T?`)."""
    if isinstance(node, ir.NamedType):
        return node.name + (_bounds(node.low, node.high) if node.has_range else "")
    if isinstance(node, ir.ListType):
        bounds = _bounds(node.min_items, node.max_items) if node.has_range else ""
        return f"list<{type_text(node.item)}>{bounds}"
    if isinstance(node, ir.LiteralType):
        return f'"{node.value}"' if isinstance(node.value, str) else str(node.value)
    if isinstance(node, ir.UnionType):
        return " | ".join(type_text(option) for option in node.options)
    if isinstance(node, ir.OptionalType):
        inner = type_text(node.inner)
        return f"({inner})?" if isinstance(node.inner, ir.UnionType) else f"{inner}?"
    return "{" + ", ".join(f.name for f in node.fields) + "}"


def render(graph: graphviz.Digraph, fmt: str) -> bytes:
    """The drawing in `fmt` (svg, png or pdf), made by Graphviz's `dot`."""
    if fmt not in DRAWN_FORMATS:
        raise ValueError(f"not a drawn format: {fmt}")
    try:
        return bytes(graph.pipe(format=fmt))
    except graphviz.ExecutableNotFound as exc:
        raise GraphvizMissing(str(exc)) from None
    except graphviz.CalledProcessError as exc:
        said = exc.stderr.decode("utf-8", errors="replace") if isinstance(exc.stderr, bytes) else str(exc.stderr or "")
        raise GraphvizFailed(said.strip() or f"exit status {exc.returncode}") from None


# ---------------------------------------------------------------- labels


def _pipeline_title(program: ir.Program) -> str:
    if program.pipeline is None:
        return "pipeline"
    title = program.pipeline.title
    return program.pipeline.name + (f": {title}" if title else "")


def _units_label(program: ir.Program, units: ir.UnitsDecl, run: RunStatus | None) -> str:
    body = []
    if units.source is not None:
        kind = "JSONL" if units.source.value.lower().endswith(".jsonl") else "CSV"
        body.append(f"{kind} file {_esc(units.source.value)}")
    if units.rows:
        body.append(f"{len(units.rows):,} inline row{'s' if len(units.rows) != 1 else ''}")
    body += [f"vary {_esc(v.name)} ×{len(v.resolved):,}" for v in units.vary]
    if units.trials:
        body.append(f"trials {units.trials:,}")
    if units.limit is not None:
        body.append(f"limit {units.limit:,}")
    foot = []
    if program.unit_count is not None and len(program.units) == 1:
        foot.append(f"<b>{program.unit_count:,} unit{'s' if program.unit_count != 1 else ''}</b>")
    if run is not None:
        foot.append(
            f"<i>{run.done:,} done · {run.failed:,} failed · {run.skipped:,} skipped · {run.pending:,} pending</i>"
        )
    return _table([f"<b>units {_esc(units.name)}</b>"], body, foot)


def _step_lines(program: ir.Program, step: ir.StepDecl) -> tuple[list[str], list[str]]:
    """(head, body) of a step's node: name, kind and model; then its output fields."""
    head = [f"<b>{_esc(step.name)}</b>"]
    model = program.model(step.model or "") if step.kind == "llm" else None
    if model is not None:
        mode = model.mode
        head.append(f"llm {_esc(model.name)}")
        head.append(f'<font point-size="9">{_esc(f"{model.provider} {model.model_id} · {mode}")}</font>')
    else:
        head.append(step.kind)
    return head, [_esc(text) for text in _output_fields(program, step.output)]


def _output_fields(program: ir.Program, output: ir.TypeExpr | None) -> list[str]:
    if output is None:
        return []
    record = output if isinstance(output, ir.RecordType) else None
    if isinstance(output, ir.NamedType) and not output.has_range:
        declared = next((t for t in program.types if t.name == output.name), None)
        record = declared.record if declared is not None else None
    if record is None:
        return [f"→ {type_text(output)}"]
    return [f"{f.name}: {type_text(f.type)}" for f in record.fields]


def _report_lines(report: ir.ReportDecl) -> tuple[list[str], list[str]]:
    """(head, body) of a report's node: name, grouping and filter; then its statistics."""
    head = [f"<b>report {_esc(report.name)}</b>"]
    if report.group_by:
        head.append("by " + _esc(", ".join(expression_text(k) for k in report.group_by)))
    if report.where is not None:
        head.append("where " + _esc(expression_text(report.where)))
    return head, [_esc(m.name) for m in report.metrics]


def _gate_edge(graph: graphviz.Digraph, gate: ir.GateDecl, index: int, position: Mapping[str, int]) -> None:
    """A dashed edge from the last step the gate judges: back to the step it retries, or
    to a `skipped` sink. `constraint=false` keeps it from bending the DAG's layout."""
    judges = [j for j in gate.judges if j in position]
    retry = gate.action == "retry"
    if not judges or (retry and gate.target not in position):
        return  # not in a checked program
    lines = [_esc(expression_text(gate.condition))]
    if retry:
        lines.append(f"else retry · max {gate.max_retries}")
        if gate.feedback is not None:
            lines.append("feedback " + _esc(expression_text(gate.feedback)))
    else:
        lines.append("else skip")
    graph.edge(
        _step_id(judges[-1]),
        _step_id(gate.target or "") if retry else _skip_id(index),
        label=_html("<br/>".join(lines)),
        style="dashed",
        color="#b5651d",
        fontcolor="#b5651d",
        **({"constraint": "false"} if retry else {}),
    )


def _esc(text: str) -> str:
    """Text for an HTML-like label (Graphviz's own entities: no quote escaping needed)."""
    return html.escape(text, quote=False)


def _table(head: Sequence[str], body: Sequence[str] = (), foot: Sequence[str] = ()) -> str:
    """A borderless table: centred head rows, left-aligned body rows (fields), centred foot."""
    rows = [f"\n\t\t<tr><td>{line}</td></tr>" for line in head]
    rows += [f'\n\t\t<tr><td align="left">{line}</td></tr>' for line in body]
    rows += [f"\n\t\t<tr><td>{line}</td></tr>" for line in foot]
    # One row a line: a changed field is a one-line diff in the DOT snapshots.
    return "".join(['<table border="0" cellborder="0" cellspacing="0" cellpadding="1">', *rows, "\n\t</table>"])


def _html(text: str) -> str:
    return f"<{text}>"


def _bold(text: str) -> str:
    return f"<b>{_esc(text)}</b>"


def _bounds(low: int | float | None, high: int | float | None) -> str:
    return f"[{'' if low is None else low}..{'' if high is None else high}]"


def _units_id(units: ir.UnitsDecl) -> str:
    return f"units_{units.name}"


def _step_id(name: str) -> str:
    return f"step_{name}"


def _skip_id(index: int) -> str:
    return f"gate_{index}_skipped"


def _report_id(name: str) -> str:
    return f"report_{name}"
