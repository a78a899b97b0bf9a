"""The one-screen summary of a checked program (text for people, a dict for `--json`)."""

from __future__ import annotations

import ast
from decimal import Decimal
from typing import Any

from octolang import ir
from octolang.expressions import to_python
from octolang.providers.hosts import Allowance, hosts_summary


def expression_text(node: ir.Expr) -> str:
    return ast.unparse(to_python(node))


def summarize(program: ir.Program) -> dict[str, Any]:
    units = program.units[0] if program.units else None
    return {
        "pipeline": program.pipeline.name if program.pipeline else None,
        "title": program.pipeline.title if program.pipeline else None,
        "seed": program.seed,
        "units": None
        if units is None
        else {
            "name": units.name,
            "count": program.unit_count,
            "source": units.source.value if units.source else ("inline rows" if units.rows else None),
            "vary": {v.name: len(v.resolved) for v in units.vary},
            "trials": units.trials,
            "fields": {f.name: f.origin for f in program.unit_fields},
        },
        "steps": [
            {
                "name": step.name,
                "kind": step.kind,
                "model": step.model,
                "depends_on": step.depends_on,
                "outputs": list((step.output_schema or {}).get("properties", {})),
            }
            for step in (program.step(n) for n in program.order)
            if step is not None
        ],
        "gates": [
            {
                "condition": expression_text(g.condition),
                "action": g.action,
                "target": g.target,
                "max": g.max_retries if g.action == "retry" else None,
                "judges": g.judges,
            }
            for g in program.gates
        ],
        "reports": [
            {
                "name": r.name,
                "group_by": [expression_text(k) for k in r.group_by],
                "statistics": [m.name for m in r.metrics],
            }
            for r in program.reports
        ],
        "hosts": [use.to_json() for use in hosts_summary(program, Allowance.from_env())],
    }


def summary_text(program: ir.Program) -> str:
    data = summarize(program)
    lines = []
    title = f" — {data['title']}" if data["title"] else ""
    lines.append(f"  pipeline {data['pipeline'] or '(unnamed)'}{title}")
    units = data["units"]
    if units:
        parts = [f"{units['source']}" if units["source"] else ""]
        parts += [f"vary {name} ×{n}" for name, n in units["vary"].items()]
        if units["trials"]:
            parts.append(f"trials {units['trials']}")
        count = f"{units['count']:,}" if units["count"] is not None else "?"
        detail = ", ".join(p for p in parts if p)
        lines.append(
            f"  units    {units['name']}: {count} unit{'s' if units['count'] != 1 else ''}"
            + (f" ({detail})" if detail else "")
        )
        lines.append(f"           fields: {', '.join(units['fields']) or '(none)'}")
    models = {m.name: m for m in program.models}
    width = max([len(s["name"]) for s in data["steps"]] + [4])
    for index, step in enumerate(data["steps"]):
        label = "steps   " if index == 0 else "        "
        if step["kind"] == "llm" and step["model"] in models:
            model = models[step["model"]]
            kind = f"llm {model.name} ({model.provider} {model.model_id}, {model.mode})"
        else:
            kind = step["kind"]
        reads = ", ".join(step["depends_on"]) or "unit"
        lines.append(
            f"  {label} {step['name']:<{width}}  {kind}; reads {reads}; outputs {', '.join(step['outputs']) or '-'}"
        )
    for gate in data["gates"]:
        action = f"retry {gate['target']} (max {gate['max']})" if gate["action"] == "retry" else "skip"
        lines.append(f"  gate     {gate['condition']} else {action}")
    for report in data["reports"]:
        group = f" by {', '.join(report['group_by'])}" if report["group_by"] else ""
        lines.append(f"  report   {report['name']}{group}: {', '.join(report['statistics'])}")
    for index, host in enumerate(data["hosts"]):
        keys = [f"{k} (not set)" if k in host["unset"] else k for k in host["keys"]]
        sent = f"key{'s' if len(keys) > 1 else ''} {', '.join(keys)}" if keys else "no key"
        scheme = f" ({host['scheme']})" if host["scheme"] else ""
        label = "hosts   " if index == 0 else "        "
        lines.append(f"  {label} {host['host']}{scheme}: {', '.join(host['models'])}; {sent}")
    return "\n".join(lines)


def cost_section(
    program: ir.Program, budget: Decimal | None = None, *, exact: bool = False
) -> tuple[dict[str, Any] | None, str | None]:
    """The cost estimate of a pipeline with llm steps, as JSON and as text (None, None
    without llm steps, so that checking a Monte Carlo pipeline never loads the tokenizer).
    `budget` (from `--budget`) replaces the file's `budget`; `exact` (`--exact`) has Claude
    and Gemini steps counted on a sample by the providers themselves."""
    if not any(s.kind == "llm" for s in program.steps):
        return None, None
    from octolang.cost.estimate import estimate_cost
    from octolang.cost.render import estimate_json, estimate_text

    counter = None
    if exact:
        from octolang.providers.registry import exact_counter

        counter = exact_counter()
    estimate = estimate_cost(program, exact=counter)
    limit = budget if budget is not None else program.budget
    return estimate_json(estimate, limit), estimate_text(estimate, limit)
