"""Memory facts in Redis, so every proxy replica shares them (``--memory --redis``).

The same methods as :class:`~headroom.memory.store.MemoryStore`. One hash per owner
(field: fact id, value: the fact as JSON); ids come from one counter. RediSearch is not
required: ``search`` ranks the owner's current facts by how many distinct query words
they share (subject and fact), newest first on ties, which is enough for the few dozen
facts one user has.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .._extras import require
from ..errors import ConfigError, StoreError
from .store import (
    Fact,
    MemoryStats,
    fts_query,
    new_fact_fields,
)

_WORDS_RE = re.compile(r"\w+", re.UNICODE)


def _words(text: str) -> set[str]:
    return set(_WORDS_RE.findall(text.casefold()))


class RedisMemoryStore:
    """Facts of every user in one Redis database, under ``prefix``."""

    def __init__(self, url: str, *, prefix: str = "headroom:mem:", client: Any = None) -> None:
        self.url = url
        self.prefix = prefix
        self._errors = require("redis.exceptions", "redis")
        if client is None:
            redis = require("redis", "redis")
            try:
                client = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
            except (ValueError, self._errors.RedisError) as exc:
                raise StoreError(f"bad Redis URL for memory: {exc}") from exc
        self._client = client

    def _key(self, owner: str) -> str:
        return self.prefix + "owner:" + owner

    def _rows(self, owner: str) -> list[dict[str, Any]]:
        try:
            raw = self._client.hvals(self._key(owner))
        except self._errors.RedisError as exc:
            raise StoreError(f"cannot read memory from Redis: {exc}") from exc
        return sorted((json.loads(v) for v in raw), key=lambda r: int(r["id"]))

    @staticmethod
    def _fact(r: dict[str, Any], score: float = 0.0) -> Fact:
        return Fact(
            r["id"], r["owner"], r["scope"], r["scope_id"], r["subject"], r["fact"],
            r["created"], r.get("superseded_by"), score,
        )  # fmt: skip

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
        """Store ``fact``, superseding the current fact on the same subject (atomically:
        a WATCH/MULTI transaction on the owner's hash)."""
        text, subj, skey, sid, created = new_fact_fields(owner, fact, subject, scope, scope_id, now)
        key = self._key(owner)
        result: list[Fact] = []

        def write(pipe: Any) -> None:
            result.clear()
            current = [
                r
                for r in (json.loads(v) for v in pipe.hvals(key))
                if r["scope"] == scope and r["scope_id"] == sid and r["subject_key"] == skey
                and r.get("superseded_by") is None
            ]  # fmt: skip
            for r in current:
                if r["fact"] == text:
                    result.append(self._fact(r))
                    return
            new_id = int(pipe.incr(self.prefix + "next_id"))
            row = {
                "id": new_id, "owner": owner, "scope": scope, "scope_id": sid,
                "subject": subj, "subject_key": skey, "fact": text, "created": created,
                "superseded_by": None,
            }  # fmt: skip
            pipe.multi()
            for r in current:
                pipe.hset(key, str(r["id"]), json.dumps({**r, "superseded_by": new_id}))
            pipe.hset(key, str(new_id), json.dumps(row))
            result.append(self._fact(row))

        try:
            self._client.transaction(write, key)
        except self._errors.RedisError as exc:
            raise StoreError(f"cannot write memory to Redis: {exc}") from exc
        return result[0]

    def delete(self, owner: str, fact_id: int) -> bool:
        try:
            return bool(self._client.hdel(self._key(owner), str(fact_id)))
        except self._errors.RedisError as exc:
            raise StoreError(f"cannot write memory to Redis: {exc}") from exc

    def clear(self, owner: str, scope: str | None = None, scope_id: str | None = None) -> int:
        gone = [
            str(r["id"])
            for r in self._rows(owner)
            if (scope is None or r["scope"] == scope)
            and (scope_id is None or r["scope_id"] == scope_id)
        ]
        if not gone:
            return 0
        try:
            return int(self._client.hdel(self._key(owner), *gone))
        except self._errors.RedisError as exc:
            raise StoreError(f"cannot write memory to Redis: {exc}") from exc

    # -- reads -------------------------------------------------------------------
    @staticmethod
    def _visible(r: dict[str, Any], session_id: str | None, agent_id: str | None) -> bool:
        if r["scope"] == "user":
            return True
        wanted = session_id if r["scope"] == "session" else agent_id
        return bool(wanted) and r["scope_id"] == wanted

    def search(
        self,
        owner: str,
        query: str,
        *,
        k: int = 5,
        session_id: str | None = None,
        agent_id: str | None = None,
    ) -> list[Fact]:
        """The ``k`` current visible facts sharing the most distinct words with ``query``."""
        if not fts_query(query) or k <= 0:
            return []
        terms = _words(query)
        scored = []
        for r in self._rows(owner):
            if r.get("superseded_by") is not None or not self._visible(r, session_id, agent_id):
                continue
            score = len(terms & _words(r["subject"] + " " + r["fact"]))
            if score:
                scored.append((-score, -int(r["id"]), r))
        scored.sort(key=lambda t: (t[0], t[1]))
        return [self._fact(r, float(-s)) for s, _, r in scored[:k]]

    def get_all(
        self,
        owner: str,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        history: bool = False,
    ) -> list[Fact]:
        return [
            self._fact(r)
            for r in self._rows(owner)
            if self._visible(r, session_id, agent_id)
            and (history or r.get("superseded_by") is None)
        ]

    def stats(self, owner: str | None = None) -> MemoryStats:
        if owner is None:
            raise ConfigError("Redis memory stats are per owner")
        by_scope: dict[str, int] = {}
        facts = history = 0
        for r in self._rows(owner):
            if r.get("superseded_by") is None:
                facts += 1
                by_scope[r["scope"]] = by_scope.get(r["scope"], 0) + 1
            else:
                history += 1
        return MemoryStats(facts, history, by_scope, self.url.partition("@")[2] or self.url)

    def close(self) -> None:
        self._client.close()
