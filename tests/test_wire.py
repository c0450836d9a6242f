"""The shared wire core: request compression, tool calls, follow-ups, SSE splicing."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest

from headroom import MemoryStore, retrieve
from headroom.retrieval import RETRIEVE_TOOL_NAME
from headroom.retrieval_policy import Action, RetrievalPolicy
from headroom.wire import (
    ANTHROPIC,
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    AnthropicSplicer,
    OpenAIChatSplicer,
    ResponsesSplicer,
    SSEParser,
    answer_calls,
    compress_request,
    dumps_body,
    final_response,
    format_for_path,
    may_hold_tool_output,
)
from tests.proxy.fake_upstream import (
    anthropic_events,
    anthropic_message,
    openai_chunks,
    openai_completion,
    responses_events,
    responses_object,
    service_log,
)

LOG = service_log()
RETRIEVE = {"name": RETRIEVE_TOOL_NAME, "input": {"key": "K"}}


def anthropic_body(output: str = LOG, **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        "metadata": {"user_id": "u1"},
        "tools": [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "Find the error in the log"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig=="},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"c": "cat"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": output,
                        "cache_control": {"type": "ephemeral"},
                    }
                ],
            },
        ],
        **extra,
    }


def chat_body(output: str = LOG) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "Find the error"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "sh", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": output},
        ],
    }


def responses_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Find the error"}]},
            {"type": "function_call", "call_id": "c1", "name": "sh", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": LOG},
        ],
        **extra,
    }


def test_anthropic_request_keeps_every_other_field_and_offers_the_tool() -> None:
    body = anthropic_body()
    out = compress_request(ANTHROPIC, body, store=MemoryStore())
    assert out.changed and out.tool_offered and out.tokens_after < out.tokens_before / 10
    new = out.body
    assert [t["name"] for t in new["tools"]] == ["Bash", RETRIEVE_TOOL_NAME]
    assert new["system"] == body["system"] and new["metadata"] == body["metadata"]
    assert new["messages"][:2] == body["messages"][:2]  # thinking block and signature intact
    block = new["messages"][2]["content"][0]
    assert block["cache_control"] == {"type": "ephemeral"} and block["tool_use_id"] == "toolu_1"
    assert "card_declined" in block["content"] and len(block["content"]) < len(LOG) / 10
    assert list(new) == list(body)  # field order kept
    assert body["messages"][2]["content"][0]["content"] == LOG  # input not mutated


def test_same_request_compresses_to_the_same_bytes() -> None:
    store = MemoryStore()
    a = dumps_body(compress_request(ANTHROPIC, anthropic_body(), store=store).body)
    b = dumps_body(compress_request(ANTHROPIC, anthropic_body(), store=store).body)
    assert a == b


def test_the_stored_original_is_retrievable_byte_exact() -> None:
    store = MemoryStore()
    out = compress_request(ANTHROPIC, anthropic_body(), store=store)
    assert retrieve(out.retrieval_keys[0], store=store).content == LOG


def test_small_outputs_leave_the_body_alone() -> None:
    body = anthropic_body("only a few words")
    out = compress_request(ANTHROPIC, body)
    assert not out.changed and out.body is body and out.reason


def test_retrieval_off_is_lossless_only() -> None:
    out = compress_request(ANTHROPIC, anthropic_body(), policy=RetrievalPolicy("off"))
    assert not out.changed and not out.tool_offered


def test_tool_mode_compresses_without_adding_the_tool() -> None:
    out = compress_request(ANTHROPIC, anthropic_body(), policy=RetrievalPolicy("tool"))
    assert out.changed and not out.tool_offered


def test_a_caller_with_its_own_retrieve_tool_is_not_given_ours() -> None:
    body = anthropic_body()
    body["tools"] = [{"name": RETRIEVE_TOOL_NAME, "input_schema": {"type": "object"}}]
    out = compress_request(ANTHROPIC, body)
    assert out.changed and not out.tool_offered and len(out.body["tools"]) == 1


def test_chat_completions_request() -> None:
    out = compress_request(OPENAI_CHAT, chat_body())
    assert out.changed and out.body["tools"][-1]["function"]["name"] == RETRIEVE_TOOL_NAME
    assert out.body["messages"][2]["tool_call_id"] == "c1"


def test_responses_function_call_output_is_compressed_when_stateless() -> None:
    out = compress_request(OPENAI_RESPONSES, responses_body(store=False))
    assert out.changed and out.tool_offered
    assert out.body["tools"][-1]["name"] == RETRIEVE_TOOL_NAME
    item = out.body["input"][2]
    assert item["call_id"] == "c1" and "card_declined" in item["output"]
    assert len(item["output"]) < len(LOG) / 10


@pytest.mark.parametrize("extra", [{}, {"store": True}, {"previous_response_id": "resp_1"}])
def test_stateful_responses_get_no_tool_and_lossless_only(extra: dict[str, Any]) -> None:
    out = compress_request(OPENAI_RESPONSES, responses_body(**extra))
    assert not out.tool_offered and out.lossless_only
    assert not out.changed  # a log has no lossless compaction


def test_odd_bodies_never_raise() -> None:
    for body in ([], "x", {"messages": "no"}, {"messages": [1, None, {"role": 3}]}, {}):
        assert not compress_request(ANTHROPIC, body).changed
    assert not compress_request(OPENAI_RESPONSES, {"input": "just text"}).changed


def test_paths_and_hints() -> None:
    assert format_for_path("/v1/messages") is ANTHROPIC
    assert format_for_path("/chat/completions") is OPENAI_CHAT
    assert format_for_path("/v1/responses") is OPENAI_RESPONSES
    assert format_for_path("/v1/messages/count_tokens") is None
    assert may_hold_tool_output(dumps_body(chat_body("x")))
    assert not may_hold_tool_output(b'{"messages":[{"role":"user","content":"hi"}]}')


# ------------------------------------------------------------------ whole responses
def test_anthropic_calls_follow_up_and_strip() -> None:
    store = MemoryStore()
    body = compress_request(ANTHROPIC, anthropic_body(), store=store).body
    key = compress_request(ANTHROPIC, anthropic_body(), store=store).retrieval_keys[0]
    resp = anthropic_message(
        {"text": "checking", "tools": [{"name": RETRIEVE_TOOL_NAME, "input": {"key": key}}]}, 1
    )
    calls = ANTHROPIC.calls(resp)
    assert [c.is_retrieval for c in calls] == [True]
    answers = answer_calls(calls, store)
    assert answers[0][1].content == LOG
    nxt = ANTHROPIC.follow_up(body, resp, answers)
    assert nxt["messages"][-2] == {"role": "assistant", "content": resp["content"]}
    assert nxt["messages"][-1]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": calls[0].id,
        "content": LOG,
    }
    mixed = anthropic_message({"tools": [RETRIEVE, {"name": "Bash", "input": {}}]}, 1)
    assert RetrievalPolicy().decide(0, 1, 1) is Action.STRIP
    stripped = ANTHROPIC.strip(mixed)
    assert [b["name"] for b in stripped["content"]] == ["Bash"]
    assert stripped["stop_reason"] == "tool_use"
    only = ANTHROPIC.strip(anthropic_message({"text": "x", "tools": [RETRIEVE]}, 1))
    assert only["stop_reason"] == "end_turn" and only["content"] == [{"type": "text", "text": "x"}]


def test_the_opening_thinking_stays_with_the_final_answer() -> None:
    first = anthropic_message({"thinking": "plan", "tools": [RETRIEVE]}, 1)
    final = anthropic_message({"text": "ok", "tools": [{"name": "Bash"}]}, 2)
    out = final_response(ANTHROPIC, final, Action.PASS, [first["usage"], final["usage"]], first)
    assert [b["type"] for b in out["content"]] == ["thinking", "text", "tool_use"]
    assert out["content"][0] == {"type": "thinking", "thinking": "plan", "signature": "sig1"}
    # A final round that thinks again keeps its own blocks after the opening ones.
    again = anthropic_message({"thinking": "more", "text": "ok"}, 2)
    out = final_response(ANTHROPIC, again, Action.PASS, [], first)
    assert [b.get("signature") for b in out["content"]] == ["sig1", "sig2", None]
    # Without thinking nothing is added; other formats have no such rule.
    plain = anthropic_message({"tools": [RETRIEVE]}, 1)
    assert final_response(ANTHROPIC, final, Action.PASS, [], plain) == final
    chat = openai_completion({"text": "x"}, 2)
    assert final_response(OPENAI_CHAT, chat, Action.PASS, [], openai_completion({}, 1)) == chat


def test_final_response_sums_usage() -> None:
    final = anthropic_message({"text": "ok"}, 2)
    out = final_response(ANTHROPIC, final, Action.PASS, [{"input_tokens": 100}, final["usage"]])
    assert out["usage"] == {"input_tokens": 300, "output_tokens": 20}


def test_openai_chat_calls_follow_up_and_strip() -> None:
    resp = openai_completion({"tools": [RETRIEVE, {"name": "sh", "input": {"a": 1}}]}, 1)
    calls = OPENAI_CHAT.calls(resp)
    assert [c.name for c in calls] == [RETRIEVE_TOOL_NAME, "sh"] and calls[1].arguments == {"a": 1}
    stripped = OPENAI_CHAT.strip(resp)
    assert [c["function"]["name"] for c in stripped["choices"][0]["message"]["tool_calls"]] == [
        "sh"
    ]
    only = OPENAI_CHAT.strip(openai_completion({"tools": [RETRIEVE]}, 1))
    assert "tool_calls" not in only["choices"][0]["message"]
    assert only["choices"][0]["finish_reason"] == "stop"
    nxt = OPENAI_CHAT.follow_up(chat_body(), resp, answer_calls(calls[:1]))
    assert nxt["messages"][-2]["tool_calls"] == resp["choices"][0]["message"]["tool_calls"]
    assert (
        nxt["messages"][-1]["role"] == "tool" and nxt["messages"][-1]["tool_call_id"] == "call_1_0"
    )


def test_responses_calls_follow_up_and_strip() -> None:
    resp = responses_object({"tools": [RETRIEVE]}, 1)
    calls = OPENAI_RESPONSES.calls(resp)
    assert calls[0].id == "call_1_0" and calls[0].arguments == {"key": "K"}
    nxt = OPENAI_RESPONSES.follow_up({"input": "hi"}, resp, answer_calls(calls))
    assert nxt["input"][0] == {"role": "user", "content": "hi"}
    assert nxt["input"][-1]["type"] == "function_call_output"
    assert OPENAI_RESPONSES.strip(resp)["output"] == []


# ------------------------------------------------------------------ SSE and splicing
def test_sse_parser_handles_any_split_and_crlf() -> None:
    events = b"".join(anthropic_events({"text": "hello world"}, 1))
    crlf = events.replace(b"\n", b"\r\n")
    for data in (events, crlf):
        for size in (1, 3, 64, len(data)):
            p = SSEParser()
            got = []
            for i in range(0, len(data), size):
                got.extend(p.feed(data[i : i + size]))
            got.extend(p.close())
            assert got[0].event == "message_start"
            assert b"".join(e.raw for e in got) == data


def parse_stream(data: bytes) -> list[dict[str, Any]]:
    p = SSEParser()
    return [e.json() for e in p.feed(data) + p.close() if isinstance(e.json(), dict)]


def run_splicer(
    s: Any, events: Callable[[dict[str, Any], int], list[bytes]], rounds: list[dict[str, Any]]
) -> tuple[bytes, list[Action]]:
    """Feeds round ``n``'s ``events(reply, n)`` to splicer ``s`` until a round ends the turn."""
    out = b""
    actions = []
    for n, reply in enumerate(rounds, 1):
        for ev in events(reply, n):
            out += s.feed(ev)
        end = s.end_round()
        actions.append(end.action)
        if end.action is not Action.ANSWER:
            break
        s.next_round()
    return out + s.finish(), actions


