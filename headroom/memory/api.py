"""``Memory``: one user's view of a :class:`MemoryStore` (plus a session and an agent)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

from .store import Fact, MemoryStats, MemoryStore

_stores: dict[Path, MemoryStore] = {}
_stores_lock = threading.Lock()


def open_memory_store(path: str | os.PathLike[str] | None = None) -> MemoryStore:
    """The process-wide store for ``path`` (default: ``memory.sqlite3`` in the data dir)."""
    store = MemoryStore(path)
    key = store.path.resolve()
    with _stores_lock:
        existing = _stores.get(key)
        if existing is not None:
            store.close()
            return existing
        _stores[key] = store
        return store


class MemoryBackend(Protocol):
    """What :class:`Memory` needs of a store: :class:`MemoryStore` (SQLite) and
    :class:`~headroom.memory.redis_store.RedisMemoryStore` both provide it."""

    def add(
        self,
        owner: str,
        fact: str,
        *,
        subject: str | None = None,
        scope: str = "user",
        scope_id: str | None = None,
        now: float | None = None,
    ) -> Fact: ...

    def delete(self, owner: str, fact_id: int) -> bool: ...

    def clear(self, owner: str, scope: str | None = None, scope_id: str | None = None) -> int: ...

    def search(
        self,
        owner: str,
        query: str,
        *,
        k: int = 5,
        session_id: str | None = None,
        agent_id: str | None = None,
    ) -> list[Fact]: ...

    def get_all(
        self,
        owner: str,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        history: bool = False,
    ) -> list[Fact]: ...

    def stats(self, owner: str | None = None) -> MemoryStats: ...


class Memory:
    """The memories one user sees: their ``user`` scope plus the current session's and
    agent's. Writes default to the user scope."""

    def __init__(
        self,
        user_id: str,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        store: MemoryBackend | None = None,
        path: str | os.PathLike[str] | None = None,
        k: int = 5,
    ) -> None:
        self.user_id = str(user_id)
        self.session_id = session_id
        self.agent_id = agent_id
        self.store: MemoryBackend = store if store is not None else open_memory_store(path)
        self.k = k

    def search(self, query: str, k: int | None = None) -> list[Fact]:
        return self.store.search(
            self.user_id,
            query,
            k=self.k if k is None else k,
            session_id=self.session_id,
            agent_id=self.agent_id,
        )

    def add(self, fact: str, *, subject: str | None = None, scope: str = "user") -> Fact:
        scope_id = {"session": self.session_id, "agent": self.agent_id}.get(scope)
        return self.store.add(self.user_id, fact, subject=subject, scope=scope, scope_id=scope_id)

    def get_all(self, *, history: bool = False) -> list[Fact]:
        return self.store.get_all(
            self.user_id, session_id=self.session_id, agent_id=self.agent_id, history=history
        )

    def delete(self, fact_id: int) -> bool:
        return self.store.delete(self.user_id, fact_id)

    def clear(self, scope: str | None = None) -> int:
        """Forget this user's facts (all scopes, or only ``scope`` of this session/agent)."""
        if scope is None:
            return self.store.clear(self.user_id)
        scope_id = {"user": self.user_id, "session": self.session_id, "agent": self.agent_id}
        return self.store.clear(self.user_id, scope, scope_id.get(scope) or "")

    def stats(self) -> MemoryStats:
        return self.store.stats(self.user_id)
