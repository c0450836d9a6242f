"""Redis store: originals shared by several machines or workers.

``HEADROOM_STORE=redis://host:port/db`` (or ``rediss://…``, ``unix:///path.sock``) selects
it. Values use the shared codec in :mod:`headroom.store.base`, so originals above
``COMPRESS_ABOVE`` bytes are stored zlib-compressed, and every key expires after ``ttl``
seconds (Redis does the expiring). Needs ``pip install ".[redis]"``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .._extras import require
from ..errors import StoreError
from .base import StoreStats, decode, encode
from .breaker import CircuitBreaker, breaker_for

DEFAULT_TTL = 7 * 24 * 3600.0
# Seconds a Redis call may wait (connect, then each reply): well under a second, so a
# paused server stalls a request briefly, then the circuit breaker takes over.
DEFAULT_SOCKET_TIMEOUT = 0.25
DEFAULT_PREFIX = "headroom:"
_SCAN_BATCH = 500


class RedisStore:
    """Originals as Redis strings under ``prefix + key``, each with its own expiry.

    ``ttl`` is the default lifetime in seconds (``None``: seven days, ``0``: never expire);
    :meth:`put` takes a per-key ``ttl`` with the same meaning, ``None`` being the default.
    The connection is checked when the store opens, so a wrong URL or an unreachable
    server fails early with a :class:`StoreError`.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        ttl: float | None = DEFAULT_TTL,
        prefix: str = DEFAULT_PREFIX,
        client: Any = None,
        socket_timeout: float = DEFAULT_SOCKET_TIMEOUT,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.url = url
        self.default_ttl = DEFAULT_TTL if ttl is None else ttl
        self.prefix = prefix
        self._errors = require("redis.exceptions", "redis")
        self._breaker = breaker if breaker is not None else breaker_for(self._safe_url())
        if client is None:
            redis = require("redis", "redis")
            retry = require("redis.retry", "redis")
            backoff = require("redis.backoff", "redis")
            try:
                # Short timeouts and no retries: a paused or unreachable server must cost
                # one short wait, after which the breaker answers for it. A
                # ``?socket_timeout=…`` in the URL wins over the argument.
                client = redis.Redis.from_url(
                    url,
                    socket_timeout=socket_timeout,
                    socket_connect_timeout=socket_timeout,
                    retry=retry.Retry(backoff.NoBackoff(), 0),
                    retry_on_timeout=False,
                )
            except (ValueError, self._errors.RedisError) as exc:
                raise StoreError(f"bad Redis URL {self._safe_url()}: {exc}") from exc
        self._client = client
        self._call("ping")

    @property
    def circuit_open(self) -> bool:
        """The server failed lately and calls are refused without trying it."""
        return self._breaker.is_open

    def _safe_url(self) -> str:
        """The URL without a password, for messages."""
        head, sep, tail = self.url.partition("@")
        if not sep:
            return self.url
        scheme, _, _ = head.partition("://")
        return f"{scheme}://***@{tail}"

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if not self._breaker.allow():
            raise StoreError(
                f"Redis store at {self._safe_url()} is unavailable (it failed moments ago; "
                f"retrying in {self._breaker.retry_in():.1f} s)"
            )
        try:
            result = getattr(self._client, method)(*args, **kwargs)
        except (self._errors.RedisError, OSError) as exc:
            self._breaker.failure()
            raise self._failure(method, exc) from exc
        self._breaker.success()
        return result

    def _failure(self, what: str, exc: Exception) -> StoreError:
        return StoreError(f"Redis store at {self._safe_url()} failed ({what}): {exc}")

    def put(self, key: str, value: str, ttl: float | None = None) -> None:
        ttl = self.default_ttl if ttl is None else ttl
        px = max(1, int(ttl * 1000)) if ttl else None
        self._call("set", self.prefix + key, encode(value), px=px)

    def get(self, key: str) -> str | None:
        blob = self._call("get", self.prefix + key)
        return None if blob is None else decode(bytes(blob))

    def exists(self, key: str) -> bool:
        return bool(self._call("exists", self.prefix + key))

    def delete(self, key: str) -> bool:
        return bool(self._call("delete", self.prefix + key))

    def stats(self) -> StoreStats:
        """Entries and stored bytes under this prefix (a SCAN: cheap enough for occasional use)."""
        entries = size = 0
        cursor: Any = 0
        pattern = _glob_escape(self.prefix) + "*"
        while True:
            cursor, keys = self._call("scan", cursor, match=pattern, count=_SCAN_BATCH)
            if keys:
                pipe = self._client.pipeline(transaction=False)
                for k in keys:
                    pipe.strlen(k)
                lengths = self._call_pipe(pipe)
                for n in lengths:
                    if n:  # 0: expired between SCAN and STRLEN
                        entries += 1
                        size += int(n)
            if int(cursor) == 0:
                break
        return StoreStats("redis", entries, size, self._safe_url())

    def _call_pipe(self, pipe: Any) -> Any:
        try:
            result = pipe.execute()
        except (self._errors.RedisError, OSError) as exc:
            self._breaker.failure()
            raise self._failure("stats", exc) from exc
        self._breaker.success()
        return result

    def close(self) -> None:
        with contextlib.suppress(self._errors.RedisError):
            self._client.close()


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
