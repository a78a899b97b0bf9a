"""The cost estimate of 100,000 units of the NPC example: prompts rendered and counted per
second (target: the whole estimate under 10 s), beside a baseline measured in the same
run: tiktoken's bare o200k encode of the same prompt texts."""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNITS = 100_000
ROLES = ["blacksmith", "herbalist", "city guard", "fence", "ferrywoman", "innkeeper", "bard", "miller"]
TOWNS = ["Emberfall", "Mirewood", "Stonehollow", "Greyharbour", "Ashford", "Windmere"]


def write_npcs(folder: Path) -> None:
    with open(folder / "npcs.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", "role", "town"])
        for i in range(UNITS):
            writer.writerow([f"Npc{i:06d}", ROLES[i % len(ROLES)], TOWNS[i % len(TOWNS)]])


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from octolang.compiler import compile_source, read_source
    from octolang.cost.estimate import _render_all, estimate_cost
    from octolang.cost.tokens import encoding

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(ROOT / "examples" / "npc_dialogue.octo", folder / "npc_dialogue.octo")
        write_npcs(folder)
        program = compile_source(read_source(str(folder / "npc_dialogue.octo"))).program
        assert program is not None and program.unit_count == UNITS
        encoding()  # load the tokenizer outside both timings

        start = time.perf_counter()
        estimate = estimate_cost(program)
        elapsed = time.perf_counter() - start

        from octolang.runtime.unitset import enumerate_units

        units = [u.fields for u in enumerate_units(program)]
        texts: list[str] = []
        for step in estimate.steps:
            decl = program.step(step.step)
            model = program.model(decl.model or "") if decl else None
            assert decl is not None and model is not None
            systems, prompts, _, _ = _render_all(program, decl, model, units)
            texts += [(s or "") + p for s, p in zip(systems, prompts, strict=True)]
        start = time.perf_counter()
        for text in texts:
            encoding().encode_ordinary(text)
        baseline = time.perf_counter() - start

    prompts = sum(s.calls for s in estimate.steps)
    print(f"estimate of {UNITS:,} NPC units ({prompts:,} prompts in {len(estimate.steps)} steps)")
    print(
        f"  estimate (render + count + price):  {elapsed:6.2f} s  {prompts / elapsed:10,.0f} prompts/s  (target < 10 s)"
    )
    print(f"  baseline (bare tiktoken encode):    {baseline:6.2f} s  {prompts / baseline:10,.0f} prompts/s")
    print(f"  ratio estimate / baseline:          {elapsed / baseline:6.2f}x")
    print(f"  total {estimate.total:.4f} USD, input tokens {sum(s.input_tokens for s in estimate.steps):,}")


if __name__ == "__main__":
    main()
