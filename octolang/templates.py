"""The Jinja environment prompts render in, shared by the checker and the runner."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

# Jinja's own globals, usable in every template.
JINJA_GLOBALS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})


@functools.lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """Sandboxed (no attribute access to internals), strict about undefined names,
    no HTML escaping (prompts are not HTML), block tags leave no blank lines behind."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    from octolang.expressions import EXPRESSION_FUNCTIONS

    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False
    )
    env.globals.update(EXPRESSION_FUNCTIONS)  # the functions expressions have: len, round, ...
    return env
