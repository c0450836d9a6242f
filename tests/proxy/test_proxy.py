"""The proxy over HTTP: forwarding, compression, hidden retrieval rounds, failures."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from headroom.markers import keys_in
from headroom.retrieval import RETRIEVE_TOOL_NAME
from headroom.wire import SSEParser
from tests.proxy.fake_upstream import FakeUpstream, service_log
from tests.test_wire import anthropic_body, chat_body

LOG = service_log()
HEADERS = {"x-api-key": "sk-test", "anthropic-version": "2023-06-01"}


def post(proxy: Any, path: str, body: Any, **kw: Any) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**HEADERS, "content-type": "application/json", **kw.pop("headers", {})}
    return httpx.post(proxy.url + path, content=data, headers=headers, timeout=30, **kw)


def retrieving(final: str = "The error is card_declined.") -> Any:
    """A model that asks for the original once, then answers."""

    def script(body: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(body)
        answered = '"tool_use_id": "toolu_' in text and "ord_00200" in text
        answered = answered or ("ord_00200" in text and '"role": "tool"' in text)
        answered = answered or ('"function_call_output"' in text and "ord_00200" in text)
        keys = keys_in(json.dumps(body.get("messages") or body.get("input")))
        if keys and not answered and RETRIEVE_TOOL_NAME in text:
            return {
                "text": "Checking.",
                "tools": [{"name": RETRIEVE_TOOL_NAME, "input": {"key": keys[0]}}],
            }
        return {"text": final}

    return script


def test_pass_through_keeps_method_path_query_headers_and_body(
    fake: FakeUpstream, proxy: Any
) -> None:
    r = httpx.get(
        proxy.url + "/v1/models?limit=3&after=x%20y",
        headers={**HEADERS, "x-headroom-user": "me", "connection": "keep-alive"},
    )
    assert r.status_code == 200 and r.json()["echo"]
    got = fake.received[-1]
    assert (got.method, got.path, got.query) == ("GET", "/v1/models", "limit=3&after=x%20y")
    assert (
        got.headers["x-api-key"] == "sk-test" and got.headers["anthropic-version"] == "2023-06-01"
    )
    assert "x-headroom-user" not in got.headers
    body = b'{"model": "m",  "messages": [] }'
    r = post(proxy, "/v1/messages/count_tokens?beta=true", body)
    assert fake.received[-1].body == body and fake.received[-1].query == "beta=true"
    r = httpx.head(proxy.url + "/api/hello")
    assert r.status_code == 200 and fake.received[-1].method == "HEAD"
    assert fake.received[-1].path == "/api/hello"
    r = httpx.request("PUT", proxy.url + "/v1/anything", content=b"\x00\x01raw")
    assert fake.received[-1].body == b"\x00\x01raw" and fake.received[-1].method == "PUT"


def test_nothing_to_compress_is_forwarded_byte_identical(fake: FakeUpstream, proxy: Any) -> None:
    small = json.dumps(anthropic_body("short output"), indent=1).encode()
    r = post(proxy, "/v1/messages?beta=true", small)
    assert r.status_code == 200
    assert fake.received[-1].body == small and fake.received[-1].query == "beta=true"
    assert "x-headroom-compressed" not in r.headers
    plain = b'{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'
    post(proxy, "/chat/completions", plain)
    assert fake.received[-1].body == plain and fake.received[-1].path == "/v1/chat/completions"


def test_tool_output_is_compressed_and_every_other_byte_kept(
    fake: FakeUpstream, proxy: Any
) -> None:
    body = anthropic_body()
    r = post(proxy, "/v1/messages", body)
    assert r.status_code == 200
    assert int(r.headers["x-headroom-tokens-saved"]) > 0.9 * int(
        r.headers["x-headroom-tokens-before"]
    )
    assert r.headers["x-headroom-compressed"] == "true"
    sent = fake.received[-1].json()
    assert len(fake.received[-1].body) < len(json.dumps(body)) / 10
    assert sent["system"] == body["system"] and sent["metadata"] == body["metadata"]
    assert sent["messages"][:2] == body["messages"][:2]
    assert sent["tools"][0] == body["tools"][0] and sent["tools"][1]["name"] == RETRIEVE_TOOL_NAME
    assert "card_declined" in sent["messages"][2]["content"][0]["content"]
    assert int(fake.received[-1].headers["content-length"]) == len(fake.received[-1].body)


def test_hidden_round_non_streaming(fake: FakeUpstream, proxy: Any) -> None:
    fake.script = retrieving()
    r = post(proxy, "/v1/messages", anthropic_body())
    out = r.json()
    assert out["content"] == [{"type": "text", "text": "The error is card_declined."}]
    assert out["stop_reason"] == "end_turn"
    assert out["usage"] == {"input_tokens": 300, "output_tokens": 30}
    assert RETRIEVE_TOOL_NAME not in r.text
    second = fake.received[-1].json()
    assert second["messages"][-1]["content"][0]["content"] == LOG
    stats = httpx.get(proxy.url + "/stats").json()
    assert stats["retrieval_rounds"] == 1
    # The hidden round re-sent the compressed request and the whole original.
    assert stats["retrieval_tokens"] > stats["tokens_after"] + 0.9 * stats["tokens_before"]
    assert stats["net_tokens_saved"] == stats["tokens_saved"] - stats["retrieval_tokens"]


def read_events(resp: httpx.Response) -> list[dict[str, Any]]:
    parser = SSEParser()
    events = []
    for chunk in resp.iter_bytes():
        events.extend(parser.feed(chunk))
    return [e.json() for e in events + parser.close()]


def test_hidden_round_streaming(fake: FakeUpstream, proxy: Any) -> None:
    fake.script = retrieving()
    body = anthropic_body(stream=True)
    with httpx.stream(
        "POST", proxy.url + "/v1/messages", json=body, headers=HEADERS, timeout=30
    ) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = read_events(r)
    types = [e["type"] for e in events]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "Checking.The error is card_declined."
    starts = [e["index"] for e in events if e["type"] == "content_block_start"]
    assert starts == [0, 1]
    assert events[-2]["usage"] == {"input_tokens": 300, "output_tokens": 30}
    assert RETRIEVE_TOOL_NAME not in json.dumps(events)


def test_mixed_calls_reach_the_client_without_ours(fake: FakeUpstream, proxy: Any) -> None:
    fake.script = [
        {
            "tools": [
                {"name": RETRIEVE_TOOL_NAME, "input": {"key": "x"}},
                {"name": "Bash", "input": {"c": "ls"}},
            ]
        }
    ]
    out = post(proxy, "/v1/messages", anthropic_body()).json()
    assert [b["name"] for b in out["content"]] == ["Bash"] and out["stop_reason"] == "tool_use"
    assert len(fake.received) == 1


@pytest.mark.parametrize("status", [400, 429, 500, 529])
def test_upstream_errors_pass_through(fake: FakeUpstream, proxy: Any, status: int) -> None:
    err = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    for body in (anthropic_body(), anthropic_body("small"), anthropic_body(stream=True)):
        fake.script = [{"status": status, "body": err}]
        r = post(proxy, "/v1/messages", body)
        assert r.status_code == status and r.json() == err


def test_bypass_header_is_consumed(fake: FakeUpstream, proxy: Any) -> None:
    raw = json.dumps(anthropic_body()).encode()
    r = post(proxy, "/v1/messages", raw, headers={"x-headroom-bypass": "true"})
    assert fake.received[-1].body == raw
    assert "x-headroom-bypass" not in fake.received[-1].headers
    assert r.headers["x-headroom-skipped"] == "bypass"


def test_huge_body_gets_413_in_the_provider_shape(fake: FakeUpstream, start_proxy: Any) -> None:
    proxy = start_proxy(max_body_bytes=10_000)
    r = post(proxy, "/v1/messages", anthropic_body())
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"
    assert r.json()["type"] == "error"
    r = post(proxy, "/v1/chat/completions", chat_body())
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    assert not fake.received


def test_bad_json_goes_to_the_provider(fake: FakeUpstream, proxy: Any) -> None:
    r = post(proxy, "/v1/messages", b'{"messages": [{"role":"tool", broken')
    assert r.status_code == 400 and fake.received[-1].body.endswith(b"broken")


def test_unreachable_upstream_is_a_clear_error(start_proxy: Any) -> None:
    from tests.proxy.fake_upstream import free_port

    proxy = start_proxy(anthropic_url=f"http://127.0.0.1:{free_port()}")
    r = post(proxy, "/v1/messages", anthropic_body("x"))
    assert r.status_code == 502 and r.json()["error"]["type"] == "api_error"
    assert httpx.get(proxy.url + "/livez").json() == {"status": "ok"}


def test_client_disconnect_cancels_the_upstream_call(fake: FakeUpstream, proxy: Any) -> None:
    fake.script = [{"text": "x" * 400, "delay": 0.1}]
    with httpx.stream(
        "POST", proxy.url + "/v1/messages", json=anthropic_body("x", stream=True), headers=HEADERS
    ) as r:
        next(r.iter_bytes())
    deadline = time.monotonic() + 10
    while fake.cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake.cancelled == 1


def test_ops_routes(fake: FakeUpstream, proxy: Any) -> None:
    assert httpx.get(proxy.url + "/readyz").status_code == 200
    post(proxy, "/v1/messages", anthropic_body())
    stats = httpx.get(proxy.url + "/stats").json()
    assert stats["requests"] == 1 and stats["compressed"] == 1 and stats["calls"] == 1
    assert stats["tokens_saved"] == stats["tokens_before"] - stats["tokens_after"] > 0
    assert not fake.received[0].path.startswith(("/stats", "/livez"))


def test_openai_chat_hidden_rounds_streamed_and_not(fake: FakeUpstream, proxy: Any) -> None:
    fake.script = retrieving("found it")
    r = post(proxy, "/v1/chat/completions", chat_body())
    msg = r.json()["choices"][0]
    assert msg["message"]["content"] == "found it" and msg["finish_reason"] == "stop"
    assert fake.received[-1].json()["messages"][-1]["content"] == LOG
    body = {**chat_body(), "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", proxy.url + "/v1/chat/completions", json=body, timeout=30) as r:
        raw = r.read().decode()
    assert RETRIEVE_TOOL_NAME not in raw and raw.endswith("data: [DONE]\n\n")
    chunks = [json.loads(x[6:]) for x in raw.split("\n\n") if x.startswith("data: {")]
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[-1]["usage"]["prompt_tokens"] == 100 * 3 + 100 * 4


def test_responses_stateless_round_and_stateful_lossless(fake: FakeUpstream, proxy: Any) -> None:
    from tests.test_wire import responses_body

    fake.script = retrieving("ok")
    out = post(proxy, "/v1/responses", responses_body(store=False)).json()
    assert [i["type"] for i in out["output"]] == ["message"]
    assert fake.received[-1].json()["input"][-1]["output"] == LOG
    n = len(fake.received)
    raw = json.dumps(responses_body()).encode()
    post(proxy, "/v1/responses", raw)
    assert fake.received[-1].body == raw and len(fake.received) == n + 1


def test_streamed_uploads_pass_through_whole(fake: FakeUpstream, proxy: Any) -> None:
    parts = [bytes([65 + i]) * 70_000 for i in range(4)]
    r = httpx.post(proxy.url + "/v1/files", content=iter(parts), headers={"x-api-key": "k"})
    assert r.status_code == 200
    assert fake.received[-1].body == b"".join(parts) and fake.received[-1].method == "POST"


def test_upstream_timeout_is_a_504_in_the_provider_shape(
    fake: FakeUpstream, start_proxy: Any
) -> None:
    proxy = start_proxy(timeout=0.3)
    fake.script = [{"text": "late", "sleep": 2}]
    r = post(proxy, "/v1/chat/completions", chat_body("short"))
    assert r.status_code == 504 and r.json()["error"]["type"] == "timeout_error"


def test_a_compression_failure_forwards_the_original(
    fake: FakeUpstream, proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import headroom.proxy.app as app

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("compressor bug")

    monkeypatch.setattr(app, "compress_request", broken)
    raw = json.dumps(anthropic_body()).encode()
    r = post(proxy, "/v1/messages", raw)
    assert r.status_code == 200 and r.headers["x-headroom-skipped"] == "error: RuntimeError"
    assert fake.received[-1].body == raw
    assert httpx.get(proxy.url + "/stats").json()["failed_open"] == 1


def test_thinking_opens_the_turn_after_a_hidden_round(fake: FakeUpstream, proxy: Any) -> None:
    inner = retrieving("The error is card_declined.")

    def script(body: dict[str, Any]) -> dict[str, Any]:
        return {**inner(body), "thinking": f"round {len(fake.received)}"}

    fake.script = script
    out = post(
        proxy, "/v1/messages", anthropic_body(thinking={"type": "enabled", "budget_tokens": 1024})
    ).json()
    # The turn opens with the first round's signed thinking (Anthropic requires it), then
    # the final round's blocks; the hidden call and its result never appear.
    assert [b["type"] for b in out["content"]] == ["thinking", "thinking", "text"]
    assert out["content"][0] == {"type": "thinking", "thinking": "round 1", "signature": "sig1"}
    assert out["content"][1] == {"type": "thinking", "thinking": "round 2", "signature": "sig2"}
    assert RETRIEVE_TOOL_NAME not in json.dumps(out)
    # The hidden turn went back upstream whole: its thinking block and signature first.
    hidden_turn = fake.received[-1].json()["messages"][-2]
    assert hidden_turn["content"][0] == {
        "type": "thinking",
        "thinking": "round 1",
        "signature": "sig1",
    }
    assert hidden_turn["content"][-1]["name"] == RETRIEVE_TOOL_NAME
