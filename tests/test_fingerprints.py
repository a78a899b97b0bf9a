"""Step fingerprints (octolang/check/fingerprints.py): what changes them and what does not."""

from __future__ import annotations

from octolang.check.fingerprints import step_fingerprints
from tests.conftest import assert_clean, compile_at

BASE = '''pipeline p "A title"
seed 3
const LIMIT = 5
const TONE = "calm"
model m = mock "m"
units u { vary topic in ["a", "b"]  trials 2 }

step draft = llm m {
  prompt "Write about {{ unit.topic }} in a {{ TONE }} voice."
  output { text: string, score: int[0..10] }
  validate { score >= 1 : "score at least 1" }
}

step judge = llm m {
  prompt "Judge this: {{ draft.text }}"
  output { ok: bool }
}

step count = compute {
  output { n: int }
  code """
    return {"n": len(draft.text) + LIMIT}
  """
}

step alone = compute {
  output { v: int }
  code "return {'v': unit.trial}"
}

gate judge.ok else retry draft max 1

report r { n = count()  mean_n = mean(count.n)  v = mean(alone.v) }
'''


def fingerprints(text: str) -> dict[str, str]:
    c = compile_at(text)
    assert_clean(c)
    return {name: fp.full for name, fp in step_fingerprints(c.program).steps.items()}


def changed(before: str, after: str) -> set[str]:
    old, new = fingerprints(before), fingerprints(after)
    assert old.keys() == new.keys()
    return {name for name in old if old[name] != new[name]}


def test_fingerprints_are_stable_and_one_per_step() -> None:
    assert fingerprints(BASE) == fingerprints(BASE)
    assert sorted(fingerprints(BASE)) == ["alone", "count", "draft", "judge"]


def test_a_one_word_prompt_change_upstream_invalidates_every_dependent() -> None:
    assert changed(BASE, BASE.replace("Write about", "Write on")) == {"draft", "judge", "count"}


def test_a_const_change_invalidates_exactly_the_steps_reading_it() -> None:
    # LIMIT is read by `count` alone (nothing downstream of it)
    assert changed(BASE, BASE.replace("const LIMIT = 5", "const LIMIT = 6")) == {"count"}
    # TONE is read by `draft`: its dependents follow
    assert changed(BASE, BASE.replace('"calm"', '"stern"')) == {"draft", "judge", "count"}


def test_reports_titles_comments_and_spacing_change_no_step() -> None:
    edited = (
        BASE.replace('"A title"', '"Another title"')
        .replace("report r { n = count()", "# a comment\nreport r { n = count()  extra = proportion(judge.ok)")
        .replace("step judge = llm m {", "\n\nstep judge = llm m {   # the judge")
    )
    assert changed(BASE, edited) == set()


def test_a_validator_change_moves_only_the_checks_part() -> None:
    c_old, c_new = compile_at(BASE), compile_at(BASE.replace("score >= 1", "score >= 2"))
    old = step_fingerprints(c_old.program).steps["draft"]
    new = step_fingerprints(c_new.program).steps["draft"]
    assert old.request == new.request and old.checks != new.checks and old.full != new.full
    # an output bound is a validator too: the request part stays
    bound = step_fingerprints(compile_at(BASE.replace("int[0..10]", "int[0..9]")).program).steps["draft"]
    assert bound.request == old.request and bound.checks != old.checks


def test_model_settings_and_the_run_provider_count_but_the_price_and_mode_do_not() -> None:
    assert changed(BASE, BASE.replace('model m = mock "m"', 'model m = mock "m" { temperature = 0.5 }')) == {
        "draft",
        "judge",
        "count",
    }
    assert changed(BASE, BASE.replace('model m = mock "m"', 'model m = mock "m" { mode = realtime }')) == set()
    program = compile_at(BASE).program
    assert step_fingerprints(program).steps["draft"] != step_fingerprints(program, provider="openai").steps["draft"]


def test_unit_fields_read_and_rng_seed() -> None:
    c = compile_at(BASE)
    fps = step_fingerprints(c.program).steps
    assert fps["draft"].unit_fields == ("topic",)
    assert fps["alone"].unit_fields == ("trial",)
    assert fps["count"].unit_fields == ()
    rng = BASE.replace("return {'v': unit.trial}", "return {'v': rng.randint(0, 3)}")
    assert step_fingerprints(compile_at(rng).program).steps["alone"].uses_rng
    assert changed(rng, rng.replace("seed 3", "seed 4")) == {"alone"}  # only the step drawing from rng


def test_gate_fingerprint_follows_its_judges() -> None:
    old = step_fingerprints(compile_at(BASE).program).gates
    new = step_fingerprints(compile_at(BASE.replace("Judge this", "Judge that")).program).gates
    assert len(old) == 1 and old != new
    assert step_fingerprints(compile_at(BASE.replace("const LIMIT = 5", "const LIMIT = 6")).program).gates == old
