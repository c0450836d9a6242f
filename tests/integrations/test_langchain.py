"""HeadroomChatModel and the LangChain helpers, run offline with scripted fake models."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import threading

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from pydantic import BaseModel, Field

from headroom import CompressionHooks, HeadroomConfig, compress
from headroom.integrations import HeadroomChatModel as LazyExport
from headroom.integrations.langchain import (
    HeadroomCallbackHandler,
    HeadroomChatModel,
    HeadroomDocumentCompressor,
    HeadroomOptimizer,
    HeadroomRetrieveTool,
    compress_tool_messages,
)
from headroom.samples import FATAL_CODE, log_entries

from .lc_fakes import big_logs, retrieval_key, scripted, tool_call, tool_outputs

QUESTION = "Why did checkout fail?"


def conversation(output: str | None = None) -> list:
    return [
        SystemMessage("You are an SRE assistant."),
        HumanMessage(QUESTION),
        AIMessage(
            content="",
            id="ai-1",
            tool_calls=[{"name": "search_logs", "args": {"service": "all"}, "id": "call_1"}],
            additional_kwargs={"custom": "kept"},
        ),
        ToolMessage(
            output if output is not None else big_logs(),
            tool_call_id="call_1",
            name="search_logs",
            artifact={"rows": 100},
            status="success",
            id="tool-1",
        ),
    ]


def sent_tool_output(inner, call: int = 0) -> ToolMessage:
    return tool_outputs(inner.calls[call])[0]


# ----------------------------------------------------------------- conversion


def test_invoke_compresses_tool_output_and_keeps_metadata():
    inner = scripted("The payment gateway ran out of connections.")
    llm = HeadroomChatModel(inner)
    msgs = conversation()
    snapshot = [m.model_copy(deep=True) for m in msgs]

    reply = llm.invoke(msgs)

    assert reply.content == "The payment gateway ran out of connections."
    sent = inner.calls[0]
    out = sent[3]
    assert isinstance(out, ToolMessage)
    assert len(out.content) < len(msgs[3].content) / 5
    assert FATAL_CODE in out.content and "__headroom__" in out.content
    assert (out.tool_call_id, out.name, out.artifact, out.status, out.id) == (
        "call_1",
        "search_logs",
        {"rows": 100},
        "success",
        "tool-1",
    )
    ai = sent[2]
    assert ai.tool_calls == msgs[2].tool_calls and ai.id == "ai-1"
    assert ai.additional_kwargs == {"custom": "kept"}
    assert sent[0] is msgs[0] and sent[1] is msgs[1]  # untouched messages pass as they are
    assert msgs == snapshot  # the caller's messages are never mutated
    assert llm.total_tokens_saved > 0


def test_query_is_the_last_human_message():
    # The needle is a routine entry that only the question mentions: the default query
    # (the last human message) must keep it.
    entries = log_entries(100)
    needle = entries[42]["request_id"]
    inner = scripted("ok")
    llm = HeadroomChatModel(inner)
    msgs = conversation()
    msgs[1] = HumanMessage(f"What happened to request {needle}?")
    llm.invoke(msgs)
    assert needle in sent_tool_output(inner).content
    inner2 = scripted("ok")
    HeadroomChatModel(inner2).invoke(conversation())
    assert needle not in sent_tool_output(inner2).content


def test_small_outputs_and_plain_prompts_pass_through():
    inner = scripted("hi", "fine")
    llm = HeadroomChatModel(inner)
    assert llm.invoke("Hello!").content == "hi"
    msgs = conversation('{"status": "ok"}')
    llm.invoke(msgs)
    assert sent_tool_output(inner, 1).content == '{"status": "ok"}'
    assert llm.total_tokens_saved == 0
    summary = llm.get_savings_summary()
    assert summary["calls"] == 2 and summary["tokens_saved"] == 0
    assert "tools" not in inner.call_kwargs[1]  # nothing compressed: no retrieve tool offered


def test_config_and_hooks_pass_through():
    events = []

    class Hooks(CompressionHooks):
        def post_compress(self, event):
            events.append(event)

    inner = scripted("a")
    llm = HeadroomChatModel(
        inner, config=HeadroomConfig(min_tokens_to_compress=10**6), hooks=Hooks()
    )
    msgs = conversation()
    llm.invoke(msgs)
    assert sent_tool_output(inner).content == msgs[3].content
    assert len(events) == 1 and events[0].tokens_saved == 0


def test_hook_that_drops_messages_is_converted_back():
    class DropSystem(CompressionHooks):
        def pre_compress(self, messages, ctx):
            return [m for m in messages if m.get("role") != "system"]

    inner = scripted("a")
    HeadroomChatModel(inner, hooks=DropSystem()).invoke(conversation())
    sent = inner.calls[0]
    assert [m.type for m in sent] == ["human", "ai", "tool"]
    assert sent[2].artifact == {"rows": 100} and "__headroom__" in sent[2].content


def test_compression_failure_sends_the_original(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("engine bug")

    import headroom.wrapper as core  # the adapters compress through the shared core

    monkeypatch.setattr(core, "compress", broken)
    inner = scripted("still answered")
    llm = HeadroomChatModel(inner)
    msgs = conversation()
    assert llm.invoke(msgs).content == "still answered"
    assert sent_tool_output(inner).content == msgs[3].content
    assert llm.get_savings_summary()["compression_failures"] == 1
    assert llm.total_tokens_saved == 0


# ----------------------------------------------------------------- call styles


def test_stream_yields_inner_chunks():
    inner = scripted("the pool is exhausted")
    llm = HeadroomChatModel(inner)
    chunks = list(llm.stream(conversation()))
    assert all(isinstance(c, AIMessageChunk) for c in chunks)
    assert [c.content for c in chunks if c.content] == [
        "the",
        " ",
        "pool",
        " ",
        "is",
        " ",
        "exhausted",
    ]
    assert "__headroom__" in sent_tool_output(inner).content
    assert llm.total_tokens_saved > 0


async def test_astream_yields_inner_chunks():
    inner = scripted("pool exhausted")
    llm = HeadroomChatModel(inner)
    chunks = [c async for c in llm.astream(conversation())]
    assert "".join(c.content for c in chunks) == "pool exhausted"
    assert len([c for c in chunks if c.content]) == 3
    assert "__headroom__" in sent_tool_output(inner).content


async def test_ainvoke_compresses_off_the_event_loop():
    threads = []

    class Where(CompressionHooks):
        def pre_compress(self, messages, ctx):
            threads.append(threading.get_ident())
            return messages

    inner = scripted("async answer")
    llm = HeadroomChatModel(inner, hooks=Where())
    reply = await llm.ainvoke(conversation())
    assert reply.content == "async answer"
    assert threads and threads[0] != threading.get_ident()  # compress ran in a worker thread
    assert "__headroom__" in sent_tool_output(inner).content


async def test_event_loop_keeps_running_during_compression():
    ticks = 0
    stop = asyncio.Event()

    async def ticker():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    # A fresh, large output (not memoized) so compression takes measurable time.
    output = json.dumps(log_entries(2000, fatal_at=1500, seed=99), indent=2)
    task = asyncio.create_task(ticker())
    await HeadroomChatModel(scripted("x")).ainvoke(conversation(output))
    stop.set()
    await task
    assert ticks > 5


@pytest.mark.parametrize("streaming", [False, True])
async def test_inner_streaming_true_all_call_styles(streaming):
    inner = scripted("one", "two", "three", "four", "five", streaming=streaming)
    llm = HeadroomChatModel(inner)
    assert llm.invoke(conversation()).content == "one"
    assert (await llm.ainvoke(conversation())).content == "two"
    assert "".join(c.content for c in llm.stream(conversation())) == "three"
    assert "".join([c.content async for c in llm.astream(conversation())]) == "four"
    assert llm.batch([conversation()])[0].content == "five"
    assert len(inner.calls) == 5
    assert all("__headroom__" in tool_outputs(call)[0].content for call in inner.calls)
    assert llm.get_savings_summary()["calls"] == 5


def test_wrapper_streaming_flag_uses_inner_stream():
    inner = scripted("streamed reply")
    llm = HeadroomChatModel(inner, streaming=True)
    assert llm.invoke(conversation()).content == "streamed reply"
    assert "__headroom__" in sent_tool_output(inner).content


def test_batch_counts_every_call_thread_safely():
    n = 12
    inner = scripted(*[f"r{i}" for i in range(n)])
    llm = HeadroomChatModel(inner, history_limit=5)
    replies = llm.batch([conversation() for _ in range(n)], config={"max_concurrency": 6})
    assert sorted(r.content for r in replies) == sorted(f"r{i}" for i in range(n))
    summary = llm.get_savings_summary()
    assert summary["calls"] == n
    assert len(llm.metrics_history) == 5  # bounded
    per_call = llm.metrics_history[0].tokens_saved
    assert per_call > 0 and llm.total_tokens_saved == n * per_call
    rec = llm.metrics_history[-1]
    assert rec.tokens_before > rec.tokens_after and rec.transforms and rec.duration_ms >= 0


# ----------------------------------------------------------------- tools, structured output


@tool
def search_logs(service: str) -> str:
    """Search the service logs."""
    return big_logs()


def test_bind_tools_keeps_compressing_and_shares_counters():
    inner = scripted("first", "second")
    llm = HeadroomChatModel(inner, enable_retrieval=False)
    llm.invoke(conversation())
    after_first = llm.total_tokens_saved
    bound = llm.bind_tools([search_logs], tool_choice="auto")
    bound.invoke(conversation())
    assert "__headroom__" in sent_tool_output(inner, 1).content
    assert [t["function"]["name"] for t in inner.call_kwargs[1]["tools"]] == ["search_logs"]
    assert inner.call_kwargs[1]["tool_choice"] == "auto"
    assert llm.total_tokens_saved == 2 * after_first  # not reset by bind_tools
    assert llm.get_savings_summary()["calls"] == 2


def test_retrieve_tool_is_offered_next_to_user_tools_only_when_useful():
    inner = scripted("a", "b")
    bound = HeadroomChatModel(inner).bind_tools([search_logs])
    bound.invoke(conversation())
    bound.invoke(conversation('{"small": true}'))
    names = [[t["function"]["name"] for t in kw["tools"]] for kw in inner.call_kwargs]
    assert names == [["search_logs", "headroom_retrieve"], ["search_logs"]]


class Diagnosis(BaseModel):
    """Root cause of an incident."""

    service: str
    error_code: str


def test_with_structured_output_compresses():
    def answer(messages, kwargs):
        out = tool_outputs(messages)[0].content
        assert "__headroom__" in out
        fatal = next(e for e in json.loads(out) if e.get("level") == "FATAL")
        return tool_call(
            "Diagnosis", {"service": fatal["service"], "error_code": fatal["error_code"]}
        )

    inner = scripted(answer)
    llm = HeadroomChatModel(inner)
    result = llm.with_structured_output(Diagnosis).invoke(conversation())
    assert result == Diagnosis(service="payment-gateway", error_code=FATAL_CODE)
    assert llm.total_tokens_saved > 0


async def test_with_structured_output_async():
    inner = scripted(tool_call("Diagnosis", {"service": "s", "error_code": "e"}))
    llm = HeadroomChatModel(inner)
    result = await llm.with_structured_output(Diagnosis).ainvoke(conversation())
    assert result == Diagnosis(service="s", error_code="e")
    assert "__headroom__" in sent_tool_output(inner).content


# ----------------------------------------------------------------- retrieval round trip


def omitted_entry(compressed: str) -> dict:
    """A log entry present in the original but left out of the compressed output."""
    return next(e for e in log_entries(100) if e["request_id"] not in compressed)


def retrieving_script():
    seen = {}

    def call_retrieve(messages, kwargs):
        names = [t["function"]["name"] for t in kwargs.get("tools", [])]
        assert "headroom_retrieve" in names
        compressed = tool_outputs(messages)[0].content
        seen["entry"] = omitted_entry(compressed)
        return tool_call(
            "headroom_retrieve",
            {"key": retrieval_key(compressed), "query": seen["entry"]["request_id"]},
            call_id="hr_call",
        )

    def answer(messages, kwargs):
        last = messages[-1]
        assert isinstance(last, ToolMessage) and last.name == "headroom_retrieve"
        items = json.loads(last.content)
        return f"latency was {items[0]['latency_ms']} ms for {items[0]['request_id']}"

    return seen, [call_retrieve, answer]


def check_retrieval(inner, seen, text):
    entry = seen["entry"]
    assert text == f"latency was {entry['latency_ms']} ms for {entry['request_id']}"
    assert entry["request_id"] not in sent_tool_output(inner, 0).content
    assert len(inner.calls) == 2
    assert inner.calls[1][-2].tool_calls[0]["name"] == "headroom_retrieve"


def test_retrieval_round_trip_invoke():
    seen, steps = retrieving_script()
    inner = scripted(*steps)
    llm = HeadroomChatModel(inner)
    reply = llm.invoke(conversation())
    check_retrieval(inner, seen, reply.content)
    assert reply.tool_calls == []  # the agent never sees headroom_retrieve
    assert llm.get_savings_summary()["retrieval_calls"] == 1


async def test_retrieval_round_trip_ainvoke_with_streaming_inner():
    seen, steps = retrieving_script()
    inner = scripted(*steps, streaming=True)
    reply = await HeadroomChatModel(inner).ainvoke(conversation())
    check_retrieval(inner, seen, reply.content)
    assert reply.tool_calls == []


def test_retrieval_round_trip_stream():
    seen, steps = retrieving_script()
    inner = scripted(*steps)
    chunks = list(HeadroomChatModel(inner).stream(conversation()))
    merged = chunks[0]
    for c in chunks[1:]:
        merged += c
    check_retrieval(inner, seen, merged.content)
    assert merged.tool_calls == [] and merged.tool_call_chunks == []


async def test_retrieval_round_trip_astream():
    seen, steps = retrieving_script()
    inner = scripted(*steps)
    chunks = [c async for c in HeadroomChatModel(inner).astream(conversation())]
    check_retrieval(inner, seen, "".join(c.content for c in chunks))


def test_user_tool_calls_pass_through_while_streaming():
    inner = scripted(tool_call("search_logs", {"service": "checkout"}, "call_9"))
    bound = HeadroomChatModel(inner).bind_tools([search_logs])
    chunks = list(bound.stream(conversation()))
    merged = chunks[0]
    for c in chunks[1:]:
        merged += c
    assert [(c["name"], c["args"], c["id"]) for c in merged.tool_calls] == [
        ("search_logs", {"service": "checkout"}, "call_9")
    ]


def test_retrieval_rounds_are_bounded_and_hidden():
    key_call = lambda messages, kwargs: tool_call(  # noqa: E731
        "headroom_retrieve", {"key": retrieval_key(tool_outputs(messages)[0].content)}
    )
    inner = scripted(key_call, key_call, key_call)
    reply = HeadroomChatModel(inner, max_retrieval_rounds=2).invoke(conversation())
    assert len(inner.calls) == 3
    assert reply.tool_calls == []
    assert tool_outputs(inner.calls[2])[-1].content == big_logs()  # full original, byte-exact


def test_mixed_calls_go_to_the_user_without_ours():
    msg = AIMessage(
        content="",
        tool_calls=[
            {"name": "headroom_retrieve", "args": {"key": "hr_0"}, "id": "a"},
            {"name": "search_logs", "args": {"service": "x"}, "id": "b"},
        ],
    )
    inner = scripted(msg)
    reply = HeadroomChatModel(inner).bind_tools([search_logs]).invoke(conversation())
    assert [c["id"] for c in reply.tool_calls] == ["b"]
    assert len(inner.calls) == 1


def test_retrieval_can_be_turned_off():
    inner = scripted(tool_call("headroom_retrieve", {"key": "hr_x"}))
    reply = HeadroomChatModel(inner, enable_retrieval=False).invoke(conversation())
    assert "tools" not in inner.call_kwargs[0]
    assert len(inner.calls) == 1  # not intercepted when off
    assert reply.tool_calls[0]["name"] == "headroom_retrieve"


def test_store_spec_string_is_shared_by_compress_and_retrieve():
    seen, steps = retrieving_script()
    inner = scripted(*steps)
    reply = HeadroomChatModel(inner, store="memory").invoke(conversation())
    check_retrieval(inner, seen, reply.content)


# ----------------------------------------------------------------- identity


def test_identity_names_both_headroom_and_inner():
    inner = scripted("x", model_name="gpt-4o-mini")
    llm = HeadroomChatModel(inner)
    assert llm._llm_type == "headroom-generic-fake-chat-model"
    params = llm._identifying_params
    assert params["wrapper"] == "headroom" and params["inner_llm_type"] == "generic-fake-chat-model"
    assert (
        repr(llm)
        == "HeadroomChatModel(inner=ScriptedChatModel(model='gpt-4o-mini'), model='gpt-4o-mini')"
    )
    assert llm.model == "gpt-4o-mini"
    assert HeadroomChatModel(inner, model="claude-sonnet-4").model == "claude-sonnet-4"
    assert (
        HeadroomChatModel(wrapped_model=GenericFakeChatModel(messages=iter([]))).model == "gpt-4o"
    )
    assert llm._get_ls_params()["ls_model_name"] == "gpt-4o-mini"
    assert LazyExport is HeadroomChatModel


def test_inner_model_settings_given_to_the_wrapper_reach_a_copy_of_the_inner(caplog):
    class WithSampling(GenericFakeChatModel):
        temperature: float = 0.7
        max_tokens: int | None = Field(default=None, alias="max_completion_tokens")

    inner = WithSampling(messages=iter([]), temperature=0.7)
    with caplog.at_level(logging.WARNING, logger="headroom"):
        llm = HeadroomChatModel(inner, temperature=0.0, max_completion_tokens=50, top_k=3)
    assert llm.wrapped_model.temperature == 0.0
    assert llm.wrapped_model.max_tokens == 50
    assert inner.temperature == 0.7 and inner.max_tokens is None  # the caller's model is untouched
    assert "top_k" in caplog.text  # unknown everywhere: said out loud, not silently dropped


# ----------------------------------------------------------------- helpers


def test_compress_tool_messages_list_state_and_pre_model_hook():
    msgs = conversation()
    out = compress_tool_messages(msgs)
    assert "__headroom__" in out[3].content and out[3].id == "tool-1"
    assert msgs[3].content == big_logs()
    update = compress_tool_messages({"messages": msgs})
    assert list(update) == ["messages"] and update["messages"][3].content == out[3].content
    hook = compress_tool_messages({"messages": msgs}, output_key="llm_input_messages")
    assert list(hook) == ["llm_input_messages"]
    dicts = [
        {"role": "user", "content": QUESTION},
        {"role": "tool", "tool_call_id": "c", "content": big_logs()},
    ]
    assert "__headroom__" in compress_tool_messages(dicts)[1].content


def test_retrieve_tool(memory_store):
    result = compress(
        [
            {"role": "user", "content": "x"},
            {"role": "tool", "tool_call_id": "c", "content": big_logs()},
        ],
        store=memory_store,
    )
    key = result.retrieval_keys[0]
    tool_ = HeadroomRetrieveTool(store=memory_store)
    assert tool_.name == "headroom_retrieve"
    assert tool_.invoke({"key": key}) == big_logs()
    assert FATAL_CODE in tool_.invoke({"key": key, "query": FATAL_CODE})
    missing = tool_.invoke(
        {"type": "tool_call", "id": "t1", "name": "headroom_retrieve", "args": {"key": "hr_nope"}}
    )
    assert missing.status == "error" and "No stored original" in missing.content


def test_document_compressor_keeps_the_most_relevant():
    docs = [
        Document("Release notes for the mobile app.", metadata={"n": 0}),
        Document(
            f"Incident: payment-gateway connection pool exhausted ({FATAL_CODE}).",
            metadata={"n": 1},
        ),
        Document("Connection pool sizing guide for Postgres.", metadata={"n": 2}),
        Document("Team offsite agenda.", metadata={"n": 3}),
    ]
    kept = HeadroomDocumentCompressor(top_n=2).compress_documents(
        docs, f"what is {FATAL_CODE} connection pool"
    )
    assert [d.metadata["n"] for d in kept] == [1, 2]
    assert kept[0].metadata["relevance_score"] > kept[1].metadata["relevance_score"]
    assert "relevance_score" not in docs[1].metadata
    fallback = HeadroomDocumentCompressor(top_n=3).compress_documents(docs, "zebra")
    assert [d.metadata["n"] for d in fallback] == [0, 1, 2]


def test_callback_handler_measures_but_cannot_change_messages(caplog):
    optimizer = HeadroomOptimizer()
    assert isinstance(optimizer, HeadroomCallbackHandler)
    inner = scripted("ok", callbacks=[optimizer])
    msgs = conversation()
    with caplog.at_level(logging.INFO, logger="headroom.langchain"):
        inner.invoke(msgs)
    assert optimizer.total_tokens_saved > 0
    assert sent_tool_output(inner).content == msgs[3].content  # honest: nothing changed
    assert "would save" in caplog.text
    assert optimizer.get_savings_summary()["calls"] == 1


def test_callback_on_a_wrapper_counts_each_call_once():
    handler = HeadroomCallbackHandler()
    llm = HeadroomChatModel(scripted("ok", "ok"))
    llm.invoke(conversation(), config={"callbacks": [handler]})
    llm.invoke(conversation(), config={"callbacks": [handler]})
    # The wrapper's own prompt is measured; its inner, already compressed call is not.
    assert handler.get_savings_summary()["calls"] == 2
    assert handler.total_tokens_saved == llm.total_tokens_saved
    assert not handler._wrapper_runs


# ----------------------------------------------------------------- import cost and extras

# The import time itself is a figure of benchmarks/bench.py, not an assertion: this
# machine is shared and wall-clock limits fail under load.
_HEAVY = """
import sys
import headroom.integrations.langchain
print(",".join(m for m in ("mcp", "agno", "langgraph", "onnxruntime", "tiktoken") if m in sys.modules))
"""


def test_import_pulls_in_no_heavy_modules():
    proc = subprocess.run(
        [sys.executable, "-c", _HEAVY], capture_output=True, text=True, check=True, env=os.environ
    )
    assert proc.stdout.strip() == ""


def test_missing_langchain_core_names_the_extra():
    code = (
        "import sys; sys.modules['langchain_core'] = None\n"
        "from headroom.errors import MissingExtraError\n"
        "try:\n    import headroom.integrations.langchain\n"
        "except MissingExtraError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install ".[langchain]"' in out.stdout


def test_example_runs_offline_and_reports_tokens():
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")}
    out = subprocess.run(
        [sys.executable, "examples/langchain_agent.py"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    ).stdout
    assert FATAL_CODE in out
    saved = int(out.split("tokens saved:")[1].split()[0])
    assert saved > 0 and "tokens before:" in out and "tokens after:" in out


# ----------------------------------------------------------------- lifecycle


class StageRecorder:
    def __init__(self) -> None:
        self.events: list = []

    def on_pipeline_event(self, event) -> None:
        self.events.append(event)


SEND_STAGES = ["PRE_SEND", "POST_SEND", "RESPONSE_RECEIVED"]
INPUT_STAGES = [
    "INPUT_RECEIVED", "INPUT_CACHED", "INPUT_ROUTED", "INPUT_COMPRESSED", "INPUT_REMEMBERED",
]  # fmt: skip


@pytest.mark.parametrize("how", ["invoke", "stream", "ainvoke", "astream"])
def test_extensions_see_the_whole_request_lifecycle(how):
    rec = StageRecorder()
    llm = HeadroomChatModel(scripted("pool exhausted"), extensions=[rec])
    msgs = conversation()
    if how == "invoke":
        llm.invoke(msgs)
    elif how == "stream":
        list(llm.stream(msgs))
    elif how == "ainvoke":
        asyncio.run(llm.ainvoke(msgs))
    else:

        async def drain():
            return [c async for c in llm.astream(msgs)]

        asyncio.run(drain())
    stages = [e.stage.name for e in rec.events if e.stage.name != "SETUP"]
    assert stages == INPUT_STAGES + SEND_STAGES
    request = [e for e in rec.events if e.stage.name != "SETUP"]
    assert len({e.request_id for e in request}) == 1
    assert [e.source for e in request] == ["compress"] * 5 + ["langchain"] * 3
    assert "pool exhausted" in str(request[-1].response)


@pytest.mark.parametrize("how", ["invoke", "stream"])
def test_a_failing_provider_still_ends_the_lifecycle(how):
    def down(messages, kwargs):
        raise ConnectionError("provider down")

    rec = StageRecorder()
    llm = HeadroomChatModel(scripted(down), extensions=[rec])
    with pytest.raises(ConnectionError):
        llm.invoke(conversation()) if how == "invoke" else list(llm.stream(conversation()))
    stages = [e.stage.name for e in rec.events if e.stage.name != "SETUP"]
    assert stages[-3:] == SEND_STAGES
    assert rec.events[-1].details["error"] == "ConnectionError: provider down"
