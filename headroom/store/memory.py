"""In-process LRU store, bounded by bytes."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from .base import StoreStats, decode, encode


class MemoryStore:
    """Keeps originals in this process only. Oldest-used entries go first when full."""

    def __init__(self, max_bytes: int = 256 * 1024 * 1024, ttl: float | None = None) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self.default_ttl = ttl
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def put(self, key: str, value: str, ttl: float | None = None) -> None:
        blob = encode(value)
        ttl = self.default_ttl if ttl is None else ttl
        expires = time.time() + ttl if ttl else None
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= len(old[0])
            self._data[key] = (blob, expires)
            self._bytes += len(blob)
            while self._bytes > self.max_bytes and len(self._data) > 1:
                _, (evicted, _) = self._data.popitem(last=False)
                self._bytes -= len(evicted)

    def _live(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        blob, expires = entry
        if expires is not None and expires <= time.time():
            del self._data[key]
            self._bytes -= len(blob)
            return None
        self._data.move_to_end(key)
        return blob

    def get(self, key: str) -> str | None:
        with self._lock:
            blob = self._live(key)
        return None if blob is None else decode(blob)

    def exists(self, key: str) -> bool:
        with self._lock:
            return self._live(key) is not None

    def delete(self, key: str) -> bool:
        with self._lock:
            entry = self._data.pop(key, None)
            if entry is None:
                return False
            self._bytes -= len(entry[0])
            return True

    def stats(self) -> StoreStats:
        with self._lock:
            return StoreStats("memory", len(self._data), self._bytes)

    def close(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
