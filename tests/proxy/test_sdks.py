"""The official SDKs with base_url pointed at the proxy: create, stream, tool loops."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from headroom.retrieval import RETRIEVE_TOOL_NAME
from headroom.wire import dumps_body
from tests.proxy.fake_upstream import FakeUpstream, service_log
from tests.proxy.test_proxy import retrieving

anthropic = pytest.importorskip("anthropic")
openai = pytest.importorskip("openai")

LOG = service_log()
BASH = {"name": "Bash", "description": "Run a shell command", "input_schema": {"type": "object"}}


def claude(proxy: Any) -> Any:
    return anthropic.Anthropic(base_url=proxy.url, api_key="sk-ant-test", max_retries=0, timeout=30)


def gpt(proxy: Any) -> Any:
    return openai.OpenAI(base_url=proxy.url + "/v1", api_key="sk-test", max_retries=0, timeout=30)


def log_turn(output: str = LOG) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Why did the payment fail?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_a", "name": "Bash", "input": {"c": "cat"}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "content": output}],
        },
    ]


def test_anthropic_create_with_a_hidden_round(fake: FakeUpstream, proxy: Any) -> None:
    fake.script = retrieving()
    msg = claude(proxy).messages.create(
        model="claude-sonnet-4-5", max_tokens=512, tools=[BASH], messages=log_turn()
    )
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "The error is card_declined."
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (300, 30)
    assert (
        len(fake.received) == 2
        and fake.received[0].json()["tools"][-1]["name"] == RETRIEVE_TOOL_NAME
    )


def test_anthropic_stream_with_a_hidden_round(fake: FakeUpstream, proxy: Any) -> None:
    fake.script = retrieving()
    with claude(proxy).messages.stream(
        model="claude-sonnet-4-5", max_tokens=512, tools=[BASH], messages=log_turn()
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Checking.The error is card_declined."
    assert [b.type for b in final.content] == ["text", "text"]
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 30
    assert final.usage.input_tokens == 300


def test_anthropic_tool_loop_through_the_proxy(fake: FakeUpstream, proxy: Any) -> None:
    """The client's own tool runs locally; its big output is compressed on the way up."""
    fake.script = [{"text": "Let me look.", "tools": [{"name": "Bash", "input": {"c": "cat log"}}]}]
    later = retrieving("It was card_declined.")
    client = claude(proxy)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Why did the payment fail?"}]
    for _ in range(4):
        msg = client.messages.create(
            model="claude-sonnet-4-5", max_tokens=512, tools=[BASH], messages=messages
        )
        if msg.stop_reason != "tool_use":
            break
        messages.append({"role": "assistant", "content": [b.model_dump() for b in msg.content]})
        uses = [b for b in msg.content if b.type == "tool_use"]
        assert [u.name for u in uses] == ["Bash"]
        results = [{"type": "tool_result", "tool_use_id": u.id, "content": LOG} for u in uses]
        messages.append({"role": "user", "content": results})
        fake.script = later
    assert msg.content[-1].text == "It was card_declined."
    sent = [r.json() for r in fake.received]
    assert len(json.dumps(sent[1]["messages"][-1])) < len(LOG) / 10  # compressed on the way up
    assert sent[2]["messages"][-1]["content"][0]["content"] == LOG  # the hidden round's answer


def test_ten_turn_conversation_keeps_earlier_turns_byte_identical(
    fake: FakeUpstream, proxy: Any
) -> None:
    fake.script = [{"tools": [{"name": "Bash", "input": {"c": f"cat log{i}"}}]} for i in range(10)]
    client = claude(proxy)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Check every service log."}]
    for turn in range(10):
        msg = client.messages.create(
            model="claude-sonnet-4-5", max_tokens=512, tools=[BASH], messages=messages
        )
        messages.append({"role": "assistant", "content": [b.model_dump() for b in msg.content]})
        use = msg.content[-1]
        log = service_log(error_at=100 + 30 * turn)
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": log}],
            }
        )
    bodies = [r.body for r in fake.received]
    assert len(bodies) == 10
    for prev, cur in itertools.pairwise(bodies):
        # The bytes of the previous request's messages, as the proxy sent them, open the
        # next request's messages unchanged: the provider's prompt cache keeps hitting.
        before = dumps_body(json.loads(prev)["messages"])
        assert before in prev
        start = cur.index(b'"messages":') + len(b'"messages":')
        assert cur[start:].startswith(before[:-1])
    total_in = sum(len(json.dumps(m)) for m in messages)
    assert len(bodies[-1]) < total_in / 10


