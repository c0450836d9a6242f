"""Prometheus metrics for ``GET /metrics``, with ``prometheus-client``.

Each app keeps its own registry (several apps in one process stay apart). Under several
uvicorn workers, ``PROMETHEUS_MULTIPROC_DIR`` names a folder where every worker writes its
values; ``/metrics`` then sums the folder, so any worker answers for all of them. The
server sets that variable to a fresh temporary folder when ``--workers`` > 1 and it is
not already set.
"""

from __future__ import annotations

import os
from typing import Any

from .._extras import require

ROUTES = ("/v1/messages", "/v1/chat/completions", "/v1/responses")
_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0, 60.0, 120.0, 300.0,
)  # fmt: skip
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def route_label(path: str) -> str:
    """The route as a label with bounded cardinality: an LLM route, else ``other``."""
    if path == "/chat/completions":
        return "/v1/chat/completions"
    for route in ROUTES:
        if path == route or path.startswith(route + "/"):
            return route if path == route else route + "/*"
    return "other"


class ProxyMetrics:
    """The proxy's counters and histograms."""

    def __init__(self) -> None:
        prom = require("prometheus_client", "proxy")
        self._prom = prom
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = prom.CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = prom.Counter(
            "headroom_proxy_requests", "Client requests by route and status.",
            ["route", "status"], registry=r,
        )  # fmt: skip
        self.tokens = prom.Counter(
            "headroom_proxy_tokens",
            "Input tokens of compressed requests: before, after and saved.",
            ["kind"], registry=r,
        )  # fmt: skip
        self.billed = prom.Counter(
            "headroom_proxy_billed_tokens",
            "Tokens the provider reported: input, output, cache_read, cache_write.",
            ["kind"], registry=r,
        )  # fmt: skip
        self.overhead = prom.Histogram(
            "headroom_proxy_overhead_seconds", "Time the proxy added before forwarding.",
            registry=r, buckets=_LATENCY_BUCKETS,
        )  # fmt: skip
        self.upstream = prom.Histogram(
            "headroom_proxy_upstream_seconds",
            "Time from forwarding to the end of the response.",
            registry=r, buckets=_LATENCY_BUCKETS,
        )  # fmt: skip
        self.first_byte = prom.Histogram(
            "headroom_proxy_first_byte_seconds",
            "Time from the request's arrival to the first response byte sent.",
            registry=r, buckets=_LATENCY_BUCKETS,
        )  # fmt: skip
        self.rate_limited = prom.Counter(
            "headroom_proxy_rate_limited", "Requests refused by a rate limit.",
            ["limit"], registry=r,
        )  # fmt: skip
        self.failures = prom.Counter(
            "headroom_proxy_compression_failures",
            "Requests forwarded unchanged because compression failed.",
            registry=r,
        )
        self.cache = prom.Counter(
            "headroom_proxy_cache", "Response cache lookups by outcome.",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.spend = prom.Counter(
            "headroom_proxy_spend_usd", "Spend priced from real usage (USD).",
            registry=r,
        )  # fmt: skip

    def render(self) -> bytes:
        """The exposition text: this registry, or every worker's values when several
        workers share ``PROMETHEUS_MULTIPROC_DIR``."""
        prom = self._prom
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = prom.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return bytes(prom.generate_latest(registry))
        return bytes(prom.generate_latest(self.registry))

    def observe(self, record: Any) -> None:
        """Counts one finished request (an :class:`~headroom.proxy.exchange.Exchange`)."""
        self.requests.labels(record.route, str(record.status)).inc()
        if record.tokens_before:
            self.tokens.labels("before").inc(record.tokens_before)
            self.tokens.labels("after").inc(record.tokens_after)
            self.tokens.labels("saved").inc(max(0, record.tokens_before - record.tokens_after))
        usage = record.usage
        for kind, key in (
            ("input", "input"), ("output", "output"),
            ("cache_read", "cache_read"), ("cache_write", "cache_write"),
        ):  # fmt: skip
            n = usage.get(key, 0)
            if n:
                self.billed.labels(kind).inc(n)
        if record.cost:
            self.spend.inc(record.cost)
        if record.compression_failed:
            self.failures.inc()
        self.overhead.observe(record.overhead)
        if record.first_byte is not None:
            self.first_byte.observe(record.first_byte)
        if record.upstream is not None:
            self.upstream.observe(record.upstream)
