"""`octoc run`, `tick`, `cancel`: the commands that move runs (reading them: cli_runs.py)."""

from __future__ import annotations

import json
import os
import sys
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn

import click

from octolang.cli_base import (
    EXIT_BUSY,
    EXIT_ERRORS,
    EXIT_OK,
    EXIT_PAUSED,
    EXIT_STATE,
    allow_options,
    allow_outside_option,
    file_access,
    grant_allowance,
    interrupted_exit_code,
    main,
    state_option,
    state_url,
    stop_at_next_signal,
)
from octolang.cli_executor import executor_options, executor_or_exit
from octolang.cli_overrides import overridden_or_exit, override_args, override_options, with_resume_hint


def compile_or_exit(path: str, before: str = "running", allow_outside: tuple[str, ...] = ()) -> Any:
    """FILE's checked program; or its errors on stderr and exit 1 (`before` running, drawing).
    `allow_outside`: places outside FILE's folder its data may come from (`--allow-outside`)."""
    from octolang.compiler import compile_source, read_source
    from octolang.diagnostics import Diagnostic, render_all

    source = read_source(path)
    if isinstance(source, Diagnostic):
        click.echo(render_all([source], {}), err=True)
        sys.exit(EXIT_ERRORS)
    compilation = compile_source(source, file_access(allow_outside))
    errors = [d for d in compilation.diagnostics if d.is_error]
    if errors or compilation.program is None:
        click.echo(render_all(errors, {path: source}), err=True)
        click.echo(f"{path}: {len(errors)} error(s); fix them with `octoc check {path}` before {before}", err=True)
        sys.exit(EXIT_ERRORS)
    return compilation.program


