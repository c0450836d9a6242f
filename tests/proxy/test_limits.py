"""Rate limits and tenants in the proxy: per client, global, billed tokens, the
provider's 429 shape, and Redis shared by two proxies (including Redis going away)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

pytest.importorskip("limits", reason="the proxy extra is not installed (pip install '.[proxy]')")

from headroom import MemoryStore
from headroom.markers import keys_in
from headroom.proxy.tenants import TenantStore, tenant_of
from headroom.retrieval import RETRIEVE_TOOL_NAME
from tests.proxy.conftest import RunningProxy
from tests.proxy.fake_upstream import FakeUpstream, service_log
from tests.store_backends.conftest import REDIS_SERVER, RedisServer
from tests.test_wire import anthropic_body, chat_body

LOG = service_log()


def post(proxy: Any, path: str, body: Any, key: str = "sk-a") -> httpx.Response:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    if path != "/v1/messages":
        headers = {"authorization": f"Bearer {key}"}
    return httpx.post(proxy.url + path, json=body, headers=headers, timeout=30)


def test_tenant_is_a_digest_of_the_key_never_the_key() -> None:
    a = tenant_of([(b"x-api-key", b"sk-ant-secret")])
    assert a.startswith("k:") and "secret" not in a
    assert tenant_of([(b"Authorization", b"Bearer sk-ant-secret")]) == a
    assert tenant_of([(b"x-api-key", b"sk-other")]) != a
    assert tenant_of([], ("10.1.2.3", 5555)) == "a:10.1.2.3"
    inner = MemoryStore()
    one, two = TenantStore(inner, a), TenantStore(inner, "k:other")
    one.put("key1", "original")
    assert one.get("key1") == "original" and one.exists("key1")
    assert two.get("key1") is None and not two.exists("key1")


def test_rpm_per_client_answers_429_in_the_provider_shape(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(rpm=3, limit_window="minute")
    small = anthropic_body("short output")
    codes = [post(proxy, "/v1/messages", small).status_code for _ in range(3)]
    assert codes == [200, 200, 200]
    r = post(proxy, "/v1/messages", small)
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert r.json()["type"] == "error" and r.json()["error"]["type"] == "rate_limit_error"
    # another key is another client
    assert post(proxy, "/v1/messages", small, key="sk-b").status_code == 200
    # OpenAI clients get OpenAI's shape
    for _ in range(3):
        post(proxy, "/v1/chat/completions", chat_body("short"), key="sk-c")
    r = post(proxy, "/v1/chat/completions", chat_body("short"), key="sk-c")
    assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limit_error"
    assert len(fake.received) == 3 + 1 + 3  # refused requests never reach the upstream
    stats = httpx.get(proxy.url + "/stats").json()
    assert stats["rate_limited"] == 2
    # operations routes and pass-through are not counted
    assert httpx.get(proxy.url + "/livez").status_code == 200


def test_window_passes_and_limit_resets(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(rpm=2, limit_window="second")
    small = anthropic_body("short output")
    assert [post(proxy, "/v1/messages", small).status_code for _ in range(3)] == [200, 200, 429]
    time.sleep(1.1)
    assert post(proxy, "/v1/messages", small).status_code == 200


def test_tpm_counts_billed_tokens_from_the_answer(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    # The fake bills 100*n input + 10*n output tokens for its n-th answer.
    proxy = start_proxy(tpm=300, limit_window="minute")
    small = anthropic_body("short output")
    assert post(proxy, "/v1/messages", small).status_code == 200  # 110 billed
    assert post(proxy, "/v1/messages", small).status_code == 200  # 220 billed: 330 in all
    r = post(proxy, "/v1/messages", small)
    assert r.status_code == 429 and "tokens" in r.json()["error"]["message"]
    # streamed answers are counted too (usage at the stream's head and tail): 330 billed
    r = post(proxy, "/v1/messages", {**small, "stream": True}, key="sk-s")
    assert r.status_code == 200 and "message_stop" in r.text
    assert post(proxy, "/v1/messages", small, key="sk-s").status_code == 429
    # OpenAI streams report usage at their end when asked to
    chat = {**chat_body("short"), "stream": True, "stream_options": {"include_usage": True}}
    assert post(proxy, "/v1/chat/completions", chat, key="sk-o").status_code == 200  # 440
    assert post(proxy, "/v1/chat/completions", chat, key="sk-o").status_code == 429


def test_global_rpm_over_all_clients(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(global_rpm=4)
    small = anthropic_body("short output")
    codes = [post(proxy, "/v1/messages", small, key=f"sk-{i}").status_code for i in range(6)]
    assert codes == [200] * 4 + [429] * 2


def pinned_retrieval(key_holder: dict[str, str]) -> Callable[[Any], Any]:
    """A model that asks for one fixed key, then reports what it got."""

    def script(body: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(body)
        if '"tool_use_id": "toolu_r' not in text and RETRIEVE_TOOL_NAME in text:
            return {
                "text": "Checking.",
                "tools": [{"name": RETRIEVE_TOOL_NAME, "input": {"key": key_holder["key"]}}],
            }
        return {"text": "done"}

    return script


def test_an_original_stored_for_one_key_is_never_answered_for_another(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy()
    r = post(proxy, "/v1/messages", anthropic_body(LOG), key="sk-a")
    assert r.status_code == 200 and r.headers["x-headroom-compressed"] == "true"
    key = keys_in(json.dumps(fake.received[-1].json()["messages"]))[0]
    unique = "ord_00200"
    assert unique in LOG and unique not in fake.received[-1].body.decode()
    holder = {"key": key}
    fake.script = pinned_retrieval(holder)
    other = service_log(error_at=150).replace("ord_", "job_")
    seen: dict[str, str] = {}
    for client in ("sk-b", "sk-a"):
        n = len(fake.received)
        body = anthropic_body(other if client == "sk-b" else LOG)
        assert post(proxy, "/v1/messages", body, key=client).status_code == 200
        seen[client] = "".join(x.body.decode() for x in fake.received[n:])
    assert unique not in seen["sk-b"]  # another client's key: nothing to retrieve
    assert unique in seen["sk-a"]  # the same client gets its original back


@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server not installed")
def test_two_proxies_share_limits_through_redis_and_survive_redis_going_away(
    fake: FakeUpstream,
    start_proxy: Callable[..., RunningProxy],
    redis_url: tuple[str, RedisServer],
) -> None:
    pytest.importorskip("redis")
    url, server = redis_url
    one = start_proxy(global_rpm=40, redis_url=url, store="memory")
    two = start_proxy(global_rpm=40, redis_url=url, store="memory")
    small = anthropic_body("short output")
    codes = [
        post((one, two)[i % 2], "/v1/messages", small, key=f"k{i}").status_code for i in range(60)
    ]
    assert codes.count(200) == 40 and codes.count(429) == 20  # one limit for both proxies
    # Redis goes away: both keep serving on per-process windows (documented fallback).
    server.stop()
    fresh = start_proxy(global_rpm=5, redis_url=url, store="memory")
    codes = [post(fresh, "/v1/messages", small).status_code for _ in range(7)]
    assert codes == [200] * 5 + [429] * 2
    assert httpx.get(fresh.url + "/stats").json()["limit_fallbacks"] >= 1
    # Redis returns (same port, empty): after the retry delay the proxy counts there
    # again. Its memory window is full, so a 200 can only come from the fresh Redis one.
    restart_on(server, server.port)
    time.sleep(1.2)
    codes = [post(fresh, "/v1/messages", small).status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    assert one.app.limits.shared and fresh.app.limits.shared


def restart_on(server: RedisServer, port: int) -> None:
    """Starts the same redis-server again on its old port."""
    import tests.store_backends.conftest as backends

    original = backends.free_port
    backends.free_port = lambda: port
    try:
        server.start()
    finally:
        backends.free_port = original
