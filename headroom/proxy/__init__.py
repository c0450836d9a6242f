"""``headroom proxy``: an HTTP proxy in front of the Anthropic and OpenAI APIs that
compresses tool outputs and answers ``headroom_retrieve`` rounds inside.

Needs the ``proxy`` extra (``pip install ".[proxy]"``).
"""

from __future__ import annotations

from .app import HeadroomProxy, ProxyStats, create_app
from .config import ProxyConfig
from .server import main, serve

__all__ = ["HeadroomProxy", "ProxyConfig", "ProxyStats", "create_app", "main", "serve"]