def _budget(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(value.lstrip("$"))
    except InvalidOperation:
        raise click.BadParameter(f"`{value}` is not an amount; write e.g. 20 or $20") from None
    if amount < 0:
        raise click.BadParameter("the budget cannot be negative")
    return amount


def runs_root(path: str, run_dir: str | None, allow_outside: tuple[str, ...] = ()) -> str:
    from octolang.runtime.runs import default_runs_root

    return os.path.abspath(run_dir) if run_dir else _inside_or_exit(default_runs_root(path), path, allow_outside)


def _inside_or_exit(root: str, path: str, allow_outside: tuple[str, ...]) -> str:
    """The default runs root, unless a symlink leads it out of the pipeline's folder (not allowed)."""
    from octolang.paths import runs_root_refusal

    refusal = runs_root_refusal(root, path, file_access(allow_outside))
    if refusal is not None:
        click.echo(f"octoc: {refusal}", err=True)
        sys.exit(EXIT_ERRORS)
    return root


_run_dir_option = click.option(
    "--run-dir",
    type=click.Path(file_okay=False),
    help="Folder of runs (default: .octo/runs next to the pipeline), e.g. --run-dir /data/runs.",
)


def _run_dir(command: Any) -> Any:
    """`--run-dir` and `--state`: where the runs a command finds are kept."""
    return _run_dir_option(state_option(command))


_run_option = click.option(
    "--run", "run_id", help="A run id (default: the latest run of FILE), e.g. --run dice-20261124-210401-5607."
)


def refuse(command: str, exc: Exception) -> NoReturn:
    """Say why a run cannot be opened, and exit with the code that says which kind of why."""
    from octolang.runtime.runlock import RunBusy
    from octolang.runtime.store import StateUnusable

    click.echo(f"octoc{' ' + command if command else ''}: {exc}", err=True)
    sys.exit(EXIT_BUSY if isinstance(exc, RunBusy) else EXIT_STATE if isinstance(exc, StateUnusable) else EXIT_ERRORS)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--fresh", is_flag=True, help="Start a new run instead of resuming the latest one.")
@click.option(
    "--no-reuse",
    is_flag=True,
    help="Take over no earlier run's results and serve no stored answer: send every request.",
)
@click.option("--once", is_flag=True, help="Do one tick and exit (for cron-style use).")
@override_options
@click.option(
    "--mock-invalid-rate",
    type=click.FloatRange(0, 1),
    help="Share of invalid mock answers, e.g. --mock-invalid-rate 0.1.",
)
@click.option(
    "--max-units", type=click.IntRange(min=1), help="Run only the first N units (a sample), e.g. --max-units 20."
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Processes (or cluster tasks) for compute steps (default: chosen by measuring), e.g. --workers 4.",
)
@executor_options
@click.option("--budget", help="Stop submitting once spend would pass this many USD, e.g. --budget 20.")
@click.option("--over-budget", is_flag=True, help="Start even though the cost estimate is above the budget.")
@click.option(
    "--poll", "poll_interval", type=float, default=None, help="Seconds between polls of batches, e.g. --poll 30."
)
@click.option("--json", "as_json", is_flag=True, help="Print the final status and reports as JSON.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Write every request each llm step would send to files (later steps get mock answers); send nothing.",
)
@click.option("--resume-cancelled", is_flag=True, help="Go on with a run that `octoc cancel` stopped.")
@click.option("--wait", is_flag=True, help="When another octoc is running this run, wait for it, then go on.")
@_run_option
@_run_dir
@allow_outside_option
@allow_options
def run(
    file: str,
    fresh: bool,
    once: bool,
    provider: str | None,
    model_overrides: tuple[str, ...],
    mock_invalid_rate: float | None,
    max_units: int | None,
    workers: int | None,
    executor: str | None,
    address: str | None,
    scheduler: str | None,
    budget: str | None,
    over_budget: bool,
    poll_interval: float | None,
    as_json: bool,
    dry_run: bool,
    resume_cancelled: bool,
    wait: bool,
    run_id: str | None,
    run_dir: str | None,
    allow_outside: tuple[str, ...] = (),
    allow_host: tuple[str, ...] = (),
    allow_key_env: tuple[str, ...] = (),
    no_reuse: bool = False,
) -> None:
    """Run FILE to completion (or one tick), resuming its latest run (or --run ID). When FILE
    changed since its latest run, a new run takes over the results of the steps that did not.
    Example: octoc run examples/drunken_sailor.octo"""
    from octolang.runtime.executors import ExecutorUnavailable
    from octolang.runtime.runlock import RunBusy
    from octolang.runtime.runner import RunOptions
    from octolang.runtime.runs import RunRefused
    from octolang.runtime.session import fewer_collections, open_session
    from octolang.runtime.store import StoreError

    grant_allowance(allow_host, allow_key_env)
    program = overridden_or_exit(compile_or_exit(file, allow_outside=allow_outside), file, provider, model_overrides)
    click.get_current_context().call_on_close(fewer_collections())
    root = runs_root(file, run_dir, allow_outside)
    options = RunOptions(
        workers=workers,  # None: chosen by measurement (runtime/compute_stage.py, choose_workers)
        provider="mock" if provider == "mock" else None,
        invalid_rate=mock_invalid_rate,
        budget=_budget(budget),
        max_units=max_units,
        dry_run=dry_run,
        reuse=not no_reuse,
    )
    options.executor = executor_in_use = executor_or_exit(program, executor, address, scheduler, workers)
    if dry_run:
        _dry_run(program, file, options, root)
        return
    # A new run is estimated (and refused above its budget); a resumed run keeps the estimate it started with.
    plan = None if fresh or run_id is not None or no_reuse else _reuse_preview(program, file, root, options)
    resumable = plan is None and (run_id is not None or _resumable(program, file, root, fresh, edited_new_run=True))
    estimate = None if resumable else _estimate_or_refuse(program, options, over_budget, plan)
    try:
        session = open_session(
            program,
            file,
            runs_root=root,
            fresh=fresh,
            options=options,
            run_id=run_id,
            wait=wait,
            keep_sample=once,
            edited="new run",
            state=state_url(),
        )
    except (RunRefused, RunBusy, StoreError) as exc:
        refuse("run", with_resume_hint(exc, provider, model_overrides))
    if estimate is not None and not session.resumed:
        from octolang.runtime.status import record_estimate

        record_estimate(session.store, estimate)
    if resume_cancelled:
        session.runner.resume_cancelled()
    live = sys.stderr.isatty() and not as_json

    def say(text: str) -> None:
        if not as_json:
            click.echo(text, err=True)

    from octolang.runtime.pause import lift_pause

    lifted = lift_pause(session.store)  # the user ran it again: the cause is taken as fixed
    if lifted is not None:
        say(f"the run was paused ({lifted.get('cause')}); going on")

    say(
        f"{'resuming' if session.resumed else 'started'} run {session.info.id} "
        f"(seed {session.info.meta['seed']}) in {session.info.place}"
    )
    for note in session.notes:
        say(note)
    interval = (
        poll_interval if poll_interval is not None else (0.05 if options.provider or _all_mock(program) else 30.0)
    )
    session.runner.options.retry_backoff = max(interval, 0.01)  # a failed request waits a poll, then doubling
    try:
        result = _drive_with_progress(session, program, once=once, interval=interval, live=live, quiet=as_json)
        if session.runner.pending_units() == 0:  # finished: its reports are kept for `octoc report`
            from octolang.runtime.kept_reports import keep

            keep(program, session.store, session.runner.live.result(session.store))
    except StoreError as exc:
        refuse("run", exc)
    except ExecutorUnavailable as exc:
        refuse("run", ExecutorUnavailable(f"{exc}; what was computed is saved, `octoc run {file}` goes on"))
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (interrupts.Terminated)
        stop_at_next_signal()
        again = f"octoc run {file}" + override_args(provider, model_overrides)
        click.echo(f"\ninterrupted; the run is saved. Resume with `{again}`.", err=True)
        sys.exit(interrupted_exit_code(exc))
    finally:
        session.close()
        executor_in_use.close()
    _finish(program, file, session.info, result, as_json=as_json, once=once)


def find_run_or_exit(
    program: Any, file: str, run_dir: str | None, run_id: str | None, allow_outside: tuple[str, ...] = ()
) -> Any:
    """The run a reader reads: run ID, else FILE's latest; or why not, and exit (1, or 6 when
    a run that may be FILE's cannot be read)."""
    pipeline = program.pipeline.name if program.pipeline else None
    return find_pipeline_run_or_exit(pipeline, file, run_dir, run_id, allow_outside)


def find_pipeline_run_or_exit(
    pipeline: str | None, file: str, run_dir: str | None, run_id: str | None, allow_outside: tuple[str, ...] = ()
) -> Any:
    """`find_run_or_exit` knowing only FILE's pipeline name (None when FILE does not parse)."""
    from octolang.runtime.runs import RunRefused, choose_run
    from octolang.runtime.store import StoreError

    try:
        root = runs_root(file, run_dir, allow_outside)
        info = choose_run(root, os.path.abspath(file), pipeline, run_id, state_url())
    except RunRefused as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_ERRORS)
    except StoreError as exc:
        refuse("", exc)
    if info is None:
        click.echo(f"no run of {file} found; start one with `octoc run {file}`", err=True)
        sys.exit(EXIT_ERRORS)
    return info


