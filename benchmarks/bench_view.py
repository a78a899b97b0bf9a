"""Server time of every `octoc view` page on a 200,000-unit run.

    python benchmarks/bench_view.py [--units 200000] [--folder DIR] [--repeat 5]

Builds (or reuses, in --folder) two runs of --units units each: the drunken sailor with
its trials scaled (a compute step), and a one-step llm pipeline answered by the mock
provider (10% invalid answers, retried), copied once as a second run of the same
pipeline so that the comparison page joins two full runs. Then serves the viewer
in-process (Starlette's test client) and prints, per page, the server time of the first
request after the viewer started ("cold": nothing kept yet) and the median of --repeat
later ones ("warm"), as the server measures it (the x-octoc-server-ms header).
Target (issue 16): every page under 300 ms.

The reports page answers at once while a thread computes the reports over every unit;
so are a run's counts (a pass over its units, results and requests) the first time a run
is shown, and the count of a filtered list of units: the time until they are there is
printed on its own line, and the search index's first build too (each done once per
state of the run, then kept).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

LLM = """pipeline notes "A benchmark pipeline: one llm step on many units"

seed 3
model writer = openai "gpt-4.1-mini" {{ temperature = 0 }}

units items {{
  vary topic in ["tides", "knots", "sails", "stars"]
  trials {trials}
}}

step note = llm writer {{
  prompt "Write one line about {{{{ unit.topic }}}}, number {{{{ unit.trial }}}}."
  output {{ text: string[1..200], score: int[0..10] }}
}}

report by_topic {{
  group by unit.topic
  mean_score = mean(note.score)
  high = proportion(note.score >= 5)
}}
"""


def octoc(*args: str, cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "octolang", *args], cwd=cwd, env=env, check=True, capture_output=True)


def build(folder: Path, units: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sailor = folder / "sailor.octo"
    if not sailor.exists():
        text = (ROOT / "examples" / "drunken_sailor.octo").read_text()
        sailor.write_text(text.replace("trials 2000", f"trials {-(-units // 3)}"))
        started = time.perf_counter()
        octoc("run", "sailor.octo", cwd=folder)
        print(f"built the sailor run ({units:,} units) in {time.perf_counter() - started:.0f} s")
    notes = folder / "notes.octo"
    if not notes.exists():
        notes.write_text(LLM.format(trials=-(-units // 4)))
        started = time.perf_counter()
        octoc("run", "notes.octo", "--provider", "mock", "--mock-invalid-rate", "0.1", "--poll", "0", cwd=folder)
        print(f"built the llm run ({units:,} units, mock) in {time.perf_counter() - started:.0f} s")
    runs = folder / ".octo" / "runs"
    found = sorted(p for p in runs.iterdir() if p.name.startswith("notes-"))
    if len(found) == 1:  # the second run of the pipeline: a copy of the first
        original = found[0]
        copy = runs / (original.name[:-4] + "copy")
        shutil.copytree(original, copy, ignore=shutil.ignore_patterns("lock", "view-cache*"))
        db = sqlite3.connect(copy / "state.sqlite")
        db.execute("UPDATE meta SET value = ? WHERE key = 'run_id'", (f'"{copy.name}"',))
        db.execute("UPDATE meta SET value = value + 1 WHERE key = 'created_at'")
        db.commit()
        db.close()


def server_ms(client: Any, url: str) -> float:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    return float(response.headers["x-octoc-server-ms"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=200_000)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    folder = options.folder or Path(os.environ.get("TMPDIR", "/tmp")) / f"octo-bench-view-{options.units}"
    build(folder, options.units)

    from starlette.testclient import TestClient

    from octolang.view import search
    from octolang.view.app import create_app
    from octolang.view.site import Site, state_version

    root = folder / ".octo" / "runs"
    for cache in root.glob("*/view-cache.sqlite*"):
        cache.unlink()  # cold means cold: no search index, no reports kept
    site = Site(str(root))
    runs = {r.id: r for r in site.runs()}
    sailor = next(r for r in runs if r.startswith("drunken_sailor-"))
    notes = sorted(r for r in runs if r.startswith("notes-"))
    llm, copy = notes[0], notes[1]
    pages = [("runs", "/")]
    for name, run in (("sailor", sailor), ("llm", llm)):
        middle = options.units // 2
        pages += [
            (f"{name}: run", f"/run/{run}"),
            (f"{name}: units, page 1", f"/run/{run}/units"),
            (f"{name}: units, last page", f"/run/{run}/units?page={-(-options.units // 50)}"),
            (f"{name}: units, failed", f"/run/{run}/units?status=failed"),
            (f"{name}: units, a unit field", f"/run/{run}/units?field=unit.trial&value=7"),
            (f"{name}: a unit's story", f"/run/{run}/unit/{middle}"),
        ]
    pages += [
        ("sailor: units, an output", f"/run/{sailor}/units?field=walk.outcome&value=ship&page=3"),
        ("sailor: units, a step", f"/run/{sailor}/units?step=walk&page=1000"),
        ("llm: units, an output", f"/run/{llm}/units?field=note.score&value=7"),
        ("llm: units, a failure reason", f"/run/{llm}/units?status=failed&reason=" + _first_reason(root / llm)),
        ("llm: search", f"/run/{llm}/units?q=harbour+stone"),
        ("sailor: reports", f"/run/{sailor}/reports"),
        ("llm: reports", f"/run/{llm}/reports"),
        ("llm: compare with its copy", f"/compare?a={llm}&b={copy}"),
    ]
    client = TestClient(create_app(site, workers_now=True))  # as `octoc view` starts it

    # the search index's first build, timed on its own (the search page builds it when missing)
    started = time.perf_counter()
    store, cache = site.reader(runs[llm]), site.cache(runs[llm])
    indexed = search.ensure_index(cache, store, state_version(runs[llm]))
    store.close()
    cache.close()
    print(f"search index of the llm run: {indexed:,} attempts in {time.perf_counter() - started:.1f} s (once)")

    print(f"{'page':<36} {'cold ms':>9} {'warm ms':>9}")
    slowest = 0.0
    for label, url in pages:
        started = time.perf_counter()
        cold = server_ms(client, url)
        if _working(client.get(url).text):
            while _working(client.get(url).text):
                time.sleep(0.1)
            print(f"  ({label}: counted or computed in the background in {time.perf_counter() - started:.1f} s)")
        warm = statistics.median(server_ms(client, url) for _ in range(options.repeat))
        slowest = max(slowest, cold, warm)
        print(f"{label:<36} {cold:>9.1f} {warm:>9.1f}")
    print(f"slowest: {slowest:.1f} ms (target < 300 ms)")


def _working(page: str) -> bool:
    """The page says it is counting or computing in the background."""
    return 'class="computing"' in page or "counting" in page


def _first_reason(run: Path) -> str:
    from urllib.parse import quote

    db = sqlite3.connect(f"file:{run / 'state.sqlite'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT reason FROM units WHERE status = 'failed' LIMIT 1").fetchone()
    finally:
        db.close()
    return quote(row[0]) if row else ""


if __name__ == "__main__":
    main()
