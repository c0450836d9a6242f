"""HeadroomAgnoModel inside real Agno agents, offline, with a scripted provider."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
import os
import sys
import threading
from typing import Any

import pytest

pytest.importorskip("agno")

from agno.agent import Agent
from agno.db.in_memory import InMemoryDb
from agno.models.message import Message

from headroom import CompressionHooks, HeadroomConfig, MemoryStore
from headroom.integrations.agno import (
    HeadroomAgnoModel,
    HeadroomPreHook,
    HeadroomRetrieveTools,
    headroom_retrieve_function,
    token_model_for,
)

from .agno_fakes import (
    FATAL_MESSAGE,
    HIDDEN_VALUE,
    ScriptedModel,
    Step,
    build_log,
    call_then_answer,
    db_rows,
    heap_dump,
    json_log,
    retrieving_script,
)

MODES = ["run", "arun", "run_stream", "arun_stream"]
QUESTION = "Investigate the memory leak and recommend a fix"


def execute(agent: Agent, mode: str, message: str = QUESTION, **kwargs: Any) -> Any:
    """Run the agent in one of the four ways and return its RunOutput."""
    if mode == "run":
        return agent.run(message, **kwargs)
    if mode == "arun":
        return asyncio.run(agent.arun(message, **kwargs))
    if mode == "run_stream":
        events = list(agent.run(message, stream=True, yield_run_output=True, **kwargs))
        return events[-1]

    async def collect() -> list[Any]:
        return [e async for e in agent.arun(message, stream=True, yield_run_output=True, **kwargs)]

    return asyncio.run(collect())[-1]


class Tools:
    """Tools that record their calls and return realistic outputs."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.lock = threading.Lock()

    def _note(self, name: str) -> None:
        with self.lock:
            self.calls.append(name)

    def functions(self) -> list[Any]:
        def fetch_service_logs() -> str:
            """Fetch the session service's recent log records as JSON."""
            self._note("fetch_service_logs")
            return json_log()

        def fetch_build_log() -> str:
            """Fetch the latest CI build log."""
            self._note("fetch_build_log")
            return build_log()

        def query_db() -> str:
            """List rows of the sessions table."""
            self._note("query_db")
            return db_rows()

        def heap_histogram() -> str:
            """Class histogram from the latest heap dump."""
            self._note("heap_histogram")
            return heap_dump()

        return [fetch_service_logs, fetch_build_log, query_db, heap_histogram]


def tool_messages(messages: list[Message]) -> dict[str, str]:
    return {m.tool_name or "": m.content for m in messages if m.role == "tool"}


def received_tool(fake: ScriptedModel, call: int) -> dict[str, Message]:
    return {m.tool_name or "": m for m in fake.received[call] if m.role == "tool"}


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


# --------------------------------------------------------------------------- the tool loop


@pytest.mark.parametrize("mode", MODES)
def test_tool_outputs_reach_the_model_compressed_and_history_keeps_originals(mode, store):
    tools = Tools()
    fake = ScriptedModel(
        script=call_then_answer(("fetch_service_logs", {}), ("fetch_build_log", {}))
    )
    model = HeadroomAgnoModel(fake, store=store)
    agent = Agent(model=model, tools=tools.functions(), db=InMemoryDb())

    output = execute(agent, mode)

    assert sorted(tools.calls) == ["fetch_build_log", "fetch_service_logs"]
    assert len(fake.received) == 2
    sent = received_tool(fake, 1)
    service = sent["fetch_service_logs"].content
    assert len(service) < len(json_log()) / 3
    assert FATAL_MESSAGE in service
    assert "__headroom__" in service
    # The plain-text build log reached the model whole (or, later, compressed).
    build = sent["fetch_build_log"].content
    assert build == build_log() or len(build) < len(build_log())
    assert "Root cause: OutOfMemoryError" in output.content
    assert model.total_tokens_saved > 0
    # Agno's record of the run holds the real tool outputs, not the compressed copies.
    stored = tool_messages(output.messages)
    assert stored["fetch_service_logs"] == json_log()
    assert stored["fetch_build_log"] == build_log()
    assert all(m is not sent["fetch_service_logs"] for m in output.messages)
    session_messages = agent.get_session_messages()
    assert tool_messages(session_messages)["fetch_service_logs"] == json_log()


