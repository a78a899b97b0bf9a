"""`octoc`, the command line: the group of commands (cli_base.py) with every command
module loaded, so that each registers its commands on it. Nothing imports this module
but the entry points (`octoc`, `python -m octolang`)."""

from __future__ import annotations

from octolang import (  # noqa: F401 - their commands
    cli_cache,
    cli_check,
    cli_explain,
    cli_fmt,
    cli_graph,
    cli_lsp,
    cli_results,
    cli_retry,
    cli_run,
    cli_runs,
    cli_view,
)
from octolang.cli_base import main

__all__ = ["main"]
