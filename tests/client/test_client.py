"""HeadroomClient with the real openai and anthropic SDKs against the local fake upstream:
all four clients, create, stream, simulate, the three modes, hidden retrieval rounds."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from headroom import ConfigError, HeadroomClient, retrieve
from headroom.client import Plan
from headroom.retrieval import RETRIEVE_TOOL_NAME
from tests.client.helpers import (
    KINDS,
    LOG,
    maybe_await,
    openai_turn,
    request_args,
    sdk_client,
    sent_output,
    surface,
    text_of,
)
from tests.proxy.fake_upstream import FakeUpstream
from tests.proxy.test_proxy import retrieving

FINAL = "The error is card_declined."


async def stream_text(kind: str, client: Any, args: dict[str, Any]) -> tuple[str, Any]:
    """Streams one answer; returns its text and the final usage the SDK assembled."""
    if kind == "anthropic":
        with client.messages.stream(**args) as s:
            msg = s.get_final_message()
        return text_of(kind, msg), msg.usage
    if kind == "async_anthropic":
        async with client.messages.stream(**args) as s:
            msg = await s.get_final_message()
        return text_of(kind, msg), msg.usage
    args = {**args, "stream": True, "stream_options": {"include_usage": True}}
    parts: list[str] = []
    usage = None
    if kind == "openai":
        chunks: Any = list(client.chat.completions.create(**args))
    else:
        chunks = [c async for c in await client.chat.completions.create(**args)]
    for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            parts.append(chunk.choices[0].delta.content)
        if chunk.choices and chunk.choices[0].delta.tool_calls:
            raise AssertionError("a tool call reached the caller")
        usage = chunk.usage or usage
    return "".join(parts), usage


@pytest.mark.parametrize("kind", KINDS)
async def test_create_compresses_and_hides_the_retrieval_round(
    kind: str, fake: FakeUpstream
) -> None:
    fake.script = retrieving(FINAL)
    client = HeadroomClient(original_client=sdk_client(kind, fake))
    response = await maybe_await(surface(client, kind).create(**request_args(kind)))
    assert text_of(kind, response) == FINAL
    if "anthropic" in kind:
        assert [b.type for b in response.content] == ["text"]
        assert response.stop_reason == "end_turn"
        assert (response.usage.input_tokens, response.usage.output_tokens) == (300, 30)
    else:
        assert response.choices[0].message.tool_calls is None
        assert response.choices[0].finish_reason == "stop"
        assert response.usage.prompt_tokens == 300
    first, second = (r.json() for r in fake.received)
    assert len(fake.received) == 2
    assert first["tools"][-1].get("name", first["tools"][-1].get("function", {}).get("name")) == (
        RETRIEVE_TOOL_NAME
    )
    # The fake received the compressed output; the ERROR line survived.
    out = sent_output(kind, first)
    assert len(out) < len(LOG) / 10 and "card_declined" in out
    # The hidden round carried the stored original back, byte for byte.
    assert LOG in json.dumps(second, ensure_ascii=False) or LOG.splitlines()[200] in str(second)
    [record] = client.get_metrics()
    assert record.mode == "optimize" and record.retrieval_rounds == 1
    assert record.tokens_saved > 0 and client.total_tokens_saved == record.tokens_saved
    assert client.get_summary()["retrieval_rounds"] == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_hides_the_retrieval_round(kind: str, fake: FakeUpstream) -> None:
    fake.script = retrieving(FINAL)
    client = HeadroomClient(original_client=sdk_client(kind, fake))
    text, usage = await stream_text(kind, client, request_args(kind))
    assert text.endswith(FINAL)
    assert len(fake.received) == 2 and fake.received[0].json()["stream"] is True
    if "anthropic" in kind:
        assert usage.output_tokens == 30  # summed over the two rounds
    else:
        assert usage.prompt_tokens == 300
    assert client.get_metrics()[0].retrieval_rounds == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_simulate_makes_no_call(kind: str, fake: FakeUpstream) -> None:
    client = HeadroomClient(original_client=sdk_client(kind, fake))
    plan = await maybe_await(surface(client, kind).simulate(**request_args(kind)))
    assert isinstance(plan, Plan)
    assert fake.received == []
    assert plan.tokens_saved == plan.tokens_before - plan.tokens_after > 0
    assert plan.savings_percent == pytest.approx(100 * plan.tokens_saved / plan.tokens_before)
    assert plan.retrieval_tool_offered and plan.cache_prefix_stable
    assert plan.transforms and plan.outputs[0].tool_name == "Bash"
    assert "card_declined" in sent_output(kind, {"messages": list(plan.messages)})
    assert plan.estimated_savings_usd is not None and plan.estimated_savings_usd > 0
    assert "estimate" in plan.price_note
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.tokens_saved = 0  # type: ignore[misc]
    # A simulated request is not a sent one: nothing recorded.
    assert client.get_metrics() == [] and client.total_tokens_saved == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_modes_and_the_per_call_override(kind: str, fake: FakeUpstream) -> None:
    client = HeadroomClient(original_client=sdk_client(kind, fake), default_mode="audit")
    resource = surface(client, kind)
    # audit: the original goes out, the would-be savings are recorded.
    await maybe_await(resource.create(**request_args(kind)))
    assert sent_output(kind, fake.received[-1].json()) == LOG
    assert "tools" not in fake.received[-1].json() or all(
        "headroom" not in json.dumps(t) for t in fake.received[-1].json()["tools"]
    )
    # per call: optimize.
    await maybe_await(resource.create(**request_args(kind), headroom_mode="optimize"))
    assert len(sent_output(kind, fake.received[-1].json())) < len(LOG) / 10
    # per call: simulate returns the plan without a call.
    plan = await maybe_await(resource.create(**request_args(kind), headroom_mode="simulate"))
    assert isinstance(plan, Plan) and len(fake.received) == 2
    audit, optimize = client.get_metrics()
    assert (audit.mode, optimize.mode) == ("audit", "optimize")
    assert audit.tokens_saved == optimize.tokens_saved > 0
    assert client.get_metrics(mode="audit") == [audit]
    summary = client.get_summary()
    assert summary["audit_tokens_would_save"] == audit.tokens_saved
    assert client.total_tokens_saved == optimize.tokens_saved  # audit saves nothing for real
    # simulate as the default mode
    sim = HeadroomClient(original_client=sdk_client(kind, fake), default_mode="simulate")
    assert isinstance(await maybe_await(surface(sim, kind).create(**request_args(kind))), Plan)
    assert len(fake.received) == 2
    with pytest.raises(ConfigError, match="headroom_mode"):
        await maybe_await(resource.create(**request_args(kind), headroom_mode="fast"))


@pytest.mark.parametrize("kind", KINDS)
async def test_pass_through_with_options_and_raw_responses(kind: str, fake: FakeUpstream) -> None:
    original = sdk_client(kind, fake)
    client = HeadroomClient(original_client=original)
    # Other attributes are the original client's.
    assert client.api_key == original.api_key and str(client.base_url) == str(original.base_url)
    page = await maybe_await(client.models.list())
    assert fake.received[-1].path == "/v1/models" and fake.received[-1].method == "GET"
    assert page is not None
    # with_options returns a wrapped client that still compresses.
    copy = client.with_options(timeout=20, max_retries=0)
    assert isinstance(copy, HeadroomClient)
    await maybe_await(surface(copy, kind).create(**request_args(kind)))
    assert len(sent_output(kind, fake.received[-1].json())) < len(LOG) / 10
    # with_raw_response too, on the resource and on the client.
    raw = await maybe_await(surface(client, kind).with_raw_response.create(**request_args(kind)))
    assert text_of(kind, await maybe_await(raw.parse()))
    assert len(sent_output(kind, fake.received[-1].json())) < len(LOG) / 10
    raw2 = await maybe_await(surface(client.with_raw_response, kind).create(**request_args(kind)))
    assert raw2.status_code == 200
    assert len(sent_output(kind, fake.received[-1].json())) < len(LOG) / 10
    # No x-headroom-* header ever reaches the provider.
    assert not any(k.startswith("x-headroom") for r in fake.received for k in r.headers)
    # Copies share the metrics.
    assert len(client.get_metrics()) == 3


@pytest.mark.parametrize("kind", KINDS)
async def test_sdk_errors_reach_the_caller_unchanged(kind: str, fake: FakeUpstream) -> None:
    if "anthropic" in kind:
        body = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad x"}}
        error: Any = anthropic.BadRequestError
    else:
        body = {"error": {"message": "bad x", "type": "invalid_request_error"}}
        error = openai.BadRequestError
    fake.script = [{"status": 400, "body": body}]
    client = HeadroomClient(original_client=sdk_client(kind, fake))
    with pytest.raises(error, match="bad x") as info:
        await maybe_await(surface(client, kind).create(**request_args(kind)))
    assert info.value.status_code == 400


async def test_a_failure_inside_headroom_sends_the_original(
    fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    import headroom.client.core as core

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(core, "compress_request", broken)
    client = HeadroomClient(original_client=sdk_client("openai", fake))
    response = client.chat.completions.create(**request_args("openai"))
    assert response.choices[0].message.content == "done"
    assert sent_output("openai", fake.received[0].json()) == LOG
    [record] = client.get_metrics()
    assert record.fell_back == "error: RuntimeError" and record.tokens_saved == 0


async def test_responses_create_with_a_hidden_round(fake: FakeUpstream) -> None:
    fake.script = retrieving(FINAL)
    client = HeadroomClient(original_client=sdk_client("openai", fake))
    items = [
        {"role": "user", "content": "Why did the payment fail?"},
        {"type": "function_call", "call_id": "c1", "name": "Bash", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": LOG},
    ]
    response = client.responses.create(model="gpt-4o", input=items, store=False)
    assert response.output_text == FINAL
    assert all(item.type != "function_call" for item in response.output)
    assert len(fake.received) == 2
    assert len(fake.received[0].json()["input"][2]["output"]) < len(LOG) / 10
    plan = client.responses.simulate(model="gpt-4o", input=items, store=False)
    assert plan.surface == "responses" and plan.tokens_saved > 0


async def test_count_tokens_counts_the_compressed_request(fake: FakeUpstream) -> None:
    client = HeadroomClient(original_client=sdk_client("anthropic", fake))
    args = request_args("anthropic")
    args.pop("max_tokens")
    client.messages.count_tokens(**args)  # the fake echoes; what matters is what it got
    assert fake.received[-1].path == "/v1/messages/count_tokens"
    assert len(sent_output("anthropic", fake.received[-1].json())) < len(LOG) / 10
    client.messages.count_tokens(**args, headroom_mode="audit")
    assert sent_output("anthropic", fake.received[-1].json()) == LOG
    local = client.messages.count_tokens.simulate(**args)
    assert len(fake.received) == 2
    plan = client.messages.simulate(**args, max_tokens=10)
    assert 0 < local.input_tokens < plan.tokens_before
    assert client.get_metrics() == []  # counting is not a model request


def test_mock_transport_client_and_provider_detection() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(json.loads(request.content))
        return httpx2.Response(
            200,
            json={
                "id": "x",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-4o",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "ok"},
                    }
                ],
            },
        )

    base = openai.OpenAI(
        api_key="sk-test",
        base_url="https://example.invalid/v1",
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
    client = HeadroomClient(base, provider="openai", retrieval="off")
    assert client.chat.completions.create(**request_args("openai")).choices[0].message.content == (
        "ok"
    )
    # retrieval="off": lossless only, so no tool and the log goes out whole (or losslessly).
    assert "tools" not in seen[0]
    assert "card_declined" in seen[0]["messages"][2]["content"]
    with pytest.raises(ConfigError, match="wraps an OpenAI"):
        HeadroomClient(object())
    with pytest.raises(ConfigError, match="provider"):
        HeadroomClient(base, provider="gemini")


def test_the_original_client_is_left_alone(fake: FakeUpstream) -> None:
    original = sdk_client("openai", fake)
    HeadroomClient(original_client=original)
    original.chat.completions.create(model="gpt-4o", messages=openai_turn())
    assert sent_output("openai", fake.received[0].json()) == LOG


def test_retrieve_works_on_the_keys_the_client_stored(fake: FakeUpstream) -> None:
    client = HeadroomClient(original_client=sdk_client("anthropic", fake))
    plan = client.messages.simulate(**request_args("anthropic"))
    key = plan.outputs[0].key
    assert key is not None and retrieve(key).content == LOG


async def test_responses_streams_hide_the_retrieval_round(fake: FakeUpstream) -> None:
    items = [
        {"role": "user", "content": "Why did the payment fail?"},
        {"type": "function_call", "call_id": "c1", "name": "Bash", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": LOG},
    ]
    client = HeadroomClient(original_client=sdk_client("openai", fake))
    fake.script = retrieving(FINAL)
    with client.responses.stream(model="gpt-4o", input=items, store=False) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds.count("response.created") == 1 and kinds[-1] == "response.completed"
    assert final.output_text.endswith(FINAL)
    assert not any(i.type == "function_call" for i in final.output)
    assert len(fake.received) == 2
    fake.script = retrieving(FINAL)
    events = list(client.responses.create(model="gpt-4o", input=items, store=False, stream=True))
    assert events[-1].type == "response.completed"
    assert not any(i.type == "function_call" for i in events[-1].response.output)
    assert [r.retrieval_rounds for r in client.get_metrics()] == [1, 1]


def test_sdk_retries_resend_the_compressed_request(fake: FakeUpstream) -> None:
    import openai as sdk

    fake.script = [{"status": 500, "body": {"error": {"message": "try again"}}}, {"text": "ok"}]
    base = sdk.OpenAI(
        base_url=fake.url + "/v1",  # type: ignore[attr-defined]
        api_key="sk-test",
        max_retries=1,
        timeout=30,
    )
    client = HeadroomClient(original_client=base)
    response = client.chat.completions.create(**request_args("openai"))
    assert response.choices[0].message.content == "ok"
    assert len(fake.received) == 2
    assert all(len(sent_output("openai", r.json())) < len(LOG) / 10 for r in fake.received)
    assert not any(k.startswith("x-headroom") for r in fake.received for k in r.headers)


def test_with_streaming_response_compresses(fake: FakeUpstream) -> None:
    client = HeadroomClient(original_client=sdk_client("anthropic", fake))
    with client.messages.with_streaming_response.create(**request_args("anthropic")) as raw:
        assert raw.status_code == 200
        assert text_of("anthropic", raw.parse()) == "done"
    assert len(sent_output("anthropic", fake.received[0].json())) < len(LOG) / 10


def test_azure_client_compresses_on_its_own_paths(fake: FakeUpstream) -> None:
    import openai as sdk

    base = sdk.AzureOpenAI(
        api_key="azure-key",
        api_version="2024-06-01",
        azure_endpoint=fake.url,  # type: ignore[attr-defined]
        max_retries=0,
    )
    client = HeadroomClient(original_client=base)
    raw = client.chat.completions.with_raw_response.create(**request_args("openai"))
    assert raw.status_code == 200
    [received] = fake.received
    assert received.path == "/openai/deployments/gpt-4o/chat/completions"
    assert "api-version=2024-06-01" in received.query
    assert received.headers["api-key"] == "azure-key"
    assert len(sent_output("openai", received.json())) < len(LOG) / 10


@pytest.mark.parametrize("stream", [False, True])
def test_thinking_that_opened_the_turn_stays_signed(stream: bool, fake: FakeUpstream) -> None:
    client = HeadroomClient(original_client=sdk_client("anthropic", fake))
    args = request_args("anthropic")
    key = client.messages.simulate(**args).outputs[0].key
    fake.script = [
        {
            "thinking": "Let me look.",
            "tools": [{"name": RETRIEVE_TOOL_NAME, "input": {"key": key}}],
        },
        {"text": FINAL},
    ]
    if stream:
        with client.messages.stream(**args) as s:
            msg = s.get_final_message()
    else:
        msg = client.messages.create(**args)
    assert [b.type for b in msg.content] == ["thinking", "text"]
    assert msg.content[0].signature == "sig1" and msg.content[1].text == FINAL
    follow_up = fake.received[1].json()["messages"]
    assert follow_up[-1]["content"][0]["content"] == LOG  # the original, byte for byte


async def test_context_managers_close_the_copy_not_the_original(fake: FakeUpstream) -> None:
    original = sdk_client("openai", fake)
    with HeadroomClient(original_client=original) as client:
        client.chat.completions.create(**request_args("openai"))
        assert "HeadroomClient OpenAI" in repr(client)
    original.chat.completions.create(**request_args("openai"))  # still open
    async_original = sdk_client("async_anthropic", fake)
    async with HeadroomClient(original_client=async_original) as aclient:
        await aclient.messages.create(**request_args("async_anthropic"))
    await async_original.messages.create(**request_args("async_anthropic"))
    assert len(fake.received) == 4
