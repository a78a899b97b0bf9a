"""Running the real CLI against the loopback emulators: a pipeline rewritten to use one
provider, the environment pointing the clients at the emulator, and readers for what the
run recorded. Shared by the end-to-end, crash and fault-storm tests."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.emulators.base import API_KEY, Emulator, Faults

ROOT = Path(__file__).resolve().parents[1]

# provider -> (model id, the base URL the client is given, relative to the emulator's root)
PROVIDERS = {
    "openai": ("gpt-4.1-mini", "/v1"),
    "anthropic": ("claude-haiku-4-5", ""),
    "gemini": ("gemini-2.5-flash", ""),
}
KEY_VARS = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY"}
URL_VARS = {"openai": "OPENAI_BASE_URL", "anthropic": "ANTHROPIC_BASE_URL", "gemini": "GEMINI_BASE_URL"}


def emulator_for(provider: str, *, seed: int = 0, faults: Faults | None = None) -> Emulator:
    if provider == "openai":
        from tests.emulators.openai import OpenAIEmulator

        return OpenAIEmulator(seed=seed, faults=faults)
    if provider == "anthropic":
        from tests.emulators.anthropic import AnthropicEmulator

        return AnthropicEmulator(seed=seed, faults=faults)
    from tests.emulators.gemini import GeminiEmulator

    return GeminiEmulator(seed=seed, faults=faults)


@contextmanager
def serving(provider: str, *, seed: int = 0, faults: Faults | None = None) -> Iterator[Emulator]:
    emulator = emulator_for(provider, seed=seed, faults=faults)
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


def environment(provider: str, emulator: Emulator) -> dict[str, str]:
    """The process environment of a run against `emulator`: its key and base URL, and
    short HTTP backoffs; no other provider's key."""
    env = {k: v for k, v in os.environ.items() if k not in KEY_VARS.values() and k not in URL_VARS.values()}
    env.pop("GOOGLE_API_KEY", None)
    env[KEY_VARS[provider]] = API_KEY
    env[URL_VARS[provider]] = emulator.base_url + PROVIDERS[provider][1]
    env["OCTO_HTTP_BACKOFF"] = "0.01"
    return env


def npc_pipeline(folder: Path, provider: str, *, mode: str = "batch", seed: int = 11, units: int = 0) -> Path:
    """examples/npc_dialogue.octo with both of its models on `provider`, in `mode`; with
    `units`, that many generated NPCs instead of the example's six."""
    if units:
        roles, towns = ["smith", "guard", "innkeeper", "witch", "bard"], ["Ashford", "Brindle", "Coldwater"]
        rows = [f"npc{i:05d},{roles[i % 5]},{towns[i % 3]}" for i in range(units)]
        (folder / "npcs.csv").write_text("name,role,town\n" + "\n".join(rows) + "\n", encoding="utf-8")
    else:
        shutil.copy(ROOT / "examples" / "npcs.csv", folder / "npcs.csv")
    text = (ROOT / "examples" / "npc_dialogue.octo").read_text(encoding="utf-8")
    model = PROVIDERS[provider][0]
    text = re.sub(
        r'^model (\w+) = \w+ "[^"]+"(?: \{ (.*?) \})?',
        lambda m: f'model {m[1]} = {provider} "{model}" {{ {m[2] + ", " if m[2] else ""}mode = {mode} }}',
        text,
        flags=re.M,
    )
    text = text.replace("pipeline npc_dialogue", f"seed {seed}\npipeline npc_dialogue", 1)
    path = folder / "npc_dialogue.octo"
    path.write_text(text, encoding="utf-8")
    return path


def state(folder: Path) -> sqlite3.Connection:
    [run] = (folder / ".octo" / "runs").iterdir()
    return sqlite3.connect(run / "state.sqlite")


def chunks_sent(folder: Path) -> int:
    """Chunks of the run under `folder` that were sent (have a batch id)."""
    db = state(folder)
    try:
        return int(db.execute("SELECT COUNT(*) FROM chunks WHERE batch_id IS NOT NULL").fetchone()[0])
    finally:
        db.close()


def paid_attempts(folder: Path) -> list[str]:
    """Custom ids of the attempts the run recorded an answer for (the ones a provider bills)."""
    db = state(folder)
    try:
        rows = db.execute("SELECT custom_id FROM attempts WHERE status IN ('done', 'invalid')").fetchall()
    finally:
        db.close()
    return sorted(str(r[0]) for r in rows)
