"""The client's engine room: compress a request body, keep the books, and the HTTP
transports (sync and async) that sit below the SDK and run hidden retrieval rounds."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2

from ..config import HeadroomConfig
from ..ledger import SavingsLedger
from ..messages import countable_strings
from ..retrieval_policy import Action, RetrievalPolicy
from ..tokens import counter_for, resolve_model
from ..wire import (
    ANTHROPIC,
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    RequestCompression,
    Splicer,
    WireFormat,
    answer_and_count,
    compress_request,
    dumps_body,
    final_response,
    read_round,
    splicer_for,
)
from .metrics import MetricsLog, MetricsRecord, now
from .plan import Plan, PrefixTracker, conversation_key, estimate_usd, prefix_digests

log = logging.getLogger("headroom.client")

SURFACE_HEADER = "x-headroom-surface"
MODE_HEADER = "x-headroom-mode"
SURFACES: dict[str, WireFormat] = {
    "chat": OPENAI_CHAT,
    "responses": OPENAI_RESPONSES,
    "messages": ANTHROPIC,
    "count_tokens": ANTHROPIC,
}
_DROP_RESPONSE = ("content-length", "content-encoding", "transfer-encoding")


def _items(surface: str, body: dict[str, Any]) -> list[Any]:
    items = body.get("input" if surface == "responses" else "messages")
    return items if isinstance(items, list) else []


@dataclass
class Prepared:
    """One request, decided: what to send and what to record."""

    surface: str
    mode: str
    body: dict[str, Any]
    outcome: RequestCompression | None
    plan: Plan
    conversation: bytes
    digests: list[bytes]
    fell_back: str = ""

    @property
    def send_compressed(self) -> bool:
        # simulate describes what optimize would send
        return self.mode != "audit" and self.outcome is not None and self.outcome.changed

    @property
    def sent_body(self) -> dict[str, Any]:
        return self.outcome.body if self.send_compressed and self.outcome else self.body


class Core:
    """Shared by a ``HeadroomClient`` and every copy of it (``with_options``)."""

    def __init__(
        self,
        provider: str,
        default_mode: str,
        config: HeadroomConfig,
        policy: RetrievalPolicy,
        store: Any,
        metrics: MetricsLog,
        store_content: bool,
    ) -> None:
        self.provider = provider
        self.default_mode = default_mode
        self.config = config
        self.policy = policy
        self.store = store
        self.metrics = metrics
        self.store_content = store_content
        self.ledger = SavingsLedger()
        self.prefixes = PrefixTracker()
        self.is_async = False

    # ------------------------------------------------------------------ deciding
    def prepare(self, surface: str, body: dict[str, Any], mode: str) -> Prepared:
        """Compress ``body`` (never raises: a failure keeps the original)."""
        fmt = SURFACES[surface]
        outcome: RequestCompression | None = None
        fell_back = ""
        try:
            outcome = compress_request(
                fmt, body, config=self.config, policy=self.policy, store=self.store
            )
        except Exception as exc:  # never worse than no Headroom
            log.warning("headroom client: compression failed, sending the original: %r", exc)
            fell_back = f"error: {type(exc).__name__}"
        optimized = outcome.body if outcome is not None and outcome.changed else body
        original_items = _items(surface, body)
        items = _items(surface, optimized)
        sent = optimized if mode != "audit" else body
        sent_items = _items(surface, sent)
        key = conversation_key(surface, body, original_items)
        digests = prefix_digests(sent, sent_items)
        stable, cached_messages = self.prefixes.check(key, digests)
        model = str(body.get("model") or "")
        before = outcome.tokens_before if outcome is not None else 0
        after = outcome.tokens_after if outcome is not None and outcome.changed else before
        result = outcome.result if outcome is not None else None
        fresh = cached = 0
        reports = tuple(result.outputs) if result is not None else ()
        if outcome is not None and outcome.changed:
            for r in reports:
                i = r.message_index
                if i < len(items) and i < len(original_items) and items[i] is not original_items[i]:
                    saved = max(0, r.tokens_before - r.tokens_after)
                    if stable and i < cached_messages:
                        cached += saved
                    else:
                        fresh += saved
            # The per-output numbers may not add up to the request's (lossless-only
            # fallbacks, framing): never price more than the request saved.
            excess = fresh + cached - (before - after)
            if excess > 0:
                fresh = max(0, fresh - excess)
        plan = Plan(
            provider=self.provider,
            surface=surface,
            model=model,
            mode=mode,
            tokens_before=before,
            tokens_after=after,
            tokens_saved=before - after,
            savings_percent=100.0 * (before - after) / before if before else 0.0,
            transforms=tuple(result.transforms_applied) if result is not None else (),
            messages=tuple(items),
            outputs=reports,
            retrieval_tool_offered=bool(outcome is not None and outcome.tool_offered),
            estimated_savings_usd=estimate_usd(self.provider, model, fresh, cached),
            cache_prefix_stable=stable,
            tokens_exact=resolve_model(model or None).exact,
        )
        return Prepared(surface, mode, body, outcome, plan, key, digests, fell_back)

    def record(self, prep: Prepared, rounds: int = 0, retrieval_tokens: int = 0) -> None:
        """Books one sent request (count_tokens calls are not model requests: skipped)."""
        if prep.surface == "count_tokens":
            return
        self.prefixes.remember(prep.conversation, prep.digests)
        plan = prep.plan
        saved_for_real = prep.send_compressed
        self.ledger.record(
            plan.tokens_before,
            plan.tokens_after if saved_for_real else plan.tokens_before,
            model=plan.model,
            retrieval_rounds=rounds,
            retrieval_tokens=retrieval_tokens,
            source=f"client:{prep.mode}",
        )
        content = None
        if self.store_content:
            content = dumps_body(_items(prep.surface, prep.sent_body)).decode("utf-8")
        self.metrics.add(
            MetricsRecord(
                timestamp=now(),
                provider=self.provider,
                surface=prep.surface,
                model=plan.model,
                mode=prep.mode,
                tokens_before=plan.tokens_before,
                tokens_after=plan.tokens_after,
                tokens_saved=plan.tokens_saved,
                retrieval_rounds=rounds,
                retrieval_tokens=retrieval_tokens,
                cache_prefix_stable=plan.cache_prefix_stable,
                estimated_savings_usd=plan.estimated_savings_usd if saved_for_real else None,
                fell_back=prep.fell_back,
                content=content,
            )
        )

    def answer(self, fmt: WireFormat, calls: Any, model: Any) -> tuple[Any, int]:
        return answer_and_count(calls, self.store, model)

    def count_locally(self, body: dict[str, Any]) -> int:
        """Input tokens of a messages request, counted offline (approximate for Claude)."""
        counter = counter_for(str(body.get("model") or "") or None)
        total = 0
        for msg in body.get("messages") or ():
            total += sum(counter.count(s) for s in countable_strings(msg))
        system = body.get("system")
        if isinstance(system, str):
            total += counter.count(system)
        elif system is not None:
            total += sum(counter.count(s) for s in countable_strings({"content": system}))
        if body.get("tools"):
            total += counter.count(dumps_body(body["tools"]).decode("utf-8"))
        return total


# ---------------------------------------------------------------------- transports
def _clean(headers: httpx2.Headers) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.multi_items() if k.lower() not in _DROP_RESPONSE]


def _stream_error(fmt: WireFormat, message: str) -> bytes:
    """An error event in the middle of a stream, as the provider sends one (the SDK
    raises it as an ``APIError``)."""
    error = dumps_body(fmt.error_body("api_error", message)).decode("utf-8")
    if fmt is ANTHROPIC:
        return f"event: error\ndata: {error}\n\n".encode()
    return f"data: {error}\n\n".encode()


def _ours(name: str) -> bool:
    return name.lower().startswith("x-headroom-")


class _Exchange:
    """The per-request state both transports share."""

    def __init__(self, core: Core, request: httpx2.Request) -> None:
        self.core = core
        self.request = request
        self.prep: Prepared | None = None
        self.fmt: WireFormat | None = None
        self.body: dict[str, Any] = {}
        self.rounds = 0
        self.retrieval_tokens = 0
        self.first: dict[str, Any] | None = None  # the first round's whole response

    def decide(self) -> httpx2.Request | None:
        """The request to send, or None to pass the caller's through (ours removed)."""
        req = self.request
        surface = req.headers.get(SURFACE_HEADER)
        mode = req.headers.get(MODE_HEADER) or self.core.default_mode
        if surface not in SURFACES:
            return None
        try:
            body = json.loads(req.content)
        except Exception:
            return None
        if not isinstance(body, dict):
            return None
        self.fmt = SURFACES[surface]
        self.prep = self.core.prepare(surface, body, mode)
        if not self.prep.send_compressed:
            return None
        assert self.prep.outcome is not None
        self.body = self.prep.outcome.body
        return self.build(self.body)

    def _headers(self) -> httpx2.Headers:
        """The caller's headers without ours (the SDK's retries reuse the request, so
        it is never changed in place)."""
        return httpx2.Headers(
            [(k, v) for k, v in self.request.headers.multi_items() if not _ours(k)]
        )

    def original(self) -> httpx2.Request:
        """The caller's request as it came, minus our headers."""
        req = self.request
        if not any(_ours(k) for k in req.headers):
            return req
        return httpx2.Request(
            req.method, req.url, headers=self._headers(), content=req.content,
            extensions=req.extensions,
        )  # fmt: skip

    def build(self, body: dict[str, Any]) -> httpx2.Request:
        data = dumps_body(body)
        headers = self._headers()
        headers["content-length"] = str(len(data))
        if self.rounds_possible:
            headers["accept-encoding"] = "identity"
        return httpx2.Request(
            self.request.method,
            self.request.url,
            headers=headers,
            content=data,
            extensions=self.request.extensions,
        )

    @property
    def rounds_possible(self) -> bool:
        return bool(
            self.prep is not None
            and self.prep.surface != "count_tokens"
            and self.prep.outcome is not None
            and self.prep.outcome.tool_offered
        )

    @property
    def splicer(self) -> Splicer | None:
        if self.fmt is None or not self.body.get("stream"):
            return None
        return splicer_for(self.fmt, self.core.policy)

    def record(self) -> None:
        if self.prep is not None:
            self.core.record(self.prep, self.rounds, self.retrieval_tokens)

    def next_body(self, response: dict[str, Any], calls: Any) -> dict[str, Any]:
        assert self.fmt is not None and self.prep is not None
        answers, tokens = self.core.answer(self.fmt, calls, self.body.get("model"))
        # A hidden round re-sends the compressed request, plus the answers.
        self.retrieval_tokens += self.prep.plan.tokens_after + tokens
        self.rounds += 1
        self.body = self.fmt.follow_up(self.body, response, answers)
        return self.body

    def final(self, parsed: dict[str, Any], action: Action, usages: list[Any]) -> bytes:
        assert self.fmt is not None
        return dumps_body(final_response(self.fmt, parsed, action, usages, self.first))

    def round(
        self, resp: httpx2.Response, payload: bytes, usages: list[Any]
    ) -> httpx2.Response | dict[str, Any]:
        """One non-streamed round, shared by the sync and async transports: the response to
        hand back, or the next body to send when our retrieval calls are to be answered."""
        assert self.fmt is not None
        parsed, calls, action = read_round(
            self.fmt, self.core.policy, resp.status_code, payload, self.rounds, usages
        )
        if parsed is None:
            return httpx2.Response(resp.status_code, headers=_clean(resp.headers), content=payload)
        self.first = self.first or parsed
        if action is not Action.ANSWER:
            return httpx2.Response(
                200, headers=_clean(resp.headers), content=self.final(parsed, action, usages)
            )
        return self.next_body(parsed, calls)


