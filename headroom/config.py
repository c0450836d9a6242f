"""Options for compress(): one frozen dataclass, safe to share and to hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

from .errors import ConfigError

CONTEXT_STRATEGIES = ("intelligent", "rolling")
DEFAULT_EXCLUDED_TOOLS: frozenset[str] = frozenset({"Read", "Glob", "Grep", "Write", "Edit"})


@dataclass(frozen=True)
class HeadroomConfig:
    """Every knob of the engine. Integrations pass one through unchanged.

    Attributes:
        min_tokens_to_compress: outputs smaller than this are left untouched.
        excluded_tools: tool names whose outputs are never touched (matched
            case-insensitively). The defaults carry exact file content that
            edit workflows depend on.
        compress_user_messages: also compress long text typed or pasted by the user.
        query: relevance query for every output. ``None`` means: the text of the
            last user message before each output.
        model_limit: the model's context window in tokens. When the compressed
            messages still exceed it, the result carries a warning.
        keep_first / keep_last: items always kept at the ends of a crushed array.
        max_items: how many items a crushed array keeps besides anomalies
            (errors are always kept).
        lossless_slack: lossless compaction (every item kept) is chosen when its
            size is at most this multiple of the lossy selection's size.
        max_input_chars: larger outputs pass through untouched.
        store: where originals go: ``None`` (the ``HEADROOM_STORE`` variable,
            else the SQLite default), ``"memory"``, ``"sqlite:///path"``,
            ``"redis://host:port/db"``, or a store object.
        store_ttl_seconds: how long stored originals stay retrievable.
        store_timeout_seconds: how long one call to a remote store (Redis) may
            wait. After repeated failures a circuit breaker refuses calls for a
            few seconds; meanwhile outputs are only compressed losslessly.
        max_work: the per-output work budget, in characters scanned: the
            output's length times the passes its compression needs (a few
            fixed ones, plus one per query term and identifier). Larger
            outputs pass through, with the reason in ``outputs[i].skipped``.
            Deterministic: the same input is always treated the same way.
        compress_code: also compress source code (tree-sitter; the ``code``
            extra). Off by default: agents often edit the code they read.
        prose_keep_ratio: the share of a prose output's tokens the prose
            compressor aims to keep.
        token_classifier_path: a token-classification ONNX model (LLMLingua-2
            style: input ids in, keep/drop logits out) to compress prose with,
            instead of sentence selection.
        use_ml: also run the ``ml`` extra's bundled models: MiniLM sentence
            embeddings for prose and Magika for ambiguous text. Off by default:
            embedding a long prose output costs about half a second of CPU, and
            the lexical scorer keeps as much of what matters. A model you name
            with ``token_classifier_path`` runs whenever the path is set.
        cache_align: move a trailing date or time sentence out of the system
            prompt into a final context line, so the prompt prefix stays
            byte-stable across days. Off by default: volatile tokens are only
            reported in ``warnings``.
        output_reserve: tokens kept free for the reply when fitting messages
            into ``model_limit``.
        keep_last_turns: the most recent user turns (with everything after
            them) that context fitting never drops.
        context_strategy: how messages are dropped when they exceed
            ``model_limit``: ``"intelligent"`` (lowest value first: old tool
            outputs before conversation, hook biases respected) or
            ``"rolling"`` (oldest first).
    """

    min_tokens_to_compress: int = 250
    excluded_tools: frozenset[str] = DEFAULT_EXCLUDED_TOOLS
    compress_user_messages: bool = False
    query: str | None = None
    model_limit: int | None = None
    keep_first: int = 3
    keep_last: int = 2
    max_items: int = 15
    lossless_slack: float = 1.5
    max_input_chars: int = 64 * 1024 * 1024
    store: Any = field(default=None, compare=False)
    store_ttl_seconds: int = 7 * 24 * 3600
    store_timeout_seconds: float = 0.25
    max_work: int = 1024 * 1024 * 1024
    compress_code: bool = False
    prose_keep_ratio: float = 0.4
    token_classifier_path: str | None = None
    use_ml: bool = False
    cache_align: bool = False
    output_reserve: int = 4096
    keep_last_turns: int = 2
    context_strategy: str = "intelligent"
    # The threshold for JSON outputs only (``SmartCrusherConfig.min_tokens_to_crush``);
    # None: JSON follows ``min_tokens_to_compress`` like every other kind.
    json_min_tokens: int | None = None
    # ``SmartCrusherConfig.relevance_threshold``: JSON items whose query relevance,
    # normalized to 0-1 within their array, reaches this are kept; None: the default ranking.
    json_relevance_threshold: float | None = None
    # ``SmartCrusherConfig.max_items_after_crush``: a hard cap on the items each reduced
    # JSON container keeps (errors and query matches excepted); None: ``max_items`` is
    # only the budget that optional picks fill.
    json_max_items: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.excluded_tools, str):  # one name, not its letters
            object.__setattr__(self, "excluded_tools", frozenset({self.excluded_tools}))
        elif not isinstance(self.excluded_tools, frozenset):
            object.__setattr__(self, "excluded_tools", frozenset(self.excluded_tools))
        for name in (
            "min_tokens_to_compress",
            "keep_first",
            "keep_last",
            "max_items",
            "output_reserve",
            "keep_last_turns",
            "max_work",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
        if self.json_min_tokens is not None and (
            not isinstance(self.json_min_tokens, int)
            or isinstance(self.json_min_tokens, bool)
            or self.json_min_tokens < 0
        ):
            raise ConfigError(
                f"json_min_tokens must be a non-negative integer, got {self.json_min_tokens!r}"
            )
        if self.json_max_items is not None and (
            not isinstance(self.json_max_items, int)
            or isinstance(self.json_max_items, bool)
            or self.json_max_items < 1
        ):
            raise ConfigError(
                f"json_max_items must be a positive integer, got {self.json_max_items!r}"
            )
        t = self.json_relevance_threshold
        if t is not None and (
            isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0
        ):
            raise ConfigError(f"json_relevance_threshold must be from 0 to 1, got {t!r}")
        if self.model_limit is not None and (
            not isinstance(self.model_limit, int) or self.model_limit <= 0
        ):
            raise ConfigError(f"model_limit must be a positive integer, got {self.model_limit!r}")
        if not (self.lossless_slack >= 1.0):
            raise ConfigError(f"lossless_slack must be >= 1.0, got {self.lossless_slack!r}")
        if not (0.0 < self.prose_keep_ratio <= 1.0):
            raise ConfigError(f"prose_keep_ratio must be in (0, 1], got {self.prose_keep_ratio!r}")
        if self.context_strategy not in CONTEXT_STRATEGIES:
            raise ConfigError(
                f"context_strategy must be one of {', '.join(CONTEXT_STRATEGIES)}, "
                f"got {self.context_strategy!r}"
            )
        if self.store_ttl_seconds <= 0:
            raise ConfigError("store_ttl_seconds must be positive")
        if not (
            isinstance(self.store_timeout_seconds, (int, float))
            and 0 < self.store_timeout_seconds < float("inf")
        ):
            raise ConfigError(
                f"store_timeout_seconds must be a positive number, got {self.store_timeout_seconds!r}"
            )

    def with_options(self, **changes: Any) -> HeadroomConfig:
        """A copy with some fields changed (unknown names raise ConfigError)."""
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)

    @property
    def min_tokens_any(self) -> int:
        """The lowest threshold of any kind (an output below it is never compressed)."""
        if self.json_min_tokens is None:
            return self.min_tokens_to_compress
        return min(self.min_tokens_to_compress, self.json_min_tokens)

    def min_tokens_for(self, kind: str | None) -> int:
        if kind == "json" and self.json_min_tokens is not None:
            return self.json_min_tokens
        return self.min_tokens_to_compress

    def is_excluded(self, tool_name: str | None) -> bool:
        if not tool_name:
            return False
        lowered = tool_name.lower()
        return any(lowered == name.lower() for name in self.excluded_tools)

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of every option that changes compressed output (for memo keys)."""
        data = asdict(self)
        data.pop("store")
        data.pop("store_timeout_seconds")  # where originals go, not what output looks like
        data["excluded_tools"] = sorted(self.excluded_tools)
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.blake2b(blob, digest_size=8).hexdigest()