def run_anthropic(rounds: list[dict[str, Any]]) -> tuple[bytes, list[Action]]:
    return run_splicer(AnthropicSplicer(), anthropic_events, rounds)


def test_anthropic_pass_through_stream_is_byte_identical() -> None:
    reply = {"text": "all good", "tools": [{"name": "Bash", "input": {"c": "ls"}}]}
    out, actions = run_anthropic([reply])
    assert actions == [Action.PASS]
    assert out == b"".join(anthropic_events(reply, 1))


def test_anthropic_hidden_round_spliced_into_one_message() -> None:
    rounds = [
        {"thinking": "need more", "tools": [RETRIEVE]},
        {"thinking": "got it", "text": "The error is card_declined."},
    ]
    out, actions = run_anthropic(rounds)
    assert actions == [Action.ANSWER, Action.PASS]
    events = parse_stream(out)
    types = [e["type"] for e in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert types.count("message_start") == 1 and types.count("message_stop") == 1
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert [e["index"] for e in starts] == list(range(len(starts)))
    blocks = [e["content_block"]["type"] for e in starts]
    # The thinking that opened the turn was streamed at once and stays (Anthropic needs
    # the turn to start with it); the hidden call and its result never appear.
    assert blocks == ["thinking", "thinking", "text"]
    assert RETRIEVE_TOOL_NAME.encode() not in out
    sigs = [
        e["delta"]["signature"]
        for e in events
        if e.get("delta", {}).get("type") == "signature_delta"
    ]
    assert sigs == ["sig1", "sig2"]
    final = events[-2]
    assert final["delta"]["stop_reason"] == "end_turn"
    assert final["usage"] == {"input_tokens": 300, "output_tokens": 30}
    assert events[0]["message"]["id"] == "msg_1"


def test_anthropic_text_sent_before_the_call_stays_and_blocks_follow_it() -> None:
    out, _ = run_anthropic(
        [{"thinking": "a", "text": "Let me look.", "tools": [RETRIEVE]}, {"text": "Found."}]
    )
    starts = [e for e in parse_stream(out) if e["type"] == "content_block_start"]
    assert [(e["index"], e["content_block"]["type"]) for e in starts] == [
        (0, "thinking"),
        (1, "text"),
        (2, "text"),
    ]


def test_anthropic_mixed_calls_strip_ours_and_renumber() -> None:
    out, actions = run_anthropic(
        [{"text": "x", "tools": [RETRIEVE, {"name": "Bash", "input": {"c": "ls"}}]}]
    )
    assert actions == [Action.STRIP]
    events = parse_stream(out)
    starts = [e for e in events if e["type"] == "content_block_start"]
    assert [(e["index"], e["content_block"]["type"]) for e in starts] == [
        (0, "text"),
        (1, "tool_use"),
    ]
    assert all(e.get("index", 0) <= 1 for e in events)
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert RETRIEVE_TOOL_NAME.encode() not in out


def test_anthropic_over_the_limit_ends_the_turn() -> None:
    s = AnthropicSplicer(RetrievalPolicy(max_rounds=0))
    out = b"".join(s.feed(e) for e in anthropic_events({"text": "x", "tools": [RETRIEVE]}, 1))
    assert s.end_round().action is Action.OVER_LIMIT
    events = parse_stream(out + s.finish())
    assert events[-2]["delta"]["stop_reason"] == "end_turn"
    assert [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"] == [
        "text"
    ]


def run_openai(rounds: list[dict[str, Any]], usage: bool = True) -> tuple[bytes, list[Action]]:
    return run_splicer(OpenAIChatSplicer(), lambda reply, n: openai_chunks(reply, n, usage), rounds)


def test_openai_pass_through_stream_is_byte_identical() -> None:
    reply = {"text": "hello there", "tools": [{"name": "sh", "input": {"a": 1}}]}
    out, _ = run_openai([reply])
    assert out == b"".join(openai_chunks(reply, 1, True))


def test_openai_hidden_round_and_summed_usage() -> None:
    out, actions = run_openai([{"tools": [RETRIEVE]}, {"text": "found it"}])
    assert actions == [Action.ANSWER, Action.PASS]
    chunks = [
        json.loads(line[6:]) for line in out.decode().split("\n\n") if line.startswith("data: {")
    ]
    assert {c["id"] for c in chunks} == {"chatcmpl-1"}
    assert RETRIEVE_TOOL_NAME not in out.decode()
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "found it"
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 300,
        "completion_tokens": 30,
        "total_tokens": 330,
    }
    assert out.endswith(b"data: [DONE]\n\n")