@pytest.mark.parametrize("mode", ["run_stream", "arun_stream"])
def test_streamed_tool_call_fragments_are_assembled_by_the_wrapped_model(mode, store):
    tools = Tools()
    fake = ScriptedModel(script=call_then_answer(("fetch_service_logs", {}), ("query_db", {})))
    agent = Agent(model=HeadroomAgnoModel(fake, store=store), tools=tools.functions())

    output = execute(agent, mode)

    assert sorted(tools.calls) == ["fetch_service_logs", "query_db"]
    calls = next(m.tool_calls for m in output.messages if m.tool_calls)
    assert [c["function"]["name"] for c in calls] == ["fetch_service_logs", "query_db"]
    assert all(c["function"]["arguments"] == "{}" and c["id"].startswith("call_") for c in calls)
    assert "Looking at the logs." in output.content


def test_four_tools_in_one_turn_and_several_turns(store):
    tools = Tools()
    four = [
        ("fetch_service_logs", {}),
        ("fetch_build_log", {}),
        ("query_db", {}),
        ("heap_histogram", {}),
    ]

    def script(messages: list[Message], index: int) -> Step:
        return call_then_answer(*four)(messages, index)

    fake = ScriptedModel(script=script)
    model = HeadroomAgnoModel(fake, store=store)
    agent = Agent(
        model=model,
        tools=tools.functions(),
        db=InMemoryDb(),
        add_history_to_context=True,
        num_history_runs=5,
    )

    first = agent.run(QUESTION)
    assert "OutOfMemoryError" in first.content
    assert sorted(tools.calls) == sorted(name for name, _ in four)
    sent = received_tool(fake, 1)
    assert set(sent) == {name for name, _ in four}
    assert len(sent["query_db"].content) < len(db_rows())
    assert "SessionCache$Entry" in sent["heap_histogram"].content  # the outlier survives
    saved_after_first = model.total_tokens_saved
    assert saved_after_first > 0

    second = agent.run("Check again: is it still leaking?")
    third = agent.run("And once more after the deploy.")
    assert len(tools.calls) == 12
    assert "OutOfMemoryError" in second.content and "OutOfMemoryError" in third.content
    # Later turns carry earlier turns' outputs from history; they go out compressed too,
    # and identically each time (prefix caches keep hitting).
    last_call = fake.received[-1]
    history_logs = [
        m.content for m in last_call if m.role == "tool" and m.tool_name == "fetch_service_logs"
    ]
    assert len(history_logs) == 3
    assert len(set(history_logs)) == 1 and FATAL_MESSAGE in history_logs[0]
    assert model.total_tokens_saved > 3 * saved_after_first
    stored = [
        m for m in agent.get_session_messages() if m.role == "tool" and m.tool_name == "query_db"
    ]
    assert stored and all(m.content == db_rows() for m in stored)
    summary = model.get_savings_summary()
    assert summary["calls"] == 6
    assert summary["total_tokens_saved"] == model.total_tokens_saved
    assert summary["tokens_sent"] < summary["tokens_without_headroom"]


# --------------------------------------------------------------------------- retrieval


@pytest.mark.parametrize("mode", MODES)
def test_retrieval_round_trip_is_answered_inside_the_wrapper(mode, store):
    tools = Tools()
    fake = ScriptedModel(script=retrieving_script("fetch_service_logs"))
    model = HeadroomAgnoModel(fake, store=store)
    agent = Agent(model=model, tools=tools.functions())

    output = execute(agent, mode)

    assert tools.calls == ["fetch_service_logs"]
    assert HIDDEN_VALUE not in received_tool(fake, 1)["fetch_service_logs"].content
    assert output.content.endswith(f"tenant={HIDDEN_VALUE}")
    assert len(fake.received) == 3
    assert "headroom_retrieve" not in fake.tools_seen[0]  # nothing compressed yet
    assert "headroom_retrieve" in fake.tools_seen[1]
    retrieved = [m for m in fake.received[2] if m.tool_name == "headroom_retrieve"]
    assert len(retrieved) == 1 and HIDDEN_VALUE in retrieved[0].content
    # The agent's history and toolset know nothing about the retrieval.
    assert all(m.tool_name != "headroom_retrieve" for m in output.messages)
    assert all(
        c["function"]["name"] != "headroom_retrieve"
        for m in output.messages
        for c in (m.tool_calls or [])
    )
    assert model.get_savings_summary()["retrievals_answered"] == 1
    assert model.metrics_history[-1].retrievals_answered == 1


