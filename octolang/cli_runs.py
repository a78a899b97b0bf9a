"""`octoc status`, `report`, `runs`, `inspect`: the commands that read runs and send nothing."""

from __future__ import annotations

import json
import os
import sys
import time
from decimal import Decimal
from typing import Any

import click

from octolang.cli_base import EXIT_ERRORS, EXIT_USAGE, allow_outside_option, file_access, main, state_url
from octolang.cli_run import (
    _run_dir,
    _run_option,
    compile_or_exit,
    find_pipeline_run_or_exit,
    runs_root,
)


def _cost_lines(program: Any, store: Any) -> str:
    """Estimate against actual, after the report tables (nothing for compute-only pipelines)."""
    from octolang.cost.render import accounting_table
    from octolang.runtime.status import step_accounts

    table = accounting_table(step_accounts(program, store))
    return "\n\n" + table if table else ""


def _open_existing(
    file: str, run_dir: str | None, run_id: str | None, allow_outside: tuple[str, ...], *, from_file: bool = False
) -> tuple[Any, Any, Any]:
    """FILE's latest run (or run ID), opened to read: no lock, nothing written; with the
    run's own copy of its program (runtime/program_copy.py), so that neither FILE's data
    is read again nor an error in FILE stops a reader. `from_file` (`report`): FILE's
    program when FILE changed since the run last ran (an edited report), if it checks."""
    from octolang.compiler import compile_source, read_source
    from octolang.diagnostics import Diagnostic, render_all
    from octolang.runtime.program_copy import program_copy, source_digest
    from octolang.runtime.stores import open_reader
    from octolang.syntax import parse_program

    source = read_source(file)
    if isinstance(source, Diagnostic):
        click.echo(render_all([source], {}), err=True)
        sys.exit(EXIT_ERRORS)
    parsed, _ = parse_program(source)
    pipeline = parsed.pipeline.name if parsed is not None and parsed.pipeline else None
    info = find_pipeline_run_or_exit(pipeline, file, run_dir, run_id, allow_outside)
    store = open_reader(info.state_path)
    copy = program_copy(store)
    if copy is not None and not (from_file and copy.source_digest != source_digest(source.text)):
        return copy.program, info, store
    compilation = compile_source(source, file_access(allow_outside))
    if compilation.ok and compilation.program is not None:
        return compilation.program, info, store
    if copy is not None:
        click.echo(f"{file} has errors (`octoc check {file}`); read with the program run {info.id} last ran", err=True)
        return copy.program, info, store
    store.close()
    return compile_or_exit(file, allow_outside=allow_outside), info, open_reader(info.state_path)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="The reports as JSON (version 1, see docs/cli.md).")
@click.option("--csv", "as_csv", is_flag=True, help="The reports as CSV, one row per group and statistic.")
@_run_option
@_run_dir
@allow_outside_option
def report(
    file: str, as_json: bool, as_csv: bool, run_id: str | None, run_dir: str | None, allow_outside: tuple[str, ...]
) -> None:
    """Print the reports of FILE's latest run (or --run ID).
    Example: octoc report examples/drunken_sailor.octo --csv"""
    if as_json and as_csv:
        click.echo("choose one of --json and --csv", err=True)
        sys.exit(EXIT_USAGE)
    from octolang.progress import retried_lines
    from octolang.runtime.kept_reports import reports as kept_or_computed
    from octolang.runtime.reuse_text import reuse_account
    from octolang.runtime.status import run_status

    program, _, store = _open_existing(file, run_dir, run_id, allow_outside, from_file=True)
    try:
        text_json, table, csv_text = kept_or_computed(program, store)
        costs = _cost_lines(program, store) if not (as_json or as_csv) else ""
        retried = retried_lines(run_status(program, store)) if not (as_json or as_csv) else []
        reused = reuse_account(store).lines() if not (as_json or as_csv) else []
    finally:
        store.close()
    if retried:
        costs += "\n\nretried (requests sent again, and why)\n" + "\n".join(retried)
    if reused:
        costs += "\n\n" + "\n".join(reused)
    click.echo(text_json if as_json else csv_text if as_csv else table + costs, nl=not as_csv)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="The status as JSON (see docs/cli.md).")
