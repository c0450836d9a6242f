"""A scriptable fake of the Anthropic and OpenAI APIs, served on a free loopback port.

It answers ``/v1/messages`` (JSON and the exact SSE event sequence), ``/v1/chat/completions``
(JSON and ``data:`` chunks ending in ``[DONE]``) and ``/v1/responses`` (JSON), plus any
other path with a small JSON echo. Each reply comes from ``script`` (a list consumed in
order, or a callable of the request body); every request is recorded.

A reply is a dict: ``text``; ``tools`` (a list of ``{"name", "input"}``); ``thinking``;
``status`` with ``body`` for an error; ``delay`` seconds between streamed events;
``sleep`` seconds before answering.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Reply = dict[str, Any]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeUpstream:
    script: list[Reply] | Callable[[Any], Reply] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    cancelled: int = 0
    counter: int = 0

    def next_reply(self, body: Any) -> Reply:
        if callable(self.script):
            return self.script(body)
        return self.script.pop(0) if self.script else {"text": "done"}

    # ----------------------------------------------------------------- app
    def app(self) -> Starlette:
        async def handle(request: Request) -> Response:
            raw = await request.body()
            self.received.append(
                Received(
                    request.method,
                    request.url.path,
                    request.url.query,
                    {k.lower(): v for k, v in request.headers.items()},
                    raw,
                )
            )
            path = request.url.path
            if request.method != "POST" or path not in (
                "/v1/messages",
                "/v1/chat/completions",
                "/v1/responses",
            ):
                return JSONResponse({"path": path, "method": request.method, "echo": True})
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return JSONResponse({"error": {"message": "bad json"}}, status_code=400)
            reply = self.next_reply(body)
            if reply.get("sleep"):
                await asyncio.sleep(float(reply["sleep"]))
            if "status" in reply:
                return JSONResponse(reply.get("body", {}), status_code=reply["status"])
            self.counter += 1
            stream = bool(body.get("stream"))
            if path == "/v1/messages":
                if stream:
                    return self._stream(anthropic_events(reply, self.counter), reply)
                return JSONResponse(anthropic_message(reply, self.counter))
            if path == "/v1/chat/completions":
                if stream:
                    usage = bool((body.get("stream_options") or {}).get("include_usage"))
                    return self._stream(openai_chunks(reply, self.counter, usage), reply)
                return JSONResponse(openai_completion(reply, self.counter))
            if stream:
                return self._stream(responses_events(reply, self.counter), reply)
            return JSONResponse(responses_object(reply, self.counter))

        return Starlette(
            routes=[Route("/{path:path}", handle, methods=["GET", "POST", "HEAD", "PUT", "DELETE"])]
        )

    def _stream(self, events: list[bytes], reply: Reply) -> StreamingResponse:
        delay = float(reply.get("delay", 0.0))

        async def gen() -> Any:
            try:
                for ev in events:
                    yield ev
                    if delay:
                        await asyncio.sleep(delay)
            except (asyncio.CancelledError, GeneratorExit):
                self.cancelled += 1
                raise

        return StreamingResponse(gen(), media_type="text/event-stream")


# --------------------------------------------------------------------- shapes
def _usage(n: int) -> dict[str, int]:
    return {"input_tokens": 100 * n, "output_tokens": 10 * n}


def anthropic_blocks(reply: Reply, n: int) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.get("thinking"):
        blocks.append({"type": "thinking", "thinking": reply["thinking"], "signature": f"sig{n}"})
    if reply.get("text"):
        blocks.append({"type": "text", "text": reply["text"]})
    for i, tool in enumerate(reply.get("tools") or ()):
        blocks.append(
            {
                "type": "tool_use",
                "id": f"toolu_{n}_{i}",
                "name": tool["name"],
                "input": tool.get("input", {}),
            }
        )
    return blocks


def anthropic_message(reply: Reply, n: int) -> dict[str, Any]:
    blocks = anthropic_blocks(reply, n)
    return {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "model": "claude-fake",
        "content": blocks,
        "stop_reason": "tool_use" if reply.get("tools") else "end_turn",
        "stop_sequence": None,
        "usage": _usage(n),
    }


def sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def anthropic_events(reply: Reply, n: int) -> list[bytes]:
    msg = anthropic_message(reply, n)
    start = {
        **msg,
        "content": [],
        "stop_reason": None,
        "usage": {**msg["usage"], "output_tokens": 1},
    }
    out = [sse("message_start", {"type": "message_start", "message": start})]
    out.append(sse("ping", {"type": "ping"}))
    for i, block in enumerate(msg["content"]):
        kind = block["type"]
        if kind == "text":
            first = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": block["text"][j : j + 7]}
                for j in range(0, len(block["text"]), 7)
            ]
        elif kind == "thinking":
            first = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        else:
            first = {**block, "input": {}}
            js = json.dumps(block["input"])
            deltas = [
                {"type": "input_json_delta", "partial_json": js[j : j + 5]}
                for j in range(0, len(js), 5)
            ]
        out.append(
            sse(
                "content_block_start",
                {"type": "content_block_start", "index": i, "content_block": first},
            )
        )
        for d in deltas:
            out.append(
                sse("content_block_delta", {"type": "content_block_delta", "index": i, "delta": d})
            )
        out.append(sse("content_block_stop", {"type": "content_block_stop", "index": i}))
    out.append(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": msg["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": msg["usage"]["output_tokens"]},
            },
        )
    )
    out.append(sse("message_stop", {"type": "message_stop"}))
    return out


def openai_calls(reply: Reply, n: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{n}_{i}",
            "type": "function",
            "function": {"name": t["name"], "arguments": json.dumps(t.get("input", {}))},
        }
        for i, t in enumerate(reply.get("tools") or ())
    ]


def _ousage(n: int) -> dict[str, int]:
    return {"prompt_tokens": 100 * n, "completion_tokens": 10 * n, "total_tokens": 110 * n}


def openai_completion(reply: Reply, n: int) -> dict[str, Any]:
    calls = openai_calls(reply, n)
    message: dict[str, Any] = {"role": "assistant", "content": reply.get("text") or None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": _ousage(n),
    }


def openai_chunks(reply: Reply, n: int, include_usage: bool) -> list[bytes]:
    base = {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-4o",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        c = {
            **base,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if include_usage:
            c["usage"] = None
        return f"data: {json.dumps(c)}\n\n".encode()

    out = [chunk({"role": "assistant", "content": ""})]
    text = reply.get("text") or ""
    for j in range(0, len(text), 7):
        out.append(chunk({"content": text[j : j + 7]}))
    for i, call in enumerate(openai_calls(reply, n)):
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        args = call["function"]["arguments"]
        for j in range(0, len(args), 5):
            out.append(
                chunk({"tool_calls": [{"index": i, "function": {"arguments": args[j : j + 5]}}]})
            )
    out.append(chunk({}, "tool_calls" if reply.get("tools") else "stop"))
    if include_usage:
        out.append(f"data: {json.dumps({**base, 'choices': [], 'usage': _ousage(n)})}\n\n".encode())
    out.append(b"data: [DONE]\n\n")
    return out


def responses_object(reply: Reply, n: int) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if reply.get("text"):
        output.append(
            {
                "type": "message",
                "id": f"msg_{n}",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": reply["text"], "annotations": []}],
            }
        )
    for i, t in enumerate(reply.get("tools") or ()):
        output.append(
            {
                "type": "function_call",
                "id": f"fc_{n}_{i}",
                "call_id": f"call_{n}_{i}",
                "name": t["name"],
                "arguments": json.dumps(t.get("input", {})),
                "status": "completed",
            }
        )
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": 1700000000,
        "status": "completed",
        "model": "gpt-4o",
        "output": output,
        "usage": {"input_tokens": 100 * n, "output_tokens": 10 * n, "total_tokens": 110 * n},
    }


def responses_events(reply: Reply, n: int) -> list[bytes]:
    """The Responses API stream: created, in_progress, per item added/deltas/done, completed."""
    full = responses_object(reply, n)
    seq = iter(range(10_000))
    out: list[bytes] = []

    def ev(kind: str, **data: Any) -> None:
        out.append(sse(kind, {"type": kind, "sequence_number": next(seq), **data}))

    start = {**full, "status": "in_progress", "output": [], "usage": None}
    ev("response.created", response=start)
    ev("response.in_progress", response=start)
    for i, item in enumerate(full["output"]):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            ev(
                "response.output_item.added",
                output_index=i,
                item={**item, "status": "in_progress", "content": []},
            )
            part = {"type": "output_text", "text": "", "annotations": []}
            ev(
                "response.content_part.added",
                item_id=item["id"],
                output_index=i,
                content_index=0,
                part=part,
            )
            for j in range(0, len(text), 7):
                ev(
                    "response.output_text.delta",
                    item_id=item["id"],
                    output_index=i,
                    content_index=0,
                    delta=text[j : j + 7],
                    logprobs=[],
                )
            ev(
                "response.output_text.done",
                item_id=item["id"],
                output_index=i,
                content_index=0,
                text=text,
                logprobs=[],
            )
            ev(
                "response.content_part.done",
                item_id=item["id"],
                output_index=i,
                content_index=0,
                part={**part, "text": text},
            )
        else:
            ev(
                "response.output_item.added",
                output_index=i,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            args = item["arguments"]
            for j in range(0, len(args), 5):
                ev(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=i,
                    delta=args[j : j + 5],
                )
            ev(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=i,
                arguments=args,
            )
        ev("response.output_item.done", output_index=i, item=item)
    ev("response.completed", response=full)
    return out


# --------------------------------------------------------------------- serving
class ServerThread:
    """Runs an ASGI app with uvicorn in a thread on a free loopback port."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def service_log(lines: int = 480, error_at: int = 311) -> str:
    """A service log with one ERROR line among routine INFO lines."""
    out = []
    for i in range(lines):
        ts = f"2026-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}.{i * 7 % 1000:03d}Z"
        if i == error_at:
            out.append(
                f"{ts} ERROR payments-svc charge failed: card_declined for order ord_{i:05d} (upstream 502)"
            )
        else:
            out.append(
                f"{ts} INFO  payments-svc request handled path=/v1/charge status=200 "
                f"latency_ms={20 + i % 37} order=ord_{i:05d} region=eu-west-{1 + i % 3}"
            )
    return "\n".join(out)


if __name__ == "__main__":  # python -m tests.proxy.fake_upstream PORT (for benchmarks)
    import sys

    uvicorn.run(
        FakeUpstream().app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
    )
