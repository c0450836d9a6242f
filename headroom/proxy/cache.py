"""The response cache (``--cache``, off by default: replaying a sampled answer behaves
differently from asking again).

A request matches an earlier one when its canonical JSON (sorted keys, no whitespace,
``stream`` left out) is the same, on the same route, from the same tenant (API-key hash),
so no client is ever given another's answer. Streamed and non-streamed answers are kept
apart (a streamed request replays the stored events). Only complete, successful, non-empty
answers are stored; entries expire after ``ttl`` seconds, answers above ``max_bytes`` are
not stored, and the in-memory cache holds at most ``max_entries`` (least recently used go
first). With Redis, entries live there (with the same expiry) and every worker and
replica shares them; a Redis failure is a miss, never an error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from .shared import RedisBacked

log = logging.getLogger("headroom.proxy")

_KEEP_HEADERS = (b"content-type", b"request-id", b"x-request-id", b"openai-model")
_STREAM_ENDS = (b"message_stop", b"[DONE]", b"response.completed")
_RETRY_AFTER = 1.0


@dataclass(frozen=True)
class CachedResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    def dumps(self) -> bytes:
        return json.dumps(
            {
                "status": self.status,
                "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
                "body": base64.b64encode(self.body).decode("ascii"),
            }
        ).encode()

    @classmethod
    def loads(cls, data: bytes) -> CachedResponse:
        raw = json.loads(data)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in raw["headers"]]
        return cls(int(raw["status"]), headers, base64.b64decode(raw["body"]))


def cache_key(tenant: str, path: str, body: Any) -> str | None:
    """The key for a parsed request body, or None when it cannot be cached."""
    if not isinstance(body, dict):
        return None
    stream = bool(body.get("stream"))
    canonical = {k: v for k, v in body.items() if k != "stream"}
    try:
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256(f"{tenant}\n{path}\n{text}".encode()).hexdigest()
    return f"{digest}:{'s' if stream else 'j'}"


def worth_keeping(status: int, body: bytes, streamed: bool) -> bool:
    """Only complete, successful answers with content."""
    if status != 200 or not body:
        return False
    if streamed:
        tail = body[-512:]
        return any(end in tail for end in _STREAM_ENDS) and b'"type": "error"' not in body[-4096:]
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    if not isinstance(parsed, dict) or parsed.get("error"):
        return False
    return bool(parsed.get("content") or parsed.get("choices") or parsed.get("output"))


def kept_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    return [(k.lower(), v) for k, v in headers if k.lower() in _KEEP_HEADERS]


class ResponseCache(RedisBacked):
    """Memory (``cachetools.TTLCache``) or Redis, behind one async interface."""

    def __init__(
        self,
        ttl: float = 3600.0,
        max_entries: int = 1000,
        max_bytes: int = 4 * 1024 * 1024,
        redis_url: str | None = None,
        prefix: str = "headroom-cache:",
    ) -> None:
        self.ttl = ttl
        self.max_bytes = max_bytes
        self.redis_url = redis_url
        self.prefix = prefix
        self._memory: Any = None
        self._client: Any = None
        self._down_until = 0.0
        if redis_url is None:
            from cachetools import TTLCache

            self._memory = TTLCache(maxsize=max_entries, ttl=ttl)

    def _failed(self, exc: Exception) -> None:
        self._down_until = time.monotonic() + _RETRY_AFTER
        log.warning("headroom proxy: response cache unavailable (%r); treated as a miss", exc)

    async def get(self, key: str) -> CachedResponse | None:
        if self._memory is not None:
            hit: CachedResponse | None = self._memory.get(key)
            return hit
        client = self._redis()
        if client is None:
            return None
        try:
            data = await client.get(self.prefix + key)
        except Exception as exc:
            self._failed(exc)
            return None
        try:
            return CachedResponse.loads(data) if data else None
        except (ValueError, KeyError, TypeError):
            return None

    async def put(self, key: str, response: CachedResponse) -> None:
        if len(response.body) > self.max_bytes:
            return
        if self._memory is not None:
            self._memory[key] = response
            return
        client = self._redis()
        if client is None:
            return
        try:
            await client.set(self.prefix + key, response.dumps(), ex=max(1, int(self.ttl)))
        except Exception as exc:
            self._failed(exc)

    def __len__(self) -> int:
        return len(self._memory) if self._memory is not None else 0

    async def aclose(self) -> None:
        if self._client is not None:
            try:
                await self._client.aclose()
            except Exception as exc:
                log.debug("closing the cache's Redis client: %r", exc)
            self._client = None
