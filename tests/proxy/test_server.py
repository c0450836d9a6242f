"""``headroom proxy`` and ``python -m headroom.proxy`` as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from headroom.cli import main as cli_main
from tests.helpers import stop_process
from tests.proxy.fake_upstream import FakeUpstream, free_port
from tests.test_wire import anthropic_body

SECRET = "sk-ant-api03-VERY-SECRET-KEY"


def wait_ready(url: str, proc: Any) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("proxy did not become ready")


def test_module_entry_point_banner_and_no_secrets_in_logs(fake: FakeUpstream) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "headroom.proxy", "--port", str(port), "--store", "memory",
         "--anthropic-url", fake.url, "--log-level", "debug"],  # type: ignore[attr-defined]
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(url, proc)
        headers = {"x-api-key": SECRET, "authorization": f"Bearer {SECRET}"}
        r = httpx.post(url + "/v1/messages", json=anthropic_body(), headers=headers, timeout=30)
        assert r.status_code == 200 and r.headers["x-headroom-compressed"] == "true"
        assert fake.received[-1].headers["x-api-key"] == SECRET
        stats = httpx.get(url + "/stats").json()
        assert stats["compressed"] == 1 and json.dumps(stats)
    finally:
        stop_process(proc)
    out, err = proc.communicate(timeout=10)
    assert f"http://localhost:{port}" in out
    assert f"export ANTHROPIC_BASE_URL=http://localhost:{port}" in out
    assert f"export OPENAI_BASE_URL=http://localhost:{port}/v1" in out
    assert SECRET not in out and SECRET not in err


def test_cli_subcommand_parses_flags(capsys: Any) -> None:
    with pytest.raises(SystemExit) as done:
        cli_main(["proxy", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--host", "--port", "--anthropic-url", "--openai-url", "--timeout", "--retrieval"):
        assert flag in text
