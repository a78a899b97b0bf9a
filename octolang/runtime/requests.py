"""Rendering a unit's request for an llm step: the provider-neutral body that is
recorded before anything is sent."""

from __future__ import annotations

from typing import Any

from octolang import ir
from octolang.providers.parameters import SAMPLING
from octolang.templates import environment


class CompiledPrompt:
    """A step's templates, compiled once and rendered per unit."""

    def __init__(self, step: ir.StepDecl, model: ir.ModelDecl) -> None:
        env = environment()
        self.step = step
        self.model = model
        system = step.system.value if step.system else None
        self.system = env.from_string(system) if system is not None else None
        # A system prompt without template syntax is the same for every unit: rendered once.
        fixed = self.system is not None and not any(t in (system or "") for t in ("{{", "{%", "{#"))
        self.fixed_system = self.system.render({}) if fixed and self.system is not None else None
        self.prompt = env.from_string(step.prompt.value if step.prompt else "")
        self.params = {s.name: s.value for s in model.settings if s.name in SAMPLING}

    def render(self, context: dict[str, Any]) -> dict[str, Any]:
        """The request body; raises jinja2 errors, which the runner reports per unit."""
        system = self.fixed_system if self.fixed_system is not None else self._render_system(context)
        return self.body(system, self.prompt.render(context))

    def body(self, system: str | None, prompt: str) -> dict[str, Any]:
        """The request body of already rendered texts."""
        return {
            "provider": self.model.provider,
            "model": self.model.model_id,
            "system": system,
            "prompt": prompt,
            "schema_name": self.step.name,
            "schema": self.step.output_schema or {},
            "params": self.params,
        }

    def _render_system(self, context: dict[str, Any]) -> str | None:
        return self.system.render(context) if self.system is not None else None
