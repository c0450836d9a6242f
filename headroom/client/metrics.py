"""Per-request metrics records: in memory by default, or in SQLite (``sqlite:///path``)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections import deque
from dataclasses import astuple, dataclass, fields
from datetime import datetime
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class MetricsRecord:
    """One request through a ``HeadroomClient``.

    In ``audit`` mode ``tokens_after``/``tokens_saved`` say what compression *would*
    have saved; the original was sent. ``fell_back`` names the failure when Headroom
    sent the original because something inside it failed. ``content`` (the messages as
    sent, JSON) is stored only when the client was built with ``store_content=True``.
    """

    timestamp: float
    provider: str
    surface: str
    model: str
    mode: str
    tokens_before: int
    tokens_after: int
    tokens_saved: int
    retrieval_rounds: int
    retrieval_tokens: int
    cache_prefix_stable: bool
    estimated_savings_usd: float | None
    fell_back: str = ""
    content: str | None = None


_COLUMNS = [f.name for f in fields(MetricsRecord)]
_TYPES = {
    "timestamp": "REAL",
    "estimated_savings_usd": "REAL",
    "cache_prefix_stable": "INTEGER",
    "provider": "TEXT",
    "surface": "TEXT",
    "model": "TEXT",
    "mode": "TEXT",
    "fell_back": "TEXT",
    "content": "TEXT",
}


def _epoch(since: datetime | float | int | None) -> float | None:
    if since is None:
        return None
    if isinstance(since, datetime):
        return since.timestamp()
    if isinstance(since, (int, float)) and not isinstance(since, bool):
        return float(since)
    raise ConfigError(f"since must be a datetime or epoch seconds, got {since!r}")


def sqlite_path(url: str) -> str:
    prefix = "sqlite:///"
    if not isinstance(url, str) or not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(f"metrics_url must look like 'sqlite:///path/to/file.db', got {url!r}")
    return url[len(prefix) :]


class MetricsLog:
    """Thread-safe record keeping. ``url=None`` keeps the last ``keep`` records in
    memory; ``sqlite:///path`` keeps them all in a file created with mode 0600."""

    def __init__(self, url: str | None = None, keep: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._memory: deque[MetricsRecord] = deque(maxlen=keep)
        self._db: sqlite3.Connection | None = None
        if url is not None:
            path = sqlite_path(url)
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            os.chmod(path, 0o600)
            self._db = sqlite3.connect(path, check_same_thread=False)
            cols = ", ".join(f"{c} {_TYPES.get(c, 'INTEGER')}" for c in _COLUMNS)
            with self._lock, self._db:
                self._db.execute(f"CREATE TABLE IF NOT EXISTS headroom_metrics ({cols})")

    def add(self, record: MetricsRecord) -> None:
        with self._lock:
            if self._db is None:
                self._memory.append(record)
                return
            marks = ", ".join("?" for _ in _COLUMNS)
            with self._db:
                self._db.execute(
                    f"INSERT INTO headroom_metrics ({', '.join(_COLUMNS)}) VALUES ({marks})",
                    astuple(record),
                )

    def query(
        self,
        since: datetime | float | int | None = None,
        model: str | None = None,
        mode: str | None = None,
    ) -> list[MetricsRecord]:
        after = _epoch(since)
        with self._lock:
            if self._db is None:
                rows = list(self._memory)
            else:
                cur = self._db.execute(
                    f"SELECT {', '.join(_COLUMNS)} FROM headroom_metrics ORDER BY rowid"
                )
                rows = [_from_row(r) for r in cur.fetchall()]
        return [
            r
            for r in rows
            if (after is None or r.timestamp >= after)
            and (model is None or r.model == model)
            and (mode is None or r.mode == mode)
        ]

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()
                self._db = None


def _from_row(row: tuple[Any, ...]) -> MetricsRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["cache_prefix_stable"] = bool(values["cache_prefix_stable"])
    return MetricsRecord(**values)


def now() -> float:
    return time.time()