@_run_option
@_run_dir
@allow_outside_option
def status(file: str, as_json: bool, run_id: str | None, run_dir: str | None, allow_outside: tuple[str, ...]) -> None:
    """Show how far FILE's latest run (or --run ID) has come.
    Example: octoc status examples/npc_dialogue.octo"""
    from octolang.cost.render import accounting_table
    from octolang.progress import status_text
    from octolang.runtime.reuse_text import reuse_account
    from octolang.runtime.status import run_status, step_accounts

    program, info, store = _open_existing(file, run_dir, run_id, allow_outside)
    try:
        current = run_status(program, store)
        accounts = step_accounts(program, store)
        cancelled = store.meta().get("cancelled_at")
        failures = store.query(
            "SELECT id, failed_step, reason FROM units WHERE status = 'failed' ORDER BY ordinal LIMIT 10"
        )
        reused = reuse_account(store)
    finally:
        store.close()
    if as_json:
        cost = {"cost": [a.to_json() for a in accounts]} if accounts else {}
        shown = {"run": info.id, **current.to_json(), "cancelled_at": cancelled, **cost, "reuse": reused.to_json()}
        click.echo(json.dumps(shown, indent=2))
        return
    click.echo(status_text(current, f"run {info.id} of {file}"))
    if cancelled is not None:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(cancelled))
        click.echo(f"  cancelled at {when}: nothing new is sent (`octoc run {file} --resume-cancelled` goes on)")
    if accounts:
        click.echo(accounting_table(accounts))
    for line in reused.lines():  # what was not paid in this run, and what it cost when it was
        click.echo(f"  {line}")
    for uid, step, reason in failures:
        click.echo(f"  failed {uid} at {step or '?'}: {reason}")
    if current.failed > len(failures):
        click.echo(f"  ... and {current.failed - len(failures)} more; `octoc inspect {file} UNIT` tells one story")


@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object with a list of runs (see docs/cli.md).")
@_run_dir
@allow_outside_option
def runs(file: str | None, as_json: bool, run_dir: str | None, allow_outside: tuple[str, ...]) -> None:
    """List the runs of FILE; without FILE, every run in the current folder's .octo/runs and
    in the .octo/runs of every folder below it (or in --run-dir). Example: octoc runs"""
    roots = [runs_root(file or "pipeline.octo", run_dir, allow_outside)]
    if file is None and run_dir is None and state_url() is None:  # runs in PostgreSQL are listed once
        roots += _roots_below(os.getcwd(), roots[0], allow_outside)
    found = [row for root in roots for row in _run_rows(root, file)]
    if as_json:
        click.echo(json.dumps({"version": 1, "roots": roots, "runs": found}, indent=2))
        return
    if not found:
        click.echo(f"no runs under {roots[0]}" + (f" or {len(roots) - 1} folder(s) below" if len(roots) > 1 else ""))
        return
    click.echo(
        f"{'run':<40} {'started (UTC)':<20} {'state':<10} {'done':>7} {'failed':>7} {'spend':>10} {'duration':>9}  file"
    )
    for row in found:
        if row["state"] == "damaged":
            dash = "-"
            click.echo(
                f"{row['id']:<40} {dash:<20} {'damaged':<10} {dash:>7} {dash:>7} {dash:>10} {dash:>9}  {row['damaged']}"
            )
            continue
        started = row["started_at"].replace("T", " ").removesuffix("Z")
        click.echo(
            f"{row['id']:<40} {started:<20} {row['state']:<10} {row['done']:>7,} {row['failed']:>7,} "
            f"{'$' + row['spend']:>10} {_duration(row['duration_seconds']):>9}  {row['file']}"
        )


# Folders never searched for runs: version control, environments, dependencies, caches.
_NOT_SEARCHED = frozenset({"node_modules", "__pycache__", "site-packages", "venv", "env"})
MAX_SEARCH_DEPTH = 8


