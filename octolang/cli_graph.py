"""`octoc graph`: the pipeline as a diagram (see octolang/graph.py).

DOT needs nothing but the `graphviz` package; svg, png and pdf need Graphviz's `dot`
program, and its absence is a message with the fix, not a traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from octolang.cli_base import EXIT_ERRORS, allow_outside_option, main, state_option

INSTALL_GRAPHVIZ = """\
Install Graphviz, which provides `dot`:
  Debian/Ubuntu: sudo apt-get install graphviz
  Fedora:        sudo dnf install graphviz
  macOS:         brew install graphviz
  Windows:       winget install graphviz
  others:        https://graphviz.org/download/
or write DOT, which needs no Graphviz: `-o FILE.dot`, or no `-o` for stdout."""


@main.command()
@click.argument("file", required=False, metavar="FILE", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    help="Write to this file; its suffix picks the format: .dot, .svg, .png or .pdf (default: DOT on stdout), "
    "e.g. -o pipeline.svg.",
)
@click.option(
    "--run",
    "run_id",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[RUN_ID]",
    help="Colour each step by the state of the latest run (or run RUN_ID) of FILE, e.g. --run or "
    "--run dice-20261124-210401-5607.",
)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False),
    help="Folder of runs (default: .octo/runs next to the pipeline), e.g. --run-dir /data/runs.",
)
@state_option
@allow_outside_option
def graph(
    file: str | None, output: str | None, run_id: str | None, run_dir: str | None, allow_outside: tuple[str, ...]
) -> None:
    """Draw FILE's pipeline: units, steps, gates and reports (DOT on stdout without -o).
    Example: octoc graph examples/blackjack.octo -o blackjack.svg"""
    if file is None and run_id and run_id.endswith(".octo"):
        file, run_id = run_id, ""  # `octoc graph --run FILE`: the flag took the file as its value
    if file is None:
        raise click.UsageError("Missing argument 'FILE'.")
    fmt = _format_of(output)
    from octolang.cli_run import compile_or_exit

    program = compile_or_exit(file, before="drawing", allow_outside=allow_outside)
    run = _run_status(program, file, run_dir, run_id, allow_outside) if run_id is not None else None

    from octolang.graph import GraphvizFailed, GraphvizMissing, build_graph, render

    drawing = build_graph(program, costs=_costs(program), run=run)
    if output is None:
        click.echo(drawing.source, nl=False)
        return
    if fmt == "dot":
        data = drawing.source.encode("utf-8")
    else:
        try:
            data = render(drawing, fmt)
        except GraphvizMissing:
            click.echo(
                f"octoc graph: drawing {fmt.upper()} needs Graphviz's `dot` program; it is not on PATH.", err=True
            )
            click.echo(INSTALL_GRAPHVIZ, err=True)
            sys.exit(EXIT_ERRORS)
        except GraphvizFailed as exc:
            click.echo(f"octoc graph: Graphviz's `dot` failed: {exc}", err=True)
            sys.exit(EXIT_ERRORS)
    try:
        with open(output, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        click.echo(f"octoc graph: cannot write {output}: {exc.strerror or exc}", err=True)
        sys.exit(EXIT_ERRORS)
    click.echo(f"wrote {output}", err=True)


def _format_of(output: str | None) -> str:
    from octolang.graph import FORMATS

    if output is None:
        return "dot"
    suffix = os.path.splitext(output)[1].lower().lstrip(".")
    if suffix not in FORMATS:
        problem = f"`.{suffix}` is not a format octoc graph writes" if suffix else f"`{output}` has no suffix"
        raise click.BadParameter(
            f"{problem}; end the name with .dot, .svg, .png or .pdf", param_hint="'-o' / '--output'"
        )
    return suffix


def _costs(program: Any) -> dict[str, str]:
    """Each llm step's estimated cost in its mode, as `octoc check` prints it."""
    from octolang.cost.estimate import estimate_cost, has_llm_steps
    from octolang.cost.render import money

    if not has_llm_steps(program):
        return {}
    return {
        s.step: f"est. {money(s.cost)} ({s.mode})" if s.priced else "est. cost unknown: no price"
        for s in estimate_cost(program).steps
    }


def _run_status(program: Any, file: str, run_dir: str | None, run_id: str, allow_outside: tuple[str, ...]) -> Any:
    """The latest run of FILE (or run RUN_ID), found and counted as `octoc status` does."""
    from octolang.cli_run import find_run_or_exit
    from octolang.runtime.status import run_status
    from octolang.runtime.stores import open_reader

    info = find_run_or_exit(program, file, run_dir, run_id or None, allow_outside)
    store = open_reader(info.state_path)
    try:
        status = run_status(program, store)
    finally:
        store.close()
    click.echo(f"colours from run {info.id}", err=True)
    return status
