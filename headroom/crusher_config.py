"""``SmartCrusherConfig``: the documented knobs of the JSON compressor.

The fields map onto ``HeadroomConfig`` (``config_options``) and act on every JSON
container the compressor reduces: an array of records, an array of scalars, or an object
that is a map (members keyed by id, name or version).

``relevance_threshold``, the normalization: within one container, each item (for a map,
each member, scored as its ``"key":value`` text) gets a BM25 score against the query's
content words and identifiers. The documents are that container's items, as lower-cased
compact JSON, so the idf comes from that container alone. Only the query words that at
most half of the matching items hold are scored (items that hold any query word match; a
word nearly all of them hold says nothing about which one is meant). Each score is
divided by the best score in the container: the best match scores 1.0 and an item
holding none of the scored words 0.0. Items at or above the threshold are kept, best
first (ties by position), as room allows. Items with a score above 0 but below the
threshold are the candidates to drop: they are no longer kept for relevance, nor to fill
spare room as a rare value or a numeric outlier; one stays only if it is among the
first/last items, is an error, or is named by the query. Items scoring 0 are never kept
for relevance, even at a threshold of 0. Without a query, or when no item holds a scored
word, the threshold does nothing.

``max_items_after_crush`` is a hard cap on the items each reduced container keeps (the
marker is not an item). Two kinds of item are never dropped for it: errors (items that
signal trouble) and items the query names (a field value or map key that is a word of
the query, an item holding one of its identifiers unless most items hold it). Every
other pick gives way, last pick first: numeric outliers, then rare values, then
relevance matches (worst first), then ``keep_last``, then ``keep_first`` items, then
members the document points at itself (a map member keyed by its top-level ``version``).
When errors and query matches alone exceed the cap, all of them stay, nothing else does,
and the marker sentence says so: ``"… items omitted (over the cap of 5 items, to keep
every error and query match); …"``. Repeats are still folded as always: an exact
duplicate, or an error repeated with only its digits changed, is kept once.

``min_tokens_to_crush`` is the threshold for JSON outputs only; other kinds keep
``min_tokens_to_compress``. ``keep_first`` / ``keep_last`` are the items always kept
from the start and the end of a container (within the cap).
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

    min_tokens_to_crush: JSON outputs smaller than this (in tokens) are left alone.
    max_items_after_crush: a hard cap on the items a reduced container keeps; only
        errors and items the query names may exceed it (the marker then says so).
    keep_first / keep_last: items kept from the start and the end of a container.
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
