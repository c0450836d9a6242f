"""Load and faults at small scale (CI): two proxies of two workers each, one real Redis,
the fake upstream, about 1,000 requests, loopback only and bounded in count and time.
The 10,000-request version is ``benchmarks/proxy_load.py``.

- a budget holds, and a global rate limit holds across the four workers within 5%;
- worker memory stays flat;
- Redis killed mid-run: both proxies keep serving, then share state again once it is back;
- one proxy killed: the other keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("limits", reason="the proxy extra is not installed")

from tests.helpers import stop_process
from tests.proxy.fake_upstream import FakeUpstream, free_port
from tests.proxy.test_server import wait_ready
from tests.test_wire import anthropic_body, chat_body

GLOBAL_RPM = 300
BUDGET = 0.03  # USD; the fake's n-th gpt-4o answer costs $0.00035 × n


def workers_of(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    out = []
    for pid in (int(x) for x in text.split()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmd:  # multiprocessing's helper is no worker
            out.append(pid)
    return out


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


class Proxy:
    def __init__(self, fake_url: str, redis_url: str) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "headroom.proxy", "--port", str(port), "--workers", "2",
             "--redis", redis_url, "--global-rpm", str(GLOBAL_RPM), "--budget", str(BUDGET),
             "--budget-scope", "client", "--anthropic-url", fake_url, "--openai-url", fake_url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        wait_ready(self.url, self.proc)
        self.workers = workers_of(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc)
        for pid in self.workers:  # a killed supervisor leaves its workers behind
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def proxies(fake: FakeUpstream, redis_url: tuple[str, Any]) -> Iterator[list[Proxy]]:
    running: list[Proxy] = []
    try:
        for _ in range(2):
            running.append(Proxy(fake.url, redis_url[0]))  # type: ignore[attr-defined]
        yield running
    finally:
        for p in running:
            p.stop()


async def blast(
    urls: list[str], n: int, concurrency: int, path: str, body: Any, key: str | None = None
) -> list[int]:
    """``n`` requests spread over ``urls``; their status codes (0: no answer)."""
    sem = asyncio.Semaphore(concurrency)
    codes: list[int] = []
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(i: int) -> None:
            async with sem:
                headers = {"x-api-key": key or f"sk-{i % 50}", "anthropic-version": "2023-06-01"}
                try:
                    r = await client.post(urls[i % len(urls)] + path, json=body, headers=headers)
                    codes.append(r.status_code)
                except httpx.HTTPError:
                    codes.append(0)

        await asyncio.gather(*(one(i) for i in range(n)))
    return codes


def test_limits_budget_memory_and_failures_across_two_proxies(
    fake: FakeUpstream, proxies: list[Proxy], redis_url: tuple[str, Any]
) -> None:
    import redis as redis_lib

    started = time.monotonic()
    urls = [p.url for p in proxies]
    # 1. A client's budget, sequential over both proxies: the 13th answer takes the spend
    #    past $0.03 (0.00035 × 13 × 14 / 2 = $0.0319); from then on, 402.
    codes = asyncio.run(blast(urls, 20, 1, "/v1/chat/completions", chat_body("x"), "sk-budget"))
    assert codes == [200] * 13 + [402] * 7
    # 2. ~950 requests from 50 clients, 16 at a time, over both proxies: one global limit
    #    (20 of its 300 were used above) holds across all four workers.
    body = {**anthropic_body("short output"), "model": "claude-fake"}  # unpriced: no spend
    worker_pids = [w for p in proxies for w in p.workers]
    assert len(worker_pids) == 4
    codes = asyncio.run(blast(urls, 450, 16, "/v1/messages", body))
    rss_mid = rss_kb(worker_pids)
    codes += asyncio.run(blast(urls, 500, 16, "/v1/messages", body))
    rss_end = rss_kb(worker_pids)
    ok = codes.count(200)
    assert abs(ok - (GLOBAL_RPM - 20)) <= 0.05 * (GLOBAL_RPM - 20), ok
    assert ok + codes.count(429) == len(codes)  # every other answer is a clean 429
    assert rss_end <= rss_mid * 1.2, (rss_mid, rss_end)
    # 3. Redis goes away: both proxies keep answering (limits fall back to each
    #    process's memory), and share state again once it is back.
    server = redis_url[1]
    server.stop()
    codes = asyncio.run(blast(urls, 40, 8, "/v1/messages", body, "sk-outage"))
    assert set(codes) <= {200, 429} and codes.count(200) > 0
    restart(server)
    time.sleep(1.5)
    asyncio.run(blast(urls, 8, 2, "/v1/messages", body, "sk-back"))
    client = redis_lib.Redis.from_url(server.url)
    assert client.keys("headroom-limits*"), client.keys("*")
    client.close()
    # 4. One proxy killed: the other keeps serving.
    proxies[0].proc.kill()
    proxies[0].proc.wait(10)
    for pid in proxies[0].workers:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    codes = asyncio.run(blast([urls[1]], 20, 4, "/v1/messages", body, "sk-after"))
    assert set(codes) <= {200, 429} and 200 in codes
    assert time.monotonic() - started < 150


def restart(server: Any) -> None:
    """The same redis-server again on its old port (empty: no persistence)."""
    import tests.store_backends.conftest as backends

    port = server.port
    original = backends.free_port
    backends.free_port = lambda: port
    try:
        server.start()
    finally:
        backends.free_port = original