def _resumable(program: Any, file: str, root: str, fresh: bool, edited_new_run: bool = False) -> bool:
    """FILE has a run to resume (or one that cannot be read, which open_session refuses);
    with `edited_new_run`, not when FILE changed since it (a new run is made then)."""
    from octolang.runtime.runs import RunRefused, choose_run, describe_changes, program_fingerprint
    from octolang.runtime.store import StoreError

    if fresh:
        return False
    try:
        pipeline = program.pipeline.name if program.pipeline else None
        info = choose_run(root, os.path.abspath(file), pipeline, None, state_url())
    except (RunRefused, StoreError):
        return True
    if info is None:
        return False
    # an edited FILE gets a new run (`octoc run`), estimated as one
    return not (edited_new_run and describe_changes(info.meta.get("fingerprint", {}), program_fingerprint(program)))


def _reuse_preview(program: Any, file: str, root: str, options: Any) -> Any:
    """What a new run of the edited FILE takes over from its latest run (None: FILE did not
    change, or it has no run to take over from)."""
    from octolang.runtime.takeover import preview

    return preview(program, file, root, provider=options.provider, max_units=options.max_units)


def _estimate_or_refuse(program: Any, options: Any, allowed: bool, plan: Any = None) -> Any:
    """A new run's cost estimate (with a reuse `plan`, of what it will run only, said with the
    plan); exit before anything is created or sent when it is above the budget (`--budget` or
    the file's), unless `allowed` (`--over-budget`)."""
    from octolang.runtime.budget import estimate_refusal, run_estimate

    estimate = run_estimate(
        program, provider=options.provider, invalid_rate=options.invalid_rate, max_units=options.max_units
    )
    if plan is not None:
        from octolang.runtime.reuse_text import new_spend, plan_text

        estimate = new_spend(estimate, plan)
        click.echo(plan_text(plan, estimate), err=True)
    budget = options.budget if options.budget is not None else program.budget
    refusal = None if estimate is None else estimate_refusal(estimate, budget)
    if refusal and not allowed:
        click.echo(f"octoc run: refused: {refusal}", err=True)
        sys.exit(EXIT_ERRORS)
    return estimate


