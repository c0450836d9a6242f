"""What compress() returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cache_align import PrefixStability


@dataclass(frozen=True)
class OutputReport:
    """What happened to one tool output (or user text, when enabled)."""

    message_index: int
    tool_name: str | None
    tool_call_id: str | None
    kind: str
    compressor: str
    tokens_before: int
    tokens_after: int
    key: str | None = None
    lossless: bool = False
    skipped: str | None = None  # why it was left alone, when it was

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after

    @property
    def transform(self) -> str | None:
        if self.skipped or self.tokens_after >= self.tokens_before:
            return None
        ratio = self.tokens_saved / self.tokens_before if self.tokens_before else 0.0
        return f"router:{self.compressor}:{ratio:.2f}"


@dataclass(frozen=True)
class CompressResult:
    """Compressed messages plus honest numbers.

    ``tokens_exact`` is False for models without a public tokenizer (Claude,
    Gemini, unknown); their counts use the ``encoding`` stand-in. Counts cover
    message content and tool calls, not the provider's fixed per-message framing.
    """

    messages: list[dict[str, Any]]
    tokens_before: int
    tokens_after: int
    transforms_applied: list[str]
    retrieval_keys: list[str]
    model: str
    encoding: str
    tokens_exact: bool
    outputs: list[OutputReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    # How much of this request's serialized messages repeats the previous request's
    # (same model) byte for byte: what a provider's prompt cache can reuse.
    prefix_stability: PrefixStability | None = None

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after

    @property
    def compression_ratio(self) -> float:
        """0.0 = no savings, 1.0 = everything removed."""
        return self.tokens_saved / self.tokens_before if self.tokens_before else 0.0