def test_retrieval_can_be_turned_off(store):
    fake = ScriptedModel(script=call_then_answer(("fetch_service_logs", {})))
    model = HeadroomAgnoModel(fake, store=store, retrieval=False)
    Agent(model=model, tools=Tools().functions()).run(QUESTION)
    assert all("headroom_retrieve" not in seen for seen in fake.tools_seen)
    assert model.total_tokens_saved > 0


def test_retrieval_uses_the_store_named_in_the_config():
    fake = ScriptedModel(script=retrieving_script("fetch_service_logs"))
    model = HeadroomAgnoModel(fake, config=HeadroomConfig(store="memory"))
    output = Agent(model=model, tools=Tools().functions()).run(QUESTION)
    assert output.content.endswith(f"tenant={HIDDEN_VALUE}")


def test_zero_retrieval_rounds_never_offers_the_tool(store):
    fake = ScriptedModel(script=call_then_answer(("fetch_service_logs", {})))
    model = HeadroomAgnoModel(fake, store=store, max_retrieval_rounds=0)
    Agent(model=model, tools=Tools().functions()).run(QUESTION)
    assert all("headroom_retrieve" not in seen for seen in fake.tools_seen)
    assert model.total_tokens_saved > 0


@pytest.mark.parametrize("mode", ["arun", "arun_stream"])
def test_async_runs_compress_off_the_event_loop(mode, store, monkeypatch):
    import time

    import headroom.wrapper as wrapper  # the adapters compress through the shared core

    real = wrapper.compress

    def slow_compress(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.15)  # stands in for a big output: blocks whichever thread runs it
        return real(*args, **kwargs)

    monkeypatch.setattr(wrapper, "compress", slow_compress)
    agent = Agent(
        model=HeadroomAgnoModel(
            ScriptedModel(script=call_then_answer(("fetch_service_logs", {}))), store=store
        ),
        tools=Tools().functions(),
    )

    async def main() -> int:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        if mode == "arun":
            await agent.arun(QUESTION)
        else:
            async for _ in agent.arun(QUESTION, stream=True):
                pass
        stop.set()
        await task
        return ticks

    assert asyncio.run(main()) >= 20  # two compressions of 0.15 s each, loop still ticking


def test_explicit_retrieve_toolkit_runs_as_an_ordinary_agno_tool(store):
    tools = Tools()
    fake = ScriptedModel(script=retrieving_script("fetch_service_logs"))
    model = HeadroomAgnoModel(fake, store=store, retrieval=False)
    agent = Agent(model=model, tools=[*tools.functions(), HeadroomRetrieveTools(store=store)])

    output = agent.run(QUESTION)

    assert output.content.endswith(f"tenant={HIDDEN_VALUE}")
    visible = [m for m in output.messages if m.tool_name == "headroom_retrieve"]
    assert len(visible) == 1 and HIDDEN_VALUE in visible[0].content
    assert model.get_savings_summary()["retrievals_answered"] == 0


def test_retrieve_function_answers_from_the_store(store):
    from headroom import compress

    result = compress(
        [{"role": "user", "content": "leak"}, {"role": "tool", "content": json_log()}], store=store
    )
    key = result.retrieval_keys[0]
    fn = headroom_retrieve_function(store)
    assert fn.name == "headroom_retrieve"
    assert fn.entrypoint(key=key) == json_log()
    assert "No stored original" in fn.entrypoint(key="hr_0000000000000000")


# --------------------------------------------------------------------------- delegation


