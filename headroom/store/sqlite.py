"""SQLite store: the embedded default. Survives restarts; safe across threads and processes."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import threading
import time
from pathlib import Path

from ..errors import StoreError
from .base import StoreStats, decode, encode

DEFAULT_TTL = 7 * 24 * 3600.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS originals (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    expires REAL
);
CREATE INDEX IF NOT EXISTS originals_expires ON originals (expires);
"""


def default_data_dir() -> Path:
    """The per-user data directory (``HEADROOM_DATA_DIR`` overrides it)."""
    override = os.environ.get("HEADROOM_DATA_DIR")
    if override:
        return Path(override).expanduser()
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "headroom"
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "headroom"
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else home / ".local" / "share") / "headroom"


def default_path() -> Path:
    return default_data_dir() / "store.sqlite3"


class SQLiteStore:
    """One file, WAL mode, one connection per thread, expired rows purged as it goes."""

    _PURGE_EVERY = 256

    def __init__(self, path: str | os.PathLike[str] | None = None, ttl: float = DEFAULT_TTL):
        self.path = Path(path) if path is not None else default_path()
        self.default_ttl = ttl
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._puts = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            conn.executescript(_SCHEMA)
            self._purge(conn)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the Headroom store at {self.path}: {exc}") from exc

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _purge(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "DELETE FROM originals WHERE expires IS NOT NULL AND expires <= ?", (time.time(),)
        )

    def put(self, key: str, value: str, ttl: float | None = None) -> None:
        ttl = self.default_ttl if ttl is None else ttl
        expires = time.time() + ttl if ttl else None
        conn = self._conn()
        try:
            conn.execute(
                "INSERT OR REPLACE INTO originals (key, value, expires) VALUES (?, ?, ?)",
                (key, encode(value), expires),
            )
            self._puts += 1
            if self._puts % self._PURGE_EVERY == 0:
                self._purge(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the Headroom store at {self.path}: {exc}") from exc

    def get(self, key: str) -> str | None:
        row = (
            self._conn()
            .execute(
                "SELECT value FROM originals WHERE key = ? AND (expires IS NULL OR expires > ?)",
                (key, time.time()),
            )
            .fetchone()
        )
        return None if row is None else decode(row[0])

    def exists(self, key: str) -> bool:
        row = (
            self._conn()
            .execute(
                "SELECT 1 FROM originals WHERE key = ? AND (expires IS NULL OR expires > ?)",
                (key, time.time()),
            )
            .fetchone()
        )
        return row is not None

    def delete(self, key: str) -> bool:
        cur = self._conn().execute("DELETE FROM originals WHERE key = ?", (key,))
        return cur.rowcount > 0

    def stats(self) -> StoreStats:
        row = (
            self._conn()
            .execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(value)), 0) FROM originals "
                "WHERE expires IS NULL OR expires > ?",
                (time.time(),),
            )
            .fetchone()
        )
        return StoreStats("sqlite", int(row[0]), int(row[1]), str(self.path))

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()
