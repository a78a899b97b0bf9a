"""The live viewer: a Starlette application over a `Site`, read-only (GET only), served by
uvicorn on 127.0.0.1. Each request opens the run's state read-only, reads one page, and
closes it; pages taking their values from pages.py and their look from templates/."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from octolang.runtime.store import StoreError
from octolang.view import pages, work
from octolang.view.queries import UnitFilter
from octolang.view.site import Site
from octolang.view.templating import render

STATIC = os.path.join(os.path.dirname(__file__), "static")
TIMING_HEADER = "x-octoc-server-ms"


def _int(text: str | None, default: int = 1) -> int:
    try:
        return max(int(text or default), 1)
    except ValueError:
        return default


def create_app(site: Site, *, workers_now: bool = False) -> Starlette:
    """The viewer of `site`. Its slow computations go to worker processes (work.py),
    started with the server (`workers_now`: at once, and the runs' pipelines compiled)
    and stopped with it."""
    links = pages.ServerLinks()
    site.background = True
    if workers_now:
        work.start_workers(site)
        site.prepare()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            work.stop_workers(site)

    def page(build: Any) -> Any:
        def endpoint(request: Request) -> Response:  # a plain function: Starlette runs it in a thread
            started = time.perf_counter()
            try:
                template, values = build(request)
                status = 200
            except pages.NotFound as exc:
                template, values, status = "error.html", {"title": "not found", "message": str(exc)}, 404
            except pages.Unavailable as exc:
                template, values, status = "error.html", {"title": "not available", "message": str(exc)}, 501
            except StoreError as exc:
                template, values, status = "error.html", {"title": "cannot read the run", "message": str(exc)}, 500
            except Exception as exc:  # a bug: one line on the page, not a traceback
                message = f"{type(exc).__name__}: {exc}"
                template, values, status = "error.html", {"title": "octoc view failed", "message": message}, 500
            body = render(template, values, links)
            response = HTMLResponse(body, status_code=status)
            response.headers[TIMING_HEADER] = f"{(time.perf_counter() - started) * 1000:.1f}"
            return response

        return endpoint

    def units(request: Request) -> pages.Page:
        q = request.query_params
        filters = UnitFilter(
            status=q.get("status") or None,
            step=q.get("step") or None,
            reason=q.get("reason") or None,
            field=q.get("field") or None,
            value=q.get("value") if q.get("field") else None,
            q=(q.get("q") or "").strip() or None,
        )
        return pages.units_page(site, links, request.path_params["run"], filters, _int(q.get("page")))

    def unit(request: Request) -> pages.Page:
        ordinal = request.path_params["ordinal"]
        return pages.unit_page(site, links, request.path_params["run"], int(ordinal))

    def compare(request: Request) -> pages.Page:
        q = request.query_params
        a, b = q.get("a"), q.get("b")
        if not a or not b:
            raise pages.NotFound("choose two runs to compare")
        return pages.compare_page(site, links, a, b, _int(q.get("page")))

    routes = [
        Route("/", page(lambda r: pages.runs_page(site, links))),
        Route("/run/{run}", page(lambda r: pages.run_page(site, links, r.path_params["run"]))),
        Route("/run/{run}/units", page(units)),
        Route("/run/{run}/unit/{ordinal:int}", page(unit)),
        Route("/run/{run}/reports", page(lambda r: pages.reports_page(site, links, r.path_params["run"]))),
        Route("/compare", page(compare)),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
