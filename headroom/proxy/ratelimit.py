"""Rate limits with the ``limits`` library: requests and billed tokens per client per
window, plus one limit over all clients.

State lives in Redis when the proxy has ``--redis`` (one limit across every worker and
replica), else in each process's memory. Request limits use moving windows (exact: a
limit of N per minute never lets more than N through in any 60 seconds). The token limit
uses a sliding window counter (two counters per client, however many tokens: a moving
window would keep one entry per token); it weighs the previous window's count by how much
of it still overlaps, which is approximate when traffic comes in bursts.

When Redis cannot be reached, each process falls back to its own in-memory windows (a
global limit then holds per process rather than across the fleet), counts the fallback
in ``limit_fallbacks``, and goes back to Redis on the next call that reaches it.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from .._extras import require

log = logging.getLogger("headroom.proxy")

_WINDOWS = {"second": 1, "minute": 60, "hour": 3600}
_REDIS_RETRY_AFTER = 1.0  # seconds before trying Redis again after a failure


@dataclass(frozen=True)
class Denied:
    """Why a request was refused, and when to try again (seconds, at least 1)."""

    what: str
    retry_after: int


class RateLimits:
    """``rpm``, ``tpm``, ``global_rpm``: limits per window (0: none). ``window`` is
    ``"minute"`` (the flags' meaning) or ``"second"``/``"hour"``."""

    def __init__(
        self,
        rpm: int = 0,
        tpm: int = 0,
        global_rpm: int = 0,
        redis_url: str | None = None,
        window: str = "minute",
        prefix: str = "headroom-limits",
    ) -> None:
        require("limits", "proxy")
        from limits import RateLimitItemPerHour, RateLimitItemPerMinute, RateLimitItemPerSecond
        from limits.aio.storage import MemoryStorage, RedisStorage
        from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

        item = {
            "second": RateLimitItemPerSecond,
            "minute": RateLimitItemPerMinute,
            "hour": RateLimitItemPerHour,
        }[window]
        self.window = _WINDOWS[window]
        self.rpm = item(rpm) if rpm > 0 else None
        self.tpm = item(tpm) if tpm > 0 else None
        self.global_rpm = item(global_rpm) if global_rpm > 0 else None
        self.fallbacks = 0
        memory = MemoryStorage()
        self._local = MovingWindowRateLimiter(memory)
        self._local_tokens = SlidingWindowCounterRateLimiter(memory)
        self._shared: Any = None
        self._shared_tokens: Any = None
        self._redis_down_until = 0.0
        # retry-after per limit and client, reused for a second: reading a full moving
        # window on every refused request would load Redis exactly when it is busiest
        self._retry: dict[tuple[str, ...], tuple[float, int]] = {}
        if redis_url:
            storage = RedisStorage(
                redis_url,
                implementation="redispy",
                key_prefix=prefix,
                wrap_exceptions=True,
                socket_timeout=0.5,
                socket_connect_timeout=0.5,
            )
            self._shared = MovingWindowRateLimiter(storage)
            self._shared_tokens = SlidingWindowCounterRateLimiter(storage)

    @property
    def enabled(self) -> bool:
        return bool(self.rpm or self.tpm or self.global_rpm)

    @property
    def shared(self) -> bool:
        return self._shared is not None

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        tokens = args[0] is self.tpm
        if self._shared is not None and time.monotonic() >= self._redis_down_until:
            limiter = self._shared_tokens if tokens else self._shared
            try:
                return await getattr(limiter, method)(*args, **kwargs)
            except Exception as exc:
                self.fallbacks += 1
                self._redis_down_until = time.monotonic() + _REDIS_RETRY_AFTER
                log.warning("headroom proxy: rate-limit storage failed (%r); using memory", exc)
        local = self._local_tokens if tokens else self._local
        return await getattr(local, method)(*args, **kwargs)

    async def admit(self, client: str) -> Denied | None:
        """Counts one request for ``client``; a :class:`Denied` when over a limit (the
        request is then not counted against the other limits)."""
        if self.tpm is not None and not await self._call("test", self.tpm, "tpm", client):
            return Denied("tokens", await self._retry_after(self.tpm, "tpm", client))
        if self.rpm is not None and not await self._call("hit", self.rpm, "rpm", client):
            return Denied("requests", await self._retry_after(self.rpm, "rpm", client))
        if self.global_rpm is not None and not await self._call("hit", self.global_rpm, "all"):
            return Denied("global", await self._retry_after(self.global_rpm, "all"))
        return None

    async def charge(self, client: str, tokens: int) -> None:
        """Counts ``tokens`` billed tokens for ``client`` (after its response). A request
        may take the window past its limit; the next one then waits."""
        if self.tpm is None or tokens <= 0:
            return
        amount = min(tokens, self.tpm.amount)
        if await self._call("hit", self.tpm, "tpm", client, cost=amount):
            return
        # A window refuses a cost it cannot hold whole: fill it instead, so the next
        # request waits until enough of it has passed.
        stats = await self._call("get_window_stats", self.tpm, "tpm", client)
        if stats.remaining > 0:
            await self._call("hit", self.tpm, "tpm", client, cost=stats.remaining)

    async def _retry_after(self, item: Any, *keys: str) -> int:
        now = time.monotonic()
        cached = self._retry.get(keys)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            stats = await self._call("get_window_stats", item, *keys)
            wait = float(stats.reset_time) - time.time()
        except Exception:
            wait = float(self.window)
        value = max(1, min(self.window, math.ceil(wait)))
        if len(self._retry) > 10_000:
            self._retry.clear()
        self._retry[keys] = (now + 1.0, value)
        return value