def _passed(resp: httpx2.Response) -> httpx2.Response:
    return httpx2.Response(
        resp.status_code, headers=resp.headers, stream=resp.stream, extensions=resp.extensions
    )


def _is_sse(resp: httpx2.Response) -> bool:
    return resp.status_code == 200 and "text/event-stream" in resp.headers.get("content-type", "")


class HeadroomTransport(httpx2.BaseTransport):
    """Sends through the original client's ``httpx2.Client`` (its pool, proxies and
    settings), compressing the requests the wrapper tagged."""

    def __init__(self, inner: httpx2.Client, core: Core) -> None:
        self.inner = inner
        self.core = core

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        ex = _Exchange(self.core, request)
        try:
            req = ex.decide()
        except Exception as exc:  # never worse than no Headroom
            log.warning("headroom client: sending the original: %r", exc)
            req = None
        if req is None:
            resp = self.inner.send(ex.original(), stream=True)
            ex.record()
            return _passed(resp)
        resp = self.inner.send(req, stream=True)
        if not ex.rounds_possible or resp.status_code != 200:
            ex.record()
            return _passed(resp)
        splicer = ex.splicer
        if splicer is not None:
            if not _is_sse(resp):
                ex.record()
                return _passed(resp)
            return httpx2.Response(
                200, headers=_clean(resp.headers), stream=_SyncSpliced(self, ex, splicer, resp)
            )
        try:
            return self._rounds(ex, resp)
        finally:
            ex.record()

    def _rounds(self, ex: _Exchange, resp: httpx2.Response) -> httpx2.Response:
        usages: list[Any] = []
        while True:
            payload = resp.read()
            resp.close()
            step = ex.round(resp, payload, usages)
            if isinstance(step, httpx2.Response):
                return step
            resp = self.inner.send(ex.build(step), stream=True)

    def close(self) -> None:
        pass  # the original client owns the connection pool


