"""Options for compress(): one frozen dataclass, safe to share and to hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from typing import Any

from .errors import ConfigError

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

    def __post_init__(self) -> None:
        if not isinstance(self.excluded_tools, frozenset):
            object.__setattr__(self, "excluded_tools", frozenset(self.excluded_tools))
        for name in ("min_tokens_to_compress", "keep_first", "keep_last", "max_items"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{name} must be a non-negative integer, got {value!r}")
        if self.model_limit is not None and (
            not isinstance(self.model_limit, int) or self.model_limit <= 0
        ):
            raise ConfigError(f"model_limit must be a positive integer, got {self.model_limit!r}")
        if not (self.lossless_slack >= 1.0):
            raise ConfigError(f"lossless_slack must be >= 1.0, got {self.lossless_slack!r}")
        if self.store_ttl_seconds <= 0:
            raise ConfigError("store_ttl_seconds must be positive")

    def with_options(self, **changes: Any) -> HeadroomConfig:
        """A copy with some fields changed (unknown names raise ConfigError)."""
        unknown = set(changes) - set(self.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown option(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)

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
        data["excluded_tools"] = sorted(self.excluded_tools)
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.blake2b(blob, digest_size=8).hexdigest()
