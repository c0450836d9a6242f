"""``headroom proxy --workers N`` as real processes: the startup warning without Redis,
and one rate limit and one retrieval store shared by every worker of two proxies."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("limits", reason="the proxy extra is not installed (pip install '.[proxy]')")

from headroom.markers import keys_in
from headroom.retrieval import RETRIEVE_TOOL_NAME
from tests.helpers import stop_process
from tests.proxy.fake_upstream import FakeUpstream, free_port, service_log
from tests.proxy.test_metrics import scrape, value
from tests.proxy.test_server import wait_ready
from tests.store_backends.conftest import REDIS_SERVER, RedisServer
from tests.test_wire import anthropic_body

LOG = service_log()


def start(*flags: str) -> tuple[str, subprocess.Popen[str]]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("HEADROOM_REDIS_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "headroom.proxy", "--port", str(port), *flags],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_ready(url, proc)
    return url, proc


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    pytest.importorskip("redis")
    server = RedisServer(REDIS_SERVER)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


def test_workers_without_redis_warn_at_startup(fake: FakeUpstream) -> None:
    url, proc = start("--workers", "2", "--store", "memory", "--anthropic-url", fake.url)  # type: ignore[attr-defined]
    try:
        assert httpx.get(url + "/livez").status_code == 200
    finally:
        stop_process(proc)
    _, err = proc.communicate(timeout=10)
    assert "2 workers without --redis" in err


def test_two_proxies_of_two_workers_share_one_limit_and_one_store(
    fake: FakeUpstream, redis: RedisServer, tmp_path: Path
) -> None:
    def script(body: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(body)
        if '"tool_use_id": "toolu_r' not in text and RETRIEVE_TOOL_NAME in text and pinned:
            return {"text": "Checking.", "tools": [{"name": RETRIEVE_TOOL_NAME, "input": pinned}]}
        return {"text": "done"}

    pinned: dict[str, str] = {}
    fake.script = script
    common = ["--workers", "2", "--redis", redis.url, "--global-rpm", "30",
              "--anthropic-url", fake.url, "--log-file", str(tmp_path / "requests.jsonl")]  # type: ignore[attr-defined]  # fmt: skip
    procs = []
    try:
        urls = []
        for _ in range(2):
            url, proc = start(*common)
            urls.append(url)
            procs.append(proc)
        headers = {"x-api-key": "sk-team", "anthropic-version": "2023-06-01"}
        # A key stored through one proxy is retrieved through the other.
        r = httpx.post(urls[0] + "/v1/messages", json=anthropic_body(LOG), headers=headers)
        assert r.status_code == 200 and r.headers["x-headroom-compressed"] == "true"
        pinned["key"] = keys_in(json.dumps(fake.received[-1].json()["messages"]))[0]
        n = len(fake.received)
        r = httpx.post(urls[1] + "/v1/messages", json=anthropic_body(LOG), headers=headers)
        assert r.status_code == 200
        assert "ord_00200" in "".join(x.body.decode() for x in fake.received[n:])
        pinned.clear()
        # One global limit over four worker processes (new connections spread the load).
        codes = []
        for i in range(50):
            r = httpx.post(
                urls[i % 2] + "/v1/messages", json=anthropic_body("short"), headers=headers
            )
            codes.append(r.status_code)
        assert codes.count(200) == 30 - 2 and codes.count(429) == 22
        # Each proxy's /metrics sums its two workers, whichever worker answers.
        for url in urls:
            for _ in range(4):
                m = scrape(url)
                n = sum(v for (name, _), v in m.items() if name == "headroom_proxy_requests_total")
                assert n == 26
                assert value(m, "headroom_proxy_rate_limited_total", limit="global") == 11
    finally:
        for proc in procs:
            stop_process(proc)
    # one log file per worker process, every line whole: 52 requests in all
    files = list(tmp_path.glob("requests.*.jsonl"))
    assert 2 <= len(files) <= 4
    logged = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert len(logged) == 52 and sum(1 for x in logged if x["status"] == 429) == 22
