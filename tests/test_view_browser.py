"""`octoc view` in a real browser (Debian's chromium driven by Playwright): from the runs
to a run, a failure group, a unit's story; a search for a word of one answer; the
comparison of two runs; the reports; and the static bundle opened from file://.

A screenshot of each screen goes under the test's temp folder; with
OCTO_UPDATE_SCREENSHOTS=1 they are also written to docs/screenshots/ (the README's)."""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import octoc

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SEEDS = (5, 6)  # the two runs' seeds

sync_api = pytest.importorskip("playwright.sync_api")
# Outside CI a machine without chromium skips these; `.ci/run` installs it and sets OCTO_CI,
# so there a missing browser fails instead of hiding the tests.
pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and not os.environ.get("OCTO_CI"), reason="Debian's chromium is not installed"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """qa_eval run twice on the mock, with seeds 5 then 6 (a third of answers invalid)."""
    folder = tmp_path_factory.mktemp("project")
    for name in ("qa_eval.octo", "questions.jsonl"):
        shutil.copy(ROOT / "examples" / name, folder / name)
    path = folder / "qa_eval.octo"
    original = path.read_text()
    for seed in SEEDS:
        print(f"run with seed {seed}")
        path.write_text(original.replace("pipeline qa_eval", f"seed {seed}\npipeline qa_eval", 1))
        octoc(
            "run", "qa_eval.octo", "--fresh", "--provider", "mock", "--mock-invalid-rate", "0.3", "--poll", "0",
            cwd=folder,
        )  # fmt: skip
    return folder


def _runs(folder: Path) -> list[str]:
    runs = folder / ".octo" / "runs"
    return sorted((p.name for p in runs.iterdir()), key=lambda n: json.loads(_meta(runs / n)["created_at"]))


def _meta(run: Path) -> dict[str, str]:
    db = sqlite3.connect(run / "state.sqlite")
    try:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "octolang", "view", str(project), "--port", "0", "--no-browser"],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stderr, selectors.EVENT_READ)
    assert selector.select(timeout=30), "octoc view printed no address"
    line = process.stderr.readline()
    found = re.search(r"http://127\.0\.0\.1:\d+/", line)
    assert found, line
    try:
        yield found.group(0)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()


def settle(page: Any) -> None:
    """Wait until the page shows what it computes in the background (a run's counts,
    reports): until then it says so and reloads itself; here it is reloaded sooner."""
    for _ in range(150):
        if page.locator(".computing").count() == 0 and "counting" not in page.locator("main").inner_text():
            return
        page.wait_for_timeout(200)
        page.reload()
    raise AssertionError("the page never finished computing")