class _SyncSpliced(httpx2.SyncByteStream):
    def __init__(
        self, transport: HeadroomTransport, ex: _Exchange, splicer: Splicer, first: httpx2.Response
    ) -> None:
        self.transport = transport
        self.ex = ex
        self.splicer = splicer
        self.resp = first

    def __iter__(self) -> Iterator[bytes]:
        splicer, ex = self.splicer, self.ex
        assert ex.fmt is not None
        try:
            while True:
                chunks = self.resp.iter_bytes()
                for chunk in chunks:
                    try:
                        out = splicer.feed(chunk)
                    except Exception:  # a splicing bug: relay the rest as it comes
                        log.exception("headroom client: stream splicing failed")
                        yield chunk
                        yield from chunks
                        return
                    if out:
                        yield out
                self.resp.close()
                end = splicer.end_round()
                if end.action is not Action.ANSWER:
                    yield splicer.finish()
                    return
                body = ex.next_body(end.response, end.calls)
                splicer.next_round()
                self.resp = self.transport.inner.send(ex.build(body), stream=True)
                if not _is_sse(self.resp):
                    payload = self.resp.read()
                    yield _stream_error(ex.fmt, payload.decode("utf-8", "replace"))
                    return
        finally:
            self.resp.close()
            ex.record()

    def close(self) -> None:
        self.resp.close()


