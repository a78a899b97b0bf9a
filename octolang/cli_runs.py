"""`octoc status`, `report`, `runs`, `inspect`: the commands that read runs and send nothing."""

from __future__ import annotations

import json
import sys
import time
from decimal import Decimal
from typing import Any

import click

from octolang.cli_base import EXIT_ERRORS, EXIT_USAGE, allow_outside_option, main, state_url
from octolang.cli_run import _run_dir, _run_option, compile_or_exit, find_run_or_exit, runs_root


def _cost_lines(program: Any, store: Any) -> str:
    """Estimate against actual, after the report tables (nothing for compute-only pipelines)."""
    from octolang.cost.render import accounting_table
    from octolang.runtime.status import step_accounts

    table = accounting_table(step_accounts(program, store))
    return "\n\n" + table if table else ""


def _open_existing(
    file: str, run_dir: str | None, run_id: str | None, allow_outside: tuple[str, ...]
) -> tuple[Any, Any, Any]:
    """FILE's latest run (or run ID), opened to read: no lock, nothing written."""
    from octolang.runtime.store import RunStore

    program = compile_or_exit(file, allow_outside=allow_outside)
    info = find_run_or_exit(program, file, run_dir, run_id, allow_outside)
    return program, info, RunStore.reader(info.state_path)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.option("--csv", "as_csv", is_flag=True)
@_run_option
@_run_dir
@allow_outside_option
def report(
    file: str, as_json: bool, as_csv: bool, run_id: str | None, run_dir: str | None, allow_outside: tuple[str, ...]
) -> None:
    """Print the reports of FILE's latest run (or --run ID)."""
    if as_json and as_csv:
        click.echo("choose one of --json and --csv", err=True)
        sys.exit(EXIT_USAGE)
    from octolang.progress import retried_lines
    from octolang.runtime.kept_reports import reports as kept_or_computed
    from octolang.runtime.status import run_status

    program, _, store = _open_existing(file, run_dir, run_id, allow_outside)
    try:
        text_json, table, csv_text = kept_or_computed(program, store)
        costs = _cost_lines(program, store) if not (as_json or as_csv) else ""
        retried = retried_lines(run_status(program, store)) if not (as_json or as_csv) else []
    finally:
        store.close()
    if retried:
        costs += "\n\nretried (requests sent again, and why)\n" + "\n".join(retried)
    click.echo(text_json if as_json else csv_text if as_csv else table + costs, nl=not as_csv)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@_run_option
@_run_dir
@allow_outside_option
def status(file: str, as_json: bool, run_id: str | None, run_dir: str | None, allow_outside: tuple[str, ...]) -> None:
    """Show how far FILE's latest run (or --run ID) has come."""
    from octolang.cost.render import accounting_table
    from octolang.progress import status_text
    from octolang.runtime.status import run_status, step_accounts

    program, info, store = _open_existing(file, run_dir, run_id, allow_outside)
    try:
        current = run_status(program, store)
        accounts = step_accounts(program, store)
        cancelled = store.meta().get("cancelled_at")
        failures = store.query(
            "SELECT id, failed_step, reason FROM units WHERE status = 'failed' ORDER BY ordinal LIMIT 10"
        )
    finally:
        store.close()
    if as_json:
        cost = {"cost": [a.to_json() for a in accounts]} if accounts else {}
        click.echo(json.dumps({"run": info.id, **current.to_json(), "cancelled_at": cancelled, **cost}, indent=2))
        return
    click.echo(status_text(current, f"run {info.id} of {file}"))
    if cancelled is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(cancelled))
        click.echo(f"  cancelled at {when}: nothing new is sent (`octoc run {file} --resume-cancelled` goes on)")
    if accounts:
        click.echo(accounting_table(accounts))
    for uid, step, reason in failures:
        click.echo(f"  failed {uid} at {step or '?'}: {reason}")
    if current.failed > len(failures):
        click.echo(f"  ... and {current.failed - len(failures)} more; `octoc inspect {file} UNIT` tells one story")


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@_run_dir
@allow_outside_option
def runs(file: str | None, run_dir: str | None, allow_outside: tuple[str, ...]) -> None:
    """List the runs of FILE (or of every pipeline in the runs folder)."""
    from octolang.runtime.runlock import run_state
    from octolang.runtime.runs import list_runs
    from octolang.runtime.store import RunStore, StoreError

    root = runs_root(file or "pipeline.octo", run_dir, allow_outside)
    found = list_runs(root, file, damaged=True, state=state_url())
    if not found:
        click.echo(f"no runs under {root}")
        return
    click.echo(
        f"{'run':<40} {'started (UTC)':<20} {'state':<10} {'done':>7} {'failed':>7} {'spend':>10} {'duration':>9}  file"
    )
    import time

    for info in found:
        try:
            if info.damaged:
                raise StoreError(info.damaged)
            store = RunStore.reader(info.state_path)
            try:
                counts = dict(store.query("SELECT status, COUNT(*) FROM units GROUP BY status"))
                spend = sum(
                    (Decimal(c) for (c,) in store.query("SELECT cost FROM attempts WHERE cost IS NOT NULL")),
                    Decimal(0),
                )
                meta = store.meta()
            finally:
                store.close()
        except StoreError as exc:
            click.echo(f"{info.id:<40} {'-':<20} {'damaged':<10} {'-':>7} {'-':>7} {'-':>10} {'-':>9}  {exc}")
            continue
        state = run_state(meta, counts)
        created = float(meta.get("created_at", 0))
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(created))
        duration = _duration(float(meta.get("updated_at", created)) - created)
        click.echo(
            f"{info.id:<40} {started:<20} {state:<10} {counts.get('done', 0):>7,} "
            f"{counts.get('failed', 0):>7,} {'$' + format(spend, '.4f'):>10} {duration:>9}  {_where(meta, root)}"
        )