def shoot(page: Any, tmp_path: Path, name: str, docs: bool = True) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    if docs and os.environ.get("OCTO_UPDATE_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(exist_ok=True)
        page.screenshot(path=str(target / f"{name}.png"), type="png")


def a_word_of_one_answer(project: Path, run: str) -> tuple[str, str]:
    """A word that appears in the answers of exactly one unit, and that unit."""
    db = sqlite3.connect(project / ".octo" / "runs" / run / "state.sqlite")
    try:
        attempts = db.execute("SELECT unit_id, request, response FROM attempts WHERE response IS NOT NULL").fetchall()
    finally:
        db.close()
    units: dict[str, set[str]] = {}
    prompts: dict[str, set[str]] = {}  # word -> units whose prompts have it (the index has prompts too)
    for unit, request, response in attempts:
        for word in re.findall(r"[A-Za-z]{4,}", json.loads(response)["text"]):
            units.setdefault(word.lower(), set()).add(unit)
        for word in re.findall(r"[A-Za-z]{4,}", json.loads(request)["prompt"]):
            prompts.setdefault(word.lower(), set()).add(unit)
    for word, found in sorted(units.items()):
        if len(found) == 1 and prompts.get(word, set()) <= found and word not in ("reasoning", "answer", "confidence"):
            return word, found.pop()
    raise AssertionError("no word is in one unit's answers only")


def test_runs_run_failure_group_unit_story(project: Path, server: str, page: Any, tmp_path: Path) -> None:
    older, newer = _runs(project)
    page.goto(server)
    settle(page)
    assert page.locator("h1").inner_text() == "Runs"
    assert page.locator("a.run-link").all_inner_texts() == [newer, older]
    assert "finished" in page.locator("table.runs").inner_text()
    shoot(page, tmp_path, "runs")

    page.click(f"text={newer}")
    settle(page)
    assert page.locator("h1").inner_text() == f"Run {newer}"
    steps = page.locator("table.funnel").inner_text()
    assert "answer" in steps and "grade" in steps and "invalid" in steps
    assert page.locator(".graph svg").count() == 1
    groups = page.locator("a.failure-group")
    assert groups.count() >= 1
    shoot(page, tmp_path, "run")

    reason = groups.first.inner_text()
    count = int(page.locator("table.failures tbody tr").first.locator("td").first.inner_text())
    groups.first.click()
    settle(page)
    assert page.locator("strong.reason").inner_text() == reason
    assert page.locator("p.count").inner_text().startswith(f"{count} unit")
    assert page.locator("a.unit-link").count() == count
    shoot(page, tmp_path, "units")

    page.locator("a.unit-link").first.click()
    assert page.locator("h1").inner_text().startswith("Unit ")
    assert reason in page.locator("main").inner_text()
    assert page.locator("section.attempt").count() >= 1
    assert page.locator("pre.prompt").first.inner_text().startswith(("Answer the question", "Question:"))
    shoot(page, tmp_path, "unit")


def test_search_finds_the_one_unit_whose_answer_has_the_word(
    project: Path, server: str, page: Any, tmp_path: Path
) -> None:
    _, newer = _runs(project)
    word, unit = a_word_of_one_answer(project, newer)
    print(f"searching for {word!r}, in the answers of {unit} only")
    page.goto(f"{server}run/{newer}/units")
    page.fill("input[name=q]", word)
    page.click("button[type=submit]")
    assert page.locator("p.count").inner_text().startswith("1 unit ")
    assert page.locator("a.unit-link").all_inner_texts() == [unit]
    shoot(page, tmp_path, "search")


def test_compare_two_runs(project: Path, server: str, page: Any, tmp_path: Path) -> None:
    older, newer = _runs(project)
    page.goto(server)
    page.select_option("select[name=a]", newer)
    page.select_option("select[name=b]", older)
    page.click("form.compare-form button")
    assert page.locator("h1").inner_text() == "Compare"
    settle(page)
    table = page.locator("table.differences").inner_text()
    assert "accuracy" in table and "confidence" in table
    assert page.locator("table.differing tbody tr").count() >= 1, "seeds 5 and 6 gave the same answers"
    shoot(page, tmp_path, "compare")


def test_reports_have_interval_charts(project: Path, server: str, page: Any, tmp_path: Path) -> None:
    _, newer = _runs(project)
    page.goto(f"{server}run/{newer}/reports")
    settle(page)
    assert "report accuracy" in page.locator("main").inner_text()
    assert page.locator("svg.chart line.interval").count() > 0
    assert page.locator("svg.chart rect.bar").count() > 0  # the histogram of answer.confidence
    shoot(page, tmp_path, "reports")


def test_the_bundle_opens_from_file_and_shows_the_same_run(
    project: Path, server: str, page: Any, tmp_path: Path
) -> None:
    _, newer = _runs(project)
    page.goto(f"{server}run/{newer}")
    settle(page)
    live_steps = page.locator("table.funnel").inner_text()
    live_groups = page.locator("table.failures").inner_text()
    bundle = tmp_path / "bundle"
    octoc("view", str(project), "--bundle", str(bundle), cwd=project)
    page.goto((bundle / "index.html").as_uri())
    page.click(f"text={newer}")
    assert page.url.startswith("file://")
    assert page.locator("h1").inner_text() == f"Run {newer}"
    assert page.locator("table.funnel").inner_text() == live_steps
    assert page.locator("table.failures").inner_text() == live_groups
    page.locator("a.failure-group").first.click()
    page.locator("a.unit-link").first.click()
    assert page.locator("section.attempt").count() >= 1
    shoot(page, tmp_path, "bundle", docs=False)
