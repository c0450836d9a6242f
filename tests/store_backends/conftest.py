"""Fixtures for the store conformance suite: every backend, and a real redis-server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import stop_process

REDIS_SERVER = os.environ.get("HEADROOM_REDIS_SERVER") or shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A throwaway redis-server on a free loopback port, no persistence."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.dir = Path(tempfile.mkdtemp(prefix="headroom-redis-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                self.executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip(
            "redis-server not installed (apt-get install redis-server); Redis backend tests skipped"
        )
    pytest.importorskip("redis", reason="the redis extra is not installed (pip install '.[redis]')")
    server = RedisServer(REDIS_SERVER)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)


BACKENDS = ["memory", "sqlite", "redis"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(backend: str, tmp_path: Path, request: pytest.FixtureRequest):
    """Open (and reopen) a store of the parametrized backend; same data across calls,
    except for ``memory``, which lives in one process object only."""
    from headroom.store import MemoryStore, SQLiteStore

    opened = []
    prefix = f"headroom-test-{uuid.uuid4().hex[:8]}:"
    url = request.getfixturevalue("redis_server").url if backend == "redis" else None

    def make(ttl: float | None = None):
        if backend == "memory":
            store = MemoryStore(ttl=ttl)
        elif backend == "sqlite":
            path = tmp_path / "store.sqlite3"
            store = SQLiteStore(path) if ttl is None else SQLiteStore(path, ttl=ttl)
        else:
            from headroom.store.redis import RedisStore

            store = RedisStore(url, ttl=ttl, prefix=prefix)
        opened.append(store)
        return store

    make.backend = backend  # type: ignore[attr-defined]
    make.url = url  # type: ignore[attr-defined]
    make.prefix = prefix  # type: ignore[attr-defined]
    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store):
    return make_store()