def test_attributes_come_from_the_wrapped_model():
    fake = ScriptedModel(id="gpt-4o-mini", name="Scripted", temperature=0.3)
    fake.reasoning_effort = "low"  # a provider setting the base Model lacks
    model = HeadroomAgnoModel(wrapped_model=fake)
    assert (model.id, model.name, model.provider) == ("gpt-4o-mini", "Scripted", "Scripted")
    assert model.temperature == 0.3 and model.reasoning_effort == "low"
    model.temperature = 0.9
    assert fake.temperature == 0.9
    fake.id = "gpt-4.1"
    assert model.id == "gpt-4.1" and model.token_model == "gpt-4.1"
    assert model.get_provider() == fake.get_provider()
    assert model.to_dict() == fake.to_dict()
    assert model.wrapped_model is fake
    with pytest.raises(AttributeError):
        _ = model.no_such_setting


def test_agno_features_reading_model_settings_see_the_wrapped_values():
    fake = ScriptedModel(script=call_then_answer(("query_db", {})))
    fake.system_prompt = "You are a leak hunter."
    model = HeadroomAgnoModel(fake)
    agent = Agent(model=model, tools=Tools().functions())
    output = agent.run(QUESTION)
    assert output.model == fake.id
    assert output.model_provider == fake.get_provider()
    assert fake.received[0][0].role == "system" and "leak hunter" in str(
        fake.received[0][0].content
    )


def test_real_provider_settings_are_forwarded():
    openai_chat = pytest.importorskip("agno.models.openai", exc_type=ImportError)
    inner = openai_chat.OpenAIChat(id="gpt-4o", temperature=0.2, reasoning_effort="low")
    model = HeadroomAgnoModel(inner)
    assert model.temperature == 0.2 and model.reasoning_effort == "low"
    assert model.get_request_params()["temperature"] == 0.2


@dataclasses.dataclass
class Named(ScriptedModel):
    pass


@pytest.mark.parametrize(
    ("model_id", "provider", "expected"),
    [
        ("gpt-4o", "OpenAI", "gpt-4o"),
        ("openai/gpt-4.1-mini", "OpenRouter", "openai/gpt-4.1-mini"),
        ("claude-sonnet-4-5", "Anthropic", "claude-sonnet-4-5"),
        (
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "AwsBedrock",
            "claude-3-5-sonnet-20240620-v1:0",
        ),
        ("my-deployment", "Anthropic", "claude"),
        ("gemini-2.5-flash", "Google", "gemini-2.5-flash"),
        ("publishers/google/gemini-2.0", "VertexAI", "gemini-2.0"),
        ("llama-3.1-70b", "Groq", "llama-3.1-70b"),
    ],
)
def test_provider_detection_picks_the_token_counting_model(model_id, provider, expected):
    fake = Named(id=model_id, provider=provider)
    assert token_model_for(fake) == expected
    assert HeadroomAgnoModel(fake).token_model == expected
    assert HeadroomAgnoModel(fake, token_model="gpt-4o").token_model == "gpt-4o"


def test_summary_reports_approximate_counts_for_claude(store):
    fake = ScriptedModel(
        id="claude-sonnet-4-5", provider="Anthropic", script=call_then_answer(("query_db", {}))
    )
    model = HeadroomAgnoModel(fake, store=store)
    Agent(model=model, tools=Tools().functions()).run(QUESTION)
    summary = model.get_savings_summary()
    assert summary["token_model"] == "claude-sonnet-4-5"
    assert summary["tokens_exact"] is False
    assert summary["total_tokens_saved"] > 0


def test_rejects_what_it_cannot_wrap():
    with pytest.raises(TypeError):
        HeadroomAgnoModel()
    with pytest.raises(TypeError):
        HeadroomAgnoModel("gpt-4o")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- counters


def test_counters_history_is_bounded_and_reset_clears_it(store):
    fake = ScriptedModel(script=call_then_answer(("fetch_service_logs", {})))
    model = HeadroomAgnoModel(fake, store=store, history_size=3)
    agent = Agent(model=model, tools=Tools().functions())
    for _ in range(3):
        agent.run(QUESTION)
    history = model.metrics_history
    assert len(history) == 3
    assert model.get_savings_summary()["calls"] == 6
    assert sum(m.tokens_saved for m in history) <= model.total_tokens_saved
    assert history[-1].tokens_saved > 0 and 0 < history[-1].compression_ratio < 1
    model.reset()
    assert model.total_tokens_saved == 0 and model.metrics_history == []
    assert model.get_savings_summary()["calls"] == 0