class AsyncHeadroomTransport(httpx2.AsyncBaseTransport):
    """The async twin of ``HeadroomTransport``."""

    def __init__(self, inner: httpx2.AsyncClient, core: Core) -> None:
        self.inner = inner
        self.core = core

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        ex = _Exchange(self.core, request)
        try:
            await request.aread()
            req = ex.decide()
        except Exception as exc:  # never worse than no Headroom
            log.warning("headroom client: sending the original: %r", exc)
            req = None
        if req is None:
            resp = await self.inner.send(ex.original(), stream=True)
            ex.record()
            return _passed(resp)
        resp = await self.inner.send(req, stream=True)
        if not ex.rounds_possible or resp.status_code != 200:
            ex.record()
            return _passed(resp)
        splicer = ex.splicer
        if splicer is not None:
            if not _is_sse(resp):
                ex.record()
                return _passed(resp)
            return httpx2.Response(
                200, headers=_clean(resp.headers), stream=_AsyncSpliced(self, ex, splicer, resp)
            )
        try:
            return await self._rounds(ex, resp)
        finally:
            ex.record()

    async def _rounds(self, ex: _Exchange, resp: httpx2.Response) -> httpx2.Response:
        usages: list[Any] = []
        while True:
            payload = await resp.aread()
            await resp.aclose()
            step = ex.round(resp, payload, usages)
            if isinstance(step, httpx2.Response):
                return step
            resp = await self.inner.send(ex.build(step), stream=True)

    async def aclose(self) -> None:
        pass  # the original client owns the connection pool


class _AsyncSpliced(httpx2.AsyncByteStream):
    def __init__(
        self,
        transport: AsyncHeadroomTransport,
        ex: _Exchange,
        splicer: Splicer,
        first: httpx2.Response,
    ) -> None:
        self.transport = transport
        self.ex = ex
        self.splicer = splicer
        self.resp = first

    async def __aiter__(self) -> AsyncIterator[bytes]:
        splicer, ex = self.splicer, self.ex
        assert ex.fmt is not None
        try:
            while True:
                chunks = self.resp.aiter_bytes()
                async for chunk in chunks:
                    try:
                        out = splicer.feed(chunk)
                    except Exception:  # a splicing bug: relay the rest as it comes
                        log.exception("headroom client: stream splicing failed")
                        yield chunk
                        async for rest in chunks:
                            yield rest
                        return
                    if out:
                        yield out
                await self.resp.aclose()
                end = splicer.end_round()
                if end.action is not Action.ANSWER:
                    yield splicer.finish()
                    return
                body = ex.next_body(end.response, end.calls)
                splicer.next_round()
                self.resp = await self.transport.inner.send(ex.build(body), stream=True)
                if not _is_sse(self.resp):
                    payload = await self.resp.aread()
                    yield _stream_error(ex.fmt, payload.decode("utf-8", "replace"))
                    return
        finally:
            await self.resp.aclose()
            ex.record()

    async def aclose(self) -> None:
        await self.resp.aclose()
