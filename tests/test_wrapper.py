"""The framework-free pieces every in-process wrapper shares (``headroom.wrapper``)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from headroom import MemoryStore, compress
from headroom.wrapper import (
    WrapperStats,
    add_usage,
    answer_retrieval,
    arun_rounds,
    astream_rounds,
    compress_converted,
    counting_model,
    is_retrieval,
    match_outputs,
    model_name_of,
    openai_tool_call,
    run_rounds,
    split_retrieval,
    stream_rounds,
    without_retrieval,
)


def test_stats_are_bounded_thread_safe_and_reset():
    stats: WrapperStats[int] = WrapperStats(history_limit=3, counters=("calls", "ms"))

    def work() -> None:
        for i in range(500):
            stats.add(i, calls=1, ms=0.5)
            stats.ledger.record(10, 4)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats.counts() == {"calls": 2000, "ms": 1000.0}
    assert len(stats.history()) == 3 and stats.history_limit == 3
    assert stats.ledger.summary().tokens_saved == 2000 * 6
    stats.reset()
    assert stats.counts() == {"calls": 0, "ms": 0} and stats.history() == []
    assert stats.ledger.summary().calls == 0


def test_match_outputs_follows_hooks_that_drop_add_or_keep():
    a = {"role": "user", "content": "a"}
    b = {"role": "tool", "tool_call_id": "1", "content": "long"}
    c = {"role": "assistant", "content": "c"}
    shorter_b = {**b, "content": "short"}
    assert match_outputs([a, b, c], [a, shorter_b, c]) == [0, 1, 2]
    assert match_outputs([a, b, c], [shorter_b, c]) == [1, 2]  # a dropped
    added = {"role": "system", "content": "new"}
    assert match_outputs([a, b, c], [added, a, shorter_b, c]) == [None, 0, 1, 2]


def test_tool_calls_in_the_engine_shape_and_split():
    call = openai_tool_call("c1", "search", {"q": 1})
    assert call == {
        "id": "c1",
        "type": "function",
        "function": {"name": "search", "arguments": '{"q": 1}'},
    }
    assert openai_tool_call("c2", "x", '{"a":2}')["function"]["arguments"] == '{"a":2}'
    calls = [{"name": "headroom_retrieve"}, {"name": "search"}, {"name": "headroom_retrieve"}]
    ours, others = split_retrieval(calls, lambda c: c["name"])
    assert len(ours) == 2 and others == [{"name": "search"}]


def test_answer_retrieval_returns_the_original_and_never_raises():
    store = MemoryStore()
    log = "\n".join(f"2024-01-01 INFO worker {i} finished job {i * 7}" for i in range(400))
    msgs = [
        {"role": "assistant", "tool_calls": [openai_tool_call("t", "logs", {})]},
        {"role": "tool", "tool_call_id": "t", "content": log},
    ]
    result = compress(msgs, store=store)
    assert result.retrieval_keys
    answer, tokens = answer_retrieval({"key": result.retrieval_keys[0]}, store, "gpt-4o")
    assert answer.content == log and not answer.is_error and tokens > 0

    class Broken:
        def get(self, key: str) -> str:
            raise OSError("gone")

    answer, _ = answer_retrieval({"key": "hr_0123456789abcdef"}, Broken(), "gpt-4o")
    assert answer.is_error


def test_model_names():
    class M:
        model = "gpt-4o-mini"

    assert model_name_of(object(), M()) == "gpt-4o-mini"
    assert model_name_of({"model_name": ""}, {"model_id": "x"}) == "x"
    assert model_name_of(object()) == ""
    assert counting_model("gpt-4o") == "gpt-4o"
    assert counting_model("anthropic.claude-3-5-sonnet") == "claude-3-5-sonnet"
    assert counting_model("my-model", ["Anthropic"]) == "claude"
    assert counting_model("models/gemini-2.0-flash") == "gemini-2.0-flash"
    assert counting_model("") == "unknown"


def _loop(log: list[str], stop_after: int):
    """A round loop: sends ``n``, gets ``n * 10`` back, stops after ``stop_after`` rounds."""
    n = 0
    try:
        while True:
            answer = yield n
            log.append(f"got {answer} in {threading.current_thread().name}")
            n += 1
            if n == stop_after:
                return f"done after {n}"
    except BaseException as exc:
        log.append(f"failed: {type(exc).__name__}")
        raise
    finally:
        log.append("closed")


def test_run_rounds_sync_and_async_give_the_same_result():
    log: list[str] = []
    assert run_rounds(_loop(log, 3), lambda n: n * 10) == "done after 3"
    assert [x.split(" in ")[0] for x in log] == ["got 0", "got 10", "got 20", "closed"]

    async def send(n: int) -> int:
        await asyncio.sleep(0)
        return n * 10

    alog: list[str] = []
    assert asyncio.run(arun_rounds(_loop(alog, 3), send)) == "done after 3"
    assert all("MainThread" not in x for x in alog[:-1])  # the loop's steps ran off the loop
    assert [x.split(" in ")[0] for x in alog] == [x.split(" in ")[0] for x in log]


def test_errors_of_the_model_call_reach_the_loop_and_the_caller():
    log: list[str] = []

    def boom(n: int) -> int:
        raise ConnectionError("upstream")

    with pytest.raises(ConnectionError):
        run_rounds(_loop(log, 3), boom)
    assert log == ["failed: ConnectionError", "closed"]


class _Relay:
    def __init__(self, request: int) -> None:
        self.chunks: list[str] = []

    def feed(self, chunk: str) -> list[str]:
        self.chunks.append(chunk)
        return [] if chunk.startswith("held") else [chunk]

    def end(self) -> list[str]:
        return self.chunks


def _stream_loop():
    first = yield 1
    assert first == ["a", "held1"]
    second = yield 2
    return [f"tail after {second}"]


def test_stream_rounds_relay_chunks_and_the_tail():
    def chunks(n: int):
        return ["a", "held1"] if n == 1 else ["b"]

    out = list(stream_rounds(_stream_loop(), chunks, _Relay))
    assert out == ["a", "b", "tail after ['b']"]

    async def achunks(n: int):
        for c in chunks(n):
            yield c

    async def collect() -> list[str]:
        return [c async for c in astream_rounds(_stream_loop(), achunks, _Relay)]

    assert asyncio.run(collect()) == out


def test_a_stream_closed_early_closes_the_loop():
    log: list[str] = []

    def chunks(n: int):
        return iter(["x", "y", "z"])

    class Pass:
        def __init__(self, request: int) -> None:
            pass

        def feed(self, chunk: str) -> list[str]:
            return [chunk]

        def end(self) -> int:
            return 1

    gen = stream_rounds(_loop(log, 5), chunks, Pass)
    assert next(gen) == "x"
    gen.close()
    assert log == ["failed: GeneratorExit", "closed"]


def test_retrieval_calls_in_every_shape_and_usage_over_rounds():
    shapes = [
        openai_tool_call("1", "headroom_retrieve", {"key": "k"}),
        {"type": "tool_use", "id": "2", "name": "headroom_retrieve", "input": {}},
        {"type": "function_call", "call_id": "3", "name": "headroom_retrieve"},
        {"name": "headroom_retrieve", "args": {}, "id": "4"},
    ]
    assert all(is_retrieval(s) for s in shapes)
    text = {"type": "text", "text": "hi"}
    assert without_retrieval([*shapes, text, "plain"]) == [text, "plain"]
    assert add_usage(None, {"in": 1}) == {"in": 1}
    assert add_usage({"in": 1, "d": {"x": 2}}, {"in": 2, "d": {"x": 3}}) == {"in": 3, "d": {"x": 5}}
    assert add_usage(3, None) == 3 and add_usage(3, 4) == 7
    assert add_usage(object, "latest") == "latest"


def test_compress_converted_round_trips_framework_messages():
    from dataclasses import dataclass, replace

    @dataclass(frozen=True)
    class Msg:
        role: str
        content: str
        call_id: str = ""

    log = "\n".join(f"2024-01-01 INFO worker {i} finished job {i * 7}" for i in range(400))
    items = [Msg("user", "why?"), Msg("tool", log, "t1"), Msg("assistant", "done")]

    def to_dicts(msgs: list[Msg]) -> list[dict]:
        out = []
        for m in msgs:
            d = {"role": m.role, "content": m.content}
            if m.role == "tool":
                d["tool_call_id"] = m.call_id
            out.append(d)
        return out

    def back(original, sent, d):
        if original is None:
            return Msg(d["role"], d["content"])
        return original if d is sent else replace(original, content=d["content"])

    out, result, error = compress_converted(items, to_dicts, back, store=MemoryStore())
    assert error is None and result is not None and result.tokens_saved > 0
    assert out[0] is items[0] and out[2] is items[2]
    assert out[1].call_id == "t1" and len(out[1].content) < len(log)

    def explode(msgs):
        raise ValueError("bad input")

    same, none, err = compress_converted(items, explode, back)
    assert same == items and none is None and err == "ValueError: bad input"
