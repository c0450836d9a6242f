"""What a request would become: the ``Plan``, its price estimate and prefix stability."""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ..result import OutputReport

PRICE_NOTE = (
    "estimate: input-token prices from the bundled genai-prices data (offline); saved "
    "tokens inside a stable prefix are priced at the cached-input rate"
)


@dataclass(frozen=True)
class Plan:
    """What Headroom does (or would do) with one request.

    ``tokens_*`` count the request's messages as Headroom counts them (exact for
    OpenAI models, approximate for Claude: see ``tokens_exact``). ``messages`` are the
    messages as they would be sent (``input`` items for the Responses API).
    ``estimated_savings_usd`` is an *estimate* (see ``price_note``), None when the
    bundled price data does not know the model. ``cache_prefix_stable`` is True when
    the previous request sent in the same conversation is a byte-identical prefix of
    this one (tools and system included), so a provider's prompt cache keeps hitting;
    a conversation's first request has no earlier prefix to break and counts as stable.
    """

    provider: str
    surface: str
    model: str
    mode: str
    tokens_before: int
    tokens_after: int
    tokens_saved: int
    savings_percent: float
    transforms: tuple[str, ...]
    messages: tuple[Any, ...]
    outputs: tuple[OutputReport, ...]
    retrieval_tool_offered: bool
    estimated_savings_usd: float | None
    cache_prefix_stable: bool
    tokens_exact: bool
    price_note: str = PRICE_NOTE


@functools.lru_cache(maxsize=256)
def token_prices(provider: str, model: str) -> tuple[float, float] | None:
    """(input, cached input) USD per token from genai-prices' bundled data, or None.
    Never calls the package's updater: nothing here touches the network."""
    try:
        import genai_prices
    except ImportError:
        return None
    n = 100_000  # below every long-context tier
    try:
        plain = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=n), model_ref=model, provider_id=provider
        )
        cached = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=n, cache_read_tokens=n),
            model_ref=model,
            provider_id=provider,
        )
    except Exception:
        return None
    return float(plain.input_price) / n, float(cached.input_price) / n


def estimate_usd(provider: str, model: str, saved_fresh: int, saved_cached: int) -> float | None:
    prices = token_prices(provider, model)
    if prices is None:
        return None
    fresh, cached = prices
    return round(saved_fresh * fresh + saved_cached * cached, 8)


def _digest(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


_HEAD_FIELDS = ("model", "system", "instructions", "tools", "tool_choice")


def prefix_digests(body: dict[str, Any], items: list[Any]) -> list[bytes]:
    """What a provider's prompt cache keys on, item by item: the request head (model,
    tools, system), then each message as serialized."""
    head = {k: body.get(k) for k in _HEAD_FIELDS if k in body}
    return [_digest(head), *(_digest(m) for m in items)]


def conversation_key(surface: str, body: dict[str, Any], items: list[Any]) -> bytes:
    """A conversation is told by its model, system prompt and first message."""
    first = items[0] if items else None
    return _digest(
        [surface, body.get("model"), body.get("system"), body.get("instructions"), first]
    )


class PrefixTracker:
    """Remembers the last sent prefix of recent conversations (bounded, thread-safe)."""

    def __init__(self, keep: int = 512) -> None:
        self._lock = threading.Lock()
        self._keep = keep
        self._last: OrderedDict[bytes, list[bytes]] = OrderedDict()

    def check(self, key: bytes, digests: list[bytes]) -> tuple[bool, int]:
        """(stable, number of messages the previous request sent)."""
        with self._lock:
            prev = self._last.get(key)
        if prev is None:
            return True, 0
        stable = digests[: len(prev)] == prev
        return stable, (len(prev) - 1 if stable else 0)

    def remember(self, key: bytes, digests: list[bytes]) -> None:
        with self._lock:
            self._last[key] = digests
            self._last.move_to_end(key)
            while len(self._last) > self._keep:
                self._last.popitem(last=False)
