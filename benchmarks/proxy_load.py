"""The proxy's production features under load, on loopback only.

    python benchmarks/proxy_load.py [--quick] [--skip-load]

1. Added latency per request (pass-through, concurrency 1, interleaved with direct calls
   to the fake upstream) for each feature set: everything off, the defaults (metrics and
   prices), rate limits in memory and in Redis, the cache (hits) in memory and in Redis.
2. Throughput (pass-through) at 1, 10 and 100 concurrent clients for 1 and 2 workers,
   without and with Redis-backed limits.
3. The 10,000-request run: two proxies of two workers on one Redis, mixed requests from
   50 clients, a global limit per minute; how many got through against the limit, and
   worker memory over the last 1,000 requests.

Needs redis-server on the PATH (sections using Redis are skipped without it). Every
server is a child process on a free loopback port, stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import start as start_live  # noqa: E402
from tests.proxy.fake_upstream import free_port  # noqa: E402
from tests.proxy.test_load import rss_kb, workers_of  # noqa: E402
from tests.store_backends.conftest import REDIS_SERVER, RedisServer  # noqa: E402

HEADERS = {"x-api-key": "sk-bench", "anthropic-version": "2023-06-01",
           "content-type": "application/json"}  # fmt: skip
SMALL = json.dumps(
    {"model": "claude-fake", "max_tokens": 64,
     "messages": [{"role": "user", "content": "hello"}]}
).encode()  # fmt: skip


def start(cmd: list[str], port: int) -> subprocess.Popen[bytes]:
    return start_live(cmd, port, drop_env=("PROMETHEUS_MULTIPROC_DIR",))


def proxy(fake: str, *flags: str) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    cmd = [sys.executable, "-m", "headroom.proxy", "--port", str(port), "--store", "memory",
           "--anthropic-url", fake, "--openai-url", fake, *flags]  # fmt: skip
    return f"http://127.0.0.1:{port}", start(cmd, port)


def stop(proc: subprocess.Popen[bytes]) -> None:
    kids = workers_of(proc.pid)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    for pid in kids:
        with contextlib.suppress(OSError):
            os.kill(pid, 9)


def timed(conn: http.client.HTTPConnection, data: bytes) -> float:
    t = time.perf_counter()
    conn.request("POST", "/v1/messages", body=data, headers=HEADERS)
    r = conn.getresponse()
    r.read()
    assert r.status == 200, r.status
    return (time.perf_counter() - t) * 1000


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def added(direct: str, url: str, n: int, runs: int) -> tuple[float, float]:
    """(added p50, added p99) in ms: the best of ``runs`` interleaved runs."""
    best: tuple[float, float] | None = None
    dport, pport = int(direct.rsplit(":", 1)[1]), int(url.rsplit(":", 1)[1])
    for _ in range(runs):
        dc = http.client.HTTPConnection("127.0.0.1", dport)
        pc = http.client.HTTPConnection("127.0.0.1", pport)
        for _ in range(20):
            timed(dc, SMALL), timed(pc, SMALL)
        d, p = [], []
        for _ in range(n):
            d.append(timed(dc, SMALL))
            p.append(timed(pc, SMALL))
        dc.close()
        pc.close()
        got = (pct(p, 50) - pct(d, 50), pct(p, 99) - pct(d, 99))
        best = got if best is None or got[0] < best[0] else best
    assert best is not None
    return best


async def rps(url: str, clients: int, seconds: float, keys: int = 1) -> float:
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        done = 0
        stop_at = time.perf_counter() + seconds

        async def worker(i: int) -> None:
            nonlocal done
            headers = {**HEADERS, "x-api-key": f"sk-{i % keys}"}
            while time.perf_counter() < stop_at:
                async with session.post(url + "/v1/messages", data=SMALL, headers=headers) as r:
                    await r.read()
                done += 1

        t = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        return done / (time.perf_counter() - t)


async def mixed(urls: list[str], n: int, concurrency: int) -> list[int]:
    sem = asyncio.Semaphore(concurrency)
    codes: list[int] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def one(i: int) -> None:
            async with sem:
                headers = {**HEADERS, "x-api-key": f"sk-{i % 50}"}
                async with s.post(urls[i % len(urls)] + "/v1/messages", data=SMALL,
                                  headers=headers) as r:  # fmt: skip
                    await r.read()
                    codes.append(r.status)

        await asyncio.gather(*(one(i) for i in range(n)))
    return codes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-load", action="store_true", help="skip the 10,000-request run")
    args = ap.parse_args()
    n = 100 if args.quick else 300
    seconds = 1.5 if args.quick else 3.0
    fake_port = free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    fake = start([sys.executable, "-m", "tests.proxy.fake_upstream", str(fake_port)], fake_port)
    redis: RedisServer | None = None
    if REDIS_SERVER:
        redis = RedisServer(REDIS_SERVER)
        redis.start()
    try:
        big = ["--rpm", "100000000", "--tpm", "100000000000", "--global-rpm", "100000000"]
        cases: list[tuple[str, list[str]]] = [
            ("all off (--no-metrics --no-costs)", ["--no-metrics", "--no-costs"]),
            ("defaults (metrics, prices)", []),
            ("+ limits, memory", big),
            ("+ cache hits, memory", ["--cache"]),
        ]
        if redis is not None:
            cases += [
                ("+ limits, Redis", [*big, "--redis", redis.url]),
                ("+ cache hits, Redis", ["--cache", "--redis", redis.url]),
                ("+ limits and cache, Redis", [*big, "--cache", "--redis", redis.url]),
            ]
        print(f"\n1. added latency per request, pass-through, concurrency 1 "
              f"(best of {args.runs} runs of {n}; ms)\n")  # fmt: skip
        print("| features | added p50 | added p99 |")
        print("|---|---:|---:|")
        base = None
        for name, flags in cases:
            url, proc = proxy(fake_url, *flags)
            try:
                a50, a99 = added(fake_url, url, n, args.runs)
            finally:
                stop(proc)
            base = a50 if base is None else base
            print(f"| {name} | {a50:.3f} | {a99:.3f} |")
        print("\n2. requests per second, pass-through "
              f"({seconds:.1f} s each; limits on, from 1 key)\n")  # fmt: skip
        print("| workers | state | 1 client | 10 clients | 100 clients |")
        print("|---:|---|---:|---:|---:|")
        shapes: list[tuple[int, str, list[str]]] = [(1, "memory", big), (2, "memory", big)]
        if redis is not None:
            shapes += [(1, "Redis", [*big, "--redis", redis.url]),
                       (2, "Redis", [*big, "--redis", redis.url])]  # fmt: skip
        for workers, state, flags in shapes:
            url, proc = proxy(fake_url, "--workers", str(workers), *flags)
            try:
                got = [asyncio.run(rps(url, c, seconds)) for c in (1, 10, 100)]
            finally:
                stop(proc)
            print(f"| {workers} | {state} | " + " | ".join(f"{x:.0f}" for x in got) + " |")
        if redis is not None and not args.skip_load:
            load(fake_url, redis)
    finally:
        stop(fake)
        if redis is not None:
            redis.stop()
            shutil.rmtree(redis.dir, ignore_errors=True)


def load(fake_url: str, redis: RedisServer) -> None:
    limit = 6000
    flags = ["--workers", "2", "--redis", redis.url, "--global-rpm", str(limit)]
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for _ in range(2):
            started.append(proxy(fake_url, *flags))
        urls = [u for u, _ in started]
        pids = [w for _, p in started for w in workers_of(p.pid)]
        t = time.perf_counter()
        codes = asyncio.run(mixed(urls, 1000, 32))  # warm-up
        codes += asyncio.run(mixed(urls, 8000, 32))
        before = rss_kb(pids)
        codes += asyncio.run(mixed(urls, 1000, 32))
        after = rss_kb(pids)
        took = time.perf_counter() - t
    finally:
        for _, proc in started:
            stop(proc)
    ok = codes.count(200)
    print(f"\n3. 10,000 requests, 2 proxies x 2 workers, one Redis, --global-rpm {limit}, "
          f"{took:.1f} s\n")  # fmt: skip
    print("| answered 200 | answered 429 | other | limit | off by | worker RSS before/after "
          "the last 1,000 |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---|")
    other = len(codes) - ok - codes.count(429)
    print(f"| {ok} | {codes.count(429)} | {other} | {limit} | {100 * (ok - limit) / limit:+.2f}% "
          f"| {before // 1024} MB -> {after // 1024} MB ({100 * (after - before) / before:+.1f}%) |")  # fmt: skip


if __name__ == "__main__":
    main()
