"""`octoc view`'s pages served in-process (Starlette's test client): what each shows, the
filters, search and pages of units, the background computations, and that nothing is
ever written in a run."""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from octolang.view.app import create_app
from octolang.view.queries import PAGE_SIZE, UnitFilter, match_expression
from octolang.view.site import CACHE_FILE, Run, Site
from tests.conftest import octoc

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """qa_eval (seed 5, a third of the mock's answers invalid) and the drunken sailor (seed 42)."""
    folder = tmp_path_factory.mktemp("view")
    for name in ("qa_eval.octo", "questions.jsonl", "drunken_sailor.octo"):
        shutil.copy(ROOT / "examples" / name, folder / name)
    qa = folder / "qa_eval.octo"
    qa.write_text(qa.read_text().replace("pipeline qa_eval", "seed 5\npipeline qa_eval", 1))
    octoc("run", "qa_eval.octo", "--provider", "mock", "--mock-invalid-rate", "0.3", "--poll", "0", cwd=folder)
    octoc("run", "drunken_sailor.octo", cwd=folder)
    return folder


def run_folder(project: Path, prefix: str) -> Path:
    [found] = [p for p in (project / ".octo" / "runs").iterdir() if p.name.startswith(prefix)]
    return found


@pytest.fixture
def client(project: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Site(str(project / ".octo" / "runs")))) as client:  # stops its workers after
        yield client


def settled(client: TestClient, url: str, **params: str) -> str:
    """The page once what it computes in a worker is there (until then it says it is
    counting or computing, and would reload itself)."""
    for _ in range(300):
        text = (client.get(url, params=params) if params else client.get(url)).text
        if 'class="computing"' not in text and "counting" not in text:
            return text
        time.sleep(0.1)
    raise AssertionError(f"{url} is still computing")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_page_answers_and_nothing_is_written_in_the_runs(project: Path, client: TestClient) -> None:
    qa, sailor = run_folder(project, "qa_eval-"), run_folder(project, "drunken_sailor-")
    before = {p: (digest(p / "state.sqlite"), (p / "state.sqlite").stat().st_mtime_ns) for p in (qa, sailor)}
    home = client.get("/")
    assert home.status_code == 200 and qa.name in home.text and sailor.name in home.text
    for run in (qa, sailor):
        for path in ("", "/units", "/units?page=2", "/unit/0", "/reports", "/units?q=harbour", "/units?status=failed"):
            response = client.get(f"/run/{run.name}{path}")
            assert response.status_code == 200, (path, response.text[:400])
            assert float(response.headers["x-octoc-server-ms"]) >= 0
    assert client.get(f"/compare?a={qa.name}&b={sailor.name}").status_code == 200
    after = {p: (digest(p / "state.sqlite"), (p / "state.sqlite").stat().st_mtime_ns) for p in (qa, sailor)}
    assert after == before
    assert (qa / CACHE_FILE).exists()  # the search index and the reports, beside the state


def test_a_run_page_shows_steps_failures_and_the_graph(project: Path, client: TestClient) -> None:
    qa = run_folder(project, "qa_eval-")
    text = settled(client, f"/run/{qa.name}")
    assert "<svg" in text and "answer" in text and "grade" in text
    failures = re.findall(r'class="failure-group" href="([^"]+)">([^<]+)<', text)
    assert failures, "the mock's invalid answers failed no unit"
    href, reason = failures[0]
    listed = settled(client, href.replace("&amp;", "&"))
    assert reason in listed and 'class="unit-link"' in listed


def test_filters_by_field_output_step_and_status(project: Path, client: TestClient) -> None:
    qa = run_folder(project, "qa_eval-")

    def count(query: str) -> int:
        text = settled(client, f"/run/{qa.name}/units?{query}")
        found = re.search(r'<p class="count">(\d+) units?', text)
        assert found, text[:2000]
        return int(found.group(1))

    assert count("field=unit.style&value=direct") == 6
    assert count("field=unit.style&value=step_by_step") == 6
    assert count("field=unit.style&value=nothing") == 0
    correct = count("field=grade.correct&value=true")
    wrong = count("field=grade.correct&value=false")
    assert correct + wrong == count("step=grade&status=done")
    assert count("status=done") + count("status=failed") + count("status=skipped") == 12


def test_pages_of_units_follow_the_unit_order(project: Path, client: TestClient) -> None:
    sailor = run_folder(project, "drunken_sailor-")
    first = settled(client, f"/run/{sailor.name}/units")
    assert "6,000 units · page 1 of 120" in first and 'rel="next"' in first and 'rel="prev"' not in first
    second = settled(client, f"/run/{sailor.name}/units?page=2")
    ordinals = [int(n) for n in re.findall(r'<td class="n">(\d+)</td><td><a class="unit-link"', second)]
    assert ordinals == list(range(PAGE_SIZE, 2 * PAGE_SIZE))
    last = settled(client, f"/run/{sailor.name}/units?page=120")
    assert 'rel="next"' not in last and 'rel="prev"' in last


