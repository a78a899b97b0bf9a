"""`octoc`: the command line. Heavy modules are imported inside commands (cold start)."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

ISSUES_URL = "https://github.com/octolang/octolang/issues"
EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_PAUSED = 4  # `octoc run`: the run is paused (an account stop, a persistent error); nothing failed
EXIT_BUSY = 5  # another octoc process is writing the run
EXIT_STATE = 6  # the run's state is damaged, gone, or cannot be written


class _Guarded(click.Group):
    """The last line of defence for every command: a state that cannot be used is one line
    and exit 6 (another error of the state's database: exit 1); anything else unexpected is
    a bug, said as one (exit 3), never a Python traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        from octolang.runtime.store import StateUnusable, StoreError
        from octolang.sandbox.limits import SandboxUnavailable

        try:
            return super().invoke(ctx)
        except StoreError as exc:
            click.echo(f"octoc: {exc}", err=True)
            sys.exit(EXIT_STATE if isinstance(exc, StateUnusable) else EXIT_ERRORS)
        except SandboxUnavailable as exc:
            click.echo(f"octoc: compute code is not run without its OS boundary: {exc}", err=True)
            sys.exit(EXIT_ERRORS)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # The reader went away (`octoc inspect ... | head`): stop quietly, as Unix tools do.
            _silence_stdout()
            sys.exit(EXIT_OK)
        except Exception as exc:
            _internal_error(exc, f"`octoc {ctx.invoked_subcommand or ''}`")
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
    help="Let the pipeline read data, and keep its runs, in PATH outside its folder (repeatable).",
)


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
        help="Let a model's `api_key_env` read VAR (also OCTO_ALLOW_KEY_ENV). Repeatable.",
    )(command)
    return click.option(
        "--allow-host",
        "allow_host",
        multiple=True,
        metavar="HOST",
        help="Let keys be sent to HOST or HOST:PORT named by a file's `base_url` (also OCTO_ALLOW_HOST). Repeatable.",
    )(command)


def grant_allowance(hosts: tuple[str, ...], key_envs: tuple[str, ...]) -> None:
    """The flags of `allow_options`, added to this process's allowance; a HOST that is not
    one is a usage error."""
    from octolang.providers.hosts import HostRule, grant

    for host in hosts:
        if HostRule.parse(host) is None:
            raise click.BadParameter(f"`{host}` is not a host; write e.g. 127.0.0.1:8000", param_hint="--allow-host")
    grant(hosts, key_envs)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (see docs/cli.md).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--emit", type=click.Choice(["ir"]), help="Print the checked program as JSON.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto", show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="Print diagnostics only, no summary.")
@click.option("--budget", help="Compare the cost estimate with this many USD (replaces the file's budget).")
@click.option("--exact", is_flag=True, help="Count Claude and Gemini tokens on a sample with the providers (keys).")
@allow_outside_option
@allow_options
def check(
    files: tuple[str, ...],
    as_json: bool,
    strict: bool,
    emit: str | None,
    color: str,
    quiet: bool,
    budget: str | None,
    exact: bool,
    allow_outside: tuple[str, ...],
    allow_host: tuple[str, ...],
    allow_key_env: tuple[str, ...],
) -> None:
    """Parse and check FILES; print diagnostics, a summary (with the hosts a run talks to and
    the keys each gets) and, for llm steps, the cost estimate."""
    from octolang.cli_run import _budget

    grant_allowance(allow_host, allow_key_env)
    limit = _budget(budget)
    access = file_access(allow_outside)
    results: list[dict[str, Any]] = []
    failed = False
    colour = color == "always" or (color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    for path in files:
        try:
            result, text = _check_one(
                path, strict=strict, colour=colour, quiet=quiet, emit=emit, budget=limit, exact=exact, access=access
            )
        except Exception as exc:
            _internal_error(exc, path)
            sys.exit(EXIT_INTERNAL)
        failed = failed or not result["ok"]
        results.append(result)
        if not as_json and text:
            click.echo(text, color=colour or None)
    if as_json:
        click.echo(json.dumps({"version": 1, "ok": not failed, "files": results}, indent=2))
    sys.exit(EXIT_ERRORS if failed else EXIT_OK)


def _check_one(
    path: str,
    *,
    strict: bool,
    colour: bool,
    quiet: bool,
    emit: str | None,
    budget: Any = None,
    exact: bool = False,
    access: Any = None,
) -> tuple[dict[str, Any], str]:
    from octolang.compiler import compile_source, read_source
    from octolang.diagnostics import Diagnostic, Severity, render_all, summary_line
    from octolang.summary import cost_section, summarize, summary_text

    source = read_source(path)
    if isinstance(source, Diagnostic):
        failure: dict[str, Any] = {
            "file": path,
            "ok": False,
            "errors": 1,
            "warnings": 0,
            "diagnostics": [_diagnostic_json(source)],
            "summary": None,
        }
        return failure, render_all([source], {}, colour=colour)
    compilation = compile_source(source, access)
    diagnostics = compilation.diagnostics
    if compilation.program is not None:  # what the user's allowance refuses (the environment, not the file)
        from octolang.diagnostics import sort_diagnostics
        from octolang.providers.hosts import Allowance, key_diagnostics

        refused = key_diagnostics(compilation.program, Allowance.from_env())
        diagnostics = sort_diagnostics(diagnostics + refused) if refused else diagnostics
    if strict:
        diagnostics = [d.model_copy(update={"severity": Severity.ERROR}) for d in diagnostics]
    errors = sum(1 for d in diagnostics if d.is_error)
    ok = compilation.program is not None and errors == 0
    program = compilation.program
    result: dict[str, Any] = {
        "file": path,
        "ok": ok,
        "errors": errors,
        "warnings": len(diagnostics) - errors,
        "diagnostics": [_diagnostic_json(d) for d in diagnostics],
        "summary": summarize(program) if ok and program is not None else None,
    }
    estimate, estimate_text = cost_section(program, budget, exact=exact) if ok and program is not None else (None, None)
    if estimate is not None:
        result["estimate"] = estimate
    if emit == "ir" and program is not None:
        result["ir"] = program.model_dump(mode="json")
    parts = []
    if diagnostics:
        parts.append(render_all(diagnostics, {path: source}, colour=colour))
    if emit == "ir" and program is not None:
        parts.append(program.model_dump_json(indent=2))
    elif not quiet:
        status = "ok" if ok else "failed"
        parts.append(f"{path}: {status} ({summary_line(diagnostics)})")
        if ok and program is not None:
            parts.append(summary_text(program))
        if estimate_text:
            parts.append(estimate_text)
    return result, "\n\n".join(parts) if diagnostics and parts else "\n".join(parts)


def _diagnostic_json(d: Any) -> dict[str, Any]:
    return {
        "severity": d.severity.value,
        "code": d.code,
        "message": d.message,
        "file": d.span.file,
        "line": d.span.line,
        "col": d.span.col,
        "end_line": d.span.end_line,
        "end_col": d.span.end_col,
        "label": d.label,
        "help": d.help,
        "labels": [
            {
                "message": lab.message,
                "line": lab.span.line,
                "col": lab.span.col,
                "end_line": lab.span.end_line,
                "end_col": lab.span.end_col,
            }
            for lab in d.labels
        ],
    }


def _internal_error(exc: BaseException, path: str) -> None:
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


def _register_run_commands() -> None:
    from octolang import cli_graph, cli_lsp, cli_retry, cli_run, cli_runs  # noqa: F401 - register their commands


_register_run_commands()
