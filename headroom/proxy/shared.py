"""Counters every worker and replica adds to: Redis when configured, else this process.

Used for the spend and savings of each period (budgets read them) and for the rate-limit
and cache counters that ``/stats`` reports. When Redis fails, the counters fall back to
this process's memory and go back to Redis a second later; figures added meanwhile stay
local (``/stats`` then shows ``shared_counters: "degraded"``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

log = logging.getLogger("headroom.proxy")

_RETRY_AFTER = 1.0


class RedisBacked:
    """A lazily made asyncio Redis client (``redis_url``), none while ``_down_until`` (set
    after a failure) has not passed. Subclasses set the three attributes in ``__init__``."""

    redis_url: str | None
    _client: Any
    _down_until: float

    def _redis(self) -> Any:
        if self.redis_url is None or time.monotonic() < self._down_until:
            return None
        if self._client is None:
            from redis import asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5
            )
        return self._client


class SharedCounters(RedisBacked):
    """Named float counters, each with an optional expiry (seconds)."""

    def __init__(self, redis_url: str | None = None, prefix: str = "headroom-proxy:") -> None:
        self.redis_url = redis_url
        self.prefix = prefix
        self._local: dict[str, float] = {}
        self._expires: dict[str, float] = {}
        self._client: Any = None
        self._down_until = 0.0
        self.failures = 0

    @property
    def shared(self) -> bool:
        return self.redis_url is not None

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self._down_until = time.monotonic() + _RETRY_AFTER
        log.warning("headroom proxy: shared counters unavailable (%r); using memory", exc)

    def _local_get(self, name: str) -> float:
        expires = self._expires.get(name)
        if expires is not None and expires <= time.time():
            self._local.pop(name, None)
            self._expires.pop(name, None)
        return self._local.get(name, 0.0)

    async def add(self, values: dict[str, float], ttl: float | None = None) -> None:
        """Adds each value to its counter (one round trip to Redis for all of them)."""
        values = {k: v for k, v in values.items() if v}
        if not values:
            return
        client = self._redis()
        if client is not None:
            try:
                pipe = client.pipeline(transaction=False)
                for name, amount in values.items():
                    pipe.incrbyfloat(self.prefix + name, amount)
                    if ttl is not None:
                        pipe.expire(self.prefix + name, int(ttl), nx=True)
                await pipe.execute()
                return
            except Exception as exc:
                self._failed(exc)
        for name, amount in values.items():
            self._local[name] = self._local_get(name) + amount
            if ttl is not None and name not in self._expires:
                self._expires[name] = time.time() + ttl
        if len(self._expires) > 10_000:  # bounded: drop what has expired
            for name in [n for n, t in self._expires.items() if t <= time.time()]:
                self._local.pop(name, None)
                self._expires.pop(name, None)

    async def get(self, names: list[str]) -> dict[str, float]:
        """The counters' values (0 for missing ones)."""
        client = self._redis()
        if client is not None:
            try:
                raw = await client.mget([self.prefix + n for n in names])
                return {
                    n: float(v) if v is not None else 0.0 for n, v in zip(names, raw, strict=False)
                }
            except Exception as exc:
                self._failed(exc)
        return {n: self._local_get(n) for n in names}

    async def aclose(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()
            self._client = None
