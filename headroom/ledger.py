"""One savings ledger for every entry point.

Every wrapper's ``total_tokens_saved`` and ``get_savings_summary()``, the proxy's
``/stats``, the LiteLLM callback and the SDK client read from a ``SavingsLedger``.
It is safe to share between threads and between asyncio tasks: each update is one
short critical section under a lock and never awaits.

Schema (``LedgerSummary``):
    calls             requests that went through compression (compressed or not)
    tokens_before     tokens of the tool outputs as the caller sent them
    tokens_after      tokens of the same outputs as sent upstream
    tokens_saved      tokens_before - tokens_after (gross, over the compressed requests)
    retrieval_rounds  hidden rounds that answered ``headroom_retrieve`` calls
    retrieval_tokens  tokens re-sent because of those rounds (the answers)
    net_tokens_saved  tokens_saved - retrieval_tokens
    compression_ratio tokens_saved / tokens_before (0.0 when nothing was counted)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from .result import CompressResult


@dataclass(frozen=True)
class RequestRecord:
    """One request, as the ledger saw it."""

    timestamp: float
    model: str
    tokens_before: int
    tokens_after: int
    retrieval_rounds: int = 0
    retrieval_tokens: int = 0
    source: str = ""
    request_id: str = ""

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after

    @property
    def compressed(self) -> bool:
        return self.tokens_after < self.tokens_before

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tokens_saved": self.tokens_saved}


@dataclass(frozen=True)
class LedgerSummary:
    """Totals over every request the ledger recorded."""

    calls: int
    tokens_before: int
    tokens_after: int
    tokens_saved: int
    retrieval_rounds: int
    retrieval_tokens: int
    net_tokens_saved: int
    compression_ratio: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class SavingsLedger:
    """Thread- and async-safe savings counters plus the last ``keep`` request records."""

    def __init__(self, keep: int = 1000) -> None:
        self._lock = threading.Lock()
        self._records: deque[RequestRecord] = deque(maxlen=max(0, keep))
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls = 0
            self._before = 0
            self._after = 0
            self._rounds = 0
            self._retrieval_tokens = 0
            self._records.clear()

    def record(
        self,
        tokens_before: int,
        tokens_after: int,
        *,
        model: str = "",
        retrieval_rounds: int = 0,
        retrieval_tokens: int = 0,
        source: str = "",
        request_id: str = "",
    ) -> RequestRecord:
        """Count one request. ``tokens_after`` above ``tokens_before`` is clamped: a
        request Headroom left alone saved nothing, it did not cost anything."""
        before = max(0, int(tokens_before))
        after = min(max(0, int(tokens_after)), before)
        rec = RequestRecord(
            time.time(),
            model,
            before,
            after,
            max(0, int(retrieval_rounds)),
            max(0, int(retrieval_tokens)),
            source,
            request_id,
        )
        with self._lock:
            self._calls += 1
            self._before += rec.tokens_before
            self._after += rec.tokens_after
            self._rounds += rec.retrieval_rounds
            self._retrieval_tokens += rec.retrieval_tokens
            self._records.append(rec)
        return rec

    def record_result(
        self, result: CompressResult, *, source: str = "", request_id: str = ""
    ) -> RequestRecord:
        """Count one ``compress()`` result."""
        return self.record(
            result.tokens_before,
            result.tokens_after,
            model=result.model,
            source=source,
            request_id=request_id,
        )

    def add_retrieval(self, rounds: int, tokens: int) -> None:
        """Count hidden retrieval rounds that belong to a request already recorded."""
        with self._lock:
            self._rounds += max(0, int(rounds))
            self._retrieval_tokens += max(0, int(tokens))

    @property
    def total_tokens_saved(self) -> int:
        with self._lock:
            return self._before - self._after

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def summary(self) -> LedgerSummary:
        with self._lock:
            saved = self._before - self._after
            return LedgerSummary(
                calls=self._calls,
                tokens_before=self._before,
                tokens_after=self._after,
                tokens_saved=saved,
                retrieval_rounds=self._rounds,
                retrieval_tokens=self._retrieval_tokens,
                net_tokens_saved=saved - self._retrieval_tokens,
                compression_ratio=saved / self._before if self._before else 0.0,
            )
