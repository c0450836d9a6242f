"""Retrieval-store backends behind one protocol, and the factory that picks one.

Spec strings (the ``store=`` option or the ``HEADROOM_STORE`` variable):

- ``memory``: this process only;
- ``sqlite`` (the default) or ``sqlite:///path/to/file.sqlite3`` or a bare path;
- ``redis://host:port/db`` (needs ``pip install ".[redis]"``); a
  ``?socket_timeout=0.2`` query sets how long one Redis call may wait (seconds).
"""

from __future__ import annotations

import os
import threading
from typing import Any

from ..errors import ConfigError
from .base import Store, StoreStats, decode, encode, key_for
from .memory import MemoryStore
from .sqlite import SQLiteStore, default_data_dir, default_path

__all__ = [
    "MemoryStore",
    "SQLiteStore",
    "Store",
    "StoreStats",
    "decode",
    "default_data_dir",
    "default_path",
    "default_store",
    "encode",
    "key_for",
    "open_store",
    "set_default_store",
    "shared_store",
]


def _spec_name(spec: str | None) -> str:
    """The spec to open: the one given, else ``HEADROOM_STORE``, else the SQLite default."""
    return (spec or os.environ.get("HEADROOM_STORE") or "sqlite").strip()


def open_store(spec: Any = None, ttl: float | None = None, timeout: float | None = None) -> Store:
    """A store from a spec string, or the given object if it already is one.

    ``timeout`` bounds each call to a remote store (Redis), in seconds; a timeout in
    the spec itself wins."""
    if spec is not None and not isinstance(spec, str):
        if isinstance(spec, Store):
            return spec
        raise ConfigError(f"not a Headroom store: {spec!r}")
    spec = _spec_name(spec)
    if spec == "memory":
        return MemoryStore(ttl=ttl)
    if spec.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore  # optional extra

        if timeout is None:
            return RedisStore(spec, ttl=ttl)
        return RedisStore(spec, ttl=ttl, socket_timeout=timeout)
    if spec == "sqlite":
        path = None
    elif spec.startswith("sqlite:///"):
        path = spec[len("sqlite:///") :]
        path = "/" + path if not path.startswith("/") and not os.path.isabs(path) else path
    elif spec.startswith("sqlite://"):
        path = spec[len("sqlite://") :]
    elif "://" in spec:
        raise ConfigError(f"unknown store spec {spec!r} (use memory, sqlite:///path or redis://…)")
    else:
        path = spec
    return SQLiteStore(path) if ttl is None else SQLiteStore(path, ttl=ttl)


_default: Store | None = None  # set by set_default_store; else the environment's spec
_lock = threading.Lock()
_shared: dict[str, Store] = {}


def shared_store(spec: Any, ttl: float | None = None, timeout: float | None = None) -> Store:
    """Like :func:`open_store`, but each spec string opens once per process.

    ``compress(..., store="memory")`` and a later ``retrieve(key, store="memory")`` then
    see the same originals, and a Redis or SQLite spec doesn't open a new connection per
    call. Store objects are returned as they are. ``ttl`` and ``timeout`` only apply on
    first open.
    """
    if spec is not None and not isinstance(spec, str):
        return open_store(spec)
    name = _spec_name(spec)
    with _lock:
        store = _shared.get(name)
        if store is None:
            store = _shared[name] = open_store(name, ttl=ttl, timeout=timeout)
        return store


def default_store() -> Store:
    """The process-wide store used when none is given (opened on first use): the one set
    with :func:`set_default_store`, else the shared store of ``HEADROOM_STORE`` (SQLite by
    default), so naming that same spec explicitly reaches the same originals."""
    chosen = _default
    return chosen if chosen is not None else shared_store(None)


def set_default_store(store: Store | str | None) -> None:
    """Replace the process-wide store (``None`` reopens it from the environment on next use)."""
    global _default
    chosen = None if store is None else shared_store(store)
    with _lock:
        _default = chosen
        if store is None:
            _shared.pop(_spec_name(None), None)
