"""Loading `grammar/octo.lark` and building the (cached) LALR parser."""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lark import Lark

# Words the grammar reserves at the start of a top-level declaration: the parser's
# error recovery resynchronises on them, and the editor grammars highlight them.
TOP_LEVEL_KEYWORDS = ("pipeline", "seed", "budget", "const", "model", "type", "units", "step", "gate", "report", "run")


def grammar_text() -> str:
    """The grammar: shipped in the wheel as package data, or read from the checkout."""
    packaged = resources.files("octolang").joinpath("_grammar/octo.lark")
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parents[2] / "grammar" / "octo.lark"
    return checkout.read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    from lark import Lark

    # Positions come from the tokens, in the lowering pass (see lower.py): cheaper than
    # Lark's propagate_positions, and exact since every token is kept.
    options = dict(parser="lalr", lexer="contextual", keep_all_tokens=True, maybe_placeholders=True)
    text = grammar_text()
    try:
        return Lark(text, cache=_cache_path(text + repr(sorted(options.items()))), **options)
    except OSError:  # unwritable cache folder: build the tables in memory
        return Lark(text, **options)


def _cache_path(text: str) -> str:
    import hashlib

    import lark

    digest = hashlib.sha256((lark.__version__ + text).encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "octolang")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"octo-lalr-{digest}.lark")
