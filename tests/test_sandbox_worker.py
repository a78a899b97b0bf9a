"""Compute code in worker processes: each limit fails only its unit and the run goes on;
the OS filter holds when the Python policy is bypassed; results do not depend on the
workers; Ctrl-C and SIGTERM never hang and print no worker traceback."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from octolang.runtime.compute import CompiledStep, ComputeJob, run_compute
from octolang.sandbox.limits import WorkerLimits
from octolang.sandbox.output import cut, describe_failure, serialise
from tests.conftest import octoc

LIMITS = """\
pipeline limits "Each unit breaks one limit"

seed 1

units cases {
  vary kind in ["ok", "slow_c", "slow_py", "memory", "big_output", "big_message", "deep_output", "deep_message",
                "huge_int", "ok2"]
}

step probe = compute {
  output { kind: string, n: int }
  timeout 3s
  code \"\"\"
    k = unit.kind
    if k == "slow_c":
        return {"kind": str(sum(range(10**13))), "n": 0}
    if k == "slow_py":
        while True:
            pass
    if k == "memory":
        b = "z" * (1500 * 1024 * 1024)
        return {"kind": k, "n": len(b)}
    if k == "big_output":
        return {"kind": "x" * 5_000_000, "n": 1}
    if k == "big_message":
        raise ValueError("y" * 200_000_000)
    if k == "deep_output":
        v = []
        for i in range(100000):
            v = [v]
        return {"kind": v, "n": 1}
    if k == "deep_message":
        v = []
        for i in range(100000):
            v = [v]
        raise ValueError(v)
    if k == "huge_int":
        return {"kind": k, "n": 10**400}
    return {"kind": k, "n": 1}
  \"\"\"
}

report summary {
  mean_n = mean(probe.n)
  total = count()
}
"""


def _failures(status: str) -> dict[str, str]:
    """`kind -> reason` from `octoc status`'s lines `failed kind=K at probe: REASON`."""
    out = {}
    for line in status.splitlines():
        line = line.strip()
        if line.startswith("failed kind="):
            head, reason = line.split(": ", 1)
            out[head.split()[1].removeprefix("kind=")] = reason
    return out


def test_each_limit_fails_only_its_unit_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "p.octo").write_text(LIMITS)
    started = time.monotonic()
    octoc("run", "p.octo", "--workers", "2", cwd=tmp_path, timeout=120)
    took = time.monotonic() - started
    # Without the parent's deadline, sum(range(10**13)) alone runs for minutes.
    assert took < 30, took
    failures = _failures(octoc("status", "p.octo", cwd=tmp_path).stdout)
    assert set(failures) == {"slow_c", "slow_py", "memory", "big_output", "big_message", "deep_output", "deep_message"}
    late = "step `probe` ran longer than 3 s (set `timeout` on the step to allow more)"
    assert failures["slow_c"] == late
    assert failures["slow_py"] == late
    assert failures["memory"] == "step `probe` went over its memory limit (1,024 MB)"
    assert failures["big_output"] == (
        "step `probe` returned an output of 5,000,017 bytes, over the limit of 1,000,000 bytes"
    )
    assert failures["big_message"].endswith("... (cut: 200,000,000 characters in all)"), failures["big_message"][-200:]
    assert len(failures["big_message"]) < 2_200
    assert failures["deep_output"] == "step `probe` returned a value nested deeper than 64 levels"
    assert failures["deep_message"].endswith("ValueError: (its message could not be turned into text: RecursionError)")
    # The huge int is stored; the report says why it is not in the mean, and does not crash.
    report = octoc("report", "p.octo", cwd=tmp_path).stdout
    assert "mean_n: left out 1 value too large for a float" in report
    [group] = json.loads(octoc("report", "p.octo", "--json", cwd=tmp_path).stdout)["reports"][0]["groups"]
    assert group["done"] == 3
    assert group["statistics"]["mean_n"] == {
        "value": 1.0,
        "low": 1.0,
        "high": 1.0,
        "n": 2,
        "missing": 1,
        "kind": "mean",
        "note": "left out 1 value too large for a float",
    }
    # A resume has nothing left to do and does not fail on what is stored.
    octoc("run", "p.octo", cwd=tmp_path)


STEP = """\
pipeline w "workers"
seed 7
units u {
  vary n in [%s]
}
step s = compute {
  output { n: int, r: float }
  timeout 0.5s
  code \"\"\"
    if unit.n == %d:
        return {"n": len(str(sum(range(10**13)))), "r": 0.0}
    return {"n": unit.n, "r": rng.random()}
  \"\"\"
}
"""


def _compiled(compile_text: Callable[..., Any], count: int, slow: int = -1) -> CompiledStep:
    compilation = compile_text(STEP % (", ".join(str(i) for i in range(count)), slow))
    program = compilation.program
    assert program is not None, compilation.diagnostics
    step = program.step("s")
    assert step is not None
    return CompiledStep(step, program, "test.octo", seed=program.seed or 0)


