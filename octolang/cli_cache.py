"""`octoc cache stats|prune`: the answer store beside the runs (runtime/answers.py)."""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import time

import click

from octolang.cli_base import EXIT_ERRORS, main
from octolang.cli_run import _run_dir

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str) -> float:
    """`90s`, `30m`, `12h`, `7d`, `2w` as seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise click.BadParameter(f"`{text}` is not a duration; write e.g. 30d, 12h, 90m")
    return float(match[1]) * _SECONDS[match[2]]


def _store_path(file: str | None, run_dir: str | None) -> str:
    from octolang.runtime.answers import answers_path
    from octolang.runtime.runs import default_runs_root

    if run_dir:
        return answers_path(os.path.abspath(run_dir))
    if file:
        return answers_path(default_runs_root(file))
    return answers_path(os.path.abspath(os.path.join(".octo", "runs")))


@main.group()
def cache() -> None:
    """The answer store: every answer paid for, served again to the same request.
    Example: octoc cache stats"""


@cache.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@_run_dir
def stats(file: str | None, run_dir: str | None) -> None:
    """How many answers the store beside FILE's runs keeps (default: .octo/ here), and what they cost.
    Example: octoc cache stats examples/npc_dialogue.octo"""
    from octolang.cost.render import money
    from octolang.runtime.answers import AnswerStore

    path = _store_path(file, run_dir)
    if not os.path.isfile(path):
        click.echo(f"no answer store at {path} (made by the first run that gets an answer)")
        return
    try:
        store = AnswerStore(path, read_only=True)
        try:
            figures = store.stats()
        finally:
            store.close()
    except sqlite3.Error as exc:
        click.echo(f"octoc cache: cannot read {path}: {exc}", err=True)
        sys.exit(EXIT_ERRORS)

    def when(stamp: float | None) -> str:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp)) if stamp else "-"

    click.echo(f"answer store {path}")
    click.echo(f"  answers       {figures.answers:,} ({figures.bytes:,} bytes of text)")
    click.echo(f"  paid for      {money(figures.paid)} when they were first sent")
    click.echo(f"  served again  {figures.uses:,} times")
    click.echo(f"  oldest        {when(figures.oldest)}; last used {when(figures.newest)}")


@cache.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--older-than", help="Only answers not used for this long (e.g. 30d, 12h); default: all of them.")
@_run_dir
def prune(file: str | None, older_than: str | None, run_dir: str | None) -> None:
    """Remove answers from the store beside FILE's runs (default: .octo/ here). Runs keep
    their results; only later requests made again are sent again.
    Example: octoc cache prune --older-than 30d"""
    from octolang.runtime.answers import AnswerStore

    seconds = parse_duration(older_than) if older_than is not None else None
    path = _store_path(file, run_dir)
    if not os.path.isfile(path):
        click.echo(f"no answer store at {path}; nothing to remove")
        return
    try:
        store = AnswerStore(path)
        try:
            removed = store.prune(seconds)
            left = store.stats().answers
        finally:
            store.close()
    except sqlite3.Error as exc:
        click.echo(f"octoc cache: cannot prune {path}: {exc}", err=True)
        sys.exit(EXIT_ERRORS)
    scope = f" not used for {older_than}" if older_than else ""
    click.echo(f"removed {removed:,} answers{scope}; {left:,} left in {path}")
