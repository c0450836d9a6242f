"""CompressionMiddleware in front of real FastAPI and Starlette apps (the fake upstream of
the proxy tests is a Starlette app): in process through httpx's ASGI transport, and over
HTTP through uvicorn on a loopback port; plus raw ASGI for the body-reading edge cases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from headroom import MemoryStore
from headroom.integrations.asgi import CompressionMiddleware
from headroom.ledger import SavingsLedger
from headroom.markers import keys_in
from headroom.retrieval import RETRIEVE_TOOL_NAME
from tests.proxy.fake_upstream import FakeUpstream, ServerThread
from tests.proxy.test_proxy import LOG, read_events, retrieving
from tests.test_wire import anthropic_body, chat_body

HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}


def starlette_app(fake: FakeUpstream, **options: Any) -> Any:
    app = fake.app()
    app.add_middleware(CompressionMiddleware, **options)
    return app


def fastapi_app(fake: FakeUpstream, **options: Any) -> Any:
    fastapi = pytest.importorskip("fastapi", reason="FastAPI is not installed")
    app = fastapi.FastAPI()
    app.mount("/", fake.app())
    app.add_middleware(CompressionMiddleware, **options)
    return app


@pytest.fixture(params=["starlette", "fastapi"])
def kind(request: Any) -> str:
    return str(request.param)


def build(kind: str, fake: FakeUpstream, **options: Any) -> Any:
    options.setdefault("store", MemoryStore())
    return (starlette_app if kind == "starlette" else fastapi_app)(fake, **options)


def client(app: Any) -> Any:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# --------------------------------------------------------------------- in process
def test_compresses_and_reports_in_headers(kind: str) -> None:
    fake = FakeUpstream()
    app = build(kind, fake)

    async def go() -> Any:
        async with client(app) as c:
            return await c.post("/v1/messages", json=anthropic_body(), headers=HEADERS)

    r = run(go())
    assert r.status_code == 200
    assert r.headers["x-headroom-compressed"] == "true"
    before, after = (
        int(r.headers["x-headroom-tokens-before"]),
        int(r.headers["x-headroom-tokens-after"]),
    )
    assert after < before and int(r.headers["x-headroom-tokens-saved"]) == before - after
    got = fake.received[-1]
    sent = got.json()
    assert "ERROR payments-svc charge failed" in json.dumps(sent)
    assert len(got.body) < len(json.dumps(anthropic_body())) / 3
    assert int(got.headers["content-length"]) == len(got.body)
    # Every other field reached the app as the client sent it.
    original = anthropic_body()
    for key in ("system", "metadata", "model", "max_tokens"):
        assert sent[key] == original[key]
    assert sent["messages"][1] == original["messages"][1]


def test_other_routes_and_small_bodies_pass_through_untouched(kind: str) -> None:
    fake = FakeUpstream()
    app = build(kind, fake)
    small = json.dumps(chat_body("ok")).encode()

    async def go() -> tuple[Any, Any]:
        async with client(app) as c:
            a = await c.get("/v1/models?x=1")
            b = await c.post("/v1/chat/completions", content=small, headers=HEADERS)
            return a, b

    a, b = run(go())
    assert a.json()["echo"] and "x-headroom-compressed" not in a.headers
    assert b.status_code == 200 and "x-headroom-compressed" not in b.headers
    assert fake.received[-1].body == small


@pytest.mark.parametrize(
    "raw",
    [b"[1, 2, 3]", b'"text"', b"{not json", json.dumps([chat_body()]).encode()],
)
def test_non_object_json_passes_through_unchanged(raw: bytes) -> None:
    inner = Recorder()
    sent = asgi_call(CompressionMiddleware(inner), chunked(raw, 7), [])
    assert inner.bodies == [raw] and sent[0]["status"] == 200
    assert b"x-headroom-compressed" not in dict(sent[0]["headers"])


def test_other_content_type_passes_through() -> None:
    fake = FakeUpstream()
    app = build("starlette", fake)
    raw = json.dumps(chat_body()).encode()

    async def go() -> Any:
        async with client(app) as c:
            hdrs = {**HEADERS, "content-type": "text/plain"}
            return await c.post("/v1/chat/completions", content=raw, headers=hdrs)

    r = run(go())
    assert "x-headroom-compressed" not in r.headers and fake.received[-1].body == raw


def test_hidden_round_non_streaming(kind: str) -> None:
    fake = FakeUpstream(script=retrieving())
    ledger = SavingsLedger()
    app = build(kind, fake, ledger=ledger)

    async def go() -> Any:
        async with client(app) as c:
            return await c.post("/v1/messages", json=anthropic_body(), headers=HEADERS)

    r = run(go())
    out = r.json()
    assert out["content"] == [{"type": "text", "text": "The error is card_declined."}]
    assert out["usage"] == {"input_tokens": 300, "output_tokens": 30}
    assert RETRIEVE_TOOL_NAME not in r.text
    assert r.headers["x-headroom-retrieval-rounds"] == "1"
    assert int(r.headers["content-length"]) == len(r.content)
    assert len(fake.received) == 2  # the round re-entered the app
    assert fake.received[-1].json()["messages"][-1]["content"][0]["content"] == LOG
    summary = ledger.summary().as_dict()
    assert summary["retrieval_rounds"] == 1 and summary["tokens_saved"] > 0


def test_hidden_round_streaming(kind: str) -> None:
    fake = FakeUpstream(script=retrieving())
    app = build(kind, fake)

    async def go() -> tuple[Any, bytes]:
        async with client(app) as c:
            body = anthropic_body(stream=True)
            r = await c.post("/v1/messages", json=body, headers=HEADERS)
            return r, r.content

    r, raw = run(go())
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.headers["x-headroom-compressed"] == "true"
    events = read_events(httpx.Response(200, content=raw))
    types = [e["type"] for e in events]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "Checking.The error is card_declined."
    assert events[-2]["usage"] == {"input_tokens": 300, "output_tokens": 30}
    assert RETRIEVE_TOOL_NAME not in raw.decode()


def test_openai_chat_rounds_streamed_and_not() -> None:
    fake = FakeUpstream(script=retrieving())
    app = build("fastapi", fake)

    async def go() -> tuple[Any, Any]:
        async with client(app) as c:
            a = await c.post("/v1/chat/completions", json=chat_body())
            b = await c.post("/v1/chat/completions", json={**chat_body(), "stream": True})
            return a, b

    a, b = run(go())
    assert a.json()["choices"][0]["message"]["content"] == "The error is card_declined."
    assert RETRIEVE_TOOL_NAME not in a.text and RETRIEVE_TOOL_NAME not in b.text
    assert b.text.rstrip().endswith("data: [DONE]")
    chunks = [json.loads(line[6:]) for line in b.text.split("\n") if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.endswith("The error is card_declined.")


def test_retrieval_false_is_lossless_only() -> None:
    fake = FakeUpstream()
    app = build("starlette", fake, retrieval=False)

    async def go() -> Any:
        async with client(app) as c:
            return await c.post("/v1/messages", json=anthropic_body(), headers=HEADERS)

    run(go())
    sent = fake.received[-1].json()
    assert RETRIEVE_TOOL_NAME not in json.dumps(sent)
    assert not keys_in(json.dumps(sent))  # nothing was dropped that would need retrieving


def test_round_limit_ends_the_turn_without_our_call() -> None:
    def always(body: dict[str, Any]) -> dict[str, Any]:
        keys = keys_in(json.dumps(body["messages"]))
        return {"text": "again", "tools": [{"name": RETRIEVE_TOOL_NAME, "input": {"key": keys[0]}}]}

    fake = FakeUpstream(script=always)
    app = build("starlette", fake, max_rounds=2)

    async def go() -> Any:
        async with client(app) as c:
            return await c.post("/v1/messages", json=anthropic_body(), headers=HEADERS)

    r = run(go())
    assert len(fake.received) == 3 and RETRIEVE_TOOL_NAME not in r.text


def test_bypass_header_is_consumed() -> None:
    fake = FakeUpstream()
    app = build("starlette", fake)

    async def go() -> Any:
        async with client(app) as c:
            hdrs = {**HEADERS, "x-headroom-bypass": "true", "x-headroom-user": "me"}
            return await c.post("/v1/messages", json=anthropic_body(), headers=hdrs)

    r = run(go())
    assert r.headers["x-headroom-skipped"] == "bypass"
    got = fake.received[-1]
    assert json.loads(got.body) == anthropic_body()
    assert not any(k.startswith("x-headroom-") for k in got.headers)


def test_mixed_calls_reach_the_client_without_ours() -> None:
    script = [
        {
            "tools": [
                {"name": RETRIEVE_TOOL_NAME, "input": {"key": "x"}},
                {"name": "Bash", "input": {"c": "ls"}},
            ]
        }
    ]
    fake = FakeUpstream(script=script)
    app = build("starlette", fake)

    async def go() -> Any:
        async with client(app) as c:
            return await c.post("/v1/messages", json=anthropic_body(), headers=HEADERS)

    out = run(go()).json()
    assert [b["name"] for b in out["content"]] == ["Bash"] and out["stop_reason"] == "tool_use"
    assert len(fake.received) == 1


def test_a_failed_answer_ends_the_turn_without_our_call(monkeypatch: Any) -> None:
    import headroom.integrations.asgi as mod

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("store unavailable")

    monkeypatch.setattr(mod, "answer_and_count", boom)
    fake = FakeUpstream(script=retrieving())
    app = build("starlette", fake)

    async def go() -> Any:
        async with client(app) as c:
            return await c.post("/v1/messages", json=anthropic_body(), headers=HEADERS)

    r = run(go())
    assert r.status_code == 200 and RETRIEVE_TOOL_NAME not in r.text
    assert r.json()["content"] == [{"type": "text", "text": "Checking."}]
    assert len(fake.received) == 1


def test_app_errors_pass_through_with_headers() -> None:
    err = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    fake = FakeUpstream(script=[{"status": 529, "body": err}])
    app = build("starlette", fake)

    async def go() -> Any:
        async with client(app) as c:
            return await c.post("/v1/messages", json=anthropic_body(), headers=HEADERS)

    r = run(go())
    assert r.status_code == 529 and r.json() == err


# --------------------------------------------------------------------- raw ASGI
class Recorder:
    """An inner ASGI app that reads the body the way frameworks do and records it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict[bytes, bytes]] = []
        self.after: list[dict[str, Any]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        chunks = []
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                break
            chunks.append(msg.get("body", b""))
            if not msg.get("more_body"):
                break
        self.bodies.append(b"".join(chunks))
        self.headers.append(dict(scope["headers"]))
        self.after.append(await receive())  # later calls reach the real receive
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def asgi_call(app: Any, messages: list[dict[str, Any]], headers: list[Any]) -> list[Any]:
    sent: list[Any] = []
    queue = list(messages)

    async def receive() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        return {"type": "http.disconnect"}

    async def send(msg: Any) -> None:
        sent.append(msg)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": headers,
        "query_string": b"",
    }
    asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
    return sent


