"""A second referee for `openai_compatible`: the real LiteLLM proxy, on 127.0.0.1, answering
offline with its `mock_response` models (no model, no network: the cost map is the local copy).

Two models on it: `json`, an OpenAI-style model that takes every parameter, and `plain`, a
model of a provider LiteLLM knows takes neither `response_format` nor `seed` (it refuses
them with a 400 naming both: its UnsupportedParamsError, `drop_params` off). Realtime
pipelines run through `octoc run` against both, six calls in flight at once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from octolang.providers.base import Request
from octolang.providers.openai import OpenAICompatibleRealtime
from tests.conftest import octoc

pytest.importorskip("litellm.proxy.proxy_cli", reason="the test extra's litellm is not installed")

CONFIG = """\
model_list:
  - model_name: json
    litellm_params: {model: openai/octo-json, api_key: none, mock_response: '{"n": 3}'}
  - model_name: plain
    litellm_params: {model: petals/octo-plain, mock_response: '{"n": 4}'}
litellm_settings:
  drop_params: false
"""
START_TIMEOUT = 180.0  # seconds: the proxy imports a lot, on a shared machine


class Proxy:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def statuses(self) -> list[int]:
        """The statuses of the chat completions it answered so far (its access log)."""
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return [int(s) for s in re.findall(r'"POST /v1/chat/completions HTTP/1\.1" (\d{3})', text)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    folder = tmp_path_factory.mktemp("litellm")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY") and not k.startswith("LITELLM")}
    env.update(
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # never fetch the cost map
        LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY="true",  # loopback only, no key
        NO_PROXY="127.0.0.1",
    )
    env.pop("DATABASE_URL", None)
    log = folder / "proxy.log"
    command = "from litellm.proxy.proxy_cli import run_server; run_server()"
    args = ["--config", "config.yaml", "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", command, *args],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the LiteLLM proxy exited ({process.returncode}):\n{log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/health/liveliness", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the LiteLLM proxy did not start in {START_TIMEOUT:g} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield Proxy(url, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert "Failed to fetch" not in log.read_text(errors="replace")  # it never reached for the network


def pipeline(folder: Path, proxy: Proxy, model: str, units: int = 12) -> Path:
    path = folder / "p.octo"
    path.write_text(
        f"""pipeline litellm_check
seed 5
model m = openai_compatible "{model}" {{
  base_url = "{proxy.url}/v1", seed = 7, temperature = 0.5, max_tokens = 50, concurrency = 6
}}
units u {{ trials {units} }}
step a = llm m {{ prompt "Pick a number." output {{ n: int }} }}
report r {{ avg = mean(a.n) }}
""",
        encoding="utf-8",
    )
    return path


def run_answers(path: Path) -> tuple[dict[str, int], float]:
    """`octoc run`'s unit counts and the mean of the answers."""
    result = octoc("run", path.name, "--json", "--poll", "0.02", cwd=path.parent)
    out = json.loads(result.stdout)
    [group] = out["reports"]["reports"][0]["groups"]
    return out["status"]["units"], float(group["statistics"]["avg"]["value"])


def test_a_realtime_pipeline_runs_against_the_proxy(tmp_path: Path, proxy: Proxy) -> None:
    before = len(proxy.statuses())
    units, mean = run_answers(pipeline(tmp_path, proxy, "json"))
    assert units["done"] == 12 and units["failed"] == units["pending"] == 0 and mean == 3
    assert proxy.statuses()[before:] == [200] * 12  # structured output taken, nothing refused


def test_a_server_refusing_parameters_costs_one_refusal_per_call_in_flight(tmp_path: Path, proxy: Proxy) -> None:
    """`plain` refuses `response_format` and `seed`: each request refused drops both and is
    sent again (six in flight: at most six refusals), no unit fails or waits, and the model's
    later requests carry neither."""
    before = len(proxy.statuses())
    units, mean = run_answers(pipeline(tmp_path, proxy, "plain", units=30))
    assert units["done"] == 30 and units["failed"] == units["pending"] == 0 and mean == 4
    statuses = proxy.statuses()[before:]
    refusals = statuses.count(400)
    assert statuses.count(200) == 30 and 1 <= refusals <= 6, statuses


def test_the_fallback_is_per_request_and_remembered_per_model(proxy: Proxy) -> None:
    client = OpenAICompatibleRealtime(None, base_url=proxy.url + "/v1", backoff=0.01)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}

    def body(model: str) -> dict[str, object]:
        params = {"seed": 7, "temperature": 0.5}
        return {"provider": "openai_compatible", "model": model, "system": None, "prompt": "Pick a number.",
                "schema_name": "a", "schema": schema, "params": params}  # fmt: skip

    results = []
    lock = threading.Lock()

    def call(i: int) -> None:
        result = client.call(Request(f"u{i}-a-a1", body("plain")))
        with lock:
            results.append(result)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results] == ["ok"] * 6 and {r.text for r in results} == {'{"n": 4}'}
    assert client.dropped("plain") == {"response_format", "seed"}
    sent = json.loads(client.encode(Request("u9-a-a1", body("plain"))))
    assert "response_format" not in sent and "seed" not in sent and sent["temperature"] == 0.5
    assert "JSON Schema" in sent["messages"][-1]["content"]
    # the other model on the same client keeps its structured output and its seed
    assert client.dropped("json") == frozenset()
    sent = json.loads(client.encode(Request("u9-a-a1", body("json"))))
    assert sent["response_format"]["type"] == "json_schema" and sent["seed"] == 7
    assert client.call(Request("u10-a-a1", body("json"))).status == "ok"
    client.close()
