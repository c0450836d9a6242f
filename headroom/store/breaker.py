"""A circuit breaker for remote stores: a dead server costs one timeout, not one per call.

After ``threshold`` consecutive failures the breaker opens: calls fail at once, without
touching the network, for ``cooldown`` seconds. Then one trial call goes through
(half-open); its success closes the breaker, its failure opens it again.
"""

from __future__ import annotations

import threading
import time


class CircuitBreaker:
    """Thread-safe; one per server (see :func:`breaker_for`)."""

    def __init__(self, threshold: int = 2, cooldown: float = 5.0) -> None:
        self.threshold = max(1, threshold)
        self.cooldown = max(0.0, cooldown)
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        """Calls are being refused now (the cooldown has not run out)."""
        with self._lock:
            return self._opened_at is not None and (
                time.monotonic() - self._opened_at < self.cooldown or self._trial
            )

    def retry_in(self) -> float:
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.cooldown - (time.monotonic() - self._opened_at))

    def allow(self) -> bool:
        """Whether a call may go to the server now (claims the one half-open trial)."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._trial or time.monotonic() - self._opened_at < self.cooldown:
                return False
            self._trial = True
            return True

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial or self._failures >= self.threshold:
                self._opened_at = time.monotonic()
            self._trial = False


_breakers: dict[str, CircuitBreaker] = {}
_lock = threading.Lock()


def breaker_for(name: str) -> CircuitBreaker:
    """The process-wide breaker of one server (by URL): every store object and every
    reopen attempt for it share what was learnt."""
    with _lock:
        found = _breakers.get(name)
        if found is None:
            found = _breakers[name] = CircuitBreaker()
        return found
