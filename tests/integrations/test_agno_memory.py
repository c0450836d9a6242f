"""HeadroomAgnoModel(memory=...): facts learned in one conversation come back in a later one."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("agno")

from agno.models.message import Message

from headroom.memory import Memory
from headroom.memory.inline import BLOCK_START
from integrations.agno import HeadroomAgnoModel
from tests.integrations.agno_fakes import ScriptedModel, Step

FACT = {"subject": "deploy day", "fact": "deploys happen on Thursdays", "scope": "user"}
BLOCK = "<memory>" + json.dumps({"facts": [FACT]}) + "</memory>"


def script(messages: list[Message], _index: int) -> Step:
    text = str(messages[-1].content)
    if "we deploy on Thursdays" in text:
        return Step(content="Noted, Thursdays it is.\n\n" + BLOCK)
    if "broken" in text:
        return Step(content="Fine.<memory>{not json</memory>")
    if FACT["fact"] in text:
        return Step(content="You deploy on Thursdays.")
    return Step(content="I don't know.")


@pytest.mark.parametrize("mode", ["invoke", "ainvoke", "invoke_stream", "ainvoke_stream"])
def test_memory_option(tmp_path: Path, mode: str) -> None:
    inner = ScriptedModel(script=script)
    memory = Memory("alice", path=tmp_path / "m.sqlite3")
    model = HeadroomAgnoModel(inner, memory=memory)

    def ask(text: str) -> str:
        kwargs: dict[str, Any] = {"messages": [Message(role="user", content=text)]}
        if mode == "invoke":
            return str(model.invoke(**kwargs).content)
        if mode == "ainvoke":
            return str(asyncio.run(model.ainvoke(**kwargs)).content)
        if mode == "invoke_stream":
            return "".join(d.content or "" for d in model.invoke_stream(**kwargs))

        async def collect() -> str:
            return "".join([d.content or "" async for d in model.ainvoke_stream(**kwargs)])

        return asyncio.run(collect())

    assert ask("FYI we deploy on Thursdays.") == "Noted, Thursdays it is."
    assert ask("broken?") == "Fine."
    assert ask("Which day do we deploy?") == "You deploy on Thursdays."
    sent = str(inner.received[-1][-1].content)
    assert BLOCK_START in sent and FACT["fact"] in sent
    assert [f.fact for f in memory.get_all()] == [FACT["fact"]]
