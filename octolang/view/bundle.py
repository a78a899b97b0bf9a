"""`octoc view --bundle DIR`: the viewer's pages written as static files, linked by
relative file names, so that the folder opens from file:// (a CI artifact, an
attachment). Every run's page, reports, every page of its units (all of them, and those
of each failure group) and every unit's story; the comparison of each run with the run
of the same pipeline before it. Search and the other filters need `octoc view`."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from functools import partial
from itertools import pairwise
from typing import Any

from octolang.view import pages, queries
from octolang.view.site import Run, Site
from octolang.view.templating import render


class BundleLinks:
    live = False

    def __init__(self) -> None:
        self.groups: dict[tuple[str, str, str], int] = {}  # (run, status, reason) -> number of the group
        self.compared: set[tuple[str, str]] = set()

    def home(self) -> str:
        return "index.html"

    def run(self, run_id: str) -> str:
        return f"run-{run_id}.html"

    def units(self, run_id: str, filters: dict[str, str] | None = None, page: int = 1) -> str | None:
        filters = filters or {}
        if not filters:
            return f"units-{run_id}-{page}.html"
        if set(filters) <= {"status", "reason"} and "status" in filters:
            group = self.groups.get((run_id, filters["status"], filters.get("reason", "")))
            if group is not None:
                return f"units-{run_id}-g{group}-{page}.html"
        return None

    def unit(self, run_id: str, ordinal: int) -> str:
        return f"unit-{run_id}-{ordinal}.html"

    def reports(self, run_id: str) -> str:
        return f"reports-{run_id}.html"

    def compare(self, a: str, b: str, page: int = 1) -> str | None:
        return f"compare-{a}-{b}-{page}.html" if (a, b) in self.compared else None

    def static(self, name: str) -> str:
        return name


def write_bundle(site: Site, folder: str) -> int:
    """Write every page into `folder`; the number of pages written."""
    os.makedirs(folder, exist_ok=True)
    links = BundleLinks()
    written = 0

    def write(name: str | None, build: Callable[[], pages.Page]) -> None:
        nonlocal written
        assert name is not None
        template, values = build()
        with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
            handle.write(render(template, values, links))
        written += 1

    shutil.copy(os.path.join(os.path.dirname(__file__), "static", "style.css"), os.path.join(folder, "style.css"))
    runs = site.runs()
    for newer, older in pairwise(runs):
        if newer.meta.get("pipeline") == older.meta.get("pipeline"):
            links.compared.add((newer.id, older.id))
    for run in runs:
        found = pages.summary(site, run)
        assert found is not None  # a bundle waits for its counts
        groups, total = found.groups, sum(found.counts.values())
        for number, group in enumerate(groups, start=1):
            links.groups[(run.id, group.status, group.reason or "")] = number
        write(links.run(run.id), partial(pages.run_page, site, links, run.id))
        write(links.reports(run.id), partial(pages.reports_page, site, links, run.id))
        lists: list[tuple[dict[str, Any], int]] = [({}, total)] + [
            ({"status": g.status, **({"reason": g.reason} if g.reason else {})}, g.count) for g in groups
        ]
        for filters, count in lists:
            unit_filter = queries.UnitFilter(**filters)
            for page in range(1, max(1, -(-count // queries.PAGE_SIZE)) + 1):
                write(
                    links.units(run.id, filters, page),
                    partial(pages.units_page, site, links, run.id, unit_filter, page),
                )
        for ordinal in _ordinals(site, run):
            write(links.unit(run.id, ordinal), partial(pages.unit_page, site, links, run.id, ordinal))
    for a, b in sorted(links.compared):
        page, more = 1, True
        while more:
            template, values = pages.compare_page(site, links, a, b, page)
            with open(os.path.join(folder, f"compare-{a}-{b}-{page}.html"), "w", encoding="utf-8") as handle:
                handle.write(render(template, values, links))
            written += 1
            more = values["next"] is not None
            page += 1
    write("index.html", lambda: pages.runs_page(site, links))
    return written


def _ordinals(site: Site, run: Run) -> Iterator[int]:
    """The run's unit ordinals, read a page at a time."""
    last = -1
    while True:
        store = site.reader(run)
        try:
            page = [
                int(o)
                for (o,) in store.query(
                    "SELECT ordinal FROM units WHERE ordinal > ? ORDER BY ordinal LIMIT 5000", (last,)
                )
            ]
        finally:
            store.close()
        if not page:
            return
        yield from page
        last = page[-1]
