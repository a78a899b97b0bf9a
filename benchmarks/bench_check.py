"""Parse+check throughput on a generated large pipeline, and the CLI's cold start.

    python benchmarks/bench_check.py [--steps 2000]

Prints lines per second for parse+check, beside Lark's bare LALR parse of the same
text measured in the same run (the baseline), and the wall time of
`octoc check examples/drunken_sailor.octo` in a fresh process (median of 7).
Targets (issue 2): >= 30,000 lines/s; cold start < 0.4 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def generate(steps: int) -> str:
    """A pipeline with `steps` steps in chains of four: compute -> llm -> llm (judge) -> compute,
    with multi-line prompts and code, validators, gates and a report: about 25 lines a
    step, as in the examples."""
    out = [
        'pipeline big "A generated pipeline for the benchmark"',
        "seed 1",
        "const LIMIT = 200",
        'model writer = openai "gpt-4.1-mini" { temperature = 0.7, max_tokens = 300 }',
        'model judge = anthropic "claude-haiku-4-5" { max_tokens = 300 }',  # Claude takes no temperature (W0109)
        "type Answer {",
        '  text: string[1..400] "the answer"',
        '  tone: "warm" | "curt" | "neutral"',
        "  score: int[0..100]",
        "}",
        "units items {",
        '  rows [ { topic: "a", size: 1 }, { topic: "b", size: 2 } ]',
        "  vary level in [1, 2, 3]",
        "  trials 10",
        "}",
    ]
    for i in range(0, steps, 4):
        prev = f"s{i - 1}" if i else None
        source = f"unit.size + (1 if {prev}.ok else 0)" if prev else "unit.size"
        out += [
            f"step s{i} = compute {{",
            "  output { total: int, items: list<int> }",
            '  code """',
            f"    base = {source}",
            "    items = []",
            "    for _ in range(unit.level):",
            "        roll = rng.randint(0, 9)",
            "        if roll > 7:",
            "            roll = roll * 2",
            "        items.append(roll)",
            "    total = base + sum(items)",
            '    return {"total": total, "items": items}',
            '  """',
            "}",
            "",
            f"step s{i + 1} = llm writer {{",
            '  system """',
            "    You write short, factual answers for a knowledge base.",
            "    Use plain words. Do not invent numbers you were not given.",
            '  """',
            '  prompt """',
            "    Topic: {{ unit.topic }}, at difficulty level {{ unit.level }}.",
            f"    The running total so far is {{{{ s{i}.total }}}}.",
            "",
            "    The items drawn were:",
            f"    {{% for x in s{i}.items %}}",
            "    - item {{ x }}",
            "    {% endfor %}",
            "",
            "    Write two sentences that explain the total to a beginner,",
            "    then rate your own answer from 0 to 100.",
            "    {% if feedback %}",
            "    A reviewer rejected your last answer: {{ feedback }}",
            "    {% endif %}",
            '  """',
            "  output Answer",
            "  validate {",
            '    len(text) <= LIMIT : "too long"',
            '    score >= 0 and unit.topic not in text : "bad"',
            "  }",
            "  retries 2",
            "}",
            "",
            f"step s{i + 2} = llm judge {{",
            '  prompt """',
            f"    Rate this answer from 1 to 10: {{{{ s{i + 1}.text }}}}",
            f"    Its tone was {{{{ s{i + 1}.tone }}}}. Explain your rating in one sentence.",
            '  """',
            "  output { rating: int[1..10], why: string }",
            "}",
            f"gate s{i + 2}.rating >= 5 else retry s{i + 1} max 2 feedback s{i + 2}.why",
            "",
            f"step s{i + 3} = compute {{",
            "  output { ok: bool }",
            f"  code \"return {{'ok': s{i + 2}.rating > 5 and s{i + 1}.score > 10}}\"",
            "}",
            "",
        ]
    last = steps - 1 if steps % 4 == 0 else steps - 1 - (steps - 1) % 4 + 3
    out += [
        "report summary {",
        "  group by unit.topic, unit.level",
        "  n = count()",
        f"  good = proportion(s{last}.ok)",
        f"  mean_total = mean(s{last - 3}.total)",
        "}",
    ]
    return "\n".join(out) + "\n"


def bench_throughput(steps: int) -> None:
    from octolang.compiler import compile_source
    from octolang.source import SourceFile
    from octolang.syntax.grammar import parser

    text = generate(steps)
    lines = text.count("\n")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "big.octo")
        Path(path).write_text(text)
        lark = parser()
        lark.parse(text)  # warm caches
        baseline = min(_time(lambda: lark.parse(text)) for _ in range(3))
        compile_source(SourceFile(path, text))
        times = [_time_compile(compile_source, SourceFile(path, text)) for _ in range(3)]
    best = min(times)
    print(f"generated pipeline: {steps} steps, {lines:,} lines, {len(text) / 1e6:.1f} MB")
    print(f"lark parse only (baseline): {baseline:.2f} s  = {lines / baseline:,.0f} lines/s")
    print(f"parse + lower + check:      {best:.2f} s  = {lines / best:,.0f} lines/s  (target >= 30,000)")
    print(f"ratio check/baseline:       {best / baseline:.2f}x")


def _time_compile(compile_source: object, source: object) -> float:
    """Seconds to compile; the result is freed after the clock stops (as `octoc check`, which
    keeps it until the process exits, never pays for freeing it)."""
    start = time.perf_counter()
    result = compile_source(source)  # type: ignore[operator]
    seconds = time.perf_counter() - start
    errors = [d for d in result.diagnostics if d.is_error]
    if errors:
        raise SystemExit(f"generated pipeline does not check: {errors[0].code} {errors[0].message} at {errors[0].span}")
    return seconds


def _time(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def bench_cold_start() -> None:
    example = ROOT / "examples" / "drunken_sailor.octo"
    octoc = [sys.executable, "-m", "octolang"]
    subprocess.run([*octoc, "check", str(example)], capture_output=True, check=True)  # warm the table cache
    bare = [_time(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)) for _ in range(7)]
    runs = [
        _time(lambda: subprocess.run([*octoc, "check", str(example)], capture_output=True, check=True))
        for _ in range(7)
    ]
    print(f"python -c pass (baseline): {statistics.median(bare) * 1000:.0f} ms")
    print(
        f"octoc check {example.name} cold start: {statistics.median(runs) * 1000:.0f} ms median of 7  (target < 400 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3600, help="steps to generate (3,600 make ~50,000 lines)")
    args = parser.parse_args()
    bench_throughput(args.steps)
    bench_cold_start()


if __name__ == "__main__":
    main()
