"""`--json` on `octoc runs`, `inspect` and `cancel`; `octoc runs` finds the runs of the
folders below the current one; every option says what it does, with an example."""

from __future__ import annotations

import json
from pathlib import Path

import click

from octolang.cli import main
from tests.conftest import octoc

DICE = """\
pipeline dice
seed 3
model m = mock "any"
units rolls {
  vary sides in [4, 6]
  trials 2
}
step roll = compute {
  output { face: int[1..] }
  code \"\"\"
    return {"face": rng.randint(1, unit.sides)}
  \"\"\"
}
step say = llm m {
  prompt "Say {{ roll.face }}."
  output { word: string }
}
report r {
  mean_face = mean(roll.face)
  words     = count()
}
"""


def make_project(top: Path, *names: str) -> None:
    for name in names:
        folder = top / name
        folder.mkdir(parents=True)
        (folder / "dice.octo").write_text(DICE.replace("pipeline dice", f"pipeline {Path(name).name}"))


def test_runs_lists_the_runs_of_folders_below_and_says_so_in_json(tmp_path: Path) -> None:
    make_project(tmp_path, "a", "deep/er/b", ".hidden/c")
    for name in ("a", "deep/er/b", ".hidden/c"):
        octoc("run", "dice.octo", cwd=tmp_path / name)
    text = octoc("runs", cwd=tmp_path).stdout
    lines = text.splitlines()
    assert lines[0].startswith("run ") and len(lines) == 3, text
    assert lines[1].startswith("a-") and " finished " in lines[1] and lines[1].endswith(str(tmp_path / "a/dice.octo"))
    assert lines[2].startswith("b-") and lines[2].endswith(str(tmp_path / "deep/er/b/dice.octo"))

    answer = json.loads(octoc("runs", "--json", cwd=tmp_path).stdout)
    assert answer["version"] == 1
    assert answer["roots"] == [
        str(tmp_path / ".octo/runs"),
        str(tmp_path / "a/.octo/runs"),
        str(tmp_path / "deep/er/b/.octo/runs"),
    ]
    assert [(r["pipeline"], r["state"], r["done"], r["failed"], r["spend"]) for r in answer["runs"]] == [
        ("a", "finished", 4, 0, "0.0000"),
        ("b", "finished", 4, 0, "0.0000"),
    ]
    assert answer["runs"][0]["started_at"].endswith("Z") and answer["runs"][0]["duration_seconds"] >= 0

    # FILE, or --run-dir: only those runs, as before
    only = json.loads(octoc("runs", "a/dice.octo", "--json", cwd=tmp_path).stdout)
    assert [r["pipeline"] for r in only["runs"]] == ["a"]
    empty = octoc("runs", cwd=tmp_path / "deep/er/b/.octo")
    assert empty.stdout.startswith("no runs under ")


def test_inspect_json_tells_the_same_story(tmp_path: Path) -> None:
    make_project(tmp_path, "p")
    folder = tmp_path / "p"
    octoc("run", "dice.octo", cwd=folder)
    story = json.loads(octoc("inspect", "dice.octo", "sides=6/trial=2", "--json", cwd=folder).stdout)
    assert story["version"] == 1 and story["run"].startswith("p-")
    assert (story["unit"], story["status"], story["fields"]) == ("sides=6/trial=2", "done", {"sides": 6, "trial": 2})
    face = story["outputs"]["roll"]["face"]
    assert 1 <= face <= 6 and set(story["outputs"]) == {"roll", "say"}
    (attempt,) = story["attempts"]
    assert (attempt["step"], attempt["attempt"], attempt["status"]) == ("say", 1, "done")
    assert attempt["prompt"] == f"Say {face}." and isinstance(attempt["output"], dict)
    text = octoc("inspect", "dice.octo", "sides=6/trial=2", cwd=folder).stdout
    assert f"[prompt]\nSay {face}." in text

    only = json.loads(octoc("inspect", "dice.octo", "sides=6/trial=2", "--step", "roll", "--json", cwd=folder).stdout)
    assert only["unit"] == "sides=6/trial=2" and set(only["outputs"]) == {"roll"} and only["attempts"] == []


def test_cancel_json_says_what_was_cancelled(tmp_path: Path) -> None:
    make_project(tmp_path, "p")
    folder = tmp_path / "p"
    octoc("run", "dice.octo", "--max-units", "1", cwd=folder)
    result = octoc("cancel", "dice.octo", "--json", cwd=folder)
    answer = json.loads(result.stdout)
    assert answer["version"] == 1 and answer["run"].startswith("p-")
    assert answer["cancelled"] is True and answer["by_running_process"] is False and isinstance(answer["said"], list)
    assert result.stderr == ""
    assert json.loads(octoc("status", "dice.octo", "--json", cwd=folder).stdout)["cancelled_at"] is not None


def test_every_option_says_what_it_does_and_one_that_takes_a_value_shows_an_example() -> None:
    missing = []
    for name, command in sorted(main.commands.items()):
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            text = param.help or ""
            takes_value = not param.is_flag and not param.count
            if not text or (takes_value and "e.g." not in text):
                missing.append(f"octoc {name} {param.opts[-1]}: {text!r}")
        assert command.help and "Example:" in command.help, f"octoc {name} has no example in its help"
    assert not missing, "\n".join(missing)
