"""Where `octoc run` runs compute steps: `--executor local|ray|dask` with `--address` (Ray)
or `--scheduler` (Dask), over the file's `run { ... }` block (the command line wins).
The executors are octolang/runtime/executors/; docs/scale.md says when to use which."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from typing import Any

import click

from octolang.cli_base import EXIT_ERRORS

_ENGINE_MODULE = {"ray": "ray", "dask": "distributed"}


def executor_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option(
                "--executor",
                type=click.Choice(["local", "ray", "dask"]),
                default=None,
                help="Where compute steps run (default: the file's `run { executor }`, else local processes), "
                "e.g. --executor ray.",
            ),
            click.option(
                "--address",
                default=None,
                help="With --executor ray: the cluster, auto, HOST:PORT or ray://HOST:PORT "
                "(default: a Ray instance started for the run), e.g. --address ray://head:10001.",
            ),
            click.option(
                "--scheduler",
                default=None,
                help="With --executor dask: the scheduler, tcp://HOST:PORT "
                "(default: a local Dask cluster started for the run), e.g. --scheduler tcp://sched:8786.",
            ),
        )
    ):
        command = option(command)
    return command


def executor_or_exit(
    program: Any, executor: str | None, address: str | None, scheduler: str | None, workers: int | None
) -> Any:
    """The run's executor (not yet connected), from the options over the file; or why it
    cannot be had, and exit 1."""
    from octolang.runtime.executors import open_executor

    block = program.run
    name = executor or (block.setting("executor") if block is not None else None) or "local"
    from_file = block is not None and block.setting("executor", "local") == name
    if address is not None and name != "ray":
        raise click.UsageError(f"--address is for --executor ray (this run's executor is {name})")
    if scheduler is not None and name != "dask":
        raise click.UsageError(f"--scheduler is for --executor dask (this run's executor is {name})")
    where = address if name == "ray" else scheduler
    if where is None and from_file:
        where = block.setting("address" if name == "ray" else "scheduler")
    module = _ENGINE_MODULE.get(name)
    if module is not None and importlib.util.find_spec(module) is None:
        click.echo(
            f"octoc run: the {name} executor needs the `{module}` package, which is not installed here; "
            "install it with `pip install 'octolang[scale]'` (docs/scale.md)",
            err=True,
        )
        sys.exit(EXIT_ERRORS)
    return open_executor(name, program, address=where, workers=workers)
