"""`octoc retry`: reopen a run's failed units in the same run (runtime/retry.py)."""

from __future__ import annotations

import os
import sys

import click

from octolang.cli_base import EXIT_BUSY, EXIT_ERRORS, allow_outside_option, main
from octolang.cli_run import _run_dir, _run_option


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--step", "step_name", help="Only the units that failed at this step, e.g. --step review.")
@click.option(
    "--reason", help="Only the units whose failure reason contains this text (any case), e.g. --reason timeout."
)
@_run_option
@_run_dir
@allow_outside_option
def retry(
    file: str,
    step_name: str | None,
    reason: str | None,
    run_id: str | None,
    run_dir: str | None,
    allow_outside: tuple[str, ...],
) -> None:
    """Reopen the failed units of FILE's latest run (or --run ID): all of them, or those of
    --step, or those whose reason contains --reason. Every paid answer is kept; `octoc run`
    then sends what they still need. Example: octoc retry examples/npc_dialogue.octo --step review"""
    from octolang.cli_runs import _open_existing
    from octolang.runtime.pg_lease import LeaseHeld
    from octolang.runtime.retry import failure_summary, reopen_failed
    from octolang.runtime.runlock import open_lock, try_lock
    from octolang.runtime.stores import open_writer

    program, info, reader = _open_existing(file, run_dir, run_id, allow_outside)
    reader.close()
    busy = f"octoc retry: another process is writing run {info.id}; retry once it has stopped"
    # retry writes the run: it is a writer like `octoc run` (a PostgreSQL run: its lease, taken by open_existing)
    lock = -1 if info.state else open_lock(info.folder)
    if lock >= 0 and not try_lock(lock, wait=False):
        click.echo(busy, err=True)
        sys.exit(EXIT_BUSY)
    try:
        store = open_writer(info.state_path)
    except LeaseHeld:
        click.echo(busy, err=True)
        sys.exit(EXIT_BUSY)
    try:
        if step_name is not None and program.step(step_name) is None:
            names = ", ".join(f"`{n}`" for n in program.order)
            click.echo(f"octoc retry: {file} has no step `{step_name}` (its steps: {names})", err=True)
            sys.exit(EXIT_ERRORS)
        reopened = reopen_failed(store, program, step=step_name, reason=reason)
        left = failure_summary(store)
    finally:
        store.close()
        if lock >= 0:
            os.close(lock)
    if reopened.units == 0:
        which = " matching" if step_name or reason else ""
        click.echo(f"run {info.id}: no{which} failed units to reopen", err=True)
        for step, why, count in left[:5]:
            click.echo(f"  {count} failed at `{step}`: {why}", err=True)
        sys.exit(EXIT_ERRORS if step_name or reason else 0)
    steps = ", ".join(f"{n} at `{s}`" for s, n in sorted(reopened.by_step.items()))
    click.echo(
        f"run {info.id}: reopened {reopened.units} failed unit{'s' if reopened.units != 1 else ''} ({steps}); "
        f"every paid answer is kept. `octoc run {file}` sends what they still need.",
        err=True,
    )
