"""Headroom: reversible, offline compression of LLM agent tool outputs.

from headroom import compress
result = compress(messages, model="gpt-4o")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import DEFAULT_EXCLUDED_TOOLS, HeadroomConfig
from .crusher_config import SmartCrusherConfig
from .engine import compress
from .errors import ConfigError, HeadroomError, MissingExtraError, StoreError
from .hooks import CompressContext, CompressEvent, CompressionHooks
from .result import CompressResult, OutputReport
from .retrieval import (
    RETRIEVE_TOOL_NAME,
    RetrievalResult,
    ToolAnswer,
    answer_tool_call,
    retrieve,
    retrieve_tool,
)
from .store import MemoryStore, SQLiteStore, Store, open_store, set_default_store, shared_store
from .tokens import count_tokens

if TYPE_CHECKING:
    from .client import HeadroomClient
    from .memory.client import with_memory

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_EXCLUDED_TOOLS",
    "RETRIEVE_TOOL_NAME",
    "CompressContext",
    "CompressEvent",
    "CompressResult",
    "CompressionHooks",
    "ConfigError",
    "HeadroomClient",
    "HeadroomConfig",
    "HeadroomError",
    "MemoryStore",
    "MissingExtraError",
    "OutputReport",
    "RetrievalResult",
    "SQLiteStore",
    "SmartCrusherConfig",
    "Store",
    "StoreError",
    "ToolAnswer",
    "__version__",
    "answer_tool_call",
    "compress",
    "count_tokens",
    "open_store",
    "retrieve",
    "retrieve_tool",
    "set_default_store",
    "shared_store",
    "with_memory",
]


def __getattr__(name: str) -> Any:
    # HeadroomClient needs httpx2 (the openai/anthropic extras): loaded on first use.
    if name in ("HeadroomClient", "AsyncHeadroomClient"):
        try:
            from . import client
        except ImportError as exc:
            raise MissingExtraError("openai", "httpx2") from exc
        return getattr(client, name)
    if name == "with_memory":
        from .memory.client import with_memory

        return with_memory
    raise AttributeError(f"module 'headroom' has no attribute {name!r}")
