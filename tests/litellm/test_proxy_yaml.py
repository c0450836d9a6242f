"""The LiteLLM proxy server loading Headroom from a YAML config, and the LiteLLM proxy
app wrapped in CompressionMiddleware: both started once per test session, as child
processes in front of the fake upstream. LiteLLM's ``[proxy]`` extra needs a
``litellm-proxy`` package this registry lacks; CI installs the server's dependencies
by name. Where they are missing, these tests skip and say why."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headroom.retrieval import RETRIEVE_TOOL_NAME
from tests.proxy.fake_upstream import FakeUpstream, ServerThread, free_port
from tests.proxy.test_proxy import LOG, retrieving
from tests.test_wire import anthropic_body, chat_body

httpx = pytest.importorskip("httpx", reason="the tests' HTTP client (the dev extra)")

ROOT = Path(__file__).resolve().parents[2]
FINAL = "The error is card_declined."
CONFIG = """\
model_list:
  - model_name: gpt-4o
    litellm_params: {{model: openai/gpt-4o, api_base: "{url}/v1", api_key: sk-fake}}
  - model_name: claude
    litellm_params: {{model: anthropic/claude-sonnet-4-5, api_base: "{url}", api_key: sk-fake}}
litellm_settings:
{callbacks}
"""
CALLBACK = '  callbacks: ["headroom.integrations.litellm_callback.headroom_callback"]'
WITH_MIDDLEWARE = """\
import sys, uvicorn
from litellm.proxy.proxy_server import app
from headroom.integrations.asgi import CompressionMiddleware
app.add_middleware(CompressionMiddleware)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


class LiteLLMProxy:
    def __init__(self, cmd: list[str], env: dict[str, str], log: Path) -> None:
        self.port = int(cmd[-1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc = subprocess.Popen(
            cmd, cwd=log.parent, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )

    def wait(self, timeout: float = 240) -> str | None:
        """None once it answers; else why it did not start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return self.log.read_text(errors="replace")[-2000:]
            try:
                if httpx.get(self.url + "/health/liveliness", timeout=2).status_code == 200:
                    return None
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        return "did not answer within the time limit"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="session")
def litellm_servers(tmp_path_factory: Any) -> Iterator[tuple[FakeUpstream, Any, Any, str]]:
    missing = subprocess.run(
        [sys.executable, "-c", "import fastapi, backoff, apscheduler, semver, litellm.proxy"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if missing.returncode:
        reason = (missing.stderr.strip().splitlines() or ["unknown"])[-1]
        print(f"\nLiteLLM proxy tests skipped: its server dependencies are missing: {reason}")
        pytest.skip(f"the LiteLLM proxy's server dependencies are missing: {reason}")
    fake = FakeUpstream()
    tmp = tmp_path_factory.mktemp("litellm_proxy")
    key = "sk-" + secrets.token_hex(24)
    with ServerThread(fake.app()) as upstream:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_MASTER_KEY": key,
            "LITELLM_TELEMETRY": "False",
        }
        (tmp / "with_callback.yaml").write_text(CONFIG.format(url=upstream.url, callbacks=CALLBACK))
        (tmp / "plain.yaml").write_text(CONFIG.format(url=upstream.url, callbacks="  {}"))
        (tmp / "serve.py").write_text(WITH_MIDDLEWARE)
        py = [sys.executable, "-W", "ignore"]
        cli = [*py, "-m", "litellm.proxy.proxy_cli", "--host", "127.0.0.1"]
        yaml_proxy = LiteLLMProxy(
            [*cli, "--config", str(tmp / "with_callback.yaml"), "--port", str(free_port())],
            env,
            tmp / "with_callback.log",
        )
        wrapped = LiteLLMProxy(
            [*py, str(tmp / "serve.py"), str(free_port())],
            {**env, "CONFIG_FILE_PATH": str(tmp / "plain.yaml")},
            tmp / "with_middleware.log",
        )
        try:
            for proxy in (yaml_proxy, wrapped):
                why = proxy.wait()
                if why is not None:
                    pytest.fail(f"the LiteLLM proxy did not start:\n{why}")
            yield fake, yaml_proxy, wrapped, key
        finally:
            yaml_proxy.stop()
            wrapped.stop()


def post(proxy: Any, key: str, path: str, body: dict[str, Any]) -> Any:
    headers = {"authorization": f"Bearer {key}"}
    return httpx.post(proxy.url + path, json=body, headers=headers, timeout=60)


def round_trip(fake: FakeUpstream, proxy: Any, key: str, path: str, body: dict[str, Any]) -> Any:
    fake.received.clear()
    fake.script = retrieving(FINAL)
    resp = post(proxy, key, path, body)
    assert resp.status_code == 200, resp.text
    assert RETRIEVE_TOOL_NAME not in resp.text
    first, second = (r.body.decode() for r in fake.received)
    assert len(first) < 5000 and RETRIEVE_TOOL_NAME in first and "card_declined" in first
    assert json.dumps(LOG)[1:-1] in second
    return resp


def test_yaml_callback_on_chat_completions(litellm_servers: Any) -> None:
    fake, proxy, _, key = litellm_servers
    resp = round_trip(fake, proxy, key, "/v1/chat/completions", chat_body())
    assert resp.json()["choices"][0]["message"]["content"] == FINAL


def test_yaml_callback_on_messages(litellm_servers: Any) -> None:
    fake, proxy, _, key = litellm_servers
    body = {**anthropic_body(), "model": "claude"}
    resp = round_trip(fake, proxy, key, "/v1/messages", body)
    assert resp.json()["content"] == [{"type": "text", "text": FINAL}]


def test_middleware_on_the_litellm_proxy_app(litellm_servers: Any) -> None:
    fake, _, wrapped, key = litellm_servers
    resp = round_trip(fake, wrapped, key, "/v1/chat/completions", chat_body())
    assert resp.json()["choices"][0]["message"]["content"] == FINAL
    assert resp.headers["x-headroom-compressed"] == "true"
    assert int(resp.headers["x-headroom-tokens-saved"]) > 0
