"""The run that finishes reports from the tallies it kept as units ended
(runtime/live_reports.py), and those reports are the ones computed from the store, byte
for byte, on every example; a run that went through several processes is reported from
the store."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from octolang.compiler import compile_source, read_source
from octolang.runtime import kept_reports
from octolang.runtime.store import RunStore
from tests.conftest import octoc

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.octo"))


def state_of(folder: Path) -> Path:
    (path,) = (folder / ".octo" / "runs").glob("*/state.sqlite")
    return path


def kept_and_computed(folder: Path, name: str) -> tuple[tuple[str, str, str] | None, tuple[str, str, str]]:
    compiled = compile_source(read_source(name))  # as octoc compiled it: from its folder
    assert compiled.program is not None
    store = RunStore.reader(str(state_of(folder)))
    try:
        return kept_reports.kept(compiled.program, store), kept_reports.render(compiled.program, store)
    finally:
        store.close()


def copy_example(tmp_path: Path) -> None:
    for path in (ROOT / "examples").iterdir():
        shutil.copy(path, tmp_path / path.name)


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_live_tallies_give_the_reports_computed_from_the_store(
    tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    copy_example(tmp_path)
    octoc("run", name, "--provider", "mock", "--mock-invalid-rate", "0.2", "--max-units", "240", cwd=tmp_path)
    kept, computed = kept_and_computed(tmp_path, name)
    assert kept is not None  # the run kept the reports it tallied live...
    assert kept == computed  # ...and they are the store's, byte for byte
    assert json.loads(kept[0])["reports"]


def test_a_run_finished_by_a_second_process_reports_what_the_store_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    copy_example(tmp_path)
    octoc("run", "dice_duel.octo", "--max-units", "300", cwd=tmp_path)  # these units end in the first process
    octoc("run", "dice_duel.octo", "--max-units", "900", cwd=tmp_path)  # the second sees only the new ones
    kept, computed = kept_and_computed(tmp_path, "dice_duel.octo")
    assert kept == computed
    groups = json.loads(computed[0])["reports"][0]["groups"]
    assert sum(group["units"] for group in groups) == 900  # every unit, not only the second process's


def test_the_run_that_saw_every_unit_end_does_not_read_them_back_to_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from octolang import cli
    from octolang.runtime import status

    monkeypatch.chdir(tmp_path)
    copy_example(tmp_path)

    def read_back(*args: object, **kwargs: object) -> None:
        raise AssertionError("the reports were computed from the store")

    monkeypatch.setattr(status, "unit_outcomes", read_back)
    ran = CliRunner().invoke(cli.main, ["run", "drunken_sailor.octo", "--max-units", "600"])
    assert ran.exit_code == 0, ran.output
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    kept, computed = kept_and_computed(tmp_path, "drunken_sailor.octo")
    assert kept == computed
