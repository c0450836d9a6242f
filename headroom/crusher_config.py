"""``SmartCrusherConfig``: the documented knobs of the JSON compressor.

Normalization of ``relevance_threshold``: within one JSON array, each item's relevance
to the query is its BM25 score divided by the best score in that array, so the most
relevant item scores 1.0 and an item sharing no query term scores 0.0. Items below the
threshold are candidates to drop; items at or above it are kept, best first, up to
``max_items_after_crush``. Without a query every score is 0 and the threshold does
nothing. (The ends, error items and items naming a query identifier are kept as before.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ConfigError


def _int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(
            f"SmartCrusherConfig.{name} must be an integer >= {minimum}, got {value!r}"
        )


@dataclass(frozen=True)
class SmartCrusherConfig:
    """How JSON tool outputs are crushed.

    min_tokens_to_crush: JSON outputs smaller than this are left alone.
    max_items_after_crush: the most items an array keeps (ends, errors and items the
        query names are kept first).
    keep_first / keep_last: items always kept from the start and the end of an array.
    relevance_threshold: 0-1; see the module docstring for the normalization.
    """

    min_tokens_to_crush: int = 200
    max_items_after_crush: int = 15
    keep_first: int = 3
    keep_last: int = 2
    relevance_threshold: float = 0.3

    def __post_init__(self) -> None:
        _int("min_tokens_to_crush", self.min_tokens_to_crush, 0)
        _int("max_items_after_crush", self.max_items_after_crush, 1)
        _int("keep_first", self.keep_first, 0)
        _int("keep_last", self.keep_last, 0)
        t = self.relevance_threshold
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0.0 <= t <= 1.0:
            raise ConfigError(
                f"SmartCrusherConfig.relevance_threshold must be a number from 0 to 1, got {t!r}"
            )
        if self.keep_first + self.keep_last > self.max_items_after_crush:
            raise ConfigError(
                "SmartCrusherConfig: keep_first + keep_last "
                f"({self.keep_first} + {self.keep_last}) exceeds max_items_after_crush "
                f"({self.max_items_after_crush})"
            )

    def config_options(self) -> dict[str, Any]:
        """The ``HeadroomConfig`` options these fields map onto."""
        return {
            "keep_first": self.keep_first,
            "keep_last": self.keep_last,
            "max_items": self.max_items_after_crush,
            "json_max_items": self.max_items_after_crush,
            "json_min_tokens": self.min_tokens_to_crush,
            "json_relevance_threshold": float(self.relevance_threshold),
        }
