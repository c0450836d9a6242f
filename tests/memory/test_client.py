"""with_memory against the scripted fake upstream: three conversations, sync and async,
plain and streamed, OpenAI and Anthropic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="the fake upstream is served by uvicorn (proxy extra)")
pytest.importorskip("starlette", reason="the fake upstream needs starlette (the dev extra)")

from headroom import with_memory
from headroom.memory.inline import BLOCK_START
from tests.client.helpers import KINDS, sdk_client, surface, text_of
from tests.proxy.fake_upstream import FakeUpstream, ServerThread

FACT = {"subject": "deploy day", "fact": "deploys happen on Thursdays", "scope": "user"}
BLOCK = "<memory>" + json.dumps({"facts": [FACT]}) + "</memory>"


def last_user_text(body: dict[str, Any]) -> str:
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))


def scripted_model(body: dict[str, Any]) -> dict[str, Any]:
    """Learns the deploy day in conversation one; answers from memory in three."""
    text = last_user_text(body)
    if "we deploy on Thursdays" in text:
        return {"text": "Noted, Thursdays it is.\n\n" + BLOCK}
    if "broken" in text:
        return {"text": "Fine.<memory>{not json</memory>"}
    if "deploys happen on Thursdays" in text:
        return {"text": "You deploy on Thursdays."}
    return {"text": "I don't know."}


LOOP = asyncio.new_event_loop()  # one loop: the async clients keep pooled connections


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(script=scripted_model)
    with ServerThread(upstream.app()) as server:
        upstream.url = server.url  # type: ignore[attr-defined]
        yield upstream


def ask(client: Any, kind: str, messages: list[dict[str, Any]], stream: bool) -> str:
    args: dict[str, Any] = {"model": "gpt-4o", "messages": messages}
    if "anthropic" in kind:
        args.update(model="claude-sonnet-4-5", max_tokens=256)
    if stream:
        args["stream"] = True

    async def run_async() -> Any:
        result = await surface(client, kind).create(**args)
        if not stream:
            return result
        return [event async for event in result]

    result = LOOP.run_until_complete(run_async()) if kind.startswith("async") else None
    if result is None:
        result = surface(client, kind).create(**args)
        if stream:
            result = list(result)
    if not stream:
        return text_of(kind, result)
    if "anthropic" in kind:
        return "".join(
            e.delta.text
            for e in result
            if e.type == "content_block_delta" and e.delta.type == "text_delta"
        )
    return "".join(c.choices[0].delta.content or "" for c in result if c.choices)


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_fact_learned_in_one_is_injected_in_three(
    fake: FakeUpstream, tmp_path: Path, kind: str, stream: bool
) -> None:
    client = with_memory(sdk_client(kind, fake), user_id="alice", path=tmp_path / "m.sqlite3")
    # conversation 1: the model learns a fact; the caller never sees the block
    first = [{"role": "user", "content": "FYI we deploy on Thursdays."}]
    answer = ask(client, kind, first, stream)
    assert answer == "Noted, Thursdays it is."
    assert [f.fact for f in client.memory.get_all()] == [FACT["fact"]]
    # conversation 2: unrelated, a malformed block is ignored and the answer kept
    assert ask(client, kind, [{"role": "user", "content": "broken?"}], stream) == "Fine."
    # conversation 3: a fresh client on the same store brings the fact back
    again = with_memory(sdk_client(kind, fake), user_id="alice", path=tmp_path / "m.sqlite3")
    third = [{"role": "user", "content": "Which day do we deploy?"}]
    assert ask(again, kind, third, stream) == "You deploy on Thursdays."
    sent = fake.received[-1].json()
    assert BLOCK_START in last_user_text(sent) and FACT["fact"] in last_user_text(sent)
    assert third[0]["content"] == "Which day do we deploy?"  # the caller's list is untouched
    # another user sees nothing
    bob = with_memory(sdk_client(kind, fake), user_id="bob", path=tmp_path / "m.sqlite3")
    assert bob.memory.search("deploy") == []


def test_earlier_messages_and_system_are_resent_byte_identical(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    client = with_memory(sdk_client("openai", fake), user_id="alice", path=tmp_path / "m.sqlite3")
    history: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "FYI we deploy on Thursdays."},
    ]
    reply = client.chat.completions.create(model="gpt-4o", messages=history)
    history.append({"role": "assistant", "content": reply.choices[0].message.content})
    history.append({"role": "user", "content": "Which day do we deploy?"})
    client.chat.completions.create(model="gpt-4o", messages=history)
    first, second = (r.json()["messages"] for r in fake.received[-2:])
    assert second[: len(first)] == first
    assert second[0] == {"role": "system", "content": "Be brief."}
    assert BLOCK_START in second[-1]["content"]


def test_memory_api_on_the_client(fake: FakeUpstream, tmp_path: Path) -> None:
    client = with_memory(sdk_client("openai", fake), user_id="alice", path=tmp_path / "m.sqlite3")
    client.memory.add("prefers Go", subject="language")
    assert [f.fact for f in client.memory.search("which language?")] == ["prefers Go"]
    assert client.memory.clear() == 1
    assert client.models is client._target.models  # everything else is the SDK's


@pytest.mark.parametrize("stream", [False, True])
def test_wraps_a_headroom_client(fake: FakeUpstream, tmp_path: Path, stream: bool) -> None:
    from headroom import HeadroomClient

    inner = HeadroomClient(original_client=sdk_client("openai", fake))
    client = with_memory(inner, user_id="alice", path=tmp_path / "m.sqlite3")
    first = [{"role": "user", "content": "FYI we deploy on Thursdays."}]
    assert ask(client, "openai", first, stream) == "Noted, Thursdays it is."
    third = [{"role": "user", "content": "Which day do we deploy?"}]
    assert ask(client, "openai", third, stream) == "You deploy on Thursdays."