def test_counters_are_exact_under_concurrent_arun(store):
    def single() -> int:
        fake = ScriptedModel(script=call_then_answer(("fetch_service_logs", {}), ("query_db", {})))
        model = HeadroomAgnoModel(fake, store=store)
        Agent(model=model, tools=Tools().functions()).run(QUESTION)
        return model.total_tokens_saved

    one = single()
    fake = ScriptedModel(script=call_then_answer(("fetch_service_logs", {}), ("query_db", {})))
    model = HeadroomAgnoModel(fake, store=store)

    async def many() -> list[Any]:
        agents = [Agent(model=model, tools=Tools().functions()) for _ in range(8)]
        return await asyncio.gather(*(a.arun(QUESTION) for a in agents))

    outputs = asyncio.run(many())
    assert all("OutOfMemoryError" in o.content for o in outputs)
    assert model.get_savings_summary()["calls"] == 16
    assert model.total_tokens_saved == 8 * one


# --------------------------------------------------------------------------- hooks, config, failures


class RecordingHooks(CompressionHooks):
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.queries: list[str | None] = []

    def compute_biases(self, messages, ctx):
        self.queries.append(ctx.query)
        return {}

    def post_compress(self, event):
        self.events.append(event)


def test_hooks_and_config_reach_the_engine(store):
    hooks = RecordingHooks()
    fake = ScriptedModel(script=call_then_answer(("fetch_service_logs", {})))
    model = HeadroomAgnoModel(fake, hooks=hooks, config=HeadroomConfig(max_items=5), store=store)
    Agent(model=model, tools=Tools().functions()).run(QUESTION)
    assert len(hooks.events) == 2
    assert hooks.events[1].tokens_saved > 0
    assert hooks.queries == [QUESTION, QUESTION]  # the last user message is the query


def test_config_that_compresses_nothing_sends_the_originals(store):
    fake = ScriptedModel(script=call_then_answer(("fetch_service_logs", {})))
    model = HeadroomAgnoModel(fake, store=store, min_tokens_to_compress=10**9)
    Agent(model=model, tools=Tools().functions()).run(QUESTION)
    assert received_tool(fake, 1)["fetch_service_logs"].content == json_log()
    assert model.total_tokens_saved == 0
    assert "headroom_retrieve" not in fake.tools_seen[1]


def test_compression_failure_hands_the_originals_to_the_model(monkeypatch, store):
    import headroom.wrapper as core  # the adapters compress through the shared core

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(core, "compress", broken)
    fake = ScriptedModel(script=call_then_answer(("fetch_service_logs", {})))
    model = HeadroomAgnoModel(fake, store=store)
    output = Agent(model=model, tools=Tools().functions()).run(QUESTION)
    assert "OutOfMemoryError" in output.content
    assert received_tool(fake, 1)["fetch_service_logs"].content == json_log()
    assert model.get_savings_summary()["compression_errors"] == 2
    assert model.total_tokens_saved == 0


def test_odd_tool_output_does_not_break_the_run(store):
    def weird() -> Any:
        """Returns nested data with non-text parts."""
        return {"rows": [{"v": i, "blob": None} for i in range(400)], "note": "\x00\udcff odd"}

    def script(messages: list[Message], index: int) -> Step:
        if index == 0:
            return Step(tool_calls=[("weird", {"x": [1, {"y": None}]})])
        return Step(content="done")

    fake = ScriptedModel(script=script)
    output = Agent(model=HeadroomAgnoModel(fake, store=store), tools=[weird]).run(QUESTION)
    assert output.content == "done"