def _dry_run(program: Any, file: str, options: Any, runs: str) -> None:
    """A throwaway run under `.octo/dry-runs/`: compute steps run, every llm request is
    written as the provider would receive it, and answered by the mock (valid answers) so
    that the steps after it get theirs written too. Nothing is sent."""
    from octolang.runtime.runs import RunRefused
    from octolang.runtime.session import drive, open_session
    from octolang.runtime.store import StoreError

    root = os.path.join(os.path.dirname(runs), "dry-runs")
    try:
        # a dry run's state is a scratch SQLite file to look at and delete, even with --state
        session = open_session(program, file, runs_root=root, fresh=True, options=options)
    except (RunRefused, StoreError) as exc:
        refuse("run", exc)
    try:
        drive(session, once=False, poll_interval=0)
        written = session.runner.providers.written()
    finally:
        session.close()
        if options.executor is not None:
            options.executor.close()
    if not written:
        click.echo("dry run: the pipeline makes no llm requests (nothing would be sent)")
    else:
        total = sum(n for _, n, _ in written)
        click.echo(
            f"dry run: nothing was sent; the run would send {total:,} requests "
            "(after the first llm step, to prompts made of mock answers):"
        )
        for path, count, size in written:
            click.echo(f"  {os.path.relpath(path)}  {count:,} requests, {size:,} bytes")
    click.echo(f"the dry run's state is in {os.path.relpath(session.info.folder)} (delete it when done)")


def _all_mock(program: Any) -> bool:
    return all(
        (program.model(s.model or "") or program.models[0]).provider == "mock" for s in program.steps if s.kind == "llm"
    )


def _drive_with_progress(session: Any, program: Any, *, once: bool, interval: float, live: bool, quiet: bool) -> Any:
    """Drive the run, with a live table on a terminal; the runner's messages (a provider
    down, a chunk resumed) are printed as they come, unless the output is JSON."""
    from octolang.progress import ComputeProgress, status_table
    from octolang.runtime.session import drive
    from octolang.runtime.status import run_status

    def units_left(step: str) -> int | None:
        """The run's pending units that have no output of `step` yet."""
        rows = session.store.query(
            "SELECT COUNT(*) FROM units WHERE status = 'pending' "
            "AND id NOT IN (SELECT unit_id FROM results WHERE step = ?)",
            (step,),
        )
        return int(rows[0][0]) if rows else None

    progress = ComputeProgress(units_left)
    if not live:
        try:
            every = float(os.environ.get("OCTO_PROGRESS_SECONDS", "10"))
        except ValueError:
            every = 10.0

        def said(step: str, done: int, ready: int, seconds: float) -> None:
            progress.update(step, done, ready, seconds)
            if progress.due(every):
                click.echo(progress.line(), err=True)

        def say(result: Any) -> None:
            for message in result.messages if not quiet else []:
                click.echo(message, err=True)

        session.runner.ctx.compute_progress = None if quiet else said
        return drive(session, once=once, poll_interval=interval, on_tick=say)
    from rich.console import Console, Group
    from rich.live import Live
    from rich.text import Text

    console = Console(stderr=True)
    with Live(console=console, refresh_per_second=4, transient=False) as display:

        def show() -> None:
            table = status_table(run_status(program, session.store), f"run {session.info.id}")
            display.update(Group(table, Text(progress.line())) if progress.running else table)

        def on_slice(step: str, done: int, ready: int, seconds: float) -> None:
            progress.update(step, done, ready, seconds)
            show()

        def on_tick(result: Any) -> None:
            for message in result.messages:
                display.console.print(message, markup=False, highlight=False)
            progress.step = ""
            show()

        session.runner.ctx.compute_progress = on_slice
        return drive(session, once=once, poll_interval=interval, on_tick=on_tick)


