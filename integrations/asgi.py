"""Pure ASGI middleware that compresses tool outputs in LLM requests an app receives.

    from headroom.integrations.asgi import CompressionMiddleware
    app.add_middleware(CompressionMiddleware)          # FastAPI, Starlette, LiteLLM's proxy
    app = CompressionMiddleware(app, retrieval=False)  # any ASGI app; lossless only

It acts on ``POST`` requests whose path ends in ``/v1/messages``, ``/v1/chat/completions``,
``/v1/responses`` or ``/chat/completions``; everything else (other routes, websockets,
lifespan) reaches the app untouched. The body's wire format, compression, the retrieval
tool, follow-up requests and stream splicing all come from ``headroom.wire``, the same
core the ``headroom proxy`` uses.

Hidden retrieval rounds (``retrieval="auto"``, the default): when the app's answer holds
only ``headroom_retrieve`` calls, the middleware answers them from the store and calls
the wrapped app again with the continued conversation, so the app's own authentication,
rate limits and spend logging see each round as a request. The client sees one answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from headroom.config import HeadroomConfig
from headroom.engine import DEFAULT_CONFIG
from headroom.ledger import SavingsLedger
from headroom.retrieval_policy import Action, RetrievalPolicy, retrieval_mode
from headroom.wire import (
    RequestCompression,
    WireFormat,
    answer_and_count,
    compress_request,
    dumps_body,
    final_response,
    may_hold_tool_output,
    read_round,
    splicer_for,
)
from headroom.wire.asgi import Message, Receive, Scope, Send
from headroom.wire.asgi import send_body as _body
from headroom.wire.formats import ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, ToolCall
from headroom.wire.stream import Splicer, stream_error

log = logging.getLogger("headroom.asgi")

ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024

_SUFFIXES: tuple[tuple[str, WireFormat], ...] = (
    ("/v1/messages", ANTHROPIC),
    ("/v1/chat/completions", OPENAI_CHAT),
    ("/chat/completions", OPENAI_CHAT),
    ("/v1/responses", OPENAI_RESPONSES),
)


def format_for_scope(scope: Scope) -> WireFormat | None:
    """The wire format of a request this middleware acts on, else None."""
    if scope.get("type") != "http" or scope.get("method") != "POST":
        return None
    path = str(scope.get("path") or "").rstrip("/")
    for suffix, fmt in _SUFFIXES:
        if path.endswith(suffix):
            return fmt
    return None


def _is_json(scope: Scope) -> bool:
    for k, v in scope.get("headers") or ():
        if k.lower() == b"content-type":
            media = v.split(b";", 1)[0].strip().lower()
            return bool(media == b"application/json" or media.endswith(b"+json"))
    return True  # SDKs always say JSON; a missing header is read as JSON, as the apps do


def _with_length(headers: Any, length: int) -> Headers:
    out = [
        (k, v)
        for k, v in headers or ()
        if k.lower() not in (b"content-length", b"transfer-encoding")
    ]
    out.append((b"content-length", str(length).encode()))
    return out


class _Replay:
    """A ``receive`` that hands out ``body`` once, then defers to the real one."""

    def __init__(self, body: bytes | list[Message], receive: Receive) -> None:
        if isinstance(body, bytes):
            self.pending: list[Message] = [
                {"type": "http.request", "body": body, "more_body": False}
            ]
        else:
            self.pending = body
        self.receive = receive

    async def __call__(self) -> Message:
        if self.pending:
            return self.pending.pop(0)
        return await self.receive()


class _Captured:
    """The whole response of one call of the wrapped app."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: Headers = []
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = list(message.get("headers") or ())
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


