"""One request's facts as the proxy learns them, for metrics, limits and logs."""

from __future__ import annotations

import contextvars
import itertools
import os
import time
from dataclasses import dataclass, field

from .usage import UsageTap, model_in, normalized

_ids = itertools.count(1)
_PID = os.getpid()


def _new_id() -> str:
    return f"hr-{_PID:x}-{int(time.time() * 1000):x}-{next(_ids):x}"


@dataclass
class Exchange:
    """Filled in along the way; read once the response has been sent."""

    path: str
    route: str
    method: str
    tenant: str = ""
    id: str = field(default_factory=_new_id)
    started: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    provider: str = ""
    model: str = ""
    status: int = 0
    forwarded_at: float | None = None
    first_byte_at: float | None = None
    ended_at: float | None = None
    tokens_before: int = 0
    tokens_after: int = 0
    transforms: list[str] = field(default_factory=list)
    compression_failed: bool = False
    cache_hit: bool = False
    error: str = ""
    request_body: bytes = b""
    cost: float = 0.0
    savings: float = 0.0
    tap: UsageTap = field(default_factory=UsageTap)

    # -------------------------------------------------------------- derived
    @property
    def usage(self) -> dict[str, int]:
        return normalized(self.tap.usage())

    @property
    def overhead(self) -> float:
        """Seconds from arrival to forwarding (the whole time when nothing was sent)."""
        end = self.forwarded_at or self.ended_at or time.perf_counter()
        return max(0.0, end - self.t0)

    @property
    def first_byte(self) -> float | None:
        return None if self.first_byte_at is None else self.first_byte_at - self.t0

    @property
    def upstream(self) -> float | None:
        if self.forwarded_at is None or self.ended_at is None:
            return None
        return max(0.0, self.ended_at - self.forwarded_at)

    def response_model(self) -> str:
        return self.model or model_in(self.tap.head)


current: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "headroom_proxy_exchange", default=None
)


def mark_forwarded() -> None:
    """Called just before the first upstream call of a request."""
    ex = current.get()
    if ex is not None and ex.forwarded_at is None:
        ex.forwarded_at = time.perf_counter()
