"""Account stops (a quota used up, a spent credit balance, billing off, a spend limit):
for each provider, at batch creation, inside a batch's results and on realtime calls, the
run pauses within one tick with the cause named (exit 4), nothing is failed and nothing
billed; once the emulator lifts the stop, `octoc run` finishes and the emulator's bill
equals that of a run that was never stopped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import octoc
from tests.emulators.base import Faults
from tests.providers_e2e import environment, npc_pipeline, paid_attempts, serving

SEED = 5  # the emulators' seed: the same answers, hence the same gate verdicts, in both runs
# provider -> (the stop its emulator answers with, words of the cause the run names)
STOPS = {
    "openai": ("quota", "openai: the quota is used up"),
    "anthropic": ("credit", "anthropic: the credit balance is too low"),
    "gemini": ("quota", "gemini: the project has no quota for this model (limit: 0)"),
}
WHERE = ("create", "results", "realtime")
CONCURRENCY = 8  # realtime calls in flight at once (the default): at most that many are refused


def uninterrupted(folder: Path, provider: str, mode: str) -> tuple[list[str], str]:
    """The bill of a run that meets no stop, and its report."""
    folder.mkdir()
    path = npc_pipeline(folder, provider, mode=mode)
    with serving(provider, seed=SEED) as emulator:
        env = environment(provider, emulator)
        octoc("run", path.name, "--poll", "0.02", cwd=folder, env=env, timeout=120)
        return sorted(emulator.billed), octoc("report", path.name, "--json", cwd=folder, env=env).stdout


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("provider", sorted(STOPS))
def test_an_account_stop_pauses_the_run_and_the_run_after_the_fix_pays_nothing_twice(
    tmp_path: Path, provider: str, where: str
) -> None:
    mode = "realtime" if where == "realtime" else "batch"
    expected, report = uninterrupted(tmp_path / "clean", provider, mode)
    stop, cause = STOPS[provider]
    folder = tmp_path / "stopped"
    folder.mkdir()
    path = npc_pipeline(folder, provider, mode=mode)
    faults = Faults(account_stop=stop, account_stop_at=frozenset({where}))
    with serving(provider, seed=SEED, faults=faults) as emulator:
        env = environment(provider, emulator)
        paused = octoc("run", path.name, "--poll", "0.02", cwd=folder, env=env, check=False, timeout=120)
        assert paused.returncode == 4, paused.stderr
        assert f"paused: {cause}" in paused.stderr and "Traceback" not in paused.stderr
        assert "`octoc run npc_dialogue.octo` goes on" in paused.stderr
        assert "trying again" not in paused.stderr  # paused in the tick that met the stop, never looped
        refused = [c for c in emulator.log if c[2] >= 400]
        if where == "realtime":
            assert 1 <= len(refused) <= CONCURRENCY, refused
        else:
            assert len(refused) == (1 if where == "create" else 0), refused
        assert emulator.billed == []
        status = json.loads(octoc("status", path.name, "--json", cwd=folder, env=env).stdout)
        assert status["paused"]["cause"] == cause
        assert status["units"]["failed"] == 0 and status["units"]["pending"] == 6
        assert f"paused: {cause}" in octoc("status", path.name, cwd=folder, env=env).stdout

        faults.account_stop = None  # the user paid; the provider lifts the stop
        done = octoc("run", path.name, "--poll", "0.02", cwd=folder, env=env, timeout=120)
        assert "the run was paused" in done.stderr
        assert sorted(emulator.billed) == expected, "a request was billed twice, or one is missing"
        assert sorted(emulator.billed) == paid_attempts(folder) or mode == "realtime"
        status = json.loads(octoc("status", path.name, "--json", cwd=folder, env=env).stdout)
        assert status["paused"] is None and status["units"]["pending"] == 0
        assert octoc("report", path.name, "--json", cwd=folder, env=env).stdout == report


@pytest.mark.parametrize(
    ("provider", "stop", "cause"),
    [
        ("openai", "billing", "openai: the quota is used up"),
        ("anthropic", "spend", "anthropic: the spend limit is reached"),
        ("anthropic", "billing", "anthropic: the credit balance is too low"),
        ("gemini", "billing", "gemini: billing is not active"),
    ],
)
def test_every_kind_of_account_stop_pauses_with_its_cause(tmp_path: Path, provider: str, stop: str, cause: str) -> None:
    path = npc_pipeline(tmp_path, provider)
    with serving(provider, seed=SEED, faults=Faults(account_stop=stop)) as emulator:
        env = environment(provider, emulator)
        paused = octoc("run", path.name, "--poll", "0.02", cwd=tmp_path, env=env, check=False)
        creates = [c for c in emulator.log if c[0] == "POST" and c[2] >= 400]
    assert paused.returncode == 4 and f"paused: {cause}" in paused.stderr, paused.stderr
    assert len(creates) == 1  # no retry of an account stop, however the provider says it


def test_a_refused_key_pauses_the_run_and_the_right_key_goes_on(tmp_path: Path) -> None:
    path = npc_pipeline(tmp_path, "openai")
    with serving("openai", seed=SEED) as emulator:
        env = environment("openai", emulator)
        wrong = {**env, "OPENAI_API_KEY": "sk-wrong-0000"}
        paused = octoc("run", path.name, "--poll", "0.02", cwd=tmp_path, env=wrong, check=False)
        assert paused.returncode == 4 and "paused: openai: the key was refused" in paused.stderr
        assert "OPENAI_API_KEY" in paused.stderr and "sk-wrong-0000" not in paused.stderr
        octoc("run", path.name, "--poll", "0.02", cwd=tmp_path, env=env)
        assert len(emulator.billed) == len(set(emulator.billed))
