"""Who a request is for: a tenant id from the API key, and a retrieval store per tenant.

The tenant is a short SHA-256 digest of the key the client sent (``x-api-key``,
``api-key`` or ``authorization``), never the key itself, so it can go into logs, metrics
and Redis key names. A request without a key is identified by its client address.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from ..store import Store, StoreStats

_KEY_HEADERS = (b"x-api-key", b"authorization", b"api-key")


def tenant_of(headers: Iterable[tuple[bytes, bytes]], client: Any = None) -> str:
    """``k:<digest>`` for a request carrying an API key, else ``a:<client address>``."""
    found: dict[bytes, bytes] = {}
    for k, v in headers:
        key = k.lower()
        if key in _KEY_HEADERS and key not in found:
            found[key] = v
    for name in _KEY_HEADERS:
        value = found.get(name)
        if value:
            if name == b"authorization" and value[:7].lower() == b"bearer ":
                value = value[7:]
            return "k:" + hashlib.sha256(value.strip()).hexdigest()[:24]
    host = client[0] if isinstance(client, (tuple, list)) and client else "unknown"
    return f"a:{host}"


class TenantStore:
    """A view of a retrieval store where every key is prefixed with the tenant, so an
    original stored for one client is never answered for another. ``inner`` is the store
    or a function that opens it (called on first use, so a store that cannot be opened
    fails inside the engine, which then keeps the outputs whole)."""

    def __init__(self, inner: Store | Callable[[], Store], tenant: str) -> None:
        self._inner = inner
        self.prefix = "t:" + tenant + ":"

    @property
    def inner(self) -> Store:
        if not isinstance(self._inner, Store):
            self._inner = self._inner()
        return self._inner

    def put(self, key: str, value: str, ttl: float | None = None) -> None:
        self.inner.put(self.prefix + key, value, ttl=ttl)

    def get(self, key: str) -> str | None:
        return self.inner.get(self.prefix + key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(self.prefix + key)

    def delete(self, key: str) -> bool:
        return self.inner.delete(self.prefix + key)

    def stats(self) -> StoreStats:
        return self.inner.stats()  # the shared store's figures: tenants are not split out

    def close(self) -> None:
        """The shared store stays open: the proxy closes it once, at shutdown."""
