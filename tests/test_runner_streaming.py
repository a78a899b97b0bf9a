"""Streaming through the runner: snapshots read a page of units at a time, reports
aggregate in one pass into tallies equal to the whole-list statistics, outcomes stream
from the store, units go in without being kept, workers are chosen by measurement."""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from octolang import stats
from octolang.runtime.compute_stage import AUTO_WORKERS, PARALLEL_MIN_SECONDS, PARALLEL_UNIT_SECONDS, choose_workers
from octolang.runtime.session import RunRefused
from octolang.runtime.snapshot import load_snapshot
from octolang.runtime.status import unit_outcomes
from octolang.runtime.store import RunStore
from octolang.runtime.tallies import MISSING, Tally
from octolang.runtime.unit_rows import insert_units as _insert
from octolang.sandbox import Record, record_from_json
from tests.conftest import octoc

SEED = 20261129


def store_with_units(tmp_path: Path, count: int) -> RunStore:
    """A run of `count` units; every third has a result of step `a`, every sixth of `b` too;
    unit 4 failed."""
    store = RunStore(str(tmp_path / "state.sqlite"))
    with store.transaction() as db:
        store.set_meta(db, run_id="test")
        db.executemany(
            "INSERT INTO units (id, ordinal, fields) VALUES (?, ?, ?)",
            [(f"u{i}", i, json.dumps({"i": i})) for i in range(count)],
        )
        db.executemany(
            "INSERT INTO results VALUES (?, 'a', ?, 1)", [(f"u{i}", json.dumps({"x": i})) for i in range(0, count, 3)]
        )
        db.executemany(
            "INSERT INTO results VALUES (?, 'b', ?, 1)", [(f"u{i}", json.dumps({"y": -i})) for i in range(0, count, 6)]
        )
        db.execute("UPDATE units SET status = 'failed' WHERE id = 'u4'")
    return store


def test_pages_of_a_snapshot_together_are_the_whole_snapshot(tmp_path: Path) -> None:
    store = store_with_units(tmp_path, 1000)
    whole = load_snapshot(store, ["a", "b"])
    seen: dict[str, object] = {}
    results: dict[str, dict[str, object]] = {"a": {}, "b": {}}
    after, pages = -1, 0
    while True:
        page = load_snapshot(store, ["a", "b"], after=after, limit=128)
        if not page.units:
            break
        pages += 1
        assert len(page.units) <= 128
        assert not seen.keys() & page.units.keys()
        seen.update({uid: row.fields for uid, row in page.units.items()})
        for step in ("a", "b"):
            assert page.results[step].keys() <= page.units.keys()  # only its own units' rows
            results[step].update(page.results[step])
        after = max(row.ordinal for row in page.units.values())
    assert pages == 8  # 999 pending units
    assert seen == {uid: row.fields for uid, row in whole.units.items()}
    assert "u4" not in seen
    assert results == whole.results


def test_outcomes_stream_each_unit_with_its_results_in_unit_order(tmp_path: Path) -> None:
    store = store_with_units(tmp_path, 50)
    outcomes = list(unit_outcomes(store))
    assert [o[0] for o in outcomes] == [f"u{i}" for i in range(50)]
    by_id = {uid: (fields, state, outputs) for uid, fields, state, outputs, _ in outcomes}
    assert by_id["u0"] == ({"i": 0}, "pending", {"a": {"x": 0}, "b": {"y": 0}})
    assert by_id["u3"] == ({"i": 3}, "pending", {"a": {"x": 3}})
    assert by_id["u4"] == ({"i": 4}, "failed", {})


def test_tallies_equal_the_whole_list_statistics_in_any_order() -> None:
    print(f"seed {SEED}")
    rng = random.Random(SEED)
    values: list[object] = [rng.gauss(3.0, 2.0) for _ in range(3000)] + [rng.randint(-5, 5) for _ in range(500)]
    values += [None, "text", MISSING, True, 10**400]  # left out, except True (a number, as before)
    numbers = [float(v) for v in values if isinstance(v, (int, float)) and v is not MISSING and v != 10**400]
    expected = {
        "mean": stats.mean_t(numbers),
        "sum": stats.total(numbers),
        "stdev": stats.stdev(numbers),
        "median": stats.median(numbers),
        "percentile": stats.percentile(numbers, 90.0),
        "min": stats.minimum(numbers),
        "max": stats.maximum(numbers),
    }
    for order in range(3):
        shuffled = list(values)
        random.Random(SEED + order).shuffle(shuffled)
        for function, want in expected.items():
            tally = Tally(function, 90.0 if function == "percentile" else None)
            for value in shuffled:
                tally.add(value)
            value, kind, low, high, n, missing, note = tally.result(counted_only=False)
            if function == "mean":
                assert isinstance(want, stats.Estimate)
                assert (value, low, high, n) == (want.value, want.low, want.high, want.n)
            else:
                assert value == want, function
            assert kind == function
            assert missing == 4
            assert note == "left out 1 value too large for a float"


