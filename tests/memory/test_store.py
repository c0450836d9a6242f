from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from headroom.errors import ConfigError
from headroom.memory import Memory, MemoryStore


@pytest.fixture()
def store(tmp_path: Path) -> MemoryStore:
    s = MemoryStore(tmp_path / "memory.sqlite3")
    yield s
    s.close()


def test_file_is_private(store: MemoryStore) -> None:
    if os.name == "nt":
        pytest.skip("POSIX modes")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_search_ranks_by_bm25(store: MemoryStore) -> None:
    store.add("alice", "deploys go out on Tuesdays after the standup", subject="deploy schedule")
    store.add("alice", "prefers Go over Python for services", subject="language")
    store.add("alice", "the staging database is postgres 15", subject="staging db")
    hits = store.search("alice", "when is the deploy schedule?", k=2)
    assert hits[0].subject == "deploy schedule"
    assert store.search("alice", "", k=3) == []
    assert store.search("alice", 'AND OR "NEAR(* -', k=3) == []  # FTS syntax is quoted


def test_owner_isolation(store: MemoryStore) -> None:
    store.add("alice", "likes tea", subject="drink")
    store.add("bob", "likes coffee", subject="drink")
    assert [f.fact for f in store.search("bob", "likes drink")] == ["likes coffee"]


def test_supersede_keeps_history(store: MemoryStore) -> None:
    first = store.add("alice", "lives in Berlin", subject="Home city")
    second = store.add("alice", "lives in Lisbon", subject="home  city")
    assert [f.fact for f in store.search("alice", "lives")] == ["lives in Lisbon"]
    history = store.get_all("alice", history=True)
    assert [(f.fact, f.superseded_by) for f in history] == [
        ("lives in Berlin", second.id),
        ("lives in Lisbon", None),
    ]
    assert first.id != second.id
    again = store.add("alice", "lives in Lisbon", subject="home city")
    assert again.id == second.id
    s = store.stats("alice")
    assert (s.facts, s.history) == (1, 1)


def test_scopes_ranked_together(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    s1 = Memory("alice", session_id="s1", agent_id="coder", path=path)
    s1.add("project uses pnpm workspaces", subject="package manager", scope="user")
    s1.add("this session is about the pnpm lockfile bug", subject="task", scope="session")
    s1.add("coder agent runs pnpm test before commits", subject="habit", scope="agent")
    assert {f.scope for f in s1.search("pnpm")} == {"user", "session", "agent"}
    s2 = Memory("alice", session_id="s2", path=path)
    assert [f.scope for f in s2.search("pnpm")] == ["user"]
    assert s1.clear("session") == 1
    assert {f.scope for f in s1.search("pnpm")} == {"user", "agent"}
    assert s1.clear() == 2
    assert s1.get_all() == []


def test_delete_and_validation(store: MemoryStore) -> None:
    fact = store.add("alice", "uses vim")
    assert store.delete("bob", fact.id) is False
    assert store.delete("alice", fact.id) is True
    assert store.search("alice", "vim") == []
    with pytest.raises(ConfigError):
        store.add("alice", "   ")
    with pytest.raises(ConfigError):
        store.add("alice", "x", scope="global")


def _writer(path: str, tag: str, n: int) -> None:
    s = MemoryStore(path)
    for i in range(n):
        s.add("alice", f"{tag} fact number {i}", subject=f"{tag}-{i}")
        s.add("alice", f"{tag} wrote the shared value {i}", subject="shared")
    s.close()


def test_concurrent_writers_from_two_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "m.sqlite3")
    MemoryStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, tag, 40)) for tag in ("p1", "p2")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    s = MemoryStore(path)
    current = s.get_all("alice")
    assert len(current) == 81  # 2 x 40 own subjects + exactly one "shared"
    assert sum(f.subject == "shared" for f in current) == 1
    assert s.stats("alice").history == 79
    assert len(s.search("alice", "shared value")) == 1
    s.close()