def test_pre_hook_only_observes(store):
    hook = HeadroomPreHook()
    fake = ScriptedModel(script=lambda messages, index: Step(content="ok"))
    agent = Agent(model=HeadroomAgnoModel(fake, store=store), pre_hooks=[hook])
    agent.run(QUESTION)
    agent.run("second question")
    assert hook.summary()["runs"] == 2
    assert hook.summary()["input_tokens"] > 5
    assert [m.content for m in fake.received[0] if m.role == "user"] == [QUESTION]


def test_missing_agno_names_the_extra(monkeypatch):
    from headroom.errors import MissingExtraError

    monkeypatch.setitem(sys.modules, "agno", None)
    monkeypatch.delitem(sys.modules, "headroom.integrations.agno")
    with pytest.raises(MissingExtraError, match=r"\.\[agno\]"):
        importlib.import_module("headroom.integrations.agno")


def test_lazy_export_and_no_telemetry_switch():
    import headroom.integrations as integrations

    assert integrations.HeadroomAgnoModel is HeadroomAgnoModel
    assert os.environ.get("AGNO_TELEMETRY") == "false"
    fake = ScriptedModel(script=lambda messages, index: Step(content="ok"))
    agent = Agent(model=HeadroomAgnoModel(fake))
    agent.run("hi")
    assert os.environ.get("AGNO_TELEMETRY") == "false"
    assert json.dumps(HeadroomAgnoModel(fake).get_savings_summary())  # plain numbers only


class DropBuildLog(CompressionHooks):
    def pre_compress(self, messages, ctx):
        return [m for m in messages if m.get("name") != "fetch_build_log"]


def test_pre_compress_hook_that_filters_messages_is_mapped_back(store):
    fake = ScriptedModel(
        script=call_then_answer(("fetch_service_logs", {}), ("fetch_build_log", {}))
    )
    model = HeadroomAgnoModel(fake, hooks=DropBuildLog(), store=store)
    output = Agent(model=model, tools=Tools().functions()).run(QUESTION)
    sent = received_tool(fake, 1)
    assert set(sent) == {"fetch_service_logs"}
    assert FATAL_MESSAGE in sent["fetch_service_logs"].content
    assert sent["fetch_service_logs"].content != json_log()
    assert [m.role for m in fake.received[1]] == ["user", "assistant", "tool"]
    assert tool_messages(output.messages)["fetch_build_log"] == build_log()


# --------------------------------------------------------------------------- lifecycle


@pytest.mark.parametrize("mode", MODES)
def test_extensions_see_each_provider_call_of_the_run(mode, store):
    events: list[Any] = []

    class Recorder:
        def on_pipeline_event(self, event: Any) -> None:
            events.append(event)

    fake = ScriptedModel(script=call_then_answer(("fetch_service_logs", {})))
    model = HeadroomAgnoModel(fake, store=store, extensions=[Recorder()])
    agent = Agent(model=model, tools=Tools().functions(), db=InMemoryDb())
    execute(agent, mode)
    stages = [e.stage.name for e in events if e.stage.name != "SETUP"]
    one_call = [
        "INPUT_RECEIVED", "INPUT_CACHED", "INPUT_ROUTED", "INPUT_COMPRESSED",
        "INPUT_REMEMBERED", "PRE_SEND", "POST_SEND", "RESPONSE_RECEIVED",
    ]  # fmt: skip
    assert stages == one_call * 2  # the tool call, then the answer
    first, second = events[1:9], events[9:]
    assert len({e.request_id for e in first}) == 1 and len({e.request_id for e in second}) == 1
    assert first[0].request_id != second[0].request_id


def test_a_failing_provider_still_ends_the_lifecycle(store):
    events: list[Any] = []

    class Recorder:
        def on_pipeline_event(self, event: Any) -> None:
            events.append(event)

    def down(messages: Any, index: int) -> Any:
        raise ConnectionError("provider down")

    model = HeadroomAgnoModel(ScriptedModel(script=down), store=store, extensions=[Recorder()])
    with pytest.raises(ConnectionError):
        model.invoke(messages=[Message(role="user", content="hi")])
    assert [e.stage.name for e in events][-3:] == ["PRE_SEND", "POST_SEND", "RESPONSE_RECEIVED"]
    assert events[-1].details["error"] == "ConnectionError: provider down"
