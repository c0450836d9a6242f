"""Persistent memory facts: SQLite with an FTS5 (BM25) index, one file per store.

A fact belongs to one owner (the user id) and one scope: ``user`` (every conversation
of that user), ``session`` (one conversation) or ``agent`` (one agent of that user).
A new fact on the same subject, owner and scope supersedes the current one; the old
row is kept as history but no longer found by :meth:`MemoryStore.search`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, StoreError
from ..store.sqlite import default_data_dir, make_private_dir, make_private_file

SCOPES = ("user", "session", "agent")
MAX_FACT_CHARS = 2000
MAX_SUBJECT_CHARS = 200
_MAX_QUERY_TERMS = 32
_WORD = re.compile(r"\w+", re.UNICODE)
_SPACE = re.compile(r"\s+")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS facts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    scope TEXT NOT NULL,
    scope_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    subject_key TEXT NOT NULL,
    fact TEXT NOT NULL,
    created REAL NOT NULL,
    superseded_by INTEGER
);
CREATE INDEX IF NOT EXISTS facts_subject
    ON facts (owner, scope, scope_id, subject_key, superseded_by);
CREATE VIRTUAL TABLE IF NOT EXISTS facts_fts USING fts5(subject, fact);
"""


def default_memory_path() -> Path:
    return default_data_dir() / "memory.sqlite3"


@dataclass(frozen=True)
class Fact:
    """One remembered fact. ``superseded_by`` is set on history rows."""

    id: int
    owner: str
    scope: str
    scope_id: str
    subject: str
    fact: str
    created: float
    superseded_by: int | None = None
    score: float = 0.0


@dataclass(frozen=True)
class MemoryStats:
    facts: int
    history: int
    by_scope: dict[str, int]
    path: str


def _clean(text: str, limit: int) -> str:
    return _SPACE.sub(" ", str(text)).strip()[:limit]


def _subject_key(subject: str) -> str:
    return " ".join(_WORD.findall(subject.casefold()))


def new_fact_fields(
    owner: str,
    fact: str,
    subject: str | None,
    scope: str,
    scope_id: str | None,
    now: float | None,
) -> tuple[str, str, str, str, float]:
    """A new fact's validated fields, as every memory backend stores them: its text,
    subject, subject key (what supersedes), scope id and creation time."""  # fmt: skip
    if scope not in SCOPES:
        raise ConfigError(f"memory scope must be one of {SCOPES}, not {scope!r}")
    text = _clean(fact, MAX_FACT_CHARS)
    if not text:
        raise ConfigError("a memory fact must not be empty")
    subj = _clean(subject, MAX_SUBJECT_CHARS) if subject else text[:MAX_SUBJECT_CHARS]
    key = _subject_key(subj) or subj.casefold()
    sid = owner if scope == "user" else (scope_id or "")
    return text, subj, key, sid, time.time() if now is None else now


def fts_query(text: str) -> str:
    """An FTS5 OR-query of the distinct words of ``text`` (each quoted, so no word is
    read as FTS syntax); empty when ``text`` has no words."""
    seen: list[str] = []
    for word in _WORD.findall(text.casefold()):
        if word not in seen:
            seen.append(word)
        if len(seen) >= _MAX_QUERY_TERMS:
            break
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in seen)