def test_proportion_and_count_tallies_keep_counts() -> None:
    flags = [True, False, True, 1, 0.0, None, "yes", MISSING]
    proportion = Tally("proportion", None)
    count = Tally("count", None)
    units = Tally("count", None)
    for flag in flags:
        proportion.add(flag)
        count.add(flag)
        units.add(None)
    want = stats.proportion_wilson([True, False, True, True, False])
    assert proportion.result(counted_only=False)[:6] == (want.value, "proportion", want.low, want.high, 5, 3)
    assert count.result(counted_only=False)[:6] == (4, "count", None, None, 7, 1)  # "yes" is true; MISSING missing
    assert units.result(counted_only=True)[:6] == (8, "count", None, None, 8, 0)


def test_workers_spread_only_when_the_measured_units_are_slow_and_many() -> None:
    cheap = PARALLEL_UNIT_SECONDS / 10
    slow = PARALLEL_UNIT_SECONDS * 10
    assert choose_workers(cheap, 10_000_000) == 1
    assert choose_workers(slow, int(PARALLEL_MIN_SECONDS / slow) - 1) == 1  # not enough left to pay
    assert choose_workers(slow, int(PARALLEL_MIN_SECONDS / slow) * 10) == max(1, min(AUTO_WORKERS, os.cpu_count() or 1))


def test_a_unit_id_given_twice_refuses_the_batch_and_keeps_none_of_it(tmp_path: Path) -> None:
    store = store_with_units(tmp_path, 3)
    with pytest.raises(RunRefused, match="two units have the id `u1`"):
        _insert(store, [("u9", 3, "{}"), ("u1", 4, "{}")])
    with pytest.raises(RunRefused, match="two units have the id `n`"):
        _insert(store, [("n", 5, "{}"), ("n", 6, "{}")])
    assert store.query("SELECT COUNT(*) FROM units")[0][0] == 3
    _insert(store, [("u9", 3, "{}")])
    assert store.query("SELECT COUNT(*) FROM units")[0][0] == 4


def test_records_made_while_decoding_are_the_records_of_the_decoded_data() -> None:
    text = '{"a": 1, "b": {"c": [1, {"d": "x"}, [2, {"e": null}]]}, "f": [], "g": 2.5}'
    made = json.loads(text, object_hook=record_from_json)
    wrapped = Record(json.loads(text))
    assert made == wrapped
    assert isinstance(made, Record) and isinstance(made.b, Record) and isinstance(made.b.c[1], Record)
    assert isinstance(made.b.c, list) and isinstance(made.b.c[2][1], Record)
    assert made.b.c[1].d == wrapped.b.c[1].d == "x"
    with pytest.raises(AttributeError, match="fields are read-only"):
        made.a = 2


def test_outcomes_can_come_as_records(tmp_path: Path) -> None:
    store = store_with_units(tmp_path, 7)
    _, fields, _, outputs, _ = next(unit_outcomes(store, records=True))
    assert isinstance(fields, Record) and fields.i == 0
    assert isinstance(outputs["a"], Record) and outputs["a"].x == 0 and outputs["b"].y == 0


PAGED = """pipeline paged "two rng steps, the second continuing the first's stream"
seed 5
units u {
  vary k in [1, 2, 3]
  trials 40
}
step a = compute {
  output { x: float }
  code "return {'x': rng.random() + unit.k}"
}
step b = compute {
  output { y: int }
  code "return {'y': rng.randint(0, 1000) if a.x < 2.5 else 7}"
}
report r {
  group by unit.k
  mean_y = mean(b.y)
  p = proportion(a.x > unit.k + 0.5)
}
"""


def run_with_pages(folder: Path, page: int) -> tuple[list[tuple[str, str, str]], str]:
    """`octoc run` in a fresh process whose runner reads `page` units a snapshot; the
    results and the report."""
    folder.mkdir()
    (folder / "p.octo").write_text(PAGED)
    script = (
        "import sys, octolang.runtime.runner as r; r.PAGE_UNITS = int(sys.argv[1]); "
        "from octolang.cli import main; main(['run', 'p.octo', '--workers', '1'])"
    )
    done = subprocess.run([sys.executable, "-c", script, str(page)], cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    [state] = (folder / ".octo" / "runs").glob("*/state.sqlite")
    db = sqlite3.connect(state)
    try:
        results = db.execute("SELECT unit_id, step, output FROM results ORDER BY unit_id, step").fetchall()
        assert db.execute("SELECT COUNT(*) FROM units WHERE status = 'done'").fetchone() == (120,)
    finally:
        db.close()
    return results, octoc("report", "p.octo", "--json", cwd=folder).stdout


def test_a_run_read_page_by_page_gives_the_results_of_one_read_whole(tmp_path: Path) -> None:
    whole = run_with_pages(tmp_path / "whole", 1000)
    paged = run_with_pages(tmp_path / "paged", 7)  # 18 pages, each running both steps
    assert len(whole[0]) == 240
    assert paged == whole
