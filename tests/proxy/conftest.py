"""Fixtures: a fake upstream and a proxy in front of it, each on a free loopback port."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

pytest.importorskip("aiohttp", reason="the proxy extra is not installed (pip install '.[proxy]')")
pytest.importorskip("httpx", reason="the proxy tests' client (the dev extra)")
pytest.importorskip("uvicorn", reason="the proxy extra is not installed (pip install '.[proxy]')")
pytest.importorskip("starlette", reason="the fake upstream needs starlette (the dev extra)")

from headroom import MemoryStore
from headroom.proxy import ProxyConfig, create_app
from tests.proxy.fake_upstream import FakeUpstream, ServerThread


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    with ServerThread(upstream.app()) as server:
        upstream.url = server.url  # type: ignore[attr-defined]
        yield upstream


class RunningProxy:
    def __init__(self, app: Any, server: ServerThread, store: MemoryStore) -> None:
        self.app = app
        self.server = server
        self.url = server.url
        self.store = store


@pytest.fixture
def start_proxy(fake: FakeUpstream) -> Iterator[Callable[..., RunningProxy]]:
    running: list[ServerThread] = []

    def start(**options: Any) -> RunningProxy:
        store = options.pop("store") if "store" in options else MemoryStore()
        options.setdefault("anthropic_url", fake.url)  # type: ignore[attr-defined]
        options.setdefault("openai_url", fake.url)  # type: ignore[attr-defined]
        options.setdefault("timeout", 30.0)
        config = ProxyConfig(store=store, **options)
        app = create_app(config)
        server = ServerThread(app)
        server.__enter__()
        running.append(server)
        return RunningProxy(app, server, store)

    yield start
    for server in running:
        server.__exit__(None, None, None)


@pytest.fixture
def proxy(start_proxy: Callable[..., RunningProxy]) -> RunningProxy:
    return start_proxy()


@pytest.fixture
def redis_url() -> Iterator[tuple[str, Any]]:
    """A throwaway redis-server on a free loopback port: (its URL, the server)."""
    import shutil

    from tests.store_backends.conftest import REDIS_SERVER, RedisServer

    if REDIS_SERVER is None:
        pytest.skip("redis-server not installed (apt-get install redis-server)")
    pytest.importorskip("redis")
    server = RedisServer(REDIS_SERVER)
    server.start()
    try:
        yield server.url, server
    finally:
        server.stop()
        shutil.rmtree(server.dir, ignore_errors=True)
