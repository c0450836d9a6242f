"""Real LiteLLM against the local fake upstream. LiteLLM fetches a model price map at
import unless told to use its local copy: the tests never let it reach the network."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("LITELLM_TELEMETRY", "False")

pytest.importorskip(
    "litellm", reason="the litellm extra is not installed (pip install '.[litellm]')"
)
pytest.importorskip("starlette", reason="the fake upstream needs starlette (the dev extra)")
pytest.importorskip("uvicorn", reason="the fake upstream needs uvicorn (the proxy extra)")

import litellm

from tests.proxy.fake_upstream import FakeUpstream, ServerThread


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream()
    with ServerThread(upstream.app()) as server:
        upstream.url = server.url  # type: ignore[attr-defined]
        yield upstream


@pytest.fixture(autouse=True)
def _callbacks() -> Iterator[None]:
    """Each test starts with no callbacks: LiteLLM copies registered ones into its own
    lists, where a previous test's instance would otherwise keep acting."""
    litellm.logging_callback_manager._reset_all_callbacks()
    yield
    litellm.logging_callback_manager._reset_all_callbacks()