def _roots_below(top: str, own: str, allow_outside: tuple[str, ...]) -> list[str]:
    """The `.octo/runs` folders of the folders below `top` (not in hidden folders,
    virtual environments or dependencies; at most MAX_SEARCH_DEPTH levels down), sorted."""
    from octolang.paths import runs_root_refusal

    access = file_access(allow_outside)
    roots = []
    for folder, subfolders, _ in os.walk(top):
        depth = os.path.relpath(folder, top).count(os.sep) + (folder != top)
        subfolders[:] = sorted(
            s
            for s in subfolders
            if not s.startswith(".")
            and s not in _NOT_SEARCHED
            and depth < MAX_SEARCH_DEPTH
            and not os.path.isfile(os.path.join(folder, s, "pyvenv.cfg"))
        )
        candidate = os.path.join(folder, ".octo", "runs")
        if folder == top or not os.path.isdir(candidate) or os.path.abspath(candidate) == own:
            continue
        if runs_root_refusal(candidate, os.path.join(folder, "pipeline.octo"), access) is None:
            roots.append(os.path.abspath(candidate))
    return roots


def _run_rows(root: str, file: str | None) -> list[dict[str, Any]]:
    """Each run under `root` as `octoc runs --json` shows it."""
    from octolang.runtime.runlock import run_state
    from octolang.runtime.runs import list_runs
    from octolang.runtime.store import StoreError
    from octolang.runtime.stores import open_reader

    rows: list[dict[str, Any]] = []
    for info in list_runs(root, file, damaged=True, state=state_url()):
        try:
            if info.damaged:
                raise StoreError(info.damaged)
            store = open_reader(info.state_path)
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
            rows.append({"id": info.id, "root": root, "state": "damaged", "damaged": str(exc)})
            continue
        created = float(meta.get("created_at", 0))
        rows.append(
            {
                "id": info.id,
                "root": root,
                "pipeline": meta.get("pipeline"),
                "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created)),
                "state": run_state(meta, counts),
                "done": counts.get("done", 0),
                "failed": counts.get("failed", 0),
                "skipped": counts.get("skipped", 0),
                "pending": counts.get("pending", 0),
                "spend": format(spend, ".4f"),
                "duration_seconds": max(0.0, float(meta.get("updated_at", created)) - created),
                "file": _where(meta, root),
            }
        )
    return rows


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


def _known_step_or_exit(program: Any, step: str) -> None:
    """`inspect --step` names a step of the file, or exits 1 with the nearest."""
    from octolang.diagnostics import did_you_mean

    names = [s.name for s in program.steps]
    if step not in names:
        hint = did_you_mean(step, names) or f"the steps are {', '.join(f'`{n}`' for n in names)}"
        click.echo(f"no step `{step}` in this pipeline; {hint}", err=True)
        sys.exit(EXIT_ERRORS)


# Unit ids compared for a did-you-mean, at most (each a few microseconds).
_UNITS_COMPARED = 20_000