def _jobs(count: int) -> list[ComputeJob]:
    return [ComputeJob(f"n={i}", {"unit": {"n": i}}, None) for i in range(count)]


def test_results_do_not_depend_on_the_workers(
    compile_text: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    step = _compiled(compile_text, 500)
    one = run_compute(step, _jobs(500), 1)
    two = run_compute(step, _jobs(500), 2)
    assert one == two
    from octolang.sandbox import worker

    monkeypatch.setattr(worker, "FLUSH_CHARS", 100)  # a batch's outcomes in many messages
    assert run_compute(step, _jobs(500), 2) == one
    assert [o.unit_id for o in one] == [f"n={i}" for i in range(500)]
    assert all(o.error is None for o in one)


def test_a_unit_killed_at_its_deadline_fails_alone(compile_text: Callable[..., Any]) -> None:
    """Unit 20 sits in one C call: its worker is killed, the rest of its batch runs again."""
    reference = run_compute(_compiled(compile_text, 300), _jobs(300), 2)
    started = time.monotonic()
    outcomes = run_compute(_compiled(compile_text, 300, slow=20), _jobs(300), 2)
    assert time.monotonic() - started < 10
    assert outcomes[20].output is None
    assert outcomes[20].error == "step `s` ran longer than 0.5 s (set `timeout` on the step to allow more)"
    assert outcomes[:20] + outcomes[21:] == reference[:20] + reference[21:]


def _bypass(target: Path) -> Callable[..., dict[str, Any]]:
    """Plain Python handed to a worker in place of the compiled code: what a policy bypass
    would reach (`os`, `socket`, `subprocess`). The hook exists only in this test."""

    def code(**_: Any) -> dict[str, Any]:
        import socket

        tried: dict[str, str] = {}

        def attempt(name: str, action: Callable[[], object]) -> None:
            try:
                action()
                tried[name] = "allowed"
            except OSError as exc:
                tried[name] = f"{type(exc).__name__} {exc.errno}"

        def fork() -> None:
            if os.fork() == 0:
                os._exit(0)

        attempt("write", lambda: open(target, "w").close())
        attempt("append", lambda: open(os.devnull, "a").close())
        attempt("mkdir", lambda: os.mkdir(str(target) + ".d"))
        attempt("fork", fork)
        attempt("spawn", lambda: subprocess.run(["/bin/true"], check=False))
        attempt("socket", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        attempt("unix", lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
        attempt("read", lambda: open("/proc/self/status").close())
        tried["environ"] = str(len(os.environ))
        tried["fds"] = str(len(os.listdir("/proc/self/fd")))
        return {"report": json.dumps(tried)}

    return code


def test_the_os_filter_holds_when_the_policy_is_bypassed(
    compile_text: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    compilation = compile_text(
        'pipeline b "b"\nunits u {\n  vary n in [1]\n}\n'
        'step s = compute {\n  output { report: string }\n  code """\n    return {"report": ""}\n  """\n}\n'
    )
    program = compilation.program
    assert program is not None
    step = program.step("s")
    assert step is not None
    compiled = CompiledStep(step, program, "test.octo", seed=1)
    target = tmp_path / "written.txt"
    compiled.code = _bypass(target)  # type: ignore[assignment]
    [outcome] = run_compute(compiled, [ComputeJob("n=1", {"unit": {"n": 1}}, None)], 1)
    assert outcome.error is None, outcome.error
    assert outcome.output is not None
    tried = json.loads(outcome.output["report"])
    refused = "PermissionError 1"
    assert tried["write"] == refused
    assert tried["append"] == refused
    assert tried["mkdir"] == refused
    assert tried["fork"] == refused
    assert tried["spawn"] == refused
    assert tried["socket"] == refused
    assert tried["unix"] == refused
    assert tried["read"] == "allowed"  # reads are not filtered (see docs/architecture.md)
    assert tried["environ"] == "0"  # the worker's environment is emptied: no key to read
    # 0, 1, 2, the two pipes, and the descriptor listing /proc/self/fd: nothing inherited.
    assert tried["fds"] == "6"
    assert not target.exists()
    assert not Path(str(target) + ".d").exists()


def test_output_helpers_bound_what_they_return() -> None:
    limits = WorkerLimits(output_bytes=100, message_chars=10, output_depth=3)
    assert cut("abc", 10) == "abc"
    assert cut("a" * 25, 10) == "aaaaaaaaaa... (cut: 25 characters in all)"
    assert serialise({"a": [[1]]}, limits).text == '{"a":[[1]]}'
    assert serialise({"a": [[[1]]]}, limits).problem == "a value nested deeper than 3 levels"
    assert serialise({"a": "x" * 200}, limits).problem == "an output of 208 bytes, over the limit of 100 bytes"
    assert serialise({"a": float("nan")}, limits).problem == (
        "a value that is not JSON data: Out of ran... (cut: 48 characters in all)"
    )
    assert serialise({"a": 10**5000}, limits).problem == "an int of more than 4,300 digits"
    deep: list[Any] = []
    for _ in range(10_000):
        deep = [deep]
    try:
        raise ValueError(deep)
    except ValueError as exc:
        assert describe_failure(exc, "x.octo", WorkerLimits()) == (
            "ValueError: (its message could not be turned into text: RecursionError)"
        )


# ---------------------------------------------------------------- signals

SPIN = """\
pipeline spin "spin"
seed 3
units u {
  vary k in [1, 2]
  trials 3000
}
step s = compute {
  output { x: int }
  code \"\"\"
    x = 0
    for i in range(1500):
        x += i % (unit.k + 2)
    return {"x": x + rng.randint(0, 9)}
  \"\"\"
}
report r {
  group by unit.k
  mean_x = mean(s.x)
}
"""
SIGNAL_ROUNDS = 30  # issue 11: at least 30 signals at random moments, each kind


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_during_a_parallel_step_never_hangs(tmp_path: Path, signum: int, code: int) -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    chooser = random.Random(seed)
    reference = tmp_path / "reference"
    reference.mkdir()
    (reference / "p.octo").write_text(SPIN)
    octoc("run", "p.octo", "--workers", "2", cwd=reference)
    expected = octoc("report", "p.octo", "--json", cwd=reference).stdout
    (tmp_path / "p.octo").write_text(SPIN)
    interrupted = 0
    for _ in range(SIGNAL_ROUNDS):
        process = subprocess.Popen(  # a new run each round: every signal lands while units are computed
            [sys.executable, "-m", "octolang", "run", "p.octo", "--workers", "2", "--fresh"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            # as from a terminal: a shell that started these tests in the background gave
            # them SIGINT ignored, which octoc (as any program) would inherit and keep
            preexec_fn=_default_sigint,
        )
        assert process.stderr is not None
        assert "run" in process.stderr.readline()  # `started run ...`: the compute step begins
        time.sleep(chooser.uniform(0.05, 0.8))
        if process.poll() is None:
            os.killpg(process.pid, signum)
        try:
            _, stderr = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("octoc run hung after the signal")
        if "interrupted" not in stderr:  # finished before the signal, or as it came (while exiting)
            assert " 0 pending of " in stderr and "Traceback" not in stderr, stderr
            continue
        assert process.returncode == code, stderr
        assert "Traceback" not in stderr
        assert "interrupted; the run is saved. Resume with `octoc run p.octo`." in stderr, stderr
        interrupted += 1
        deadline = time.monotonic() + 5
        while _group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _group_members(process.pid) == [], "a worker outlived octoc run"
    assert interrupted, "every run finished before its signal; make the test pipeline bigger"
    octoc("run", "p.octo", "--workers", "2", cwd=tmp_path)
    assert octoc("report", "p.octo", "--json", cwd=tmp_path).stdout == expected


def _one_field_step(compile_text: Callable[..., Any]) -> CompiledStep:
    compilation = compile_text(
        'pipeline b "b"\nunits u {\n  vary n in [1]\n}\n'
        'step s = compute {\n  output { n: int }\n  code """\n    return {"n": unit.n}\n  """\n}\n'
    )
    program = compilation.program
    assert program is not None
    step = program.step("s")
    assert step is not None
    return CompiledStep(step, program, "test.octo", seed=1)


def test_a_worker_that_dies_fails_only_the_unit_it_was_running(compile_text: Callable[..., Any]) -> None:
    compiled = _one_field_step(compile_text)

    def code(unit: Any, **_: Any) -> dict[str, Any]:
        if unit.n == 3:
            os.abort()  # what a crash in C looks like to the runner
        return {"n": unit.n}

    compiled.code = code  # type: ignore[assignment]
    jobs = [ComputeJob(f"n={i}", {"unit": {"n": i}}, None) for i in range(10)]
    outcomes = run_compute(compiled, jobs, 1)
    assert [o.output for o in outcomes] == [{"n": i} if i != 3 else None for i in range(10)]
    assert outcomes[3].error == "step `s` did not finish: its worker process was killed by SIGABRT"


def test_without_the_os_boundary_compute_code_does_not_run(
    compile_text: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from octolang.sandbox import limits

    def unavailable() -> None:
        raise limits.SandboxUnavailable("the seccomp library could not be loaded (test); install libseccomp2")

    monkeypatch.setattr(limits, "install_syscall_filter", unavailable)
    compiled = _one_field_step(compile_text)
    with pytest.raises(limits.SandboxUnavailable, match="install libseccomp2"):
        run_compute(compiled, [ComputeJob("n=1", {"unit": {"n": 1}}, None)], 1)
