"""What a page needs that takes a pass over every unit, result or request of a run (its
counts, a filter's count, the search index, the reports, the outputs two runs differ
in): done once per state of the run and kept (`Site.kept`).

Live (`Site.background`), it is done in a pool of two worker processes, so that the
server's own work never waits on a long computation, nor on Python's GIL while one runs
(reports evaluate expressions over every unit in Python): a page waits WAIT seconds for
it, then says it is working and reloads itself. A bundle does it at once. A task is a
function here, called by name with the run and plain arguments, in a worker process
(which opens the run and compiles its pipeline itself) or in this one."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from octolang.view import compare, queries, search
from octolang.view.site import Run, Site, state_version

WAIT = 0.1  # seconds a page waits for what it started before saying it is working on it
WORKERS = 2

Task = Callable[..., Any]
TASKS: dict[str, Task] = {}


def task(function: Task) -> Task:
    TASKS[function.__name__] = function
    return function


@task
def summary(site: Site, run: Run) -> queries.Summary:
    store = site.reader(run)
    try:
        return queries.summary(site.program(run), store)
    finally:
        store.close()


@task
def count(site: Site, run: Run, params: dict[str, str]) -> int:
    store = site.reader(run)
    try:
        return queries.count_units(store, queries.UnitFilter(**params))
    finally:
        store.close()


@task
def search_index(site: Site, run: Run, version: str) -> str:
    """Bring the run's search index up to date; the path of the cache database holding it."""
    store, cache = site.reader(run), site.cache(run)
    try:
        search.ensure_index(cache, store, version)
        return str(cache.execute("PRAGMA database_list").fetchall()[0][2])
    finally:
        cache.close()
        store.close()


@task
def reports(site: Site, run: Run, version: str) -> dict[str, Any]:
    from octolang.view.reporting import reports as compute

    program = site.program(run)
    if program is None:
        return {}
    store, cache = site.reader(run), site.cache(run)
    try:
        return compute(program, store, cache, version)
    finally:
        cache.close()
        store.close()


@task
def differing(
    site: Site, run: Run, other_state: str, other_version: str, page: int
) -> tuple[list[compare.DifferingOutput], bool]:
    """`other_version` only keys the value: it changes when the other run moves on."""
    store = site.reader(run)
    try:
        return compare.differing_outputs(store, other_state, page)
    finally:
        store.close()


_pools: dict[int, ProcessPoolExecutor] = {}
_working: dict[tuple[str, str, str], tuple[Site, Future[Any]]] = {}
_lock = threading.RLock()


def _pool(site: Site) -> ProcessPoolExecutor:
    with _lock:
        if id(site) not in _pools:
            # spawn: a clean interpreter, whatever threads the server runs
            context = multiprocessing.get_context("spawn")
            _pools[id(site)] = ProcessPoolExecutor(max_workers=WORKERS, mp_context=context)
        return _pools[id(site)]


def start_workers(site: Site) -> None:
    """Start the worker processes now (an interpreter each), not on the first page."""
    for future in [_pool(site).submit(os.getpid) for _ in range(WORKERS)]:
        future.result()


def stop_workers(site: Site) -> None:
    with _lock:
        pool = _pools.pop(id(site), None)
        for key, (owner, _) in list(_working.items()):
            if owner is site:
                del _working[key]
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def kept(site: Site, run: Run, name: str, *args: Any, wait: float = WAIT) -> Any:
    """The value of task `name` for `run` (with `args`): kept, else computed (live: in a
    worker, waited for `wait` seconds; None when it is not there yet)."""
    label = " ".join([name, *map(repr, args)])
    if not site.background:
        return site.kept(run, label, lambda: TASKS[name](site, run, *args))
    key = (run.info.folder, label, state_version(run))
    found = site.known(key)
    if found is not None:
        return found[0]
    with _lock:
        _harvest()
        found = site.known(key)  # harvested just now
        if found is not None:
            return found[0]
        if key not in _working:
            submitted = _pool(site).submit(
                _in_worker, (site.root, site.pipeline_file, site.allow_outside, site.state), run.id, name, args
            )
            _working[key] = (site, submitted)
        working = _working[key][1]
    try:
        value = working.result(timeout=wait)
    except TimeoutError:
        return None
    finally:
        if working.done():
            with _lock:
                _working.pop(key, None)
    site.keep(key, value)  # an error in the task was raised above: the next request tries again
    return value


def _harvest() -> None:
    """Keep what the workers finished that no request has collected yet (a page left
    before its reports were there); forget what failed (asked again, it is tried again)."""
    for key, (site, future) in list(_working.items()):
        if future.done():
            del _working[key]
            if future.exception() is None:
                site.keep(key, future.result())


_sites: dict[tuple[str, str | None, tuple[str, ...], str | None], Site] = {}


def _in_worker(
    key: tuple[str, str | None, tuple[str, ...], str | None], run_id: str, name: str, args: tuple[Any, ...]
) -> Any:
    """A task in a worker process: its own Site (programs compiled once per worker); `key`
    is the server's Site's root, pipeline file, allowed folders and PostgreSQL state."""
    if key not in _sites:
        _sites[key] = Site(*key)
    site = _sites[key]
    run = site.run(run_id)
    if run is None:
        raise LookupError(f"no run {run_id} under {site.root}")
    return TASKS[name](site, run, *args)