def test_openai_chat_create_and_stream(fake: FakeUpstream, proxy: Any) -> None:
    from tests.test_wire import chat_body

    client = gpt(proxy)
    fake.script = retrieving("found it")
    out = client.chat.completions.create(model="gpt-4o", messages=chat_body()["messages"])
    assert (
        out.choices[0].message.content == "found it" and out.choices[0].message.tool_calls is None
    )
    assert out.usage.prompt_tokens == 300
    stream = client.chat.completions.create(
        model="gpt-4o",
        messages=chat_body()["messages"],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Checking.found it"  # text streamed before the hidden call stays
    assert not any(c.choices and c.choices[0].delta.tool_calls for c in chunks)
    assert chunks[-1].usage.prompt_tokens == 700


def test_openai_responses_create(fake: FakeUpstream, proxy: Any) -> None:
    from tests.test_wire import responses_body

    fake.script = retrieving("ok")
    body = responses_body(store=False)
    out = gpt(proxy).responses.create(model="gpt-4o", input=body["input"], store=False)
    assert out.output_text == "ok"
    assert out.usage.input_tokens == 300


def test_sdk_errors_reach_the_caller(fake: FakeUpstream, proxy: Any) -> None:
    fake.script = [
        {
            "status": 400,
            "body": {
                "type": "error",
                "error": {"type": "invalid_request_error", "message": "nope"},
            },
        }
    ]
    with pytest.raises(anthropic.BadRequestError) as err:
        claude(proxy).messages.create(model="m", max_tokens=5, messages=log_turn())
    assert "nope" in str(err.value)


def test_openai_tool_loop_through_the_proxy(fake: FakeUpstream, proxy: Any) -> None:
    fake.script = [{"tools": [{"name": "sh", "input": {"cmd": "cat log"}}]}]
    later = retrieving("It was card_declined.")
    client = gpt(proxy)
    tools = [{"type": "function", "function": {"name": "sh", "parameters": {"type": "object"}}}]
    messages: list[Any] = [{"role": "user", "content": "Why did the payment fail?"}]
    for _ in range(4):
        out = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
        msg = out.choices[0].message
        if not msg.tool_calls:
            break
        assert [c.function.name for c in msg.tool_calls] == ["sh"]
        messages.append(msg.model_dump(exclude_none=True))
        messages += [{"role": "tool", "tool_call_id": c.id, "content": LOG} for c in msg.tool_calls]
        fake.script = later
    assert msg.content == "It was card_declined."
    sent = [r.json() for r in fake.received]
    assert len(sent[1]["messages"][-1]["content"]) < len(LOG) / 10
    assert sent[2]["messages"][-1]["content"] == LOG


def test_a_failing_hidden_round_ends_the_stream_with_an_error_event(
    fake: FakeUpstream, proxy: Any
) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    inner = retrieving()
    fake.script = lambda body: (
        inner(body) if len(fake.received) == 1 else {"status": 529, "body": overloaded}
    )
    with (
        pytest.raises(anthropic.APIStatusError) as err,
        claude(proxy).messages.stream(
            model="claude-sonnet-4-5", max_tokens=512, tools=[BASH], messages=log_turn()
        ) as stream,
    ):
        for _ in stream:
            pass
    assert "busy" in str(err.value) and "overloaded_error" in str(err.value.body)


def test_openai_responses_stream_with_a_hidden_round(fake: FakeUpstream, proxy: Any) -> None:
    from tests.test_wire import responses_body

    fake.script = retrieving("ok, card_declined")
    body = responses_body(store=False)
    with gpt(proxy).responses.stream(model="gpt-4o", input=body["input"], store=False) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds.count("response.created") == 1 and kinds[-1] == "response.completed"
    assert final.output_text.endswith("ok, card_declined")
    assert not any(i.type == "function_call" for i in final.output)
    assert final.usage.input_tokens == 300
    assert fake.received[-1].json()["input"][-1]["output"] == LOG
