"""The one protocol every content-kind compressor implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..config import HeadroomConfig
from ..tokens import TokenCounter


@dataclass(frozen=True)
class CompressorContext:
    """What a compressor may use besides the text itself.

    ``remember(original)`` stores the original and returns its retrieval key; a
    compressor must call it before it writes a marker that names the key.
    ``bias`` > 1.0 asks to keep more, < 1.0 to compress harder.
    """

    config: HeadroomConfig
    counter: TokenCounter
    remember: Callable[[str], str]
    query: str | None = None
    bias: float = 1.0
    tool_name: str | None = None

    def budget(self, base: int) -> int:
        """``base`` scaled by the bias (clamped to [0.1, 10]), at least 1."""
        return max(1, round(base * min(max(self.bias, 0.1), 10.0)))


@dataclass(frozen=True)
class Compressed:
    """A compressor's answer. ``key`` is set when something was omitted and stored.

    ``label`` names the method in ``transforms_applied`` when it differs from the
    compressor's name (for example a fallback scorer).
    """

    text: str
    key: str | None = None
    lossless: bool = False
    label: str | None = None


@runtime_checkable
class Compressor(Protocol):
    """Compresses one tool output of its content kind.

    Returns ``None`` when it has nothing better than the input (the engine then
    keeps the original). It must never raise on malformed input and never write a
    line or item that is not in the input, markers aside.
    """

    name: str

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None: ...
