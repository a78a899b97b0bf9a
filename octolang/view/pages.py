"""Each page of the viewer as (template, values): the server (app.py) renders them for a
request, the bundle (bundle.py) for every file it writes. How pages link to each other is
the caller's `Links`: URLs live, file names in a bundle (where a page that was not
exported, a filtered list for instance, has no link)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise
from typing import Any, Protocol
from urllib.parse import urlencode

from octolang.runtime.leases import is_live
from octolang.runtime.runlock import run_state
from octolang.view import compare, queries, search, work
from octolang.view.charts import Bar, error_bars, histogram, running
from octolang.view.site import Run, Site, state_version

Page = tuple[str, dict[str, Any]]


class NotFound(Exception):
    """No such run or unit: a 404 live."""


class Unavailable(Exception):
    """What a page cannot do for this run (said on the page)."""


class Links(Protocol):
    live: bool

    def home(self) -> str: ...
    def run(self, run_id: str) -> str: ...
    def units(self, run_id: str, filters: dict[str, str] | None = None, page: int = 1) -> str | None: ...
    def unit(self, run_id: str, ordinal: int) -> str: ...
    def reports(self, run_id: str) -> str: ...
    def compare(self, a: str, b: str, page: int = 1) -> str | None: ...
    def static(self, name: str) -> str: ...


class ServerLinks:
    live = True

    def home(self) -> str:
        return "/"

    def run(self, run_id: str) -> str:
        return f"/run/{run_id}"

    def units(self, run_id: str, filters: dict[str, str] | None = None, page: int = 1) -> str:
        params = {**(filters or {}), **({"page": str(page)} if page > 1 else {})}
        return f"/run/{run_id}/units" + (f"?{urlencode(params)}" if params else "")

    def unit(self, run_id: str, ordinal: int) -> str:
        return f"/run/{run_id}/unit/{ordinal}"

    def reports(self, run_id: str) -> str:
        return f"/run/{run_id}/reports"

    def compare(self, a: str, b: str, page: int = 1) -> str:
        return f"/compare?{urlencode({'a': a, 'b': b, **({'page': page} if page > 1 else {})})}"

    def static(self, name: str) -> str:
        return f"/static/{name}"


def duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def money(value: Decimal | None) -> str:
    return "-" if value is None else f"${value:.4f}"


@dataclass
class RunRow:
    id: str
    pipeline: str | None
    started: str
    state: str
    units: int
    finished: int
    counts: dict[str, int]
    spend: str
    estimate: str
    duration: str
    counted: bool = True  # False while the viewer counts the run's units for the first time

    @property
    def progress(self) -> int:
        return round(100 * self.finished / self.units) if self.units else 0


def summary(site: Site, run: Run, wait: float = work.WAIT) -> queries.Summary | None:
    """The run's counts (queries.summary: a pass over every unit, result and attempt),
    kept per state of the run; live, None while a worker counts them the first time."""
    found: queries.Summary | None = work.kept(site, run, "summary", wait=wait)
    return found


def run_row(site: Site, run: Run, found: queries.Summary | None) -> RunRow:
    meta = run.meta
    counts = found.counts if found is not None else {}
    created = float(meta.get("created_at", 0))
    total = sum(counts.values())
    counting = found is None and not is_live(meta.get("lease"))
    return RunRow(
        run.id,
        meta.get("pipeline"),
        time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(created)),
        "counting" if counting else run_state(meta, counts),
        total,
        total - counts.get("pending", 0),
        counts,
        money(found.status.spend) if found is not None else "…",
        money(queries.estimated_cost(meta)),
        duration(float(meta.get("updated_at", created)) - created),
        found is not None,
    )


def runs_page(site: Site, links: Links) -> Page:
    deadline = time.monotonic() + work.WAIT  # one wait for all the runs' counts, not one each
    rows = [run_row(site, run, summary(site, run, max(0.0, deadline - time.monotonic()))) for run in site.runs()]
    pairs = [(a.id, b.id) for a, b in pairwise(rows) if a.pipeline == b.pipeline]
    return "runs.html", {
        "title": "runs",
        "runs": rows,
        "root": site.root,
        "pairs": [(a, b, links.compare(a, b)) for a, b in pairs if links.compare(a, b)],
        "live_refresh": links.live and any(r.state == "running" or not r.counted for r in rows),
        "counting": any(not r.counted for r in rows),
    }


def _run(site: Site, run_id: str) -> Run:
    run = site.run(run_id)
    if run is None:
        raise NotFound(f"no run {run_id} under {site.root}")
    return run


def graph_svg(site: Site, run: Run, status: Any) -> str | None:
    """The pipeline graph (octolang/graph.py) coloured by the run's state, as inline SVG;
    None without Graphviz or without the pipeline file."""
    program = site.program(run)
    if program is None:
        return None

    def draw() -> str | None:
        from octolang.graph import GraphvizFailed, GraphvizMissing, build_graph, render

        assert program is not None
        try:
            svg = render(build_graph(program, run=status), "svg").decode("utf-8")
        except (GraphvizMissing, GraphvizFailed):
            return None
        return svg[svg.find("<svg") :]

    return site.kept(run, "graph", draw)


def run_page(site: Site, links: Links, run_id: str) -> Page:
    run = _run(site, run_id)
    program = site.program(run)
    found = summary(site, run)
    row = run_row(site, run, found)
    if found is None:
        return "run.html", {"title": run_id, "run": run, "row": row, "counting": True, "live_refresh": True}
    status, groups, meta, counts = found.status, found.groups, run.meta, found.counts
    estimates = queries.step_estimates(meta)
    group_links = [
        (g, links.units(run_id, {"status": g.status, **({"reason": g.reason} if g.reason else {})})) for g in groups
    ]
    return "run.html", {
        "title": run_id,
        "run": run,
        "row": row,
        "status": status,
        "estimates": {k: money(v) for k, v in estimates.items()},
        "groups": group_links,
        "graph": graph_svg(site, run, status),
        "program_missing": program is None,
        "pipeline_file": run.pipeline_file,
        "live_refresh": links.live and run_state(meta, counts) == "running",
    }


def units_page(site: Site, links: Links, run_id: str, filters: queries.UnitFilter, page: int) -> Page:
    run = _run(site, run_id)
    form = {**_units_form(site, run, filters, site.program(run)), "title": f"units of {run_id}", "run": run}
    if filters.q and run.info.state is not None:
        raise Unavailable(
            "search reads prompts and answers through a SQLite index attached to the run's own database; "
            "it is not available for runs kept in PostgreSQL. The filters by status, step, reason and field are."
        )
    if filters.q:
        # the index is brought up to date in the background, as a count is (a pass over every request)
        indexed = work.kept(site, run, "search_index", state_version(run))
        if indexed is None:
            return "units.html", {**form, "indexing": True, "computing": True, "live_refresh": True}
        store = site.reader(run)
        try:
            with search.attached(store, indexed) as table:
                rows = queries.units_page(store, filters, page, table)
                total = queries.count_units(store, filters, table)
        finally:
            store.close()
    else:
        store = site.reader(run)
        try:
            rows = queries.units_page(store, filters, page)
        finally:
            store.close()

        # a filter's count is a pass over every unit, done by a worker; without a filter it is cheap
        params = filters.params()
        known = work.kept(site, run, "count", params) if params else work.kept(site, run, "count", params, wait=60)
        total = known if known is not None else -1
    capped = total > queries.COUNT_CAP
    counted = total >= 0
    pages = max(1, -(-total // queries.PAGE_SIZE))
    more = len(rows) == queries.PAGE_SIZE and (capped or not counted or page < pages)
    params = filters.params()
    return "units.html", {
        **form,
        "rows": [(r, links.unit(run_id, r.ordinal)) for r in rows],
        "shown_fields": list(rows[0].fields)[:4] if rows else [],
        "total": total,
        "capped": capped,
        "counted": counted,
        "page": page,
        "pages": pages,
        "previous": links.units(run_id, params, page - 1) if page > 1 else None,
        "next": links.units(run_id, params, page + 1) if more else None,
    }


def _units_form(site: Site, run: Run, filters: queries.UnitFilter, program: Any) -> dict[str, Any]:
    """What the filter form of the units page offers."""
    store = site.reader(run)
    try:
        names = queries.field_names(program, store)
        steps = [s for (s,) in store.query("SELECT DISTINCT step FROM results")] if program is None else program.order
    finally:
        store.close()
    return {"filters": filters, "field_names": names, "steps": steps, "statuses": queries.STATUSES}


def unit_page(site: Site, links: Links, run_id: str, ordinal: int) -> Page:
    run = _run(site, run_id)
    store = site.reader(run)
    try:
        found = queries.story(store, ordinal)
    finally:
        store.close()
    if found is None:
        raise NotFound(f"no unit {ordinal} in run {run_id}")
    return "unit.html", {"title": f"unit {found.id}", "run": run, "story": found}


def run_reports(site: Site, run: Run) -> dict[str, Any] | None:
    """The run's reports (reporting.py); None while they are being computed (live), or
    when the pipeline file is missing (then `{}`)."""
    from octolang.view.reporting import kept_reports

    program = site.program(run)
    if program is None:
        return {}
    version = state_version(run)
    cache = site.cache(run)
    try:
        found = kept_reports(cache, version)
    finally:
        cache.close()
    if found is not None:
        return found

    found = work.kept(site, run, "reports", version)
    return found if found is None else dict(found)


def reports_page(site: Site, links: Links, run_id: str) -> Page:
    run = _run(site, run_id)
    value = run_reports(site, run)
    values: dict[str, Any] = {"title": f"reports of {run_id}", "run": run}
    if value is None:
        return "reports.html", {**values, "computing": True, "live_refresh": True, "reports": [], "histograms": []}
    if not value:
        return "reports.html", {**values, "reports": None, "histograms": []}
    return "reports.html", {
        **values,
        "reports": [(r, report_charts(r) + running_charts(r, value.get("running", []))) for r in value["reports"]],
        "histograms": [
            (h, histogram(f"{h['step']}.{h['key']}", [tuple(b) for b in h["bins"]])) for h in value["histograms"]
        ],
    }


def report_charts(report: dict[str, Any]) -> list[str]:
    """An error-bar chart per statistic that has intervals, one row per group."""
    charts = []
    names = list(report["groups"][0]["statistics"]) if report["groups"] else []
    for name in names:
        stats = [(g, g["statistics"][name]) for g in report["groups"]]
        if not any(s.get("low") is not None for _, s in stats):
            continue
        bars = [
            Bar(
                ", ".join(str(v) for v in g["key"].values()) or "all",
                _number(s.get("value")),
                _number(s.get("low")),
                _number(s.get("high")),
            )
            for g, s in stats
        ]
        charts.append(error_bars(f"{report['name']}: {name}", bars))
    return [c for c in charts if c]


def running_charts(report: dict[str, Any], series: list[dict[str, Any]]) -> list[str]:
    """A running-estimate chart per proportion or mean of the report, one line per group."""
    charts = []
    mine = [s for s in series if s["report"] == report["name"]]
    names = list(report["groups"][0]["statistics"]) if report["groups"] else []
    for metric in [n for n in names if any(s["metric"] == n for s in mine)]:
        lines = [
            (", ".join(f"{k.removeprefix('unit.')}={v}" for k, v in s["group"].items()) or "all", s["points"])
            for s in mine
            if s["metric"] == metric
        ]
        charts.append(running(f"{report['name']}: {metric}", lines))
    return [c for c in charts if c]


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def compare_page(site: Site, links: Links, a_id: str, b_id: str, page: int) -> Page:
    runs = [_run(site, a_id), _run(site, b_id)]
    values = [run_reports(site, run) for run in runs]
    # walks both runs' results until 50 differences (all of them when none differ): done by a worker
    other = runs[1].info.state_path if runs[1].info.state else os.path.abspath(runs[1].info.state_path)
    known = work.kept(site, runs[0], "differing", other, state_version(runs[1]), page)
    found, more = known if known is not None else ([], False)
    return "compare.html", {
        "title": f"{a_id} against {b_id}",
        "a": runs[0],
        "b": runs[1],
        "differences": compare.differences(values[0], values[1]) if values[0] and values[1] else [],
        "computing": any(v is None for v in values) or known is None,
        "reporting": any(v is None for v in values),
        "comparing": known is None,
        "live_refresh": any(v is None for v in values) or known is None,
        "differing": [(d, links.unit(a_id, d.ordinal)) for d in found],
        "page": page,
        "previous": links.compare(a_id, b_id, page - 1) if page > 1 else None,
        "next": links.compare(a_id, b_id, page + 1) if more else None,
    }