def test_openai_mixed_calls_are_renumbered() -> None:
    out, actions = run_openai([{"tools": [RETRIEVE, {"name": "sh", "input": {}}]}], usage=False)
    assert actions == [Action.STRIP]
    chunks = [
        json.loads(line[6:]) for line in out.decode().split("\n\n") if line.startswith("data: {")
    ]
    idx = {tc["index"] for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls") or ()}
    assert idx == {0} and RETRIEVE_TOOL_NAME not in out.decode()
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


# ------------------------------------------------------------------ properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def _spliced(make: Any, rounds: list[bytes], cuts: list[int]) -> bytes:
    s = make()
    out = b""
    for n, data in enumerate(rounds):
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        for a, b in itertools.pairwise(points):
            out += s.feed(data[a:b])
        end = s.end_round()
        if end.action is not Action.ANSWER or n == len(rounds) - 1:
            break
        s.next_round()
    return out + s.finish()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_splicing_does_not_depend_on_how_the_bytes_arrive(cuts: list[int]) -> None:
    a_rounds = [
        b"".join(
            anthropic_events({"thinking": "t", "text": "Let me see.", "tools": [RETRIEVE]}, 1)
        ),
        b"".join(
            anthropic_events({"text": "Done: card_declined.", "tools": [{"name": "Bash"}]}, 2)
        ),
    ]
    whole = _spliced(AnthropicSplicer, a_rounds, [])
    assert _spliced(AnthropicSplicer, a_rounds, cuts) == whole
    o_rounds = [
        b"".join(openai_chunks({"text": "Hm.", "tools": [RETRIEVE]}, 1, True)),
        b"".join(openai_chunks({"text": "Found it."}, 2, True)),
    ]
    assert _spliced(OpenAIChatSplicer, o_rounds, cuts) == _spliced(OpenAIChatSplicer, o_rounds, [])
    r_rounds = [
        b"".join(responses_events({"text": "Hm.", "tools": [RETRIEVE]}, 1)),
        b"".join(responses_events({"text": "Found it.", "tools": [{"name": "sh"}]}, 2)),
    ]
    assert _spliced(ResponsesSplicer, r_rounds, cuts) == _spliced(ResponsesSplicer, r_rounds, [])


def run_responses(rounds: list[dict[str, Any]]) -> tuple[bytes, list[Action]]:
    return run_splicer(ResponsesSplicer(), responses_events, rounds)


def test_responses_pass_through_stream_is_byte_identical() -> None:
    reply = {"text": "hello there", "tools": [{"name": "sh", "input": {"a": 1}}]}
    out, actions = run_responses([reply])
    assert actions == [Action.PASS] and out == b"".join(responses_events(reply, 1))


def test_responses_hidden_round_spliced_into_one_response() -> None:
    out, actions = run_responses(
        [{"text": "Let me check.", "tools": [RETRIEVE]}, {"text": "Found."}]
    )
    assert actions == [Action.ANSWER, Action.PASS]
    events = parse_stream(out)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds.count("response.created") == 1 and kinds[-1] == "response.completed"
    added = [
        (e["output_index"], e["item"]["type"])
        for e in events
        if e["type"] == "response.output_item.added"
    ]
    assert added == [(0, "message"), (1, "message")]
    final = events[-1]["response"]
    assert final["id"] == "resp_1" and [i["type"] for i in final["output"]] == [
        "message",
        "message",
    ]
    assert final["usage"] == {"input_tokens": 300, "output_tokens": 30, "total_tokens": 330}
    assert RETRIEVE_TOOL_NAME not in out.decode()


def test_responses_mixed_calls_strip_ours() -> None:
    out, actions = run_responses([{"tools": [{"name": "sh", "input": {}}, RETRIEVE]}])
    assert actions == [Action.STRIP]
    events = parse_stream(out)
    assert RETRIEVE_TOOL_NAME not in out.decode()
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [i["name"] for i in events[-1]["response"]["output"]] == ["sh"]


def test_stream_error_with_a_lone_surrogate_is_escaped_not_raised() -> None:
    from headroom.wire import sse
    from headroom.wire.formats import format_for_path
    from headroom.wire.stream import stream_error

    fmt = format_for_path("/v1/messages")
    assert fmt is not None
    event = stream_error(fmt, b'{"error": {"type": "api_error", "message": "bad \\ud800 byte"}}')
    assert event.startswith(b"event: error\n") and b"\\ud800" in event
    parsed = json.loads(event.split(b"data: ", 1)[1])
    assert parsed["error"]["message"] == "bad \ud800 byte"
    assert sse.encode_event({"a": "é"}) == 'data: {"a":"é"}\n\n'.encode()
