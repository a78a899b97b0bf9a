"""One writer per run: two `octoc run` started at the same instant on one run never both
write it. The race runs against the OpenAI emulator with a slow upload (the window in
which a second writer would see the first one's recorded chunk as a crash leftover and
send it again)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.conftest import octoc
from tests.emulators.base import Call, Faults, Reply
from tests.emulators.openai import OpenAIEmulator
from tests.providers_e2e import chunks_sent, environment, npc_pipeline

ROUNDS = 20
UPLOAD_DELAY = 0.2  # seconds an upload takes, outside the emulator's lock


class SlowUpload(OpenAIEmulator):
    def dispatch(self, call: Call) -> Reply:
        if call.method == "POST" and call.path == "/v1/files":
            time.sleep(UPLOAD_DELAY)
        return super().dispatch(call)


def faults() -> Faults:
    return Faults(malformed_rate=0.2, polls_to_end=2)


def start(folder: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "octolang", "run", "npc_dialogue.octo", "--once", "--poll", "0.01", *extra],
        cwd=folder,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_writers_racing_on_one_run_never_send_a_chunk_twice(tmp_path: Path) -> None:
    (tmp_path / "ref").mkdir()
    (tmp_path / "race").mkdir()
    npc_pipeline(tmp_path / "ref", "openai", units=6)
    with SlowUpload(seed=7, faults=faults()) as emulator:
        env = environment("openai", emulator)
        octoc("run", "npc_dialogue.octo", "--poll", "0.01", cwd=tmp_path / "ref", env=env)
        expected = octoc("report", "npc_dialogue.octo", "--json", cwd=tmp_path / "ref", env=env).stdout
        billed = sorted(emulator.billed)
    folder = tmp_path / "race"
    npc_pipeline(folder, "openai", units=6)
    refused = 0
    with SlowUpload(seed=7, faults=faults()) as emulator:
        env = environment("openai", emulator)
        deadline = time.monotonic() + 300  # a guard against a hang, not a speed target (the machine may be busy)
        for round_ in range(ROUNDS):
            assert time.monotonic() < deadline, f"round {round_}: the race took too long"
            waiting = ("--wait",) if round_ in (3, 11) else ()  # two rounds where both queue behind each other
            pair = [start(folder, env, *waiting), start(folder, env, *waiting)]
            results = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in pair]
            for p in pair:
                if p.stderr:
                    p.stderr.close()
            codes = sorted(code for code, _ in results)
            assert codes in ([0, 0], [0, 5]), results
            for code, err in results:
                assert "Traceback" not in err
                if code == 5:
                    refused += 1
                    assert not waiting
                    assert "is being run by another octoc (pid " in err and socket.gethostname() in err
                    assert "--wait" in err
            # two runs started at the same instant on a file without a run make one run
            assert len(list((folder / ".octo" / "runs").iterdir())) == 1
        octoc("run", "npc_dialogue.octo", "--poll", "0.01", cwd=folder, env=env)
        assert octoc("report", "npc_dialogue.octo", "--json", cwd=folder, env=env).stdout == expected
        assert sorted(emulator.billed) == billed  # no request billed twice
        assert emulator.batches_created == chunks_sent(folder)  # one batch per recorded chunk
    assert refused >= 1, "the two processes never overlapped: the race was not run"


SAILOR = Path(__file__).resolve().parents[1] / "examples" / "drunken_sailor.octo"


def test_readers_need_no_lock_while_a_run_is_written(tmp_path: Path) -> None:
    """`status`, `report`, `runs` work while another process holds the run; a second
    writer is refused at once naming the holder, and `--wait` goes on after it."""
    (tmp_path / "s.octo").write_text(SAILOR.read_text())
    octoc("run", "s.octo", "--max-units", "5", cwd=tmp_path)
    [run] = (tmp_path / ".octo" / "runs").iterdir()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(run / 'lock')!r}, os.O_RDONLY)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('held', flush=True)\n"
            "sys.stdin.readline()\n",  # held until told to let go
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def let_go() -> None:
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()

    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        assert "units: 5 done" in octoc("status", "s.octo", cwd=tmp_path).stdout
        assert "report by_start" in octoc("report", "s.octo", cwd=tmp_path).stdout
        assert run.name in octoc("runs", cwd=tmp_path).stdout
        busy = octoc("run", "s.octo", "--max-units", "8", cwd=tmp_path, check=False)
        assert busy.returncode == 5 and f"run {run.name} is being run by another octoc" in busy.stderr
        timer = threading.Timer(1.0, let_go)
        timer.start()
        started = time.monotonic()
        waited = octoc("run", "s.octo", "--max-units", "8", "--wait", cwd=tmp_path)
        timer.join()
        assert time.monotonic() - started > 1.0  # it queued behind the holder
        assert "units: 8 done" in waited.stderr
    finally:
        holder.kill()
        holder.wait()
