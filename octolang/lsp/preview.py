"""A step's prompt rendered for the first unit, shown when hovering over the step's name.

Rendered as the runner renders a first attempt (the same sandboxed templates, consts,
`feedback` empty, `attempt` 1), for the first unit in run order. What upstream steps
will answer is not known before a run, so each of their fields shows as a placeholder:
`‹line.text›` for a string, the lower bound (or 0) for a number, the first option of a
choice. A render that fails or runs past its time says why instead.
"""

from __future__ import annotations

from typing import Any

from octolang import ir
from octolang.schema import Schema

RENDER_SECONDS = 1.0
MAX_SHOWN_CHARS = 3_000


def prompt_preview(program: ir.Program, step: ir.StepDecl) -> str:
    """Markdown: the rendered system and prompt texts, or why there are none."""
    if step.kind != "llm" or not program.units:
        return ""
    from octolang.runtime.requests import CompiledPrompt
    from octolang.runtime.unitset import enumerate_units
    from octolang.sandbox import Record, TimeLimit

    model = program.model(step.model or "")
    if model is None:
        return ""
    try:
        unit = next(iter(enumerate_units(program, 1)), None)
    except Exception as exc:  # the data file changed or went away since the check
        return f"no prompt preview: the units cannot be read ({exc})"
    if unit is None:
        return ""
    context: dict[str, Any] = {c.name: c.resolved for c in program.consts}
    for name in step.depends_on:
        upstream = program.step(name)
        value = placeholder(upstream.output_schema or {}, name) if upstream is not None else {}
        context[name] = Record(value) if isinstance(value, dict) else value
    context.update(unit=Record(unit.fields), feedback="", attempt=1)
    try:
        with TimeLimit(RENDER_SECONDS) as limit:
            limit.arm()
            prompt = CompiledPrompt(step, model)
            body = prompt.render(context)
            limit.disarm()
    except Exception as exc:
        return f"the prompt does not render for unit `{unit.id}`: {exc}"
    parts = [f"prompt for unit `{unit.id}` (upstream answers as placeholders):"]
    if body.get("system"):
        parts.append(_fenced("system: " + str(body["system"])))
    parts.append(_fenced(str(body["prompt"])))
    return "\n\n".join(parts)


def placeholder(schema: Schema, path: str) -> Any:
    """A stand-in value of the schema that names where the real one will come from."""
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        chosen = next((o for o in options if o.get("type") != "null"), options[0])
        return placeholder(chosen, path)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        return {name: placeholder(sub, f"{path}.{name}") for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [placeholder(schema.get("items", {}), f"{path}[0]")]
    if kind == "integer":
        return int(schema.get("minimum", 0))
    if kind == "number":
        return float(schema.get("minimum", 0.0))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return f"‹{path}›"


def _fenced(text: str) -> str:
    text = text.strip("\n")
    if len(text) > MAX_SHOWN_CHARS:
        text = text[:MAX_SHOWN_CHARS] + f"\n… ({len(text) - MAX_SHOWN_CHARS:,} more characters)"
    fence = "````" if "```" in text else "```"
    return f"{fence}text\n{text}\n{fence}"
