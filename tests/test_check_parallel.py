"""A big file's step checks run in two processes: the result must be exactly the serial one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from bench_check import generate
import octolang.check as check
from octolang.compiler import compile_source
from octolang.source import SourceFile

text = generate(800)
# mistakes in both halves: an unknown field, an unknown name (leaving s601 unused), an import
text = text.replace("{{ s0.total }}", "{{ s0.totl }}", 1)
text = text.replace("{{ s601.text }}", "{{ s9999.text }}", 1)
text = text.replace("    base = unit.size + (1 if s699.ok else 0)", "    import os", 1)

forks = []
real_fork = os.fork
def counting_fork():
    pid = real_fork()
    if pid:
        forks.append(pid)
    return pid
os.fork = counting_fork

def run():
    c = compile_source(SourceFile("big.octo", text))
    return {
        "diagnostics": [[d.code, d.message, str(d.span), d.span.end_col] for d in c.diagnostics],
        "depends_on": {s.name: s.depends_on for s in c.program.steps},
        "order": c.program.order,
    }

parallel = run()
assert len(forks) == 1, forks
check.PARALLEL_FROM = 10**9
serial = run()
assert len(forks) == 1
print(json.dumps({"same": parallel == serial, "codes": sorted({d[0] for d in parallel["diagnostics"]})}))
"""


def test_two_processes_give_the_serial_result() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT / "benchmarks")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith('"codes": ["E0103", "E0106", "E0601", "W0101"]}'), result.stdout
    assert '"same": true' in result.stdout
