"""The Jinja2 environment of the viewer's pages (autoescaped) and its filters."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jinja2

from octolang.runtime.reports import format_value


def _pretty(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "…"


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("octolang.view", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(num=format_value, pretty=_pretty, short=_short)
    return env


def render(template: str, values: dict[str, Any], links: Any) -> str:
    return environment().get_template(template).render(links=links, **values)