def test_search_takes_any_text_as_words(project: Path, client: TestClient) -> None:
    qa = run_folder(project, "qa_eval-")
    for query in ('"', "AND (", "NEAR(", "*", "a OR"):
        response = client.get(f"/run/{qa.name}/units", params={"q": query})
        assert response.status_code == 200, query
    assert match_expression('say "hi" OR') == '"say" """hi""" "OR"'
    found = settled(client, f"/run/{qa.name}/units", q="Celsius")  # in the prompts of q1's two units
    assert "2 units" in found and "id=q1/style=direct" in found and "id=q1/style=step_by_step" in found


def test_unknown_runs_and_units_are_404(project: Path, client: TestClient) -> None:
    qa = run_folder(project, "qa_eval-")
    assert client.get("/run/nope").status_code == 404
    assert client.get("/run/.new-x").status_code == 404  # a run being made, or a name going up
    assert client.get(f"/run/{qa.name}/unit/99999").status_code == 404
    assert client.get("/compare?a=x").status_code == 404


def test_a_unit_story_has_every_attempt(project: Path, client: TestClient) -> None:
    qa = run_folder(project, "qa_eval-")
    text = settled(client, f"/run/{qa.name}/unit/1")
    assert "Attempts" in text and 'class="prompt"' in text
    assert text.count('<section class="attempt') >= 2


def test_a_read_only_run_folder_keeps_the_cache_elsewhere(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import octolang.view.site as site_module

    monkeypatch.setattr(site_module.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(site_module.os, "access", lambda path, mode: False)
    site = Site(str(project / ".octo" / "runs"))
    run = site.run(run_folder(project, "qa_eval-").name)
    assert run is not None
    cache = site.cache(run)
    try:
        path = cache.execute("PRAGMA database_list").fetchall()[0][2]
    finally:
        cache.close()
    assert Path(path).parent == tmp_path and Path(path).name.startswith("octoc-view-")


def test_what_takes_long_is_computed_once_by_a_worker(project: Path) -> None:
    from octolang.view import work

    site = Site(str(project / ".octo" / "runs"))
    site.background = True
    run = site.run(run_folder(project, "drunken_sailor-").name)
    assert isinstance(run, Run)
    try:
        # a worker process has to start first: not there at once
        assert work.kept(site, run, "summary", wait=0) is None
        found = work.kept(site, run, "summary", wait=60)
        assert found is not None and found.counts == {"done": 6000}
        assert not [key for key in work._working if key[0] == run.info.folder]  # done and kept: not computed again
        assert work.kept(site, run, "summary", wait=0) is found
    finally:
        work.stop_workers(site)


def test_unit_filter_parameters_round_trip() -> None:
    filters = UnitFilter(status="failed", reason="x", q=None)
    assert filters.params() == {"status": "failed", "reason": "x"}


def test_octoc_view_refuses_what_holds_no_runs(tmp_path: Path) -> None:
    result = octoc("view", str(tmp_path), "--no-browser", cwd=tmp_path, check=False)
    assert result.returncode == 1 and "no runs in" in result.stderr
    (tmp_path / "notes.txt").write_text("x")
    result = octoc("view", "notes.txt", "--no-browser", cwd=tmp_path, check=False)
    assert result.returncode == 1 and "neither a .octo file nor a folder of runs" in result.stderr


def test_the_bundle_has_every_page(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    result = octoc("view", "qa_eval.octo", "--bundle", str(out), cwd=project)
    qa = run_folder(project, "qa_eval-").name
    assert "pages to" in result.stdout
    names = {p.name for p in out.iterdir()}
    assert {"index.html", "style.css", f"run-{qa}.html", f"reports-{qa}.html", f"units-{qa}-1.html"} <= names
    assert {f"unit-{qa}-{n}.html" for n in range(12)} <= names
    index = (out / "index.html").read_text()
    assert f'href="run-{qa}.html"' in index and "drunken_sailor" not in index  # FILE's runs only
    for page in out.glob("*.html"):  # every link leads to a page of the bundle
        for href in re.findall(r'href="([^"#?]+)"', page.read_text()):
            assert (out / href).exists(), (page.name, href)


def test_reports_draw_running_estimates_that_end_at_the_reports_values(project: Path, client: TestClient) -> None:
    """Each proportion and mean with an interval gets a running estimate per group, read off
    the same one pass over the units; its last point is the report's value and interval."""
    import json
    import sqlite3

    sailor = run_folder(project, "drunken_sailor-")
    page = settled(client, f"/run/{sailor.name}/reports")
    assert "by_start: p_ship: running estimate and 95% interval" in page
    assert "by_start: mean_steps: running estimate and 95% interval" in page
    assert page.count('class="line series') == 6  # 2 statistics x 3 groups (start 2, 5, 8)
    db = sqlite3.connect(sailor / CACHE_FILE)
    try:
        [(value,)] = db.execute("SELECT value FROM kept WHERE key = 'reports'").fetchall()
    finally:
        db.close()
    kept = json.loads(value)
    [report] = kept["reports"]
    assert len(kept["running"]) == 6
    for series in kept["running"]:
        [group] = [g for g in report["groups"] if g["key"] == series["group"]]
        statistic = group["statistics"][series["metric"]]
        counted = [n for n, *_ in series["points"]]
        assert counted == sorted(set(counted)) and len(counted) > 10  # the estimate as units came in
        assert series["points"][-1] == [statistic["n"], statistic["value"], statistic["low"], statistic["high"]]