def _finish(program: Any, file: str, info: Any, result: Any, *, as_json: bool, once: bool) -> None:
    from octolang.progress import status_text
    from octolang.runtime.kept_reports import reports as kept_or_computed
    from octolang.runtime.status import run_status
    from octolang.runtime.stores import open_reader

    store = open_reader(info.state_path)
    try:
        status = run_status(program, store)
        reports = kept_or_computed(program, store)
    finally:
        store.close()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "run": info.id,
                    "status": status.to_json(),
                    "budget_stop": result.budget_stop,
                    "provider_stop": result.provider_stop,
                    "paused": result.paused,
                    "cancelled": result.cancelled,
                    "reports": json.loads(reports[0]),
                },
                indent=2,
            )
        )
    else:
        if not sys.stderr.isatty():
            click.echo(status_text(status, f"run {info.id}"), err=True)
        if result.budget_stop:
            click.echo(f"stopped: {result.budget_stop}", err=True)
        if result.provider_stop:
            click.echo(f"stopped: {result.provider_stop}", err=True)
        if result.paused:
            pause = status.paused or {}
            click.echo(
                f"paused: {result.paused}\n  {pause.get('message', '')}\n"
                f"Nothing failed and nothing is paid twice: once that is fixed, `octoc run {file}` goes on.",
                err=True,
            )
        if result.cancelled:
            click.echo(
                f"cancelled: nothing new was sent; {status.pending} units left pending. "
                f"`octoc run {file} --resume-cancelled` goes on, `--fresh` starts a new run",
                err=True,
            )
        elif status.pending and not once and not (result.budget_stop or result.provider_stop or result.paused):
            click.echo(f"{status.pending} units could not advance; see `octoc status {file}`", err=True)
        if status.pending == 0:
            click.echo(reports[1])
    if result.paused:
        sys.exit(EXIT_PAUSED)
    ok = (status.pending == 0 or once or result.budget_stop or result.cancelled) and not result.provider_stop
    sys.exit(EXIT_OK if ok else EXIT_ERRORS)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_run_option
