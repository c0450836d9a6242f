"""ASGI types and the one send helper both ASGI entry points (the proxy app and the
compression middleware) use."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def send_body(send: Send, data: bytes, more: bool) -> None:
    """One ``http.response.body`` message (``more``: further body messages follow)."""
    await send({"type": "http.response.body", "body": data, "more_body": more})
