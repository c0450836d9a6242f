"""Issue 12 on the stores: private files, read-only stores, write errors, and a Redis
that is paused or killed (a real redis-server, started by the test)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import stat
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import headroom
from headroom.errors import StoreError
from headroom.store import SQLiteStore

from .conftest import REDIS_SERVER, RedisServer

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _records(n: int = 300) -> str:
    return json.dumps(
        [{"id": i, "status": "error" if i % 37 == 0 else "ok", "ms": i % 50} for i in range(n)]
    )


def _three_outputs() -> list[dict[str, Any]]:
    calls = [
        {"id": f"c{i}", "type": "function", "function": {"name": "q", "arguments": "{}"}}
        for i in range(3)
    ]
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "which ids failed?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
    ]
    messages += [
        {"role": "tool", "tool_call_id": f"c{i}", "content": _records(300 + i)} for i in range(3)
    ]
    return messages


# --------------------------------------------------------------------------- permissions


@posix_only
def test_default_store_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    data = tmp_path / "fresh" / "headroom"
    monkeypatch.setenv("HEADROOM_DATA_DIR", str(data))
    store = SQLiteStore()
    store.put("hr_0000000000000001", "secret")
    assert _mode(data) == 0o700
    for name in ("store.sqlite3", "store.sqlite3-wal", "store.sqlite3-shm"):
        if (data / name).exists():
            assert _mode(data / name) == 0o600, name
    store.close()


@posix_only
def test_existing_default_store_is_tightened_on_open(tmp_path: Path, monkeypatch):
    data = tmp_path / "headroom"
    monkeypatch.setenv("HEADROOM_DATA_DIR", str(data))
    SQLiteStore().close()
    os.chmod(data, 0o755)
    os.chmod(data / "store.sqlite3", 0o644)
    store = SQLiteStore()
    assert _mode(data) == 0o700 and _mode(data / "store.sqlite3") == 0o600
    store.close()


@posix_only
def test_a_path_the_user_chose_gets_a_warning_not_a_chmod(tmp_path: Path, monkeypatch, caplog):
    monkeypatch.setenv("HEADROOM_DATA_DIR", str(tmp_path / "elsewhere"))
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    os.chmod(mine, 0o755)
    path = mine / "originals.db"
    SQLiteStore(path).close()
    assert _mode(path) == 0o600  # created by Headroom: private from the start
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="headroom"):
        SQLiteStore(path).close()
    assert _mode(path) == 0o644 and _mode(mine) == 0o755
    assert "readable by other users" in caplog.text


# --------------------------------------------------------------------------- read-only


def _make_read_only(directory: Path) -> Any:
    """Make ``directory`` unwritable; returns an undo callable (skips if impossible)."""
    if os.geteuid() != 0:
        modes = {p: _mode(p) for p in [directory, *directory.iterdir()]}
        for p in modes:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        return lambda: [os.chmod(p, m) for p, m in modes.items()]
    # root ignores permissions: a read-only bind mount it is, where allowed.
    try:
        subprocess.run(["mount", "--bind", str(directory), str(directory)], check=True,
                       capture_output=True)  # fmt: skip
        subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)], check=True,
                       capture_output=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        subprocess.run(["umount", str(directory)], capture_output=True)
        pytest.skip("cannot make a read-only directory here (root without mount rights)")
    return lambda: subprocess.run(["umount", "-l", str(directory)], check=True)


def test_an_intact_store_on_a_read_only_mount_is_readable(tmp_path: Path):
    directory = tmp_path / "ro"
    directory.mkdir()
    path = directory / "store.sqlite3"
    writer = SQLiteStore(path)
    text = _records()
    result = headroom.compress(_three_outputs(), store=writer)
    writer.put("hr_00000000000000aa", text)
    writer.close()
    undo = _make_read_only(directory)
    try:
        store = SQLiteStore(path)
        assert store.read_only
        assert store.get("hr_00000000000000aa") == text
        for key in result.retrieval_keys:
            assert store.exists(key)
        with pytest.raises(StoreError, match="read-only"):
            store.put("hr_00000000000000bb", "x")
        # compress() with it: nothing lossy without a place for the originals.
        again = headroom.compress(_three_outputs(), store=store, query="different")
        assert any("losslessly" in w for w in again.warnings)
        assert all(r.key is None for r in again.outputs)
        store.close()
    finally:
        undo()


# --------------------------------------------------------------------------- write errors


@pytest.mark.parametrize("model_limit", [None, 400])
def test_store_write_errors_become_warnings(tmp_path: Path, model_limit: int | None):
    directory = tmp_path / "gone"
    store = SQLiteStore(directory / "store.sqlite3")
    shutil.rmtree(directory)  # the next connection (a new thread) cannot open the file
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = headroom.compress(
                _three_outputs(), store=store, model_limit=model_limit, output_reserve=0
            )
        except Exception as exc:
            box["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert "error" not in box, box.get("error")
    result = box["result"]
    assert result.warnings and all(r.key is None for r in result.outputs)
    store.close()


# --------------------------------------------------------------------------- Redis


@pytest.fixture
def own_redis():
    if REDIS_SERVER is None:
        pytest.skip("redis-server not installed")
    pytest.importorskip("redis")
    server = RedisServer(REDIS_SERVER)
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGCONT)
    server.stop()
    shutil.rmtree(server.dir, ignore_errors=True)


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def test_spec_sets_the_socket_timeout(own_redis: RedisServer):
    from headroom.store import open_store

    store = open_store(own_redis.url + "?socket_timeout=0.3")
    kwargs = store._client.connection_pool.connection_kwargs  # type: ignore[attr-defined]
    assert kwargs["socket_timeout"] == 0.3
    store.close()
    default = open_store(own_redis.url, timeout=0.15)
    kwargs = default._client.connection_pool.connection_kwargs  # type: ignore[attr-defined]
    assert kwargs["socket_timeout"] == 0.15
    default.close()


def test_paused_then_killed_redis_costs_one_timeout_then_nothing(own_redis: RedisServer):
    from headroom.store.breaker import CircuitBreaker
    from headroom.store.redis import RedisStore

    breaker = CircuitBreaker(threshold=2, cooldown=60.0)
    store = RedisStore(own_redis.url + "?socket_timeout=0.2", breaker=breaker)
    healthy = headroom.compress(_three_outputs(), store=store)
    assert healthy.retrieval_keys and not healthy.warnings

    assert own_redis.proc is not None
    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    # One call on its own: what a single timeout costs here.
    probe = CircuitBreaker(threshold=99)
    single = RedisStore.__new__(RedisStore)
    single.__dict__.update(store.__dict__, _breaker=probe)

    def timeout_once() -> None:
        with pytest.raises(StoreError):
            single.get("hr_0000000000000000")

    one_timeout, _ = _timed(timeout_once)

    headroom.engine.clear_memo()
    took, paused = _timed(lambda: headroom.compress(_three_outputs(), store=store, query="x"))
    # Three outputs, each once written in the healthy run: at most the breaker's two
    # failures wait, not one per output per retry.
    assert took < 2 * one_timeout + 0.5 * one_timeout * 3
    assert store.circuit_open
    assert any("losslessly" in w for w in paused.warnings)
    assert all(r.key is None for r in paused.outputs)
    assert paused.tokens_after <= paused.tokens_before

    headroom.engine.clear_memo()
    open_took, again = _timed(lambda: headroom.compress(_three_outputs(), store=store, query="y"))
    assert open_took < one_timeout / 2  # the open breaker answers without the network
    assert any("losslessly" in w for w in again.warnings)

    os.kill(own_redis.proc.pid, signal.SIGKILL)
    own_redis.proc.wait()
    headroom.engine.clear_memo()
    killed_took, killed = _timed(
        lambda: headroom.compress(_three_outputs(), store=store, query="z")
    )
    assert killed_took < one_timeout / 2
    assert killed.tokens_after <= killed.tokens_before


def test_breaker_closes_when_redis_comes_back(own_redis: RedisServer):
    from headroom.store.breaker import CircuitBreaker
    from headroom.store.redis import RedisStore

    breaker = CircuitBreaker(threshold=1, cooldown=0.3)
    store = RedisStore(own_redis.url + "?socket_timeout=0.2", breaker=breaker)
    assert own_redis.proc is not None
    os.kill(own_redis.proc.pid, signal.SIGSTOP)
    with pytest.raises(StoreError):
        store.put("hr_0000000000000001", "x")
    assert store.circuit_open
    with pytest.raises(StoreError, match="unavailable"):
        store.get("hr_0000000000000001")
    os.kill(own_redis.proc.pid, signal.SIGCONT)
    time.sleep(0.35)
    store.put("hr_0000000000000001", "back")  # the half-open trial succeeds
    assert not store.circuit_open and store.get("hr_0000000000000001") == "back"
    store.close()
