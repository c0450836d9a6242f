"""``--memory``: facts learned in one conversation come back in a later one, through the
proxy, per API key and ``x-headroom-user``; the ``<memory>`` block never reaches the client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from headroom.memory.inline import BLOCK_START
from tests.proxy.fake_upstream import FakeUpstream

FACT = (
    '<memory>{"facts": [{"subject": "deploy day", "fact": "deploys happen on Thursday"}]}</memory>'
)
ANSWER = "Noted, I will remember that."


def post(proxy: Any, path: str, body: Any, user: str | None, key: str = "sk-a") -> httpx.Response:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    if user is not None:
        headers["x-headroom-user"] = user
    return httpx.post(proxy.url + path, json=body, headers=headers, timeout=30)


def anthropic(text: str, stream: bool = False) -> dict[str, Any]:
    return {
        "model": "claude-fake",
        "max_tokens": 100,
        "stream": stream,
        "messages": [{"role": "user", "content": text}],
    }


def chat(text: str, stream: bool = False) -> dict[str, Any]:
    return {"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": text}]}


def sent_user_text(fake: FakeUpstream) -> str:
    return str(fake.received[-1].json()["messages"][-1]["content"])


def anthropic_stream_text(resp: httpx.Response) -> str:
    out = []
    for line in resp.text.splitlines():
        if line.startswith("data:"):
            data = json.loads(line[5:])
            if data.get("type") == "content_block_delta":
                out.append(data["delta"].get("text", ""))
    return "".join(out)


def chat_stream_text(resp: httpx.Response) -> str:
    out = []
    for line in resp.text.splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            for choice in json.loads(line[5:])["choices"]:
                out.append(choice["delta"].get("content") or "")
    return "".join(out)


def test_fact_learned_then_injected_in_a_later_conversation(
    fake: FakeUpstream, start_proxy: Any, tmp_path: Path
) -> None:
    proxy = start_proxy(memory=True, memory_path=str(tmp_path / "m.sqlite3"))
    fake.script = [{"text": f"{ANSWER}\n{FACT}"}, {"text": "ok"}, {"text": "Thursday."}]
    r1 = post(proxy, "/v1/messages", anthropic("We deploy on Thursdays."), "alice")
    assert r1.status_code == 200
    assert r1.json()["content"][0]["text"] == ANSWER
    assert "x-headroom-user" not in fake.received[-1].headers
    assert BLOCK_START in sent_user_text(fake)
    post(proxy, "/v1/chat/completions", chat("Unrelated question about lunch"), "alice")
    assert "deploys happen on Thursday" not in sent_user_text(fake)
    r3 = post(proxy, "/v1/messages", anthropic("When is the next deploy?"), "alice")
    assert r3.json()["content"][0]["text"] == "Thursday."
    assert "deploy day: deploys happen on Thursday" in sent_user_text(fake)


def test_streams_strip_the_block(fake: FakeUpstream, start_proxy: Any, tmp_path: Path) -> None:
    proxy = start_proxy(memory=True, memory_path=str(tmp_path / "m.sqlite3"))
    fake.script = [{"text": f"{ANSWER}\n{FACT}"}, {"text": f"{ANSWER} {FACT}"}]
    r = post(proxy, "/v1/messages", anthropic("We deploy on Thursdays.", stream=True), "bob")
    assert anthropic_stream_text(r) == ANSWER
    assert "<memory>" not in r.text
    r = post(proxy, "/v1/chat/completions", chat("Deploys?", stream=True), "bob")
    assert chat_stream_text(r) == ANSWER
    assert r.text.rstrip().endswith("data: [DONE]")
    fake.script = [{"text": "Thursday."}]
    post(proxy, "/v1/messages", anthropic("When is the deploy?"), "bob")
    assert "deploys happen on Thursday" in sent_user_text(fake)


def test_users_and_keys_are_isolated(fake: FakeUpstream, start_proxy: Any, tmp_path: Path) -> None:
    proxy = start_proxy(memory=True, memory_path=str(tmp_path / "m.sqlite3"))
    fake.script = [{"text": f"{ANSWER}\n{FACT}"}]
    post(proxy, "/v1/messages", anthropic("We deploy on Thursdays."), "alice")
    for user, key in (("carol", "sk-a"), (None, "sk-a"), ("alice", "sk-b")):
        post(proxy, "/v1/messages", anthropic("When is the deploy?"), user, key)
        assert "deploys happen on Thursday" not in sent_user_text(fake)
    post(proxy, "/v1/messages", anthropic("When is the deploy?"), "alice", "sk-a")
    assert "deploys happen on Thursday" in sent_user_text(fake)


def test_off_by_default_forwards_bytes_unchanged(fake: FakeUpstream, proxy: Any) -> None:
    fake.script = [{"text": f"{ANSWER}\n{FACT}"}]
    body = anthropic("We deploy on Thursdays.")
    r = post(proxy, "/v1/messages", body, "alice")
    assert fake.received[-1].json() == body
    assert r.json()["content"][0]["text"] == f"{ANSWER}\n{FACT}"


def test_redis_memory_is_shared_by_two_proxies(
    fake: FakeUpstream, start_proxy: Any, redis_url: tuple[str, Any]
) -> None:
    url, _ = redis_url
    first = start_proxy(memory=True, redis_url=url)
    second = start_proxy(memory=True, redis_url=url)
    fake.script = [
        {"text": f"{ANSWER}\n{FACT}"},
        {"text": f"{ANSWER}\n" + FACT.replace("Thursday", "Friday")},
    ]
    r = post(first, "/v1/messages", anthropic("We deploy on Thursdays.", stream=True), "alice")
    assert anthropic_stream_text(r) == ANSWER
    post(second, "/v1/messages", anthropic("When is the deploy?"), "alice")
    assert "deploy day: deploys happen on Thursday" in sent_user_text(fake)
    # The newer fact on the same subject supersedes the old one, on every replica.
    post(first, "/v1/messages", anthropic("When is the deploy?"), "alice")
    assert "deploys happen on Friday" in sent_user_text(fake)
    assert "Thursday" not in sent_user_text(fake).replace("Thursdays", "")
    post(second, "/v1/messages", anthropic("When is the deploy?"), "bob")
    assert "deploys happen" not in sent_user_text(fake)


def test_redis_store_matches_the_sqlite_one(redis_url: tuple[str, Any], tmp_path: Path) -> None:
    from headroom.memory import MemoryStore
    from headroom.memory.redis_store import RedisMemoryStore

    url, _ = redis_url
    for store in (RedisMemoryStore(url), MemoryStore(tmp_path / "m.sqlite3")):
        store.add("o", "prefers Go for services", subject="language")
        store.add("o", "prefers Rust for services", subject="language")
        store.add("o", "standup at nine", scope="session", scope_id="s1")
        store.add("p", "prefers Python", subject="language")
        assert [f.fact for f in store.search("o", "which language for services?")] == [
            "prefers Rust for services"
        ]
        assert store.search("o", "standup") == []
        assert [f.fact for f in store.search("o", "standup", session_id="s1")] == [
            "standup at nine"
        ]
        assert len(store.get_all("o", history=True, session_id="s1")) == 3
        assert store.stats("o").facts == 2 and store.stats("o").history == 1
        assert store.clear("o") == 3
        assert store.get_all("o") == [] and len(store.get_all("p")) == 1


def test_stream_text_that_only_looks_like_a_block_is_given_back(
    fake: FakeUpstream, start_proxy: Any, tmp_path: Path
) -> None:
    proxy = start_proxy(memory=True, memory_path=str(tmp_path / "m.sqlite3"))
    text = "Compare them: a <mem"
    fake.script = [{"text": text}, {"text": text}, {"text": "x <memory>not closed"}]
    r = post(proxy, "/v1/messages", anthropic("Compare", stream=True), "dan")
    assert anthropic_stream_text(r) == text
    r = post(proxy, "/v1/chat/completions", chat("Compare", stream=True), "dan")
    assert chat_stream_text(r) == text
    r = post(proxy, "/v1/messages", anthropic("Compare"), "dan")
    assert r.json()["content"][0]["text"] == "x <memory>not closed"
