"""Reuse against the OpenAI emulator, read through its bill: an edited judge's prompt pays
only the judge, an edited compute step pays nothing, a tightened validator pays only the
answers that now fail (runtime/reuse.py, takeover.py, answers.py)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from tests.conftest import octoc
from tests.emulators.base import API_KEY, Faults
from tests.providers_e2e import environment, npc_pipeline, serving

SEED = 5  # the emulator's seed: its answers, and so the gate's verdicts, are drawn from it


def latest_state(folder: Path) -> sqlite3.Connection:
    runs = sorted((folder / ".octo" / "runs").iterdir())
    return sqlite3.connect(runs[-1] / "state.sqlite")


def custom_ids(folder: Path, where: str = "1") -> list[str]:
    db = latest_state(folder)
    try:
        return sorted(r[0] for r in db.execute(f"SELECT custom_id FROM attempts WHERE {where}"))
    finally:
        db.close()


def results(folder: Path, step: str) -> dict[str, object]:
    db = latest_state(folder)
    try:
        return {u: json.loads(o) for u, o in db.execute("SELECT unit_id, output FROM results WHERE step = ?", (step,))}
    finally:
        db.close()


def reports(folder: Path, name: str, env: dict[str, str]) -> object:
    return json.loads(octoc("report", name, "--json", cwd=folder, env=env).stdout)["reports"]


def test_an_edited_judge_prompt_pays_only_the_judge(tmp_path: Path) -> None:
    first, fresh = tmp_path / "edited", tmp_path / "fresh"
    first.mkdir()
    fresh.mkdir()
    path = npc_pipeline(first, "openai")
    with serving("openai", seed=SEED, faults=Faults(polls_to_end=1)) as emulator:
        env = environment("openai", emulator)
        octoc("run", path.name, "--poll", "0.02", cwd=first, env=env)
        sent_back = {c.split("-")[0] for c in custom_ids(first, "step = 'line' AND generation > 0")}
        assert sent_back, "the gate sent no unit back: the test would not show gate rounds"
        path.write_text(path.read_text().replace("Score this line", "Rate this line"))
        shutil.copy(path, fresh / path.name)
        shutil.copy(first / "npcs.csv", fresh / "npcs.csv")

        checked = octoc("check", path.name, cwd=first, env=env).stdout
        before = len(emulator.billed)
        second = octoc("run", path.name, "--poll", "0.02", cwd=first, env=env)
        billed = emulator.billed[before:]
        review_sent = custom_ids(first, "step = 'review'")
        octoc("run", path.name, "--poll", "0.02", "--no-reuse", cwd=fresh, env=env)
        edited_report, fresh_report = reports(first, path.name, env), reports(fresh, path.name, env)
        shown = (
            octoc("status", path.name, cwd=first, env=env).stdout
            + octoc("report", path.name, cwd=first, env=env).stdout
        )

    # zero `line` requests (step 0), exactly the review's requests, gate rounds included
    assert billed and not [c for c in billed if "-s0-" in c]
    assert sorted(billed) == review_sent
    assert len(review_sent) > 6  # the review of every unit, and again after each gate round
    assert edited_report == fresh_report
    # the plan: said by `octoc check` before its estimate, and by `octoc run` before it starts
    # a unit the gate sent back runs `line` again from its first try (the review's feedback is in
    # its later tries); its requests are the same, so the answer store answers them
    kept = 6 - len(sent_back)
    assert f"reuse line for {kept} units" in checked and f"run line for {len(sent_back)} units" in checked
    assert "run review for 6 units" in checked
    assert checked.index("reusing run") < checked.index("estimate")
    assert "reusing run" in second.stderr and "run review for 6 units, $" in second.stderr
    assert (
        "reused (from run" in shown
        and f"line: {len(sent_back)} units from the answer store, {kept} units taken over" in shown
    )
    # no key in the answer store
    assert API_KEY.encode() not in (tmp_path / "edited" / ".octo" / "answers.sqlite").read_bytes()


MONTE_CARLO = """pipeline dice
seed 9
model m = openai "gpt-4.1-mini" { mode = batch }
units games { vary bias in ["low", "high"]  trials 6 }
step pick = llm m {
  prompt "Pick a die face for a {{ unit.bias }} game."
  output { face: int[1..6] }
}
step roll = compute {
  output { total: int }
  code "return {'total': pick.face + rng.randint(1, SIDES)}"
}
report r { group by unit.bias  n = count()  total = mean(roll.total) }
"""


def test_an_edited_compute_step_sends_no_llm_request(tmp_path: Path) -> None:
    edited, fresh = tmp_path / "edited", tmp_path / "fresh"
    for folder in (edited, fresh):
        folder.mkdir()
    (edited / "dice.octo").write_text(MONTE_CARLO.replace("SIDES", "6"))
    (fresh / "dice.octo").write_text(MONTE_CARLO.replace("SIDES", "20"))
    with serving("openai", seed=SEED) as emulator:
        env = environment("openai", emulator)
        octoc("run", "dice.octo", "--poll", "0.02", cwd=edited, env=env)
        before = len(emulator.billed)
        (edited / "dice.octo").write_text(MONTE_CARLO.replace("SIDES", "20"))
        second = octoc("run", "dice.octo", "--poll", "0.02", cwd=edited, env=env)
        sent = len(emulator.billed) - before
        octoc("run", "dice.octo", "--poll", "0.02", "--no-reuse", cwd=fresh, env=env)
    assert sent == 0, second.stderr
    assert "reuse pick for 12 units" in second.stderr and "run roll for 12 units" in second.stderr
    assert results(edited, "roll") == results(fresh, "roll") and len(results(fresh, "roll")) == 12
    assert results(edited, "pick") == results(fresh, "pick")


ONE_STEP = """pipeline lines
seed 4
model m = openai "gpt-4.1-mini" { mode = batch }
units npcs { vary who in ["smith", "guard", "witch", "bard", "cook", "monk"] }
step say = llm m {
  prompt "Say one line as a {{ unit.who }}.{% if feedback %} Fix: {{ feedback }}{% endif %}"
  output { text: string }
  validate { len(text) <= LIMIT : "too long" }
  retries 3
}
step size = compute {
  output { n: int }
  code "return {'n': len(say.text)}"
}
report r { n = count()  size = mean(size.n) }
"""


def test_a_tighter_validator_retries_only_the_answers_that_now_fail(tmp_path: Path) -> None:
    (tmp_path / "l.octo").write_text(ONE_STEP.replace("LIMIT", "1000"))
    with serving("openai", seed=SEED) as emulator:
        env = environment("openai", emulator)
        octoc("run", "l.octo", "--poll", "0.02", cwd=tmp_path, env=env)
        lengths = sorted(len(out["text"]) for out in results(tmp_path, "say").values())  # type: ignore[index]
        assert len(lengths) == 6 and lengths[3] < lengths[4], lengths  # a bound that exactly 2 answers pass over
        before = len(emulator.billed)
        (tmp_path / "l.octo").write_text(ONE_STEP.replace("LIMIT", str(lengths[3])))
        second = octoc("run", "l.octo", "--poll", "0.02", cwd=tmp_path, env=env)
        billed = emulator.billed[before:]
    assert "check again say for 4 units" in second.stderr and "run say for 2 units" in second.stderr
    assert len(billed) == 2 and all(c.endswith("-a2") for c in billed), billed
    final = results(tmp_path, "say")
    assert len(final) == 6 and all(len(out["text"]) <= lengths[3] for out in final.values())  # type: ignore[index]
    assert custom_ids(tmp_path, "status = 'invalid'") == sorted(c[: -len("a2")] + "a1" for c in billed)
