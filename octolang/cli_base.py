"""The `octoc` command group every command hangs on: its exit codes, the guard that turns
anything unexpected into one line instead of a traceback, and the options several
commands share. The commands live in the cli_*.py modules; cli.py gathers them."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import click

from octolang import interrupts

ISSUES_URL = "https://github.com/octolang/octolang/issues"
EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_PAUSED = 4  # `octoc run`: the run is paused (an account stop, a persistent error); nothing failed
EXIT_BUSY = 5  # another octoc process is writing the run
EXIT_STATE = 6  # the run's state is damaged, gone, or cannot be written
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # Ctrl-C, SIGTERM: the shells' 128 + signal number


def interrupted_exit_code(exc: KeyboardInterrupt) -> int:
    return EXIT_TERMINATED if isinstance(exc, interrupts.Terminated) else EXIT_INTERRUPTED


def stop_at_next_signal() -> None:
    """After the first Ctrl-C or SIGTERM, while what is done is being saved: a second one
    exits at once."""
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(EXIT_INTERRUPTED))
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(EXIT_TERMINATED))


class _Guarded(click.Group):
    """The last line of defence for every command: a state that cannot be used is one line
    and exit 6 (another error of the state's database: exit 1); anything else unexpected is
    a bug, said as one (exit 3), never a Python traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from octolang.runtime.store import StateUnusable, StoreError
        from octolang.sandbox.limits import SandboxUnavailable

        interrupts.install()
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:  # a command with something to save says so itself first
            stop_at_next_signal()
            click.echo("\ninterrupted", err=True)
            sys.exit(interrupted_exit_code(exc))
        except StoreError as exc:
            click.echo(f"octoc: {exc}", err=True)
            sys.exit(EXIT_STATE if isinstance(exc, StateUnusable) else EXIT_ERRORS)
        except SandboxUnavailable as exc:
            click.echo(f"octoc: compute code is not run without its OS boundary: {exc}", err=True)
            sys.exit(EXIT_ERRORS)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`octoc inspect ... | head`): stop quietly, as Unix tools do.
            _silence_stdout()
            sys.exit(EXIT_OK)
        except Exception as exc:
            internal_error(exc, f"`octoc {ctx.invoked_subcommand or ''}`")
            sys.exit(EXIT_INTERNAL)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush raises nothing."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


allow_outside_option = click.option(
    "--allow-outside",
    "allow_outside",
    multiple=True,
    metavar="PATH",
    type=click.Path(exists=True),
    help="Let the pipeline read data, and keep its runs, in PATH outside its folder (repeatable), e.g. "
    "--allow-outside ~/datasets.",
)


def _keep_state(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from octolang.runtime.store import is_postgres

    value = value or None
    if value is not None and not is_postgres(value):
        raise click.BadParameter(
            f"`{value}` is not a PostgreSQL URL; write postgresql://USER@HOST:PORT/DATABASE "
            "(without --state, runs are kept in SQLite under the runs folder)",
            param_hint="--state",
        )
    ctx.meta["octo_state"] = value
    return value


state_option = click.option(
    "--state",
    envvar="OCTO_STATE",
    metavar="URL",
    expose_value=False,
    callback=_keep_state,
    help=(
        "Keep runs in this PostgreSQL database (also OCTO_STATE) instead of SQLite files, "
        "e.g. --state postgresql://octo@db:5432/runs."
    ),
)


def state_url() -> str | None:
    """The PostgreSQL database runs are kept in (`--state`, OCTO_STATE), or None: SQLite."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get("octo_state") if ctx is not None else None


def file_access(allow_outside: tuple[str, ...]) -> Any:
    """The `FileAccess` the user gives (`--allow-outside`, OCTO_ALLOW_OUTSIDE, OCTO_MAX_DATA_MB)."""
    from octolang import paths

    try:
        return paths.file_access(allow_outside)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@click.group(cls=_Guarded, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="octolang", prog_name="octoc")
def main() -> None:
    """octoc: check, draw and run .octo pipelines."""


def allow_options(command: Any) -> Any:
    """`--allow-host` and `--allow-key-env`: where the user lets a file's models send keys."""
    command = click.option(
        "--allow-key-env",
        "allow_key_env",
        multiple=True,
        metavar="VAR",
        help="Let a model's `api_key_env` read VAR (also OCTO_ALLOW_KEY_ENV). Repeatable, "
        "e.g. --allow-key-env MY_PROXY_KEY.",
    )(command)
    return click.option(
        "--allow-host",
        "allow_host",
        multiple=True,
        metavar="HOST",
        help="Let keys be sent to HOST or HOST:PORT named by a file's `base_url` (also OCTO_ALLOW_HOST). Repeatable, "
        "e.g. --allow-host 127.0.0.1:8000.",
    )(command)


def grant_allowance(hosts: tuple[str, ...], key_envs: tuple[str, ...]) -> None:
    """The flags of `allow_options`, added to this process's allowance; a HOST that is not
    one, or a key variable that is not a variable name, is a usage error (in the flags and in
    OCTO_ALLOW_HOST / OCTO_ALLOW_KEY_ENV alike: an entry that would be ignored is never silent)."""
    import re

    from octolang.providers.hosts import ALLOW_HOST_VAR, ALLOW_KEY_ENV_VAR, HostRule, grant, words

    for host in hosts:
        if HostRule.parse(host) is None:
            raise click.BadParameter(f"`{host}` is not a host; write e.g. 127.0.0.1:8000", param_hint="--allow-host")
    for var in key_envs:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            raise click.BadParameter(
                f"`{var}` is not an environment variable name; write e.g. MY_PROXY_KEY", param_hint="--allow-key-env"
            )
    for host in words(os.environ.get(ALLOW_HOST_VAR, "")):
        if HostRule.parse(host) is None:
            raise click.UsageError(f"{ALLOW_HOST_VAR}: `{host}` is not a host; write e.g. 127.0.0.1:8000")
    for var in words(os.environ.get(ALLOW_KEY_ENV_VAR, "")):
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", var):
            raise click.UsageError(f"{ALLOW_KEY_ENV_VAR}: `{var}` is not an environment variable name")
    grant(hosts, key_envs)


def internal_error(exc: BaseException, path: str) -> None:
    import traceback

    where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    location = f" at {os.path.basename(where.filename)}:{where.lineno}" if where else ""
    click.echo(
        f"internal error: octoc failed on {path} ({type(exc).__name__}: {exc}{location}).\n"
        f"This is a bug in octoc, not in your file. Please report it at {ISSUES_URL} "
        "with the file attached; set OCTO_DEBUG=1 for the full trace.",
        err=True,
    )
    if os.environ.get("OCTO_DEBUG"):
        traceback.print_exception(exc)
