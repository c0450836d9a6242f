"""The response cache: off by default, exact match without ``stream``, per API key,
streamed replay, errors and empty answers never stored, bounded, shared through Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

pytest.importorskip("cachetools", reason="the proxy extra is not installed")

from headroom.proxy.cache import cache_key
from tests.proxy.conftest import RunningProxy
from tests.proxy.fake_upstream import FakeUpstream
from tests.test_wire import anthropic_body, chat_body


def post(proxy: Any, path: str, body: Any, key: str = "sk-a") -> httpx.Response:
    return httpx.post(
        proxy.url + path, json=body, headers={"authorization": f"Bearer {key}"}, timeout=30
    )


def test_key_is_canonical_and_leaves_stream_out_of_the_match() -> None:
    a = cache_key("k:1", "/v1/messages", {"model": "m", "max_tokens": 5, "messages": []})
    b = cache_key("k:1", "/v1/messages", {"messages": [], "max_tokens": 5, "model": "m"})
    assert a == b and a is not None
    streamed = cache_key("k:1", "/v1/messages", {"model": "m", "max_tokens": 5, "messages": [],
                                                 "stream": True})  # fmt: skip
    assert streamed is not None and streamed.split(":")[0] == a.split(":")[0]
    assert streamed != a  # a streamed request replays events, not a JSON body
    assert cache_key("k:2", "/v1/messages", {"model": "m", "max_tokens": 5, "messages": []}) != a
    assert cache_key("k:1", "/v1/messages", [1, 2]) is None


def test_off_by_default(fake: FakeUpstream, proxy: RunningProxy) -> None:
    for _ in range(2):
        r = post(proxy, "/v1/chat/completions", chat_body("short"))
        assert "x-headroom-cache" not in r.headers
    assert len(fake.received) == 2


def test_hit_replays_the_same_answer_per_key_and_per_shape(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(cache=True)
    body = chat_body("short")
    first = post(proxy, "/v1/chat/completions", body)
    again = post(proxy, "/v1/chat/completions", body)
    assert again.headers["x-headroom-cache"] == "hit" and again.json() == first.json()
    assert len(fake.received) == 1
    # another key never gets this answer
    other = post(proxy, "/v1/chat/completions", body, key="sk-b")
    assert "x-headroom-cache" not in other.headers and len(fake.received) == 2
    # a streamed request is stored and replayed as events
    streamed = {**body, "stream": True}
    s1 = post(proxy, "/v1/chat/completions", streamed)
    s2 = post(proxy, "/v1/chat/completions", streamed)
    assert s2.headers["x-headroom-cache"] == "hit" and s2.text == s1.text
    assert s2.text.rstrip().endswith("[DONE]") and len(fake.received) == 3
    # anthropic streams too
    a1 = post(proxy, "/v1/messages", {**anthropic_body("short"), "stream": True})
    a2 = post(proxy, "/v1/messages", {**anthropic_body("short"), "stream": True})
    assert a2.text == a1.text and "message_stop" in a2.text and len(fake.received) == 4
    stats = httpx.get(proxy.url + "/stats").json()["shared"]
    assert stats["cache_hits"] == 3 and stats["cache_misses"] == 4


def test_errors_and_empty_answers_are_never_cached(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(cache=True, cache_max_entries=2)
    fake.script = [{"status": 500, "body": {"error": {"message": "boom"}}}]
    body = chat_body("short")
    assert post(proxy, "/v1/chat/completions", body).status_code == 500
    assert post(proxy, "/v1/chat/completions", body).status_code == 200  # not the 500
    assert len(fake.received) == 2
    # bounded: the third distinct request evicts the oldest
    for q in ("one", "two", "three"):
        post(proxy, "/v1/chat/completions", chat_body(q))
    assert proxy.app.cache is not None and len(proxy.app.cache) == 2


def test_shared_through_redis(
    fake: FakeUpstream,
    start_proxy: Callable[..., RunningProxy],
    redis_url: tuple[str, Any],
) -> None:
    url, _ = redis_url
    one = start_proxy(cache=True, redis_url=url, store="memory")
    two = start_proxy(cache=True, redis_url=url, store="memory")
    body = chat_body("short")
    first = post(one, "/v1/chat/completions", body)
    again = post(two, "/v1/chat/completions", body)
    assert again.headers.get("x-headroom-cache") == "hit" and again.json() == first.json()
    assert len(fake.received) == 1
