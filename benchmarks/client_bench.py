"""Overhead of ``HeadroomClient`` over the plain SDK client, per call, in one process.

    python benchmarks/client_bench.py [--runs N]

Both clients talk to an in-process ``httpx2.MockTransport`` that answers instantly, so the
numbers are the client-side cost alone: the SDK's own work, plus Headroom's. Rows:
  - a request with nothing to compress (pass-through);
  - a request with a 50 KB tool output already seen (the engine's memo answers);
  - ``.simulate`` on the same request (no call at all);
  - the engine floor: ``compress_request`` on the same body.
Timings are the minimum and median of N runs (the machine is shared: read differences).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402
import httpx2  # noqa: E402

from headroom import HeadroomClient  # noqa: E402
from headroom.wire import ANTHROPIC, compress_request  # noqa: E402
from tests.proxy.fake_upstream import anthropic_message, service_log  # noqa: E402

ANSWER = json.dumps(anthropic_message({"text": "ok"}, 1)).encode()


def handler(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, content=ANSWER, headers={"content-type": "application/json"})


def sdk() -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-bench",
        base_url="http://bench.invalid",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )


def turn(output: str) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Why did the payment fail?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"c": "cat"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "t1", "content": output}],
        },
    ]


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float]:
    fn()  # warm up (and fill the memo)
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return min(samples), statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    log = service_log(lines=400)  # about 50 KB
    small = [{"role": "user", "content": "Hello there"}]
    big = turn(log)
    plain, wrapped = sdk(), HeadroomClient(original_client=sdk())
    kw = {"model": "claude-sonnet-4-5", "max_tokens": 64}
    body = {**kw, "messages": big}
    rows = [
        ("pass-through, plain SDK", lambda: plain.messages.create(**kw, messages=small)),
        ("pass-through, HeadroomClient", lambda: wrapped.messages.create(**kw, messages=small)),
        ("50 KB seen output, plain SDK", lambda: plain.messages.create(**kw, messages=big)),
        ("50 KB seen output, HeadroomClient", lambda: wrapped.messages.create(**kw, messages=big)),
        ("50 KB, .simulate (no call)", lambda: wrapped.messages.simulate(**kw, messages=big)),
        ("50 KB, engine floor (compress_request)", lambda: compress_request(ANTHROPIC, body)),
    ]
    print(f"{len(log.encode()) // 1024} KB tool output, {args.runs} runs each\n")
    print("| case | min ms | median ms |")
    print("|---|---:|---:|")
    for name, fn in rows:
        lo, med = timed(fn, args.runs)
        print(f"| {name} | {lo:.2f} | {med:.2f} |")


if __name__ == "__main__":
    main()
