"""Framework adapters. Each converts message formats and delegates to headroom.compress().

``from headroom.integrations import HeadroomChatModel`` imports LangChain only when
the name is first used, so ``import headroom.integrations`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "HeadroomChatModel": "langchain",
    "HeadroomRetrieveTool": "langchain",
    "HeadroomDocumentCompressor": "langchain",
    "HeadroomCallbackHandler": "langchain",
    "HeadroomOptimizer": "langchain",
    "compress_tool_messages": "langchain",
    "HeadroomAgnoModel": "agno",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'headroom.integrations' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