def _where(meta: dict[str, Any], root: str) -> str:
    """The pipeline file of a run, where it is now (found from the folder of runs)."""
    import os

    if "file_from_root" in meta:
        return os.path.normpath(os.path.join(root, str(meta["file_from_root"])))
    return str(meta.get("file"))


def _duration(seconds: float) -> str:
    """Wall time from the run's start to its last tick."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("unit")
@click.option("--step", help="Only this step's attempts.")
@_run_option
@_run_dir
@allow_outside_option
def inspect(
    file: str, unit: str, step: str | None, run_id: str | None, run_dir: str | None, allow_outside: tuple[str, ...]
) -> None:
    """Tell one unit's story: fields, each attempt's prompt, raw answer, verdict."""
    _, _, store = _open_existing(file, run_dir, run_id, allow_outside)
    try:
        rows = store.query(
            "SELECT id, fields, status, reason FROM units WHERE id = ? OR CAST(ordinal AS TEXT) = ?", (unit, unit)
        )
        if not rows:
            near = [
                r[0]
                for r in store.query("SELECT id FROM units WHERE id LIKE ? ORDER BY ordinal LIMIT 5", (f"%{unit}%",))
            ]
            click.echo(f"no unit `{unit}` in this run" + (f"; similar: {', '.join(near)}" if near else ""), err=True)
            sys.exit(EXIT_ERRORS)
        uid, fields, state, reason = rows[0]
        click.echo(f"unit {uid}: {state}" + (f" ({reason})" if reason else ""))
        click.echo(f"  fields: {fields}")
        for name, output in store.query("SELECT step, output FROM results WHERE unit_id = ?", (uid,)):
            if step is None or step == name:
                click.echo(f"  {name} -> {output}")
        query = (
            "SELECT step, attempt, status, request, response, output, problems, feedback, cost "
            "FROM attempts WHERE unit_id = ?" + (" AND step = ?" if step else "") + " ORDER BY created_at, attempt"
        )
        for name, attempt, a_status, request, response, output, problems, feedback, cost in store.query(
            query, (uid, step) if step else (uid,)
        ):
            body = json.loads(request)
            click.echo(f"\n--- {name}, attempt {attempt}: {a_status}" + (f", ${cost}" if cost else ""))
            if feedback:
                click.echo(f"feedback given: {feedback}")
            if body.get("system"):
                click.echo(f"[system]\n{body['system']}")
            click.echo(f"[prompt]\n{body.get('prompt', '')}")
            if response:
                click.echo(f"[raw response]\n{response}")
            if output:
                click.echo(f"[parsed output]\n{output}")
            if problems:
                details = json.loads(problems)
                click.echo("[why it failed]\n" + "\n".join(details.get("problems", []) or [details.get("error", "")]))
    finally:
        store.close()
