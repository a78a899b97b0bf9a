"""`octoc check`: parse and check files, print diagnostics, a summary and the cost estimate."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from octolang.cli_base import (
    EXIT_ERRORS,
    EXIT_INTERNAL,
    EXIT_OK,
    allow_options,
    allow_outside_option,
    file_access,
    grant_allowance,
    internal_error,
    main,
)
from octolang.cli_overrides import OverrideError, apply_overrides, override_options


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (see docs/cli.md).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--emit", type=click.Choice(["ir"]), help="Print the checked program as JSON, e.g. --emit ir.")
@click.option(
    "--color",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour the diagnostics: on a terminal only (auto), always or never, e.g. --color never.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print diagnostics only, no summary.")
@click.option(
    "--budget", help="Compare the cost estimate with this many USD (replaces the file's budget), e.g. --budget 5."
)
@click.option("--exact", is_flag=True, help="Count Claude and Gemini tokens on a sample with the providers (keys).")
@override_options
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
    provider: str | None,
    model_overrides: tuple[str, ...],
    allow_outside: tuple[str, ...],
    allow_host: tuple[str, ...],
    allow_key_env: tuple[str, ...],
) -> None:
    """Parse and check FILES; print diagnostics, a summary (with the hosts a run talks to and
    the keys each gets) and, for llm steps, the cost estimate. With --provider or --model,
    of the models as the override makes them. Example: octoc check examples/npc_dialogue.octo"""
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
                path,
                strict=strict,
                colour=colour,
                quiet=quiet,
                emit=emit,
                budget=limit,
                exact=exact,
                access=access,
                overrides=(provider, model_overrides),
            )
        except OverrideError as exc:
            click.echo(f"octoc check: {path}: {exc}", err=True)
            sys.exit(EXIT_ERRORS)
        except Exception as exc:
            internal_error(exc, path)
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
    overrides: tuple[str | None, tuple[str, ...]] = (None, ()),
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
    program = original = compilation.program
    if program is not None:  # the overrides, then what the user's allowance refuses (the environment, not the file)
        from octolang.diagnostics import sort_diagnostics
        from octolang.providers.hosts import Allowance, key_diagnostics

        program, changed = apply_overrides(program, *overrides)
        refused = changed + key_diagnostics(program, Allowance.from_env())
        diagnostics = sort_diagnostics(diagnostics + refused) if refused else diagnostics
    if strict:
        diagnostics = [d.model_copy(update={"severity": Severity.ERROR}) for d in diagnostics]
    errors = sum(1 for d in diagnostics if d.is_error)
    ok = program is not None and errors == 0
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
    # `--provider mock` is the runtime's replacement in `octoc run`: the plan is made as the run makes it
    planned = original if overrides[0] == "mock" and not overrides[1] else program
    reuse_plan, reuse_text = _reuse_section(planned, path, overrides[0]) if ok and planned is not None else (None, None)
    if reuse_plan is not None:
        result["reuse"] = reuse_plan
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
        if reuse_text:
            parts.append(reuse_text)
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


def _reuse_section(program: Any, path: str, provider: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """What a run of the edited file would take over from its latest run, as JSON and text
    (None, None when the file has no run, or did not change since it): the plan `octoc run`
    follows, with the estimate of what it would send."""
    from octolang.runtime.runs import default_runs_root
    from octolang.runtime.takeover import preview

    root = default_runs_root(path)
    if not os.path.isdir(root):
        return None, None
    mock = "mock" if provider == "mock" else None
    plan = preview(program, path, root, provider=mock, max_units=None)
    if plan is None:
        return None, None
    from octolang.runtime.budget import run_estimate
    from octolang.runtime.reuse_text import new_spend, plan_text

    estimate = new_spend(run_estimate(program, provider=mock, invalid_rate=None, max_units=None), plan)
    data = plan.to_json()
    if estimate is not None:
        data["new_spend_usd"] = str(estimate.total)
    return data, "  " + plan_text(plan, estimate)
