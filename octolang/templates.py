"""The Jinja environment prompts render in, shared by the checker, the estimate and the
runner: Jinja's sandbox with the project's policy (`octolang/sandbox/policy.py`) on top.

- attributes: never one the policy never allows (`_*`, `format`, `format_map`, `mro`,
  frame and generator attributes), and on plain values only their public methods;
- values are read-only: `append`, `update`, `pop`, ... are refused on lists, dicts and
  sets (a const is shared by every unit's render);
- globals: functions, never type objects (`str.format(...)` would walk any attribute
  chain written in its format string), and Jinja's own size-capped `range`;
- `*` and `**` are intercepted, so `"x" * 10**9` or `10 ** 10**9` stop at a bound.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2.runtime import Context
    from jinja2.sandbox import SandboxedEnvironment

# Jinja's own globals, usable in every template.
JINJA_GLOBALS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})
MAX_TEMPLATE_SIZE = 1_000_000  # items or characters a `*` may make
MAX_POWER = 4096  # the largest exponent `**` takes (as for consts)
MAX_LIPSUM = 100
MAX_PROMPT_CHARS = 4_000_000  # what one render may produce


class RenderTooLarge(Exception):
    pass


def render_flat(template: Any, shared: dict[str, Any]) -> str:
    """Render with `shared` as the whole context (no copy of the globals per call); a text
    past `MAX_PROMPT_CHARS` is refused (the caller bounds time and memory)."""
    text = "".join(template.root_render_func(template.new_context(shared, shared=True)))
    if len(text) > MAX_PROMPT_CHARS:
        raise RenderTooLarge(f"the text passes {MAX_PROMPT_CHARS:,} characters")
    return text


# Methods that change a value in place: refused in templates, where consts are shared.
_MUTATING = frozenset(
    {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear", "popitem", "setdefault", "update"}
    | {"add", "discard", "difference_update", "intersection_update", "symmetric_difference_update"}
)


def _dict(*args: Any, **kwargs: Any) -> dict[str, Any]:
    return dict(*args, **kwargs)


@functools.lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """Sandboxed, strict about undefined names, no HTML escaping (prompts are not HTML),
    block tags leave no blank lines behind."""
    from jinja2 import StrictUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import SandboxedEnvironment, modifies_known_mutable, safe_range
    from jinja2.utils import generate_lorem_ipsum

    from octolang.expressions import EXPRESSION_FUNCTIONS
    from octolang.sandbox.compile import Record
    from octolang.sandbox.policy import SAFE_VALUE_TYPES, VALUE_ATTRIBUTES, never_allowed

    class PolicyEnvironment(SandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
            if never_allowed(attr):
                return False
            if type(obj) is Record:  # a field: the common case, and nothing internal once `_*` is out
                return True
            if isinstance(obj, SAFE_VALUE_TYPES):
                return attr in VALUE_ATTRIBUTES and attr not in _MUTATING
            if modifies_known_mutable(obj, attr):
                return False
            return bool(super().is_safe_attribute(obj, attr, value))

        def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_POWER:
                if not (isinstance(left, (int, float)) and abs(left) <= 1):
                    raise SecurityError(f"`**` with an exponent above {MAX_POWER} is not allowed in templates")
            if operator == "*":
                for sized, times in ((left, right), (right, left)):
                    if isinstance(sized, (str, list, tuple)) and isinstance(times, int):
                        if len(sized) * times > MAX_TEMPLATE_SIZE:
                            raise SecurityError(f"`*` would make more than {MAX_TEMPLATE_SIZE:,} items")
            return super().call_binop(context, operator, left, right)

    def lipsum(n: int = 5, html: bool = False, min: int = 20, max: int = 100) -> str:
        if not 0 <= n <= MAX_LIPSUM or not 0 <= min <= max <= 1000:
            raise SecurityError(f"lipsum makes at most {MAX_LIPSUM} paragraphs of at most 1000 words")
        return str(generate_lorem_ipsum(n, html, min, max))

    env = PolicyEnvironment(
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False
    )
    env.globals.update(EXPRESSION_FUNCTIONS)  # the functions expressions have: len, round, ...
    env.globals.update(range=safe_range, dict=_dict, lipsum=lipsum)  # Jinja's bounded range, no types
    return env
