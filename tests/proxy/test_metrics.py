"""``GET /metrics``: Prometheus text that prometheus_client's own parser reads back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

pytest.importorskip("prometheus_client", reason="the proxy extra is not installed")

from prometheus_client.parser import text_string_to_metric_families

from tests.proxy.conftest import RunningProxy
from tests.proxy.fake_upstream import FakeUpstream, service_log
from tests.test_wire import anthropic_body, chat_body

HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(url + "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "pid"))
            key = (sample.name, labels)
            out[key] = out.get(key, 0.0) + sample.value
    return out


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_tokens_latency_and_limits(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy]
) -> None:
    proxy = start_proxy(rpm=3)
    r = httpx.post(proxy.url + "/v1/messages", json=anthropic_body(service_log()), headers=HEADERS)
    assert r.status_code == 200 and r.headers["x-headroom-compressed"] == "true"
    before = int(r.headers["x-headroom-tokens-before"])
    after = int(r.headers["x-headroom-tokens-after"])
    httpx.post(proxy.url + "/v1/chat/completions", json=chat_body("short"), headers=HEADERS)
    fake.script = [{"status": 500, "body": {"error": {"message": "boom"}}}]
    httpx.post(proxy.url + "/v1/messages", json=anthropic_body("short"), headers=HEADERS)
    r = httpx.post(proxy.url + "/v1/messages", json=anthropic_body("short"), headers=HEADERS)
    assert r.status_code == 429
    httpx.get(proxy.url + "/v1/models", headers=HEADERS)
    m = scrape(proxy.url)
    total = "headroom_proxy_requests_total"
    assert value(m, total, route="/v1/messages", status="200") == 1
    assert value(m, total, route="/v1/chat/completions", status="200") == 1
    assert value(m, total, route="/v1/messages", status="500") == 1
    assert value(m, total, route="/v1/messages", status="429") == 1
    assert value(m, total, route="other", status="200") == 1
    assert value(m, "headroom_proxy_tokens_total", kind="before") == before
    assert value(m, "headroom_proxy_tokens_total", kind="after") == after
    assert value(m, "headroom_proxy_tokens_total", kind="saved") == before - after > 0
    # the fake bills 100n input and 10n output tokens for its n-th answer (n = 1, 2)
    assert value(m, "headroom_proxy_billed_tokens_total", kind="input") == 300
    assert value(m, "headroom_proxy_billed_tokens_total", kind="output") == 30
    assert value(m, "headroom_proxy_rate_limited_total", limit="requests") == 1
    assert value(m, "headroom_proxy_overhead_seconds_count") == 5
    assert value(m, "headroom_proxy_first_byte_seconds_count") == 4  # not the 429
    assert value(m, "headroom_proxy_upstream_seconds_count") == 4


def test_metrics_off(start_proxy: Callable[..., RunningProxy]) -> None:
    proxy = start_proxy(metrics=False)
    assert httpx.get(proxy.url + "/metrics").status_code == 404
    assert proxy.app.metrics is None
    # with every production feature off, requests take the plain path
    assert not start_proxy(metrics=False, costs=False).app._observing