@_run_dir
@click.option(
    "--timeout",
    type=click.FloatRange(0),
    default=60.0,
    show_default=True,
    help="When another process runs the run: how many seconds to wait for it to cancel, e.g. --timeout 300.",
)
@click.option("--json", "as_json", is_flag=True, help="Say what was cancelled as one JSON object on stdout.")
@allow_outside_option
@allow_options
def cancel(
    file: str,
    run_id: str | None,
    run_dir: str | None,
    timeout: float,
    as_json: bool,
    allow_outside: tuple[str, ...],
    allow_host: tuple[str, ...],
    allow_key_env: tuple[str, ...],
) -> None:
    """Stop FILE's latest run (or --run ID) from spending: ask the providers to cancel every
    batch in flight and send nothing new. What they finished is taken in by `octoc run`.
    When another process is running the run, that process is asked to cancel it, before it
    sends anything more. Example: octoc cancel examples/npc_dialogue.octo"""
    import time

    from octolang.runtime.runlock import RunBusy, cancel_requested, clear_cancel_request, request_cancel
    from octolang.runtime.runner import RunOptions
    from octolang.runtime.runs import STATE_FILE, RunRefused
    from octolang.runtime.session import open_session
    from octolang.runtime.store import StoreError
    from octolang.runtime.stores import open_reader

    grant_allowance(allow_host, allow_key_env)
    program = compile_or_exit(file, before="cancelling", allow_outside=allow_outside)
    root = runs_root(file, run_dir, allow_outside)
    if run_id is None and not _resumable(program, file, root, fresh=False):
        click.echo(f"no run of {file} found; nothing to cancel", err=True)
        sys.exit(EXIT_ERRORS)

    def opened() -> Any:
        return open_session(
            program, file, runs_root=root, fresh=False, options=RunOptions(), run_id=run_id, state=state_url()
        )

    busy: RunBusy | None = None
    try:
        session = opened()
    except RunBusy as exc:
        busy = exc
    except (RunRefused, StoreError) as exc:
        refuse("cancel", exc)
    said: list[str] | None = None
    if busy is not None:  # the live writer cancels, before it sends anything more
        folder, where = busy.folder, busy.state
        request_cancel(folder, where)
        deadline = time.monotonic() + timeout
        while said is None:
            if not cancel_requested(folder, where):  # taken: the writer left what it did in the meta
                reader = open_reader(where or os.path.join(folder, STATE_FILE))
                try:
                    said = list(reader.meta().get("cancel_said") or [])
                finally:
                    reader.close()
                break
            if time.monotonic() >= deadline:
                click.echo(
                    f"octoc cancel: asked the process running this run to cancel it; it has not answered in "
                    f"{timeout:g} s (it acts before it sends anything more). {busy}",
                    err=True,
                )
                sys.exit(EXIT_BUSY)
            try:  # the writer ended without taking the request: cancel here
                session = opened()
            except RunBusy:
                time.sleep(0.1)
                continue
            except (RunRefused, StoreError) as exc:
                refuse("cancel", exc)
            if not cancel_requested(folder, where):  # it took the request, then ended, since we looked
                said = list(session.store.meta().get("cancel_said") or [])
                session.close()
                break
            clear_cancel_request(folder, where)
            break
    relayed = said is not None  # the running process cancelled the run
    run = os.path.basename(busy.folder) if busy is not None else session.info.id
    if said is None:
        try:
            said = session.runner.cancel()
        finally:
            session.close()
    if as_json:
        answer = {"version": 1, "run": run, "cancelled": True, "by_running_process": relayed, "said": said}
        click.echo(json.dumps(answer))
        return
    for line in said:
        click.echo(line, err=True)
    by = " by the process running it" if relayed else ""
    click.echo(
        f"run {run} cancelled{by}: nothing new will be sent. `octoc run {file}` takes in what the "
        f"providers finished; `octoc run {file} --resume-cancelled` goes on with the rest",
        err=True,
    )


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@override_options
@click.option(
    "--mock-invalid-rate",
    type=click.FloatRange(0, 1),
    help="Share of invalid mock answers, e.g. --mock-invalid-rate 0.1.",
)
@click.option("--budget", help="Stop submitting once spend would pass this many USD, e.g. --budget 20.")
@click.option("--json", "as_json", is_flag=True, help="Print the status and reports as JSON.")
@_run_dir
@allow_outside_option
@allow_options
@click.pass_context
def tick(
    ctx: click.Context,
    file: str,
    provider: str | None,
    model_overrides: tuple[str, ...],
    mock_invalid_rate: float | None,
    budget: str | None,
    as_json: bool,
    run_dir: str | None,
    allow_outside: tuple[str, ...],
    allow_host: tuple[str, ...],
    allow_key_env: tuple[str, ...],
) -> None:
    """Do one tick of FILE's latest run (same as `run --once`), e.g. from cron.
    Example: octoc tick examples/npc_dialogue.octo"""
    ctx.invoke(
        run,
        file=file,
        once=True,
        fresh=False,
        provider=provider,
        model_overrides=model_overrides,
        mock_invalid_rate=mock_invalid_rate,
        max_units=None,
        workers=None,
        executor=None,
        address=None,
        scheduler=None,
        budget=budget,
        over_budget=False,
        poll_interval=None,
        as_json=as_json,
        dry_run=False,
        no_reuse=False,
        resume_cancelled=False,
        wait=False,
        run_id=None,
        run_dir=run_dir,
        allow_outside=allow_outside,
        allow_host=allow_host,
        allow_key_env=allow_key_env,
    )
