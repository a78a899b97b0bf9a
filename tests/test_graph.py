"""`octoc graph` and `octolang/graph.py`: DOT for every example (snapshots), drawn formats,
the missing-Graphviz message, run colours after a mock run, and broken files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from octolang.cli import main
from octolang.graph import STATE_COLOURS, build_graph, render, report_reads, step_state, type_text
from octolang.runtime.status import RunStatus, StepStatus
from tests.conftest import EXAMPLE_FILES, REPO, compile_at
from tests.conftest import octoc as run_octoc

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(  # in CI (OCTO_CI, set by .ci/run) a missing `dot` fails instead
    not HAS_DOT and not os.environ.get("OCTO_CI"), reason="Graphviz's `dot` is not installed (apt-get install graphviz)"
)

TRICKY = """pipeline tricky "Cats & <dogs> say \\"hi\\""
model m = mock "any" { mode = realtime }
type Pair { a: int[0..9], b: list<string>[1..3]? }
units u { rows [{ x: 1 }, { x: 2 }] }
step first = llm m { prompt "{{ unit.x }}" output Pair }
step second = compute { output { y: float, tag: "<" | "&" } code "return {'y': first.a / 2, 'tag': '<'}" }
step third = compute { output { z: int } code "return {'z': 1}" }
gate second.tag != "&" and second.y < 4 else retry first max 3 feedback "try < again"
gate third.z > 0 else skip
report r { where second.y > 0  n = count()  share = proportion(second.tag == "<") }
report plain { n = count() }
"""


def octoc(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"NO_COLOR": "1"})
    return result.exit_code, result.stdout, result.stderr


def octoc_process(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_octoc(*args, cwd=cwd, env=env, check=False)


def step_fills(dot: str) -> dict[str, str]:
    """Step node id -> fill colour (a node's HTML label spans several lines)."""
    return dict(re.findall(r'^\t(step_\w+) \[label=<.*?>> fillcolor="(#\w+)"\]$', dot, flags=re.M | re.S))


def tricky_program(tmp_path: Path):  # type: ignore[no-untyped-def]
    compilation = compile_at(TRICKY, "tricky.octo", {}, tmp_path)
    assert compilation.ok, [d.message for d in compilation.diagnostics]
    return compilation.program


# ---------------------------------------------------------------- DOT snapshots


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_example_dot(path: Path, snapshot: SnapshotAssertion, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    code, out, err = octoc("graph", f"examples/{path.name}")
    assert (code, err) == (0, "")
    assert out.startswith(f"digraph {path.stem} {{") and out.rstrip().endswith("}")
    assert str(REPO) not in out and not re.search(r"20\d\d-?\d\d-?\d\d", out), "no paths or dates in DOT"
    assert out == snapshot


def test_dot_does_not_depend_on_where_it_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    here = octoc("graph", "examples/npc_dialogue.octo")[1]
    monkeypatch.chdir(tmp_path)
    assert octoc("graph", str(REPO / "examples" / "npc_dialogue.octo"))[1] == here
    assert octoc("graph", str(REPO / "examples" / "npc_dialogue.octo"), "-o", "out.dot")[0] == 0
    assert (tmp_path / "out.dot").read_text(encoding="utf-8") == here


def test_blackjack_graph_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    out = octoc("graph", "examples/blackjack.octo")[1]
    edges = re.findall(r"^\t(\w+) -> (\w+)", out, flags=re.M)
    assert edges == [
        ("units_hands", "step_deal"),
        ("step_deal", "step_play"),
        ("step_deal", "step_settle"),
        ("step_play", "step_settle"),
        ("step_settle", "report_edge"),
    ]
    assert "900 units" in out and "vary strategy ×3" in out and "trials 300" in out
    assert "openai gpt-4.1-mini · batch" in out
    assert 'actions: list&lt;"hit" | "stand"&gt;[1..12]' in out


# ---------------------------------------------------------------- the builder


def test_gates_reports_and_escaping(tmp_path: Path) -> None:
    source = build_graph(tricky_program(tmp_path)).source
    retry = re.search(r"^\tstep_second -> step_first \[(.*)\]$", source, flags=re.M)
    assert retry is not None, source
    assert "style=dashed" in retry[1] and "constraint=false" in retry[1]
    label = "second.tag != '&amp;' and second.y &lt; 4<br/>else retry · max 3<br/>feedback 'try &lt; again'"
    assert f"label=<{label}>" in retry[1]
    skip = re.search(r"^\tstep_third -> gate_2_skipped \[(.*)\]$", source, flags=re.M)
    assert skip is not None and "else skip" in skip[1] and "constraint" not in skip[1]
    assert "gate_2_skipped [label=skipped" in source
    assert 'Cats &amp; &lt;dogs&gt; say "hi"' in source
    assert "mock any · realtime" in source and "a: int[0..9]" in source and "b: list&lt;string&gt;[1..3]?" in source
    assert "where second.y &gt; 0" in source
    assert "\tstep_second -> report_r\n" in source
    assert "\tunits_u -> report_plain\n" in source, "a report reading no step hangs off the units"
    assert "2 inline rows" in source and "<b>2 units</b>" in source


@needs_dot
def test_escaped_labels_draw(tmp_path: Path) -> None:
    svg = render(build_graph(tricky_program(tmp_path)), "svg").decode()
    texts = [t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert 'Cats & <dogs> say "hi"' in " ".join(t or "" for t in texts)
    assert 'tag: "<" | "&"' in texts


def test_cost_lines(tmp_path: Path) -> None:
    program = tricky_program(tmp_path)
    source = build_graph(program, costs={"first": "est. $0.12 <batch>", "nosuch": "ignored"}).source
    assert source.count("est. $0.12 &lt;batch&gt;") == 1
    assert "ignored" not in source
    assert build_graph(program, costs={}).source == build_graph(program).source


def test_run_colours_from_counts(tmp_path: Path) -> None:
    program = tricky_program(tmp_path)
    status = RunStatus(
        units=2,
        done=0,
        pending=2,
        steps=[StepStatus("first", "llm", done=2), StepStatus("second", "compute", in_flight=1, failed=1)],
    )
    source = build_graph(program, run=status).source
    nodes = step_fills(source)
    assert nodes == {
        "step_first": STATE_COLOURS["running"],
        "step_second": STATE_COLOURS["in flight"],
        "step_third": STATE_COLOURS["waiting"],
    }
    assert "2 done · 0 failed · 0 in flight" in source and "0 done · 1 failed · 1 in flight" in source
    assert "0 done · 0 failed · 0 skipped · 2 pending" in source


def test_step_state() -> None:
    assert step_state(StepStatus("s", "llm"), pending=3) == "waiting"
    assert step_state(StepStatus("s", "llm", done=2), pending=3) == "running"
    assert step_state(StepStatus("s", "llm", done=2), pending=0) == "done"
    assert step_state(StepStatus("s", "llm", done=2, failed=1), pending=0) == "failed"
    assert step_state(StepStatus("s", "llm", failed=1, in_flight=4), pending=5) == "in flight"


def test_type_text_and_report_reads(tmp_path: Path) -> None:
    program = tricky_program(tmp_path)
    pair = program.types[0].record
    assert [type_text(f.type) for f in pair.fields] == ["int[0..9]", "list<string>[1..3]?"]
    second = program.step("second")
    assert second is not None and second.output is not None
    assert type_text(second.output) == "{y, tag}"
    position = {name: i for i, name in enumerate(program.order)}
    assert [report_reads(r, position) for r in program.reports] == [["second"], []]


# ---------------------------------------------------------------- output files and Graphviz


@needs_dot
def test_svg_is_drawn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    target = tmp_path / "blackjack.svg"
    code, out, err = octoc("graph", "examples/blackjack.octo", "-o", str(target))
    assert (code, out) == (0, ""), err
    root = ET.fromstring(target.read_bytes())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"deal", "play", "settle", "report edge", "900 units"} <= texts
    assert len([g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]) == 5


@needs_dot
@pytest.mark.parametrize(("suffix", "magic"), [("png", b"\x89PNG\r\n\x1a\n"), ("pdf", b"%PDF-")])
def test_png_and_pdf(tmp_path: Path, suffix: str, magic: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    target = tmp_path / f"sailor.{suffix.upper()}"
    assert octoc("graph", "examples/drunken_sailor.octo", "-o", str(target))[0] == 0
    assert target.read_bytes().startswith(magic)


@pytest.mark.parametrize("name", ["out.jpg", "out", "out.svg.txt"])
def test_unknown_suffix_is_a_usage_error(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    code, _, err = octoc("graph", "examples/blackjack.octo", "-o", str(tmp_path / name))
    assert code == 2
    assert "end the name with .dot, .svg, .png or .pdf" in err
    assert not (tmp_path / name).exists()


def test_missing_graphviz(tmp_path: Path) -> None:
    """With no `dot` on PATH: DOT still works, a drawing is a clear message and exit 1."""
    shutil.copy(REPO / "examples" / "blackjack.octo", tmp_path)
    env = {"PATH": str(tmp_path / "empty-bin"), "NO_COLOR": "1"}
    drawn = octoc_process("graph", "blackjack.octo", "-o", "out.svg", cwd=tmp_path, env=env)
    assert drawn.returncode == 1, drawn.stderr
    assert "needs Graphviz's `dot` program; it is not on PATH" in drawn.stderr
    assert "apt-get install graphviz" in drawn.stderr and "brew install graphviz" in drawn.stderr
    assert "Traceback" not in drawn.stderr and not (tmp_path / "out.svg").exists()
    dot = octoc_process("graph", "blackjack.octo", cwd=tmp_path, env=env)
    assert dot.returncode == 0 and dot.stdout.startswith("digraph blackjack {")
    assert octoc_process("graph", "blackjack.octo", "-o", "out.dot", cwd=tmp_path, env=env).returncode == 0
    assert (tmp_path / "out.dot").read_text(encoding="utf-8") == dot.stdout


# ---------------------------------------------------------------- --run


def test_run_colours_after_a_mock_run(tmp_path: Path) -> None:
    for name in ("npc_dialogue.octo", "npcs.csv"):
        shutil.copy(REPO / "examples" / name, tmp_path / name)
    before = octoc_process("graph", "npc_dialogue.octo", "--run", cwd=tmp_path)
    assert before.returncode == 1 and "no run of npc_dialogue.octo found" in before.stderr
    run = octoc_process("run", "npc_dialogue.octo", "--provider", "mock", "--poll", "0", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    status = json.loads(octoc_process("status", "npc_dialogue.octo", "--json", cwd=tmp_path).stdout)
    drawn = octoc_process("graph", "npc_dialogue.octo", "--run", cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    assert f"colours from run {status['run']}" in drawn.stderr
    assert status["run"] not in drawn.stdout, "no run id (it holds a date) in DOT"
    fills = step_fills(drawn.stdout)
    for step in status["steps"]:
        counts = f"{step['done']} done · {step['failed']} failed · {step['in_flight']} in flight"
        assert counts in drawn.stdout
        state = step_state(
            StepStatus(step["name"], step["kind"], **{k: step[k] for k in ("done", "failed", "in_flight")}),
            pending=status["units"]["pending"],
        )
        assert fills[f"step_{step['name']}"] == STATE_COLOURS[state]
    assert sum(s["done"] for s in status["steps"]) > 0
    units = status["units"]
    assert (
        f"{units['done']} done · {units['failed']} failed · {units['skipped']} skipped · {units['pending']} pending"
    ) in drawn.stdout
    # the run id named, and the flag before the file
    by_id = octoc_process("graph", "--run", status["run"], "npc_dialogue.octo", cwd=tmp_path)
    flag_first = octoc_process("graph", "--run", "npc_dialogue.octo", cwd=tmp_path)
    assert by_id.stdout == drawn.stdout == flag_first.stdout
    missing = octoc_process("graph", "npc_dialogue.octo", "--run", "nosuch", cwd=tmp_path)
    assert missing.returncode == 1 and "no run `nosuch` of npc_dialogue.octo found" in missing.stderr


# ---------------------------------------------------------------- broken files


def test_broken_file_gives_check_diagnostics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(REPO / "examples" / "npcs.csv", tmp_path)
    text = (REPO / "examples" / "npc_dialogue.octo").read_text(encoding="utf-8")
    Path("broken.octo").write_text(text.replace("{{ line.text }}", "{{ line.txt }}"), encoding="utf-8")
    code, out, err = octoc("graph", "broken.octo")
    assert (code, out) == (1, "")
    checked = octoc("check", "broken.octo")
    assert checked[0] == 1
    diagnostics = checked[1].split("\n\nbroken.octo: failed")[0]
    assert "error[E0103]: unknown field `txt` on `line`" in diagnostics
    assert err.startswith(diagnostics), err
    assert "broken.octo: 1 error(s); fix them with `octoc check broken.octo` before drawing" in err


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = octoc("graph", "nope.octo")
    assert (code, out) == (1, "")
    assert "error[E0010]: no such file: nope.octo" in err
