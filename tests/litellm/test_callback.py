"""HeadroomCallback with real LiteLLM (acompletion, streaming, Router, /v1/messages,
aresponses, sync completion) against the fake OpenAI and Anthropic upstream."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import litellm
import pytest

from headroom import MemoryStore
from headroom.integrations import litellm_callback as mod
from headroom.integrations.litellm_callback import HeadroomCallback, headroom_callback
from headroom.retrieval import RETRIEVE_TOOL_NAME
from tests.proxy.fake_upstream import FakeUpstream
from tests.proxy.test_proxy import LOG, retrieving
from tests.test_wire import anthropic_body, chat_body, responses_body

FINAL = "The error is card_declined."
MODELS = {
    "openai": {"model": "openai/gpt-4o", "api_base": "{url}/v1"},
    "anthropic": {"model": "anthropic/claude-sonnet-4-5", "api_base": "{url}", "max_tokens": 256},
}


def params(fake: FakeUpstream, provider: str) -> dict[str, Any]:
    out = dict(MODELS[provider])
    out["api_base"] = out["api_base"].format(url=fake.url)  # type: ignore[attr-defined]
    out["api_key"] = "sk-test"
    return out


def install(**options: Any) -> HeadroomCallback:
    options.setdefault("store", MemoryStore())
    cb = HeadroomCallback(**options)
    litellm.callbacks = [cb]
    return cb


def sent(fake: FakeUpstream) -> list[str]:
    return [r.body.decode() for r in fake.received]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_acompletion_compresses_and_hides_the_retrieval_round(
    fake: FakeUpstream, provider: str, caplog: Any
) -> None:
    fake.script = retrieving(FINAL)
    cb = install()
    messages = chat_body()["messages"]
    original = json.dumps(messages)
    with caplog.at_level(logging.WARNING, logger="headroom.litellm"):
        resp = asyncio.run(litellm.acompletion(messages=messages, **params(fake, provider)))
    assert not [r for r in caplog.records if r.name == "headroom.litellm"]  # async: no warning
    assert resp.choices[0].message.content == FINAL
    assert not resp.choices[0].message.tool_calls
    assert json.dumps(messages) == original  # the caller's list is not changed
    first, second = sent(fake)
    assert len(first) < len(original) / 10 and "card_declined" in first
    assert RETRIEVE_TOOL_NAME in first
    # The hidden round carried the original output back, byte for byte.
    assert json.dumps(LOG)[1:-1] in second
    summary = cb.get_savings_summary()
    assert summary["calls"] == 1 and summary["retrieval_rounds"] == 1
    assert cb.total_tokens_saved == summary["tokens_saved"] > 0
    assert summary["net_tokens_saved"] == summary["tokens_saved"] - summary["retrieval_tokens"]


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_acompletion_without_retrieval_call(fake: FakeUpstream, provider: str) -> None:
    fake.script = [{"text": FINAL}]
    cb = install()
    resp = asyncio.run(
        litellm.acompletion(messages=chat_body()["messages"], **params(fake, provider))
    )
    assert resp.choices[0].message.content == FINAL and len(fake.received) == 1
    assert cb.total_tokens_saved > 0


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_streaming_gets_no_tool_and_lossless_compression(fake: FakeUpstream, provider: str) -> None:
    fake.script = retrieving(FINAL)
    install()
    # A JSON tool output with whitespace to drop: lossless compression still saves.
    rows = [{"id": i, "status": "ok", "latency_ms": i % 37} for i in range(300)]
    messages = chat_body(json.dumps(rows, indent=4))["messages"]

    async def go() -> str:
        stream = await litellm.acompletion(messages=messages, stream=True, **params(fake, provider))
        text = ""
        async for chunk in stream:
            text += chunk.choices[0].delta.content or ""
        return text

    assert asyncio.run(go()) == FINAL
    (body,) = sent(fake)
    assert RETRIEVE_TOOL_NAME not in body
    assert "headroom:" not in body  # no lossy marker: nothing would be retrievable
    for row in (0, 150, 299):
        assert f'\\"id\\":{row},' in body.replace(" ", "") or f'"id":{row},' in body


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_mixed_calls_reach_the_caller_without_ours(fake: FakeUpstream, provider: str) -> None:
    fake.script = [
        {
            "tools": [
                {"name": RETRIEVE_TOOL_NAME, "input": {"key": "x"}},
                {"name": "sh", "input": {"c": "ls"}},
            ]
        }
    ]
    install()
    tools = [{"type": "function", "function": {"name": "sh", "parameters": {"type": "object"}}}]
    resp = asyncio.run(
        litellm.acompletion(messages=chat_body()["messages"], tools=tools, **params(fake, provider))
    )
    calls = resp.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["sh"] and len(fake.received) == 1


def test_router(fake: FakeUpstream) -> None:
    fake.script = retrieving(FINAL)
    cb = install()
    router = litellm.Router(
        model_list=[{"model_name": "smart", "litellm_params": params(fake, "openai")}]
    )
    resp = asyncio.run(router.acompletion(model="smart", messages=chat_body()["messages"]))
    assert resp.choices[0].message.content == FINAL
    assert len(fake.received) == 2 and cb.get_savings_summary()["retrieval_rounds"] == 1


def test_anthropic_messages_route(fake: FakeUpstream) -> None:
    fake.script = retrieving(FINAL)
    cb = install()
    body = anthropic_body()
    resp = asyncio.run(
        litellm.anthropic_messages(
            model="anthropic/claude-sonnet-4-5",
            messages=body["messages"],
            tools=body["tools"],
            max_tokens=256,
            api_base=fake.url,  # type: ignore[attr-defined]
            api_key="sk-test",
        )
    )
    assert resp["content"] == [{"type": "text", "text": FINAL}]
    first, second = sent(fake)
    assert len(first) < 5000 and RETRIEVE_TOOL_NAME in first
    assert json.dumps(LOG)[1:-1] in second
    assert cb.get_savings_summary()["retrieval_rounds"] == 1


def test_compression_interception_owns_messages(fake: FakeUpstream) -> None:
    from litellm.integrations.compression_interception.handler import (
        CompressionInterceptionLogger,
    )

    fake.script = [{"text": FINAL}]
    cb = HeadroomCallback(store=MemoryStore())
    theirs = CompressionInterceptionLogger(compression_trigger=10**9)  # never triggers
    litellm.callbacks = [cb, theirs]
    body = anthropic_body()
    asyncio.run(
        litellm.anthropic_messages(
            model="anthropic/claude-sonnet-4-5",
            messages=body["messages"],
            max_tokens=256,
            api_base=fake.url,  # type: ignore[attr-defined]
            api_key="sk-test",
        )
    )
    assert json.dumps(LOG)[1:-1] in sent(fake)[0] and cb.get_savings_summary()["calls"] == 0
    # Chat completions are not theirs: Headroom still compresses those.
    asyncio.run(litellm.acompletion(messages=chat_body()["messages"], **params(fake, "openai")))
    assert cb.total_tokens_saved > 0


def test_aresponses_is_lossless_without_tool(fake: FakeUpstream) -> None:
    install()
    body = responses_body()
    asyncio.run(
        litellm.aresponses(
            model="openai/gpt-4o",
            input=body["input"],
            api_base=fake.url + "/v1",  # type: ignore[attr-defined]
            api_key="sk-test",
        )
    )
    (got,) = sent(fake)
    assert RETRIEVE_TOOL_NAME not in got and "headroom:" not in got


def test_failure_sends_the_original(fake: FakeUpstream, monkeypatch: Any) -> None:
    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("engine failure")

    monkeypatch.setattr(mod, "compress_request", boom)
    fake.script = [{"text": FINAL}]
    install()
    messages = chat_body()["messages"]
    resp = asyncio.run(litellm.acompletion(messages=messages, **params(fake, "openai")))
    assert resp.choices[0].message.content == FINAL
    assert json.dumps(LOG)[1:-1] in sent(fake)[0]


def test_sync_completion_warns_once_and_the_wrapper_compresses(
    fake: FakeUpstream, caplog: Any
) -> None:
    install()
    fake.script = [{"text": FINAL}] * 3
    kw = params(fake, "openai")
    with caplog.at_level(logging.WARNING, logger="headroom.litellm"):
        litellm.completion(messages=chat_body()["messages"], **kw)
        litellm.completion(messages=chat_body()["messages"], **kw)
    warnings = [r for r in caplog.records if "synchronous" in r.getMessage()]
    assert len(warnings) == 1
    resp = mod.completion_with_headroom(messages=chat_body()["messages"], retrieval="tool", **kw)
    assert resp.choices[0].message.content == FINAL
    assert len(sent(fake)[-1]) < len(sent(fake)[0]) / 10


def test_options_reach_the_engine() -> None:
    cb = HeadroomCallback(min_tokens=500, model_limit=200_000)
    assert cb.config.min_tokens_to_compress == 500 and cb.config.model_limit == 200_000
    assert isinstance(headroom_callback, HeadroomCallback)


def test_yaml_loader_resolves_the_instance_and_refuses_the_class() -> None:
    try:
        from litellm.proxy.common_utils.callback_utils import initialize_callbacks_on_proxy
    except ImportError as exc:
        pytest.skip(f"LiteLLM's proxy loader cannot be imported here: {exc}")
    path = "headroom.integrations.litellm_callback"
    litellm.callbacks = []
    try:
        initialize_callbacks_on_proxy(
            value=[f"{path}.headroom_callback"],
            premium_user=False,
            config_file_path="",
            litellm_settings={},
        )
    except ImportError as exc:  # the loader imports the proxy server's own dependencies
        pytest.skip(f"LiteLLM's proxy server dependencies are missing here: {exc}")
    assert headroom_callback in litellm.callbacks
    with pytest.raises(ValueError, match="resolved to the class"):
        initialize_callbacks_on_proxy(
            value=[f"{path}.HeadroomCallback"],
            premium_user=False,
            config_file_path="",
            litellm_settings={},
        )
