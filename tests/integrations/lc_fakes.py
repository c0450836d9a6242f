"""Offline, scripted LangChain chat models for the LangChain integration tests.

No fake in langchain_core implements ``bind_tools``; ``ScriptedChatModel`` does, records
every call it receives, and streams tool calls as ``tool_call_chunks``.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

from headroom.samples import log_entries

Step = AIMessage | str | Callable[[list[BaseMessage], dict[str, Any]], AIMessage | str]


class ScriptedChatModel(GenericFakeChatModel):
    """Plays back a script. A step is an AIMessage, a string, or a function of the
    (messages, call kwargs) it receives that returns one. Every call is recorded."""

    model_name: str = "gpt-4o"
    streaming: bool = False
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    call_kwargs: list[dict[str, Any]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        formatted = [convert_to_openai_tool(t) for t in tools]
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        return self.bind(tools=formatted, **kwargs)

    def _next(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        self.calls.append(list(messages))
        self.call_kwargs.append(dict(kwargs))
        step = next(self.messages)
        if callable(step):
            step = step(list(messages), kwargs)
        return AIMessage(content=step) if isinstance(step, str) else step

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages, kwargs))])

    def _chunks(self, message: AIMessage) -> list[AIMessageChunk]:
        text = message.content if isinstance(message.content, str) else ""
        out = [AIMessageChunk(content=t) for t in re.split(r"(\s)", text) if t]
        for i, call in enumerate(message.tool_calls):
            args = json.dumps(call["args"])
            half = len(args) // 2
            out.append(
                AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {"name": call["name"], "args": args[:half], "id": call["id"], "index": i}
                    ],
                )
            )
            out.append(
                AIMessageChunk(
                    content="",
                    tool_call_chunks=[{"name": None, "args": args[half:], "id": None, "index": i}],
                )
            )
        if not out:
            out.append(AIMessageChunk(content=""))
        out[-1].chunk_position = "last"
        return out

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._next(messages, kwargs)):
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._next(messages, kwargs)):
            await asyncio.sleep(0)
            yield ChatGenerationChunk(message=chunk)


def scripted(*steps: Step, **kwargs: Any) -> ScriptedChatModel:
    return ScriptedChatModel(messages=iter(steps), **kwargs)


def big_logs() -> str:
    """100 service log records, one FATAL (error code PG-5523), as indented JSON."""
    return json.dumps(log_entries(100), indent=2)


def tool_call(name: str, args: dict[str, Any], call_id: str = "call_1") -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def tool_outputs(messages: list[BaseMessage]) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage)]


def retrieval_key(text: str) -> str:
    match = re.search(r"hr_[0-9a-f]+", text)
    assert match, "no retrieval marker in the compressed output"
    return match.group(0)


__all__ = [
    "ScriptedChatModel",
    "big_logs",
    "retrieval_key",
    "scripted",
    "tool_call",
    "tool_outputs",
]
