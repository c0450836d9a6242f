"""``Memory``: one user's view of a :class:`MemoryStore` (plus a session and an agent)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

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


class Memory:
    """The memories one user sees: their ``user`` scope plus the current session's and
    agent's. Writes default to the user scope."""

    def __init__(
        self,
        user_id: str,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        store: MemoryStore | None = None,
        path: str | os.PathLike[str] | None = None,
        k: int = 5,
    ) -> None:
        self.user_id = str(user_id)
        self.session_id = session_id
        self.agent_id = agent_id
        self.store = store if store is not None else open_memory_store(path)
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