def chunked(raw: bytes, n: int) -> list[dict[str, Any]]:
    parts = [raw[i : i + n] for i in range(0, len(raw), n)]
    return [
        {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
        for i, p in enumerate(parts)
    ]


def test_chunked_body_is_read_whole_and_content_length_fixed() -> None:
    inner = Recorder()
    mw = CompressionMiddleware(inner, store=MemoryStore(), retrieval="tool")
    raw = json.dumps(chat_body()).encode()
    # A wrong content-length from the client is replaced by the real one.
    sent = asgi_call(mw, chunked(raw, 1000), [(b"content-length", b"12")])
    body = inner.bodies[0]
    assert len(body) < len(raw) and "ERROR payments-svc" in body.decode()
    assert inner.headers[0][b"content-length"] == str(len(body)).encode()
    assert inner.after[0]["type"] == "http.disconnect"
    assert dict(sent[0]["headers"])[b"x-headroom-compressed"] == b"true"


def test_disconnect_while_reading_stops() -> None:
    inner = Recorder()
    mw = CompressionMiddleware(inner)
    raw = json.dumps(chat_body()).encode()
    sent = asgi_call(mw, chunked(raw, 1000)[:3], [])  # then the client goes away
    assert sent == [] and inner.bodies == []


def test_wrong_content_length_is_fixed_when_nothing_changes() -> None:
    inner = Recorder()
    raw = json.dumps(chat_body("short")).encode()
    asgi_call(CompressionMiddleware(inner), chunked(raw, 50), [(b"content-length", b"3")])
    assert inner.bodies == [raw]
    assert inner.headers[0][b"content-length"] == str(len(raw)).encode()


def test_body_over_the_limit_reaches_the_app_unread() -> None:
    inner = Recorder()
    mw = CompressionMiddleware(inner, max_body_bytes=5000)
    raw = json.dumps(chat_body()).encode()
    asgi_call(mw, chunked(raw, 1000), [(b"content-length", str(len(raw)).encode())])
    assert inner.bodies == [raw]
    assert inner.headers[0][b"content-length"] == str(len(raw)).encode()


def test_compression_failure_passes_the_original(monkeypatch: Any) -> None:
    import headroom.integrations.asgi as mod

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("engine failure")

    monkeypatch.setattr(mod, "compress_request", boom)
    inner = Recorder()
    raw = json.dumps(chat_body()).encode()
    sent = asgi_call(CompressionMiddleware(inner), chunked(raw, 4096), [])
    assert inner.bodies == [raw] and sent[0]["status"] == 200
    assert dict(sent[0]["headers"])[b"x-headroom-skipped"] == b"error: RuntimeError"


def test_websocket_and_lifespan_reach_the_app() -> None:
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    mw = CompressionMiddleware(inner)

    async def go() -> None:
        for t in ("websocket", "lifespan"):
            await mw({"type": t, "path": "/v1/messages", "method": "POST"}, None, None)  # type: ignore[arg-type]

    asyncio.run(go())
    assert seen == ["websocket", "lifespan"]


# --------------------------------------------------------------------- over HTTP
@pytest.fixture
def served(kind: str) -> Iterator[tuple[FakeUpstream, str]]:
    fake = FakeUpstream(script=retrieving())
    with ServerThread(build(kind, fake)) as server:
        yield fake, server.url


def test_uvicorn_hidden_rounds_streamed_and_not(served: tuple[FakeUpstream, str]) -> None:
    fake, url = served
    r = httpx.post(url + "/v1/messages", json=anthropic_body(), headers=HEADERS, timeout=30)
    assert r.json()["content"] == [{"type": "text", "text": "The error is card_declined."}]
    assert r.headers["x-headroom-compressed"] == "true"
    with httpx.stream(
        "POST",
        url + "/v1/messages",
        json=anthropic_body(stream=True),
        headers=HEADERS,
        timeout=30,
    ) as s:
        assert s.headers["x-headroom-compressed"] == "true"
        events = read_events(s)
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "Checking.The error is card_declined."
    assert len(fake.received) == 4


def test_uvicorn_chunked_upload(served: tuple[FakeUpstream, str]) -> None:
    fake, url = served
    raw = json.dumps(chat_body()).encode()

    def parts() -> Iterator[bytes]:
        for i in range(0, len(raw), 777):
            yield raw[i : i + 777]

    r = httpx.post(url + "/v1/chat/completions", content=parts(), timeout=30)
    assert r.status_code == 200 and r.headers["x-headroom-compressed"] == "true"
    assert int(fake.received[0].headers["content-length"]) == len(fake.received[0].body)
