"""Cross-conversation memory: facts the model learns, kept in SQLite (FTS5/BM25) and
brought back into later conversations, with no extra LLM call."""

from __future__ import annotations

from .api import Memory, open_memory_store
from .store import SCOPES, Fact, MemoryStats, MemoryStore, default_memory_path

__all__ = [
    "SCOPES",
    "Fact",
    "Memory",
    "MemoryStats",
    "MemoryStore",
    "default_memory_path",
    "open_memory_store",
]
