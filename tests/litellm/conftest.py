"""Real LiteLLM against the local fake upstream. LiteLLM fetches a model price map at
import unless told to use its local copy: the tests never let it reach the network."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ.setdefault("LITELLM_TELEMETRY", "False")
_before = os.environ.get("TIKTOKEN_CACHE_DIR")

litellm = pytest.importorskip(
    "litellm", reason="the litellm extra is not installed (pip install '.[litellm]')"
)
pytest.importorskip("starlette", reason="the fake upstream needs starlette (the dev extra)")
pytest.importorskip("uvicorn", reason="the fake upstream needs uvicorn (the proxy extra)")

from tests.proxy.fake_upstream import FakeUpstream, ServerThread  # noqa: E402


def _restore_tiktoken_dir() -> None:
    """LiteLLM points tiktoken at its bundled files by setting TIKTOKEN_CACHE_DIR (at
    import, or when it first counts tokens). The rest of the session must see the
    environment it would have without LiteLLM."""
    if _before is None:
        os.environ.pop("TIKTOKEN_CACHE_DIR", None)
    else:
        os.environ["TIKTOKEN_CACHE_DIR"] = _before


_restore_tiktoken_dir()


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
    _restore_tiktoken_dir()
