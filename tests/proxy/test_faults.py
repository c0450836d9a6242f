"""Faults between the proxy and the upstream: truncated and stalled streams end with an
error event in the provider's shape, slow streams pass, and nothing leaks."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from headroom.proxy import ProxyConfig, create_app
from tests.proxy.fake_upstream import ServerThread, anthropic_events, openai_chunks, service_log
from tests.test_wire import anthropic_body, chat_body


def broken_upstream() -> Starlette:
    """Streams the first events of an answer, then misbehaves as the request asks
    (``metadata.user_id``): ``cut`` drops the connection, ``stall`` goes silent,
    ``slow`` sends everything with pauses."""

    async def handle(request: Request) -> StreamingResponse:
        body = json.loads(await request.body())
        mode = (body.get("metadata") or {}).get("user_id") or body.get("user") or "cut"
        if request.url.path == "/v1/messages":
            events = anthropic_events({"text": "partial answer here"}, 1)
        else:
            events = openai_chunks({"text": "partial answer here"}, 1, False)

        async def gen() -> Any:
            for i, ev in enumerate(events):
                if i == 2 and mode == "cut":
                    raise RuntimeError("upstream died")
                if i == 2 and mode == "stall":
                    await asyncio.sleep(5)
                if mode == "slow":
                    await asyncio.sleep(0.05)
                yield ev

        return StreamingResponse(gen(), media_type="text/event-stream")

    return Starlette(routes=[Route("/{path:path}", handle, methods=["POST"])])


@pytest.fixture
def proxy_url() -> Iterator[str]:
    with ServerThread(broken_upstream()) as upstream:
        cfg = ProxyConfig(anthropic_url=upstream.url, openai_url=upstream.url, timeout=0.5,
                          store="memory")  # fmt: skip
        with ServerThread(create_app(cfg)) as proxy:
            yield proxy.url


def anthropic(mode: str, output: str = "short") -> dict[str, Any]:
    return {**anthropic_body(output), "stream": True, "metadata": {"user_id": mode}}


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("mode", ["cut", "stall"])
def test_a_broken_stream_ends_with_an_error_event(proxy_url: str, mode: str) -> None:
    # passed through (nothing to compress) and compressed (spliced) alike
    for output in ("short", service_log()):
        r = httpx.post(proxy_url + "/v1/messages", json=anthropic(mode, output), timeout=10)
        assert r.status_code == 200
        assert "event: message_start" in r.text
        assert r.text.rstrip().endswith("}")
        last = r.text.strip().split("\n\n")[-1]
        assert last.startswith("event: error")
        error = json.loads(last.split("data: ", 1)[1])
        assert error["type"] == "error" and "broke off" in error["error"]["message"]
    body = {**chat_body("short"), "stream": True, "user": mode}
    r = httpx.post(proxy_url + "/v1/chat/completions", json=body, timeout=10)
    last = r.text.strip().split("\n\n")[-1]
    assert "broke off" in json.loads(last.split("data: ", 1)[1])["error"]["message"]


def test_slow_streams_pass_and_broken_ones_leak_nothing(proxy_url: str) -> None:
    r = httpx.post(proxy_url + "/v1/messages", json=anthropic("slow"), timeout=10)
    assert r.text.strip().endswith('"type": "message_stop"}') or "message_stop" in r.text
    assert "event: error" not in r.text
    with httpx.Client(timeout=10) as client:
        client.post(proxy_url + "/v1/messages", json=anthropic("cut"))
        baseline = open_fds()
        for _ in range(40):
            client.post(proxy_url + "/v1/messages", json=anthropic("cut"))
        assert open_fds() <= baseline + 4  # no socket per broken stream left behind
        stats = client.get(proxy_url + "/stats").json()
    assert stats["upstream_errors"] >= 41


def test_an_unreachable_redis_store_keeps_requests_whole(fake: Any, start_proxy: Any) -> None:
    from tests.proxy.fake_upstream import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    proxy = start_proxy(store=None, redis_url=dead)
    body = anthropic_body(service_log())
    r = httpx.post(proxy.url + "/v1/messages", json=body, timeout=30)
    assert r.status_code == 200
    sent = fake.received[-1].json()["messages"]
    # nothing was stored, so nothing was replaced by a retrieval marker
    assert "ord_00200" in json.dumps(sent)
