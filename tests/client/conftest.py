"""Fixtures: the proxy tests' fake upstream (imported, not copied) on a free loopback port."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("openai", reason="the openai extra is not installed (pip install '.[openai]')")
pytest.importorskip(
    "anthropic", reason="the anthropic extra is not installed (pip install '.[anthropic]')"
)
pytest.importorskip("uvicorn", reason="the fake upstream is served by uvicorn (proxy extra)")
pytest.importorskip("starlette", reason="the fake upstream needs starlette (the dev extra)")

from tests.proxy.fake_upstream import FakeUpstream, ServerThread


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    with ServerThread(upstream.app()) as server:
        upstream.url = server.url  # type: ignore[attr-defined]
        yield upstream
