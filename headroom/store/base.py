"""The protocol every retrieval-store backend implements, and what they share."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

KEY_PREFIX = "hr_"
COMPRESS_ABOVE = 16 * 1024  # bytes; smaller originals are stored as they are

_RAW = b"\x00"
_ZLIB = b"\x01"


def key_for(text: str) -> str:
    """The retrieval key of ``text``: equal content always gives an equal key."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return KEY_PREFIX + digest[:16]


def encode(text: str, compress_above: int = COMPRESS_ABOVE) -> bytes:
    """Bytes for storage. Lone surrogates survive (``surrogatepass``); large values are zlib'd."""
    raw = text.encode("utf-8", "surrogatepass")
    if len(raw) > compress_above:
        packed = zlib.compress(raw, 1)
        if len(packed) < len(raw):
            return _ZLIB + packed
    return _RAW + raw


def decode(blob: bytes) -> str:
    tag, body = blob[:1], blob[1:]
    if tag == _ZLIB:
        body = zlib.decompress(body)
    elif tag != _RAW:
        raise ValueError("unrecognised stored value")
    return body.decode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class StoreStats:
    backend: str
    entries: int
    bytes: int
    location: str = ""


@runtime_checkable
class Store(Protocol):
    """Where originals live so that ``headroom_retrieve`` can return them byte-exact.

    ``ttl`` is in seconds; ``None`` means the backend's default.
    """

    def put(self, key: str, value: str, ttl: float | None = None) -> None: ...

    def get(self, key: str) -> str | None: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> bool: ...

    def stats(self) -> StoreStats: ...

    def close(self) -> None: ...
