"""Prices from real usage, savings (an estimate), budgets answered non-retryably."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

pytest.importorskip("genai_prices", reason="the proxy extra is not installed")

from headroom.proxy.costs import price
from tests.proxy.conftest import RunningProxy
from tests.proxy.fake_upstream import FakeUpstream, service_log
from tests.store_backends.conftest import RedisServer
from tests.test_wire import anthropic_body, chat_body

HEADERS = {"authorization": "Bearer sk-one"}


def test_price_uses_cache_reads_and_writes() -> None:
    # (below the 200k-token tier, where long-context prices start)
    plain, _ = price("claude-sonnet-4-5", "anthropic", {"input": 100_000})
    assert plain == pytest.approx(0.3)
    usage = {"input": 100_000, "cache_read": 80_000, "cache_write": 10_000, "output": 1000}
    cost, _ = price("claude-sonnet-4-5", "anthropic", usage)
    # 10k fresh at $3, 80k read at $0.30, 10k written at $3.75, 1k out at $15 (per M)
    assert cost == pytest.approx(0.03 + 0.024 + 0.0375 + 0.015)
    # saved tokens: at the cached rate when the prefix hit the cache, else the input rate
    _, warm = price("claude-sonnet-4-5", "anthropic", usage, saved=100_000)
    _, cold = price("claude-sonnet-4-5", "anthropic", {"input": 10}, saved=100_000)
    assert warm == pytest.approx(0.03) and cold == pytest.approx(0.3)
    assert price("no-such-model-xyz", "openai", {"input": 5}) == (0.0, 0.0)


def test_spend_and_savings_in_stats(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy()
    r = httpx.post(proxy.url + "/v1/chat/completions", json=chat_body("short"), headers=HEADERS)
    assert r.status_code == 200
    # the fake bills 100 prompt + 10 completion tokens to gpt-4o ($2.50 and $10 per M)
    r = httpx.post(
        proxy.url + "/v1/messages",
        json=anthropic_body(service_log()),
        headers={"x-api-key": "sk-two"},
    )
    assert r.headers["x-headroom-compressed"] == "true"
    saved = int(r.headers["x-headroom-tokens-saved"])
    stats = httpx.get(proxy.url + "/stats").json()
    daily = stats["shared"]["costs"]["daily"]
    # second answer: 200 in, 20 out on claude-sonnet-4-5 ($3 and $15 per M)
    expected = 100 * 2.5e-6 + 10 * 10e-6 + 200 * 3e-6 + 20 * 15e-6
    assert daily["spend_usd"] == pytest.approx(expected, abs=1e-6)
    assert daily["savings_usd_estimate"] == pytest.approx(saved * 3e-6, abs=1e-6)
    assert stats["shared"]["costs"]["monthly"]["spend_usd"] == daily["spend_usd"]


def test_budget_answers_402_in_the_provider_shape_and_the_sdk_does_not_retry(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    openai = pytest.importorskip("openai")
    proxy = start_proxy(budget=0.001, budget_scope="client")
    # $0.00035, then $0.0007: over $0.001 after the second answer
    for _ in range(2):
        r = httpx.post(proxy.url + "/v1/chat/completions", json=chat_body("x"), headers=HEADERS)
        assert r.status_code == 200
    r = httpx.post(proxy.url + "/v1/chat/completions", json=chat_body("x"), headers=HEADERS)
    assert r.status_code == 402 and r.json()["error"]["code"] == "insufficient_quota"
    assert "budget" in r.json()["error"]["message"]
    # another client has its own budget
    other = {"authorization": "Bearer sk-other"}
    r = httpx.post(proxy.url + "/v1/chat/completions", json=chat_body("x"), headers=other)
    assert r.status_code == 200
    before = httpx.get(proxy.url + "/stats").json()["requests"]
    client = openai.OpenAI(base_url=proxy.url + "/v1", api_key="sk-one", max_retries=3)
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 402
    assert httpx.get(proxy.url + "/stats").json()["requests"] == before + 1  # no retry
    assert len(fake.received) == 3


def test_global_budget_over_anthropic(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(budget=0.0001, budget_period="hourly")
    body = anthropic_body(service_log())
    assert httpx.post(proxy.url + "/v1/messages", json=body).status_code == 200
    r = httpx.post(proxy.url + "/v1/messages", json=body, headers={"x-api-key": "other"})
    assert r.status_code == 402 and r.json()["error"]["type"] == "billing_error"


def test_budget_and_stats_shared_by_two_proxies_through_redis(
    fake: FakeUpstream,
    start_proxy: Callable[..., RunningProxy],
    redis_url: tuple[str, RedisServer],
) -> None:
    pytest.importorskip("redis")
    url, _ = redis_url
    one = start_proxy(budget=0.003, redis_url=url, store="memory")
    two = start_proxy(budget=0.003, redis_url=url, store="memory", rpm=1)
    codes = []
    for i in range(8):  # $0.00035 × n for the n-th answer: over $0.003 after the 4th
        proxy = (one, two)[i % 2]
        key = {"authorization": f"Bearer sk-{i}"}  # a new client each time (rpm=1 on two)
        r = httpx.post(proxy.url + "/v1/chat/completions", json=chat_body("x"), headers=key)
        codes.append(r.status_code)
    assert codes == [200] * 4 + [402] * 4
    s1 = httpx.get(one.url + "/stats").json()["shared"]
    s2 = httpx.get(two.url + "/stats").json()["shared"]
    assert s1["scope"] == "redis" and s1 == s2
    assert s1["costs"]["daily"]["spend_usd"] == pytest.approx(0.00035 * 10, abs=1e-6)
    assert s1["over_budget"] == 4
