"""A LangChain tool-calling agent whose model sees compressed tool outputs.

Runs offline with a scripted model by default. With OPENAI_API_KEY (and
langchain-openai installed) or ANTHROPIC_API_KEY (and langchain-anthropic) set, the
same loop runs against the real provider.

    python examples/langchain_agent.py
"""

from __future__ import annotations

import json
import os
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool

from headroom.integrations.langchain import HeadroomChatModel
from headroom.samples import log_entries


@tool
def search_logs(service: str) -> str:
    """Return the last 100 log entries of a service as JSON."""
    return json.dumps(log_entries(100), indent=2)


class OfflineModel(GenericFakeChatModel):
    """Stands in for a provider: calls search_logs, then reads the FATAL entry it got."""

    model_name: str = "gpt-4o"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        outputs = [m for m in messages if isinstance(m, ToolMessage)]
        if not outputs:
            call = {"name": "search_logs", "args": {"service": "checkout"}, "id": "call_1"}
            self.messages = iter([AIMessage(content="", tool_calls=[call])])
        else:
            items = json.loads(outputs[-1].content)
            fatal = next(i for i in items if i.get("level") == "FATAL")
            self.messages = iter([f"Root cause: {fatal['error_code']} - {fatal['message']}"])
        return super()._generate(messages, *args, **kwargs)


def pick_model() -> Any:
    if os.environ.get("OPENAI_API_KEY"):
        try:
            from langchain_openai import ChatOpenAI

            return ChatOpenAI(model="gpt-4o-mini")
        except ImportError:
            pass
    if os.environ.get("ANTHROPIC_API_KEY"):
        try:
            from langchain_anthropic import ChatAnthropic

            return ChatAnthropic(model="claude-3-5-haiku-latest")
        except ImportError:
            pass
    return OfflineModel(messages=iter([]))


def main() -> None:
    llm = HeadroomChatModel(pick_model())
    print(f"model: {llm!r}")
    agent = llm.bind_tools([search_logs])
    messages: list[BaseMessage] = [HumanMessage("Why is checkout failing? Check the logs.")]
    for _ in range(5):
        reply = agent.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            messages.append(search_logs.invoke(call))  # a ToolMessage with the full output
    print("answer:", messages[-1].content)
    s = llm.get_savings_summary()
    print(f"tokens before: {s['tokens_before']}")
    print(f"tokens after:  {s['tokens_after']}")
    print(f"tokens saved:  {s['tokens_saved']} ({s['savings_ratio']:.1%}) over {s['calls']} calls")


if __name__ == "__main__":
    main()
