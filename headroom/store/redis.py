"""Redis store: originals shared by several machines or workers.

``HEADROOM_STORE=redis://host:port/db`` (or ``rediss://…``, ``unix:///path.sock``) selects
it. Values use the shared codec in :mod:`headroom.store.base`, so originals above
``COMPRESS_ABOVE`` bytes are stored zlib-compressed, and every key expires after ``ttl``
seconds (Redis does the expiring). Needs ``pip install "headroom-ai[redis]"``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .._extras import require
from ..errors import StoreError
from .base import StoreStats, decode, encode

DEFAULT_TTL = 7 * 24 * 3600.0
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
        socket_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.default_ttl = DEFAULT_TTL if ttl is None else ttl
        self.prefix = prefix
        self._errors = require("redis.exceptions", "redis")
        if client is None:
            redis = require("redis", "redis")
            try:
                client = redis.Redis.from_url(
                    url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
                )
            except (ValueError, self._errors.RedisError) as exc:
                raise StoreError(f"bad Redis URL {self._safe_url()}: {exc}") from exc
        self._client = client
        self._call("ping")

    def _safe_url(self) -> str:
        """The URL without a password, for messages."""
        head, sep, tail = self.url.partition("@")
        if not sep:
            return self.url
        scheme, _, _ = head.partition("://")
        return f"{scheme}://***@{tail}"

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, method)(*args, **kwargs)
        except self._errors.RedisError as exc:
            raise self._failure(method, exc) from exc

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
                try:
                    lengths = pipe.execute()
                except self._errors.RedisError as exc:
                    raise self._failure("stats", exc) from exc
                for n in lengths:
                    if n:  # 0: expired between SCAN and STRLEN
                        entries += 1
                        size += int(n)
            if int(cursor) == 0:
                break
        return StoreStats("redis", entries, size, self._safe_url())

    def close(self) -> None:
        with contextlib.suppress(self._errors.RedisError):
            self._client.close()


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