def _similar_units(store: Any, unit: str) -> str:
    """'; similar: ...' for the first ids that contain `unit`, else '; did you mean `x`?' for
    the id nearest to it (a misspelt id), else ''."""
    import difflib

    near = [r[0] for r in store.query("SELECT id FROM units WHERE id LIKE ? ORDER BY ordinal LIMIT 5", (f"%{unit}%",))]
    if near:
        return f"; similar: {', '.join(near)}"
    # the ids sharing a whole part with it (`trial=17` of `strategy=basc/trial=17`), else the first ones
    ids: set[str] = set()
    for part in {p for p in unit.split("/") if p}:
        query = "SELECT id FROM units WHERE id LIKE ? LIMIT ?"
        ids.update(r[0] for r in store.query(query, (f"%{part}%", _UNITS_COMPARED)))
    if not ids:
        ids.update(r[0] for r in store.query("SELECT id FROM units ORDER BY ordinal LIMIT ?", (_UNITS_COMPARED,)))
    close = difflib.get_close_matches(unit, sorted(ids), n=1, cutoff=0.75)
    return f"; did you mean `{close[0]}`?" if close else ""


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("unit")
@click.option("--step", help="Only this step's attempts, e.g. --step review.")
@click.option("--json", "as_json", is_flag=True, help="The story as one JSON object (see docs/cli.md).")
@_run_option
@_run_dir
@allow_outside_option
def inspect(
    file: str,
    unit: str,
    step: str | None,
    as_json: bool,
    run_id: str | None,
    run_dir: str | None,
    allow_outside: tuple[str, ...],
) -> None:
    """Tell one unit's story: fields, each attempt's prompt, raw answer, verdict (and, for an
    answer this run did not pay for, where it came from).
    Example: octoc inspect examples/npc_dialogue.octo name=Tam"""
    from octolang.runtime.reuse_text import unit_reuse

    program, info, store = _open_existing(file, run_dir, run_id, allow_outside)
    try:
        if step is not None:
            _known_step_or_exit(program, step)
        rows = store.query(
            "SELECT id, fields, status, reason FROM units WHERE id = ? OR CAST(ordinal AS TEXT) = ?", (unit, unit)
        )
        if not rows:
            click.echo(f"no unit `{unit}` in this run{_similar_units(store, unit)}", err=True)
            sys.exit(EXIT_ERRORS)
        uid, fields, state, reason = rows[0]
        if as_json:
            click.echo(json.dumps({"version": 1, "run": info.id, **_story(store, rows[0], step)}, indent=2))
            return
        click.echo(f"unit {uid}: {state}" + (f" ({reason})" if reason else ""))
        click.echo(f"  fields: {fields}")
        for name, output in store.query("SELECT step, output FROM results WHERE unit_id = ?", (uid,)):
            if step is None or step == name:
                click.echo(f"  {name} -> {output}")
        query = (
            "SELECT step, attempt, status, request, response, output, problems, feedback, cost "
            "FROM attempts WHERE unit_id = ?" + (" AND step = ?" if step else "") + " ORDER BY created_at, attempt"
        )
        reused = unit_reuse(store, uid)
        for name, attempt, a_status, request, response, output, problems, feedback, cost in store.query(
            query, (uid, step) if step else (uid,)
        ):
            body = json.loads(request)
            source, from_run = reused.get((name, int(attempt)), (None, None))
            origin = {"run": "taken over", "checked": "checked again", "answers": "from the answer store"}
            came = f", {origin.get(source, source)}" + (f" from run {from_run}" if from_run else "") if source else ""
            click.echo(f"\n--- {name}, attempt {attempt}: {a_status}" + (f", ${cost}" if cost else "") + came)
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


def _story(store: Any, row: tuple[Any, ...], step: str | None) -> dict[str, Any]:
    """`octoc inspect --json`: what the text shows, each stored JSON text decoded."""

    def decoded(text: str | None) -> Any:
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text

    uid, fields, state, reason = row
    outputs = {
        name: decoded(output)
        for name, output in store.query("SELECT step, output FROM results WHERE unit_id = ?", (uid,))
        if step is None or step == name
    }
    query = (
        "SELECT step, attempt, status, request, response, output, problems, feedback, cost "
        "FROM attempts WHERE unit_id = ?" + (" AND step = ?" if step else "") + " ORDER BY created_at, attempt"
    )
    attempts = []
    for name, attempt, a_status, request, response, output, problems, feedback, cost in store.query(
        query, (uid, step) if step else (uid,)
    ):
        body = decoded(request) or {}
        attempts.append(
            {
                "step": name,
                "attempt": attempt,
                "status": a_status,
                "cost": str(cost) if cost is not None else None,
                "feedback": feedback or None,
                "system": body.get("system") if isinstance(body, dict) else None,
                "prompt": body.get("prompt") if isinstance(body, dict) else None,
                "response": response,
                "output": decoded(output),
                "problems": decoded(problems),
            }
        )
    return {
        "unit": uid,
        "status": state,
        "reason": reason,
        "fields": decoded(fields),
        "outputs": outputs,
        "attempts": attempts,
    }
