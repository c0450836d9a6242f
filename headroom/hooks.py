"""CompressionHooks: the fine-grained extension seam around compress().

Subclass and override what you need::

    class MyHooks(CompressionHooks):
        def compute_biases(self, messages, ctx):
            return {5: 1.5, 6: 0.5}   # keep more of message 5, compress message 6 harder

    compress(messages, model="gpt-4o", hooks=MyHooks())

A hook that raises is logged and ignored: it never breaks a request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import HeadroomConfig


@dataclass(frozen=True)
class CompressContext:
    """What hooks know about the call."""

    model: str
    config: HeadroomConfig
    query: str | None
    message_count: int
    tool_names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CompressEvent:
    """What post_compress observes after a call."""

    model: str
    tokens_before: int
    tokens_after: int
    tokens_saved: int
    compression_ratio: float
    transforms_applied: list[str]
    retrieval_keys: list[str]
    duration_ms: float
    outputs_compressed: int


class CompressionHooks:
    """No-op defaults; override any of the three methods."""

    def pre_compress(self, messages: list[Any], ctx: CompressContext) -> list[Any]:
        """Return the messages to compress (filter, dedupe, inject). Default: unchanged."""
        return messages

    def compute_biases(self, messages: list[Any], ctx: CompressContext) -> dict[int, float]:
        """Per-message aggressiveness by index: > 1.0 keeps more, < 1.0 compresses harder."""
        return {}

    def post_compress(self, event: CompressEvent) -> None:
        """Observe the result (logging, analytics)."""