class CompressionMiddleware:
    """Compresses the tool outputs of LLM requests before the wrapped app sees them.

    Options: ``min_tokens`` (smallest tool output worth compressing), ``config`` (a full
    ``HeadroomConfig``), ``retrieval`` (``"auto"``/``True``: lossy, hidden retrieval
    rounds; ``"tool"``: lossy, the caller handles retrieval; ``"off"``/``False``: lossless
    only), ``max_rounds`` (hidden rounds per request), ``store`` (where originals are
    kept), ``max_body_bytes`` (larger bodies pass through unread), ``ledger`` (shared
    savings counters; ``total_tokens_saved`` and ``get_savings_summary()`` read it).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        min_tokens: int | None = None,
        config: HeadroomConfig | None = None,
        retrieval: str | bool | None = "auto",
        max_rounds: int = 3,
        store: Any = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        ledger: SavingsLedger | None = None,
    ) -> None:
        self.app = app
        cfg = config or DEFAULT_CONFIG
        if min_tokens is not None:
            cfg = cfg.with_options(min_tokens_to_compress=min_tokens)
        self.config = cfg
        # For this middleware ``retrieval=False`` means no retrieval at all: lossless.
        mode = "off" if retrieval is False else retrieval_mode(retrieval)
        self.policy = RetrievalPolicy(mode, max_rounds)
        self.store = store
        self.max_body_bytes = max_body_bytes
        self.ledger = ledger or SavingsLedger()

    @property
    def total_tokens_saved(self) -> int:
        return self.ledger.total_tokens_saved

    def get_savings_summary(self) -> dict[str, Any]:
        return self.ledger.summary().as_dict()

    # ------------------------------------------------------------------ entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fmt = format_for_scope(scope)
        if fmt is None or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        scope, ours = _consume_our_headers(scope)
        if ours.get(b"x-headroom-bypass", b"").strip().lower() in (b"true", b"1", b"yes"):
            await self.app(scope, receive, _adding(send, [(b"x-headroom-skipped", b"bypass")]))
            return
        messages: list[Message] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return  # the client is gone: there is no one to answer
            messages.append(msg)
            size += len(msg.get("body", b""))
            if size > self.max_body_bytes:  # too big to hold: the app reads it as it comes
                await self.app(scope, _Replay(messages, receive), send)
                return
            if not msg.get("more_body", False):
                break
        raw = b"".join(m.get("body", b"") for m in messages)
        outcome, failure = (
            await self._compress(fmt, raw) if may_hold_tool_output(raw) else (None, "")
        )
        if outcome is None or not outcome.changed:
            skipped = (
                [(b"x-headroom-skipped", failure.encode("ascii", "replace"))] if failure else []
            )
            await self.app(_scope(scope, len(raw)), _Replay(raw, receive), _adding(send, skipped))
            return
        info: Headers = outcome.info_headers()
        if not outcome.tool_offered:
            data = dumps_body(outcome.body)
            await self.app(_scope(scope, len(data)), _Replay(data, receive), _adding(send, info))
        elif outcome.body.get("stream") and splicer_for(fmt, self.policy) is not None:
            await self._stream_rounds(fmt, scope, receive, send, outcome, info)
        else:
            await self._rounds(fmt, scope, receive, send, outcome, info)

    async def _compress(self, fmt: WireFormat, raw: bytes) -> tuple[RequestCompression | None, str]:
        """(the compression, "") or (None, why compression failed; "" when the body is
        simply not a JSON object: then it is the app's to judge)."""
        try:
            parsed = json.loads(raw)
        except ValueError:
            return None, ""
        if not isinstance(parsed, dict):
            return None, ""

        def run() -> RequestCompression:
            return compress_request(
                fmt, parsed, config=self.config, policy=self.policy, store=self.store
            )

        try:
            outcome = await asyncio.to_thread(run)
        except Exception as exc:  # any failure: the app gets the original
            log.warning("headroom middleware: compression failed, passing the original: %r", exc)
            return None, f"error: {type(exc).__name__}"
        if outcome.result is not None:
            model = outcome.result.model
            self.ledger.record(
                outcome.tokens_before, outcome.tokens_after, model=model, source="asgi"
            )
        return outcome, ""

    async def _answer(self, calls: list[ToolCall], model: Any) -> tuple[Any, int]:
        return await asyncio.to_thread(answer_and_count, calls, self.store, model)

    # ------------------------------------------------------------------ rounds
    async def _rounds(
        self,
        fmt: WireFormat,
        scope: Scope,
        receive: Receive,
        send: Send,
        outcome: RequestCompression,
        info: Headers,
    ) -> None:
        """Non-streamed: call the app, answer retrieval calls, call it again."""
        body = outcome.body
        usages: list[Any] = []
        first: dict[str, Any] | None = None
        rounds = 0
        retrieval_tokens = 0
        try:
            while True:
                data = dumps_body(body)
                got = _Captured()
                await self.app(_scope(scope, len(data)), _Replay(data, receive), got.send)
                parsed, calls, action = read_round(
                    fmt, self.policy, got.status, got.body, rounds, usages
                )
                if parsed is None:  # errors and odd answers go out as they are
                    await _respond(send, got.status, got.body, got.headers + info)
                    return
                first = first or parsed
                if action is not Action.ANSWER:
                    if rounds or action is not Action.PASS:
                        out = dumps_body(final_response(fmt, parsed, action, usages, first))
                    else:
                        out = got.body
                    extra = (
                        [(b"x-headroom-retrieval-rounds", str(rounds).encode())] if rounds else []
                    )
                    await _respond(send, 200, out, got.headers + info + extra)
                    return
                try:
                    answers, tokens = await self._answer(calls, body.get("model"))
                    next_body = fmt.follow_up(body, parsed, answers)
                except Exception:  # cannot continue: end the turn without our calls
                    log.exception("headroom middleware: answering a retrieval call failed")
                    out = dumps_body(final_response(fmt, parsed, Action.OVER_LIMIT, usages, first))
                    await _respond(send, 200, out, got.headers + info)
                    return
                retrieval_tokens += outcome.tokens_after + tokens
                rounds += 1
                body = next_body
        finally:
            if rounds:
                self.ledger.add_retrieval(rounds, retrieval_tokens)

    async def _stream_rounds(
        self,
        fmt: WireFormat,
        scope: Scope,
        receive: Receive,
        send: Send,
        outcome: RequestCompression,
        info: Headers,
    ) -> None:
        """Streamed: relay events as the app sends them; splice hidden rounds in."""
        splicer = splicer_for(fmt, self.policy)
        assert splicer is not None
        body = outcome.body
        relay = _StreamRelay(send, splicer, info)
        retrieval_tokens = 0
        try:
            while True:
                data = dumps_body(body)
                relay.new_round()
                await self.app(_scope(scope, len(data)), _Replay(data, receive), relay.send)
                if relay.as_is or not relay.started:
                    return  # the app's own answer (no stream, an error) went out as it was
                if relay.broken:
                    await _body(send, b"", False)
                    return
                if relay.status != 200:  # a later round failed: end the stream with its error
                    await _body(send, stream_error(fmt, relay.error), False)
                    return
                end = splicer.end_round()
                if end.action is not Action.ANSWER:
                    await _body(send, splicer.finish(), False)
                    return
                try:
                    answers, tokens = await self._answer(end.calls, body.get("model"))
                    body = fmt.follow_up(body, end.response, answers)
                except Exception:  # cannot continue: end the stream with an error event
                    log.exception("headroom middleware: answering a retrieval call failed")
                    await _body(send, stream_error(fmt, b"headroom: retrieval failed"), False)
                    return
                retrieval_tokens += outcome.tokens_after + tokens
                splicer.next_round()
        finally:
            if splicer.rounds:
                self.ledger.add_retrieval(splicer.rounds, retrieval_tokens)


class _StreamRelay:
    """The ``send`` given to the app in streamed rounds: the first round's start goes to
    the client (plus our headers); every round's events go through the splicer."""

    def __init__(self, send: Send, splicer: Splicer, info: Headers) -> None:
        self.client = send
        self.splicer = splicer
        self.info = info
        self.started = False  # the client's response has started
        self.as_is = False  # the first round was not a stream: relay it untouched
        self.broken = False  # the splicer failed: relay the rest of the round untouched
        self.status = 0
        self.error = b""

    def new_round(self) -> None:
        self.status = 0
        self.error = b""

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = int(message["status"])
            hdrs = list(message.get("headers") or ())
            ctype = next((v for k, v in hdrs if k.lower() == b"content-type"), b"")
            streamed = self.status == 200 and b"text/event-stream" in ctype
            if not self.started:
                self.started = True
                self.as_is = not streamed
                if streamed:
                    hdrs = [(k, v) for k, v in hdrs if k.lower() != b"content-length"]
                await self.client({**message, "headers": hdrs + self.info})
            return
        if kind != "http.response.body":
            await self.client(message)
            return
        if self.as_is:
            await self.client(message)
            return
        chunk = bytes(message.get("body", b""))
        if self.status != 200:
            self.error += chunk
            return
        if not self.broken:
            try:
                chunk = self.splicer.feed(chunk)
            except Exception:
                log.exception("headroom middleware: stream splicing failed")
                self.broken = True
        if chunk:
            await _body(self.client, chunk, True)


def _consume_our_headers(scope: Scope) -> tuple[Scope, dict[bytes, bytes]]:
    """The scope without ``x-headroom-*`` request headers (they are for Headroom, not
    the app), and those headers."""
    headers = scope.get("headers") or ()
    ours = {k.lower(): v for k, v in headers if k.lower().startswith(b"x-headroom-")}
    if not ours:
        return scope, ours
    kept = [(k, v) for k, v in headers if not k.lower().startswith(b"x-headroom-")]
    return {**scope, "headers": kept}, ours


def _scope(scope: Scope, length: int) -> Scope:
    """The scope with ``content-length`` set to the body the app will read."""
    return {**scope, "headers": _with_length(scope.get("headers"), length)}


def _adding(send: Send, info: Headers) -> Send:
    """A ``send`` that adds ``info`` to the response's headers (streamed or not)."""

    if not info:
        return send

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": list(message.get("headers") or ()) + info}
        await send(message)

    return wrapped


async def _respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    hdrs = _with_length(headers, len(body))
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body, "more_body": False})