class MemoryStore:
    """Facts of every user in one SQLite file (WAL, one connection per thread).

    Safe across threads and processes: each write is one ``BEGIN IMMEDIATE`` transaction,
    so two writers superseding the same subject leave exactly one current fact.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_memory_path()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        ours = path is None or self.path.parent == default_data_dir()
        make_private_dir(self.path.parent, ours)
        make_private_file(self.path, ours)
        try:
            with self._write() as conn:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the memory store at {self.path}: {exc}") from exc

    # -- connections -------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA busy_timeout=30000")
            except sqlite3.Error:
                conn.close()
                raise
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- writes ------------------------------------------------------------------
    def add(
        self,
        owner: str,
        fact: str,
        *,
        subject: str | None = None,
        scope: str = "user",
        scope_id: str | None = None,
        now: float | None = None,
    ) -> Fact:
        """Store ``fact``; it supersedes the current fact on the same subject (the subject
        defaults to the fact itself). Adding the current fact again changes nothing."""
        text, subj, key, sid, created = new_fact_fields(owner, fact, subject, scope, scope_id, now)
        try:
            with self._write() as conn:
                current = conn.execute(
                    "SELECT id, fact, created FROM facts WHERE owner=? AND scope=? AND scope_id=?"
                    " AND subject_key=? AND superseded_by IS NULL",
                    (owner, scope, sid, key),
                ).fetchall()
                for row_id, row_fact, row_created in current:
                    if row_fact == text:
                        return Fact(row_id, owner, scope, sid, subj, text, row_created)
                cur = conn.execute(
                    "INSERT INTO facts (owner, scope, scope_id, subject, subject_key, fact,"
                    " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (owner, scope, sid, subj, key, text, created),
                )
                new_id = int(cur.lastrowid or 0)
                for row_id, _, _ in current:
                    conn.execute("UPDATE facts SET superseded_by=? WHERE id=?", (new_id, row_id))
                    conn.execute("DELETE FROM facts_fts WHERE rowid=?", (row_id,))
                conn.execute(
                    "INSERT INTO facts_fts (rowid, subject, fact) VALUES (?, ?, ?)",
                    (new_id, subj, text),
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the memory store at {self.path}: {exc}") from exc
        return Fact(new_id, owner, scope, sid, subj, text, created)

    def delete(self, owner: str, fact_id: int) -> bool:
        """Delete one fact (and its history chain stays). True if it existed."""
        try:
            with self._write() as conn:
                cur = conn.execute("DELETE FROM facts WHERE id=? AND owner=?", (fact_id, owner))
                if cur.rowcount:
                    conn.execute("DELETE FROM facts_fts WHERE rowid=?", (fact_id,))
                return bool(cur.rowcount)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the memory store at {self.path}: {exc}") from exc

    def clear(self, owner: str, scope: str | None = None, scope_id: str | None = None) -> int:
        """Delete the owner's facts (all, or one scope, or one scope id); returns the count."""
        where, args = self._where(owner, scope, scope_id)
        try:
            with self._write() as conn:
                conn.execute(
                    f"DELETE FROM facts_fts WHERE rowid IN (SELECT id FROM facts WHERE {where})",
                    args,
                )
                return int(conn.execute(f"DELETE FROM facts WHERE {where}", args).rowcount)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write to the memory store at {self.path}: {exc}") from exc

    @staticmethod
    def _where(
        owner: str, scope: str | None, scope_id: str | None
    ) -> tuple[str, tuple[object, ...]]:
        where, args = "owner=?", [owner]
        if scope is not None:
            where += " AND scope=?"
            args.append(scope)
        if scope_id is not None:
            where += " AND scope_id=?"
            args.append(scope_id)
        return where, tuple(args)

    # -- reads -------------------------------------------------------------------
    @staticmethod
    def _visible(session_id: str | None, agent_id: str | None) -> tuple[str, list[object]]:
        clause = "(f.scope='user'"
        args: list[object] = []
        if session_id:
            clause += " OR (f.scope='session' AND f.scope_id=?)"
            args.append(session_id)
        if agent_id:
            clause += " OR (f.scope='agent' AND f.scope_id=?)"
            args.append(agent_id)
        return clause + ")", args

    def search(
        self,
        owner: str,
        query: str,
        *,
        k: int = 5,
        session_id: str | None = None,
        agent_id: str | None = None,
    ) -> list[Fact]:
        """The ``k`` current facts most relevant to ``query`` (BM25), from the owner's user
        scope plus the given session and agent, ranked together."""
        match = fts_query(query)
        if not match or k <= 0:
            return []
        visible, vargs = self._visible(session_id, agent_id)
        sql = (
            "SELECT f.id, f.owner, f.scope, f.scope_id, f.subject, f.fact, f.created,"
            " bm25(facts_fts) AS rank FROM facts_fts JOIN facts f ON f.id = facts_fts.rowid"
            f" WHERE facts_fts MATCH ? AND f.owner=? AND f.superseded_by IS NULL AND {visible}"
            " ORDER BY rank, f.id DESC LIMIT ?"
        )
        try:
            rows = self._conn().execute(sql, (match, owner, *vargs, k)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the memory store at {self.path}: {exc}") from exc
        return [Fact(r[0], r[1], r[2], r[3], r[4], r[5], r[6], None, -float(r[7])) for r in rows]

    def get_all(
        self,
        owner: str,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        history: bool = False,
    ) -> list[Fact]:
        """The owner's visible facts, oldest first; with ``history`` also superseded ones."""
        visible, vargs = self._visible(session_id, agent_id)
        sql = (
            "SELECT f.id, f.owner, f.scope, f.scope_id, f.subject, f.fact, f.created,"
            f" f.superseded_by FROM facts f WHERE f.owner=? AND {visible}"
        )
        if not history:
            sql += " AND f.superseded_by IS NULL"
        sql += " ORDER BY f.id"
        try:
            rows = self._conn().execute(sql, (owner, *vargs)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the memory store at {self.path}: {exc}") from exc
        return [Fact(*r) for r in rows]

    def stats(self, owner: str | None = None) -> MemoryStats:
        where, args = ("owner=?", (owner,)) if owner is not None else ("1=1", ())
        try:
            rows = (
                self._conn()
                .execute(
                    f"SELECT scope, superseded_by IS NULL, COUNT(*) FROM facts WHERE {where}"
                    " GROUP BY scope, superseded_by IS NULL",
                    args,
                )
                .fetchall()
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the memory store at {self.path}: {exc}") from exc
        by_scope: dict[str, int] = {}
        facts = history = 0
        for scope, current, count in rows:
            if current:
                facts += count
                by_scope[scope] = by_scope.get(scope, 0) + count
            else:
                history += count
        return MemoryStats(facts, history, by_scope, str(self.path))
