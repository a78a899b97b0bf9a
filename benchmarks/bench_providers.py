"""Provider throughput: 100,000 units sent to a provider's batch API and their results taken in.

    python benchmarks/bench_providers.py [--units 100000] [--provider openai|anthropic|gemini]

A pipeline with one llm step over a generated CSV runs with `octoc run --once` against the
provider's loopback emulator (tests/emulators/, in its own process), three ticks:
  1. render every prompt, record every request in the run state, cut chunks by the
     provider's limits, encode and upload them (the figure the issue targets: under
     30 s and 500 MB peak memory for 100,000 units);
  2. a poll (the emulator's batches start running);
  3. poll, download every result, parse, validate and record it (ingest).
Each tick's wall time and peak memory (max RSS of that process) are printed, beside a
baseline measured in the same run: writing the same request lines with json.dumps to a
file in a plain loop.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"openai": "gpt-4.1-mini", "anthropic": "claude-haiku-4-5", "gemini": "gemini-2.5-flash"}
PIPELINE = """pipeline throughput "one llm step over many units"
model writer = {provider} "{model}" {{ temperature = 0.9, max_tokens = 300 }}
type Line {{
  text: string[1..400]
  tone: "warm" | "curt" | "menacing"
}}
units npcs from "npcs.csv" {{ key name }}
step line = llm writer {{
  system "You write dialogue for a fantasy role-playing game."
  prompt "Write one line that {{{{ unit.name }}}}, a {{{{ unit.role }}}} in {{{{ unit.town }}}}, says to a stranger."
  output Line
}}
"""
SERVER = """
import sys, time
sys.path.insert(0, {root!r})
from tests.providers_e2e import emulator_for
from tests.emulators.base import Faults
emulator = emulator_for({provider!r}, faults=Faults(polls_to_end=2)).start()
print(emulator.base_url, flush=True)
sys.stdin.read()
"""


def write_units(folder: Path, units: int) -> None:
    roles, towns = ["smith", "guard", "innkeeper", "witch", "bard"], ["Ashford", "Brindle", "Coldwater"]
    with open(folder / "npcs.csv", "w", encoding="utf-8") as out:
        out.write("name,role,town\n")
        for i in range(units):
            out.write(f"npc{i:06d},{roles[i % 5]},{towns[i % 3]}\n")


def baseline(folder: Path, units: int, model: str) -> float:
    """The bare work of writing the request lines: one json.dumps per request."""
    start = time.perf_counter()
    with open(folder / "baseline.jsonl", "w", encoding="utf-8") as out:
        for i in range(units):
            body = {
                "model": model,
                "messages": [
                    {"role": "system", "content": "You write dialogue for a fantasy role-playing game."},
                    {"role": "user", "content": f"Write one line that npc{i:06d}, a smith in Ashford, says."},
                ],
                "temperature": 0.9,
                "max_tokens": 300,
            }
            out.write(json.dumps({"custom_id": f"u{i}-s0-a1", "body": body}) + "\n")
    return time.perf_counter() - start


def tick(folder: Path, env: dict[str, str]) -> tuple[float, float]:
    """One `octoc run --once`: (seconds, peak MB of that process)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "octolang", "run", "throughput.octo", "--once"],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"octoc run --once failed: {process.stderr.read().decode() if process.stderr else ''}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=100_000)
    parser.add_argument("--provider", choices=sorted(MODELS), default="openai")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.emulators.base import API_KEY
    from tests.providers_e2e import KEY_VARS, PROVIDERS, URL_VARS

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(root=str(ROOT), provider=args.provider)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().strip()
        env = {**os.environ, KEY_VARS[args.provider]: API_KEY}
        env[URL_VARS[args.provider]] = base_url + PROVIDERS[args.provider][1]
        with tempfile.TemporaryDirectory() as name:
            folder = Path(name)
            write_units(folder, args.units)
            model = MODELS[args.provider]
            (folder / "throughput.octo").write_text(PIPELINE.format(provider=args.provider, model=model))
            base = baseline(folder, args.units, model)
            submit = tick(folder, env)
            tick(folder, env)
            ingest = tick(folder, env)
            status = subprocess.run(
                [sys.executable, "-m", "octolang", "status", "throughput.octo", "--json"],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
            )
            units = json.loads(status.stdout)["units"]
    finally:
        server.stdin.close() if server.stdin else None
        server.wait(timeout=30)
    print(f"{args.units:,} units, provider {args.provider} (loopback emulator)")
    print(f"  baseline: json.dumps of the request lines    {base:7.2f} s")
    print(
        f"  tick 1: render, record, encode, upload        {submit[0]:7.2f} s  {submit[1]:6.0f} MB peak  "
        f"({submit[0] / base:.1f}x baseline; target < 30 s, < 500 MB)"
    )
    print(
        f"  tick 3: download, parse, validate, record     {ingest[0]:7.2f} s  {ingest[1]:6.0f} MB peak  "
        f"({ingest[0] / base:.1f}x baseline)"
    )
    print(f"  units after tick 3: {units}")


if __name__ == "__main__":
    main()
