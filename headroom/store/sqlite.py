"""SQLite store: the embedded default. Survives restarts; safe across threads and processes."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import sys
import threading
import time
from pathlib import Path

from ..errors import StoreError
from .base import StoreStats, decode, encode

log = logging.getLogger("headroom")

DEFAULT_TTL = 7 * 24 * 3600.0
# Originals are whatever tools returned (file contents, records, secrets): only their
# owner may read them.
DIR_MODE = 0o700
FILE_MODE = 0o600
_SIDE_FILES = ("", "-wal", "-shm", "-journal")
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


def _loose(path: Path, private: int) -> bool:
    try:
        return stat.S_IMODE(path.stat().st_mode) & ~private != 0
    except OSError:
        return False


def make_private_dir(directory: Path, ours: bool) -> None:
    """Create ``directory`` (owner-only); when it is Headroom's own data directory
    (``ours``), also tighten it if it exists with looser permissions. Never raises:
    a failure is logged as a warning."""
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("headroom: cannot create %s: %s", directory, exc)
        return
    if os.name == "nt" or not _loose(directory, DIR_MODE):
        return
    if not ours:
        log.warning("headroom: %s is readable by other users", directory)
        return
    try:
        os.chmod(directory, DIR_MODE)
    except OSError as exc:
        log.warning("headroom: cannot make %s private (%s): %s", directory, oct(DIR_MODE), exc)


def make_private_file(path: Path, ours: bool) -> None:
    """Create ``path`` empty and owner-only if it is missing; when it is in Headroom's
    own data directory (``ours``), also tighten it (and SQLite's side files) if it
    exists. Never raises: a failure is logged as a warning."""
    if os.name == "nt":
        return
    if not path.exists():
        try:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
        except OSError:
            return  # the caller's open reports it, or opens read-only
    for suffix in _SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if not _loose(side, FILE_MODE):
            continue
        if not ours:
            log.warning("headroom: %s is readable by other users", side)
            continue
        try:
            os.chmod(side, FILE_MODE)
        except OSError as exc:
            log.warning("headroom: cannot make %s private (%s): %s", side, oct(FILE_MODE), exc)


class SQLiteStore:
    """One file, WAL mode, one connection per thread, expired rows purged as it goes."""

    _PURGE_EVERY = 256

    def __init__(self, path: str | os.PathLike[str] | None = None, ttl: float = DEFAULT_TTL):
        self.path = Path(path) if path is not None else default_path()
        self.default_ttl = ttl
        self.read_only = False
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._puts = 0
        ours = path is None or self.path.parent == default_data_dir()
        make_private_dir(self.path.parent, ours)
        make_private_file(self.path, ours)
        try:
            conn = self._conn()
            conn.executescript(_SCHEMA)
            self._purge(conn)
        except (OSError, sqlite3.Error) as exc:
            # An intact store on a read-only mount (or without write permission) can
            # still answer retrievals.
            self._drop_connections()
            if not self.path.is_file():
                raise StoreError(f"cannot open the Headroom store at {self.path}: {exc}") from exc
            self.read_only = True
            try:
                self._conn().execute("SELECT 1 FROM originals LIMIT 1").fetchall()
            except sqlite3.Error as ro_exc:
                self._drop_connections()
                raise StoreError(
                    f"cannot open the Headroom store at {self.path}: {exc}; read-only: {ro_exc}"
                ) from ro_exc
            log.warning("headroom: the store at %s is read-only (%s)", self.path, exc)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self.read_only:
                # immutable: nothing can change the file where it can't be written, and
                # SQLite then needs no -shm file (which it could not create).
                uri = self.path.resolve().as_uri() + "?mode=ro&immutable=1"
                conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
            else:
                conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.execute("PRAGMA busy_timeout=30000")
                except sqlite3.Error:
                    conn.close()  # don't leak the file handle (a read-only mount stays busy)
                    raise
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _drop_connections(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    def _purge(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "DELETE FROM originals WHERE expires IS NOT NULL AND expires <= ?", (time.time(),)
        )

    def put(self, key: str, value: str, ttl: float | None = None) -> None:
        if self.read_only:
            raise StoreError(f"the Headroom store at {self.path} is read-only")
        ttl = self.default_ttl if ttl is None else ttl
        expires = time.time() + ttl if ttl else None
        try:
            conn = self._conn()
            conn.execute(
                "INSERT OR REPLACE INTO originals (key, value, expires) VALUES (?, ?, ?)",
                (key, encode(value), expires),
            )
            self._puts += 1
            if self._puts % self._PURGE_EVERY == 0:
                self._purge(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the Headroom store at {self.path}: {exc}") from exc

    def _query(self, sql: str, args: tuple[object, ...]) -> sqlite3.Cursor:
        try:
            return self._conn().execute(sql, args)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the Headroom store at {self.path}: {exc}") from exc

    def get(self, key: str) -> str | None:
        row = self._query(
            "SELECT value FROM originals WHERE key = ? AND (expires IS NULL OR expires > ?)",
            (key, time.time()),
        ).fetchone()
        return None if row is None else decode(row[0])

    def exists(self, key: str) -> bool:
        row = self._query(
            "SELECT 1 FROM originals WHERE key = ? AND (expires IS NULL OR expires > ?)",
            (key, time.time()),
        ).fetchone()
        return row is not None

    def delete(self, key: str) -> bool:
        if self.read_only:
            raise StoreError(f"the Headroom store at {self.path} is read-only")
        return self._query("DELETE FROM originals WHERE key = ?", (key,)).rowcount > 0

    def stats(self) -> StoreStats:
        row = self._query(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(value)), 0) FROM originals "
            "WHERE expires IS NULL OR expires > ?",
            (time.time(),),
        ).fetchone()
        return StoreStats("sqlite", int(row[0]), int(row[1]), str(self.path))

    def close(self) -> None:
        self._drop_connections()
