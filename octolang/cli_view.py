"""`octoc view`: runs in the browser (octolang/view/), live on 127.0.0.1 or written as a
static bundle with `--bundle DIR`. Reads runs only; the one thing it writes is its cache
(`view-cache.sqlite` beside a run's state, or in the temporary folder)."""

from __future__ import annotations

import os
import socket
import sys
from typing import TYPE_CHECKING

import click

from octolang.cli_base import EXIT_ERRORS, allow_outside_option, main, state_url
from octolang.cli_run import _run_dir, runs_root

if TYPE_CHECKING:
    from octolang.view.site import Site

DEFAULT_PORT = 8765


def _site_or_exit(target: str | None, run_dir: str | None, allow_outside: tuple[str, ...]) -> tuple[Site, str]:
    """The Site to show and the path of the first page ('/' or a run's)."""
    from octolang.runtime.runs import STATE_FILE
    from octolang.view.site import Site

    state = state_url()
    if state is not None:  # the runs in PostgreSQL: of FILE when given, else all of them
        pipeline = target if target and target.endswith(".octo") else None
        root = run_dir or runs_root(pipeline or "pipeline.octo", None, allow_outside)
        return Site(root, pipeline, allow_outside, state=state), "/"
    if run_dir is not None:
        return Site(run_dir, target if target and target.endswith(".octo") else None, allow_outside), "/"
    if target is not None and os.path.isfile(target):
        if not target.endswith(".octo"):
            click.echo(f"octoc view: {target} is neither a .octo file nor a folder of runs", err=True)
            sys.exit(EXIT_ERRORS)
        return Site(runs_root(target, None, allow_outside), target, allow_outside), "/"
    folder = os.path.abspath(target or ".")
    if not os.path.isdir(folder):
        click.echo(f"octoc view: no file or folder {target}", err=True)
        sys.exit(EXIT_ERRORS)
    if os.path.isfile(os.path.join(folder, STATE_FILE)):  # one run's folder: its folder of runs, opened at it
        return Site(os.path.dirname(folder), None, allow_outside), f"/run/{os.path.basename(folder)}"
    nested = os.path.join(folder, ".octo", "runs")
    if os.path.isdir(nested):
        return Site(nested, None, allow_outside), "/"
    if any(os.path.isfile(os.path.join(folder, name, STATE_FILE)) for name in os.listdir(folder)):
        return Site(folder, None, allow_outside), "/"
    click.echo(
        f"octoc view: no runs in {folder}: give a .octo file, a run's folder, or a folder of runs "
        "(`.octo/runs` next to a pipeline)",
        err=True,
    )
    sys.exit(EXIT_ERRORS)


@main.command()
@click.argument("target", required=False, metavar="[FILE | RUN_FOLDER]")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="The port on 127.0.0.1; 0: any free port, e.g. --port 9000.",
)
@click.option("--no-browser", is_flag=True, help="Do not open a browser; print the address only.")
@click.option(
    "--bundle",
    type=click.Path(file_okay=False),
    help="Write the pages as static files into this folder (they open from file://) instead of serving them, "
    "e.g. --bundle site/.",
)
@_run_dir
@allow_outside_option
def view(
    target: str | None,
    port: int,
    no_browser: bool,
    bundle: str | None,
    run_dir: str | None,
    allow_outside: tuple[str, ...],
) -> None:
    """Look at runs in the browser: runs, steps, failures, units, reports, comparisons (read-only).
    Example: octoc view examples/qa_eval.octo"""
    site, start = _site_or_exit(target, run_dir, allow_outside)
    if bundle is not None:
        from octolang.view.bundle import write_bundle

        try:
            written = write_bundle(site, bundle)
        except OSError as exc:
            click.echo(f"octoc view: cannot write the bundle in {bundle}: {exc.strerror or exc}", err=True)
            sys.exit(EXIT_ERRORS)
        click.echo(f"wrote {written:,} pages to {bundle}; open {os.path.join(os.path.abspath(bundle), 'index.html')}")
        return
    import uvicorn

    from octolang.view.app import create_app

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as exc:
        click.echo(f"octoc view: cannot listen on 127.0.0.1:{port} ({exc.strerror}); choose another --port", err=True)
        sys.exit(EXIT_ERRORS)
    address = f"http://127.0.0.1:{listener.getsockname()[1]}{start}"
    click.echo(f"octoc view: {address} (read-only; Ctrl-C stops)", err=True)
    if not no_browser:
        import webbrowser

        webbrowser.open(address)
    server = uvicorn.Server(uvicorn.Config(create_app(site, workers_now=True), log_level="warning"))
    server.run(sockets=[listener])
