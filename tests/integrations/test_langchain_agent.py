"""A real LangGraph tool-calling agent loop through HeadroomChatModel, fully offline."""

from __future__ import annotations

import json

from langchain_core.messages import AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from headroom.integrations.langchain import HeadroomChatModel
from headroom.samples import FATAL_CODE, FATAL_MESSAGE

from .lc_fakes import big_logs, scripted, tool_call, tool_outputs


@tool
def search_logs(service: str) -> str:
    """Return the recent log entries of a service as JSON."""
    return big_logs()


def diagnose(messages, kwargs):
    """The scripted model's second turn: read the FATAL entry from what it was sent."""
    output = tool_outputs(messages)[-1].content
    fatal = next(e for e in json.loads(output) if e.get("level") == "FATAL")
    return f"Root cause {fatal['error_code']}: {fatal['message']}"


def build_agent(llm):
    bound = llm.bind_tools([search_logs])

    def agent(state: MessagesState):
        return {"messages": [bound.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", ToolNode([search_logs]))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    return graph.compile()


def agent_script():
    return scripted(tool_call("search_logs", {"service": "checkout"}), diagnose)


def test_agent_loop_compresses_what_the_model_sees_and_keeps_state_original():
    inner = agent_script()
    llm = HeadroomChatModel(inner)
    state = build_agent(llm).invoke({"messages": [HumanMessage("Why is checkout failing?")]})

    final = state["messages"][-1]
    assert final.content == f"Root cause {FATAL_CODE}: {FATAL_MESSAGE}"
    # The agent's own state keeps the full tool output.
    kept = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert len(kept) == 1 and kept[0].content == big_logs()
    # The model received the compressed output, with the FATAL entry and a marker.
    sent = tool_outputs(inner.calls[1])[0]
    assert "__headroom__" in sent.content and FATAL_CODE in sent.content
    assert len(sent.content) < len(big_logs()) / 5
    assert sent.tool_call_id == kept[0].tool_call_id and sent.name == "search_logs"
    summary = llm.get_savings_summary()
    assert llm.total_tokens_saved > 0 and summary["calls"] == 2
    print(f"agent test: {summary['tokens_before']} -> {summary['tokens_after']} tokens")


async def test_agent_loop_async_messages_stream_has_no_duplicate_tokens():
    inner = agent_script()
    llm = HeadroomChatModel(inner, streaming=True)
    agent = build_agent(llm)
    pieces = []
    async for chunk, meta in agent.astream(
        {"messages": [HumanMessage("Why is checkout failing?")]}, stream_mode="messages"
    ):
        if isinstance(chunk, AIMessageChunk) and meta["langgraph_node"] == "agent":
            pieces.append(chunk.content)
    # Each token of the answer streams once: the inner model's own run is not relayed too.
    assert "".join(pieces) == f"Root cause {FATAL_CODE}: {FATAL_MESSAGE}"
    assert llm.total_tokens_saved > 0
