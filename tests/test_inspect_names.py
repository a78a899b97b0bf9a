"""`octoc inspect` refuses a step or unit the run does not have, with the nearest name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import octoc

PIPELINE = """pipeline names
units u { vary k in [1, 2] trials 3 }
step judge = compute {
  output { p: float }
  code "return {\\"p\\": unit.k / 10}"
}
report r { avg = mean(judge.p) }
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("inspect")
    (path / "p.octo").write_text(PIPELINE)
    octoc("run", "p.octo", cwd=path)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["k=1/trial=1", "--step", "jduge"], "no step `jduge` in this pipeline; did you mean `judge`?"),
        (["k=1/trial=1", "--step", "zzz"], "no step `zzz` in this pipeline; the steps are `judge`"),
        (["k=1/trail=2"], "no unit `k=1/trail=2` in this run; did you mean `k=1/trial=2`?"),
        (["trial=3"], "no unit `trial=3` in this run; similar: k=1/trial=3, k=2/trial=3"),
        (["nothing-like-it"], "no unit `nothing-like-it` in this run"),
    ],
)
def test_an_unknown_step_or_unit_is_refused_with_the_nearest(folder: Path, args: list[str], message: str) -> None:
    result = octoc("inspect", "p.octo", *args, cwd=folder, check=False)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", message + "\n")


def test_a_known_step_and_unit_tell_the_story(folder: Path) -> None:
    result = octoc("inspect", "p.octo", "k=2/trial=1", "--step", "judge", cwd=folder)
    assert result.stdout.startswith('unit k=2/trial=1: done\n  fields: {"k":2,"trial":1}\n  judge -> {"p":0.2}')
