"""A finished run's reports are kept in its state by the process that finished it, and
`octoc report` reads them instead of every unit while they are still the run's: any later
write of the state, or an edited report, makes it compute them again."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import octoc
from tests.providers_e2e import state

ROOT = Path(__file__).resolve().parents[1]


def meta(folder: Path, key: str) -> object:
    db = state(folder)
    try:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    finally:
        db.close()
    return None if row is None else json.loads(row[0])


def mark_kept_table(folder: Path, mark: str) -> None:
    """Change the kept table text behind octoc's back: if `report` prints the mark, it read
    the kept reports."""
    db = state(folder)
    try:
        (value,) = db.execute("SELECT value FROM meta WHERE key = 'kept_reports'").fetchone()
        kept = json.loads(value)
        kept["table"] = mark + "\n" + kept["table"]
        with db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'kept_reports'", (json.dumps(kept),))
    finally:
        db.close()


def test_a_finished_run_keeps_its_reports_and_report_reads_them_while_they_hold(tmp_path: Path) -> None:
    shutil.copy(ROOT / "examples" / "drunken_sailor.octo", tmp_path / "s.octo")
    ran = octoc("run", "s.octo", "--max-units", "300", cwd=tmp_path)
    kept = meta(tmp_path, "kept_reports")
    assert isinstance(kept, dict) and kept["writes"] == meta(tmp_path, "writes")
    assert kept["table"] in ran.stdout  # what the run printed is what it kept
    assert octoc("report", "s.octo", "--json", cwd=tmp_path).stdout.strip() == kept["json"].strip()

    mark_kept_table(tmp_path, "KEPT-MARK")
    assert "KEPT-MARK" in octoc("report", "s.octo", cwd=tmp_path).stdout  # read, not computed

    # An edited report is not the kept one: computed again (and the run's data is unchanged).
    source = (tmp_path / "s.octo").read_text()
    (tmp_path / "s.octo").write_text(source.replace("mean_steps = mean(", "avg_steps = mean("))
    edited = octoc("report", "s.octo", cwd=tmp_path).stdout
    assert "KEPT-MARK" not in edited and "avg_steps" in edited
    (tmp_path / "s.octo").write_text(source)
    assert "KEPT-MARK" in octoc("report", "s.octo", cwd=tmp_path).stdout

    # Any write of the state makes the kept reports stale: more units are added and run.
    grown = octoc("run", "s.octo", "--max-units", "600", cwd=tmp_path)
    assert "KEPT-MARK" not in grown.stdout
    report = octoc("report", "s.octo", cwd=tmp_path).stdout
    assert "KEPT-MARK" not in report and "600" in report
    assert meta(tmp_path, "kept_reports")["writes"] == meta(tmp_path, "writes")  # type: ignore[index]


def test_every_transaction_counts_as_a_write(tmp_path: Path) -> None:
    """The stamp the kept reports hold: the store bumps `writes` in every transaction, so a
    kept report made before another transaction no longer matches."""
    from octolang.runtime.store import RunStore

    shutil.copy(ROOT / "examples" / "drunken_sailor.octo", tmp_path / "s.octo")
    octoc("run", "s.octo", "--max-units", "20", cwd=tmp_path)
    [run] = (tmp_path / ".octo" / "runs").iterdir()
    before = meta(tmp_path, "writes")
    store = RunStore.open_existing(str(run / "state.sqlite"))
    try:
        with store.transaction() as db:
            store.set_meta(db, note="one")
        with store.transaction():
            pass
    finally:
        store.close()
    assert isinstance(before, int) and meta(tmp_path, "writes") == before + 2
    mark_kept_table(tmp_path, "STALE-MARK")
    assert "STALE-MARK" not in octoc("report", "s.octo", cwd=tmp_path).stdout


def test_kept_reports_that_are_not_whole_are_computed_again(tmp_path: Path) -> None:
    """A kept value without its texts (a damaged state) is not trusted: the reports are
    computed from the units, never a traceback."""
    shutil.copy(ROOT / "examples" / "drunken_sailor.octo", tmp_path / "s.octo")
    ran = octoc("run", "s.octo", "--max-units", "30", cwd=tmp_path)
    db = state(tmp_path)
    try:
        (value,) = db.execute("SELECT value FROM meta WHERE key = 'kept_reports'").fetchone()
        kept = json.loads(value)
        del kept["table"]
        with db:
            db.execute("UPDATE meta SET value = ? WHERE key = 'kept_reports'", (json.dumps(kept),))
    finally:
        db.close()
    report = octoc("report", "s.octo", cwd=tmp_path)
    assert report.stdout.split("report by_start")[1].split("\n\n")[0] in ran.stdout
