"""HeadroomChatModel(memory=...): facts learned in one conversation come back in a later one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, HumanMessage

from headroom.memory import Memory
from headroom.memory.inline import BLOCK_START
from integrations.langchain import HeadroomChatModel
from tests.integrations.lc_fakes import ScriptedChatModel

FACT = {"subject": "deploy day", "fact": "deploys happen on Thursdays", "scope": "user"}
BLOCK = "<memory>" + json.dumps({"facts": [FACT]}) + "</memory>"


def model_turn(messages: list[BaseMessage], _kwargs: dict[str, Any]) -> str:
    text = str(messages[-1].content)
    if "we deploy on Thursdays" in text:
        return "Noted, Thursdays it is.\n\n" + BLOCK
    if "broken" in text:
        return "Fine.<memory>{not json</memory>"
    if FACT["fact"] in text:
        return "You deploy on Thursdays."
    return "I don't know."


@pytest.mark.parametrize("mode", ["invoke", "stream", "ainvoke", "astream"])
def test_memory_option(tmp_path: Path, mode: str) -> None:
    inner = ScriptedChatModel(messages=iter([model_turn] * 3))
    memory = Memory("alice", path=tmp_path / "m.sqlite3")
    chat = HeadroomChatModel(inner, memory=memory)

    def ask(text: str) -> str:
        msgs = [HumanMessage(content=text)]
        if mode == "invoke":
            return str(chat.invoke(msgs).content)
        if mode == "ainvoke":
            return str(asyncio.run(chat.ainvoke(msgs)).content)
        if mode == "stream":
            return "".join(str(c.content) for c in chat.stream(msgs))

        async def collect() -> str:
            return "".join([str(c.content) async for c in chat.astream(msgs)])

        return asyncio.run(collect())

    assert ask("FYI we deploy on Thursdays.") == "Noted, Thursdays it is."
    assert ask("broken?") == "Fine."
    assert ask("Which day do we deploy?") == "You deploy on Thursdays."
    sent = str(inner.calls[-1][-1].content)
    assert BLOCK_START in sent and FACT["fact"] in sent
    assert [f.fact for f in memory.get_all()] == [FACT["fact"]]


def test_without_memory_nothing_changes(tmp_path: Path) -> None:
    inner = ScriptedChatModel(messages=iter(["plain <memory>{}</memory>"]))
    chat = HeadroomChatModel(inner)
    assert chat.invoke([HumanMessage(content="hi")]).content == "plain <memory>{}</memory>"
    assert inner.calls[-1][-1].content == "hi"
