"""The proxy as a plain ASGI application (served by uvicorn).

Routes:
- ``POST /v1/messages``, ``/v1/chat/completions`` (and ``/chat/completions``),
  ``/v1/responses``: compress tool outputs, answer hidden retrieval rounds, relay.
- ``/livez``, ``/readyz``, ``/stats``: operations.
- everything else: passed through unchanged, streamed both ways.

Written against ASGI directly rather than a framework's request objects: the hot path
is "read bytes, maybe rewrite, forward bytes", and every layer in between costs latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .._extras import require
from ..config import HeadroomConfig
from ..ledger import SavingsLedger
from ..memory import MemoryStore
from ..memory.api import MemoryBackend
from ..memory.redis_store import RedisMemoryStore
from ..messages import slots
from ..retrieval_policy import Action
from ..store import Store, default_store, shared_store
from ..wire import (
    RequestCompression,
    WireFormat,
    answer_and_count,
    compress_request,
    dumps_body,
    final_response,
    format_for_path,
    may_hold_tool_output,
    read_round,
    splicer_for,
)
from ..wire.asgi import Message, Receive, Scope, Send
from ..wire.asgi import send_body as _body
from ..wire.formats import ANTHROPIC, OPENAI_CHAT, ToolCall
from . import costs, exchange
from .backends import BackendClient, check_backend, upstream_url
from .cache import CachedResponse, ResponseCache, cache_key, kept_headers, worth_keeping
from .config import ProxyConfig
from .costs import BudgetExceeded, Costs
from .exchange import Exchange, mark_forwarded
from .memory import ProxyMemory, inject, owner_of, stripping_send
from .metrics import CONTENT_TYPE, ProxyMetrics, route_label
from .ratelimit import Denied, RateLimits
from .requestlog import RequestLog
from .shared import SharedCounters
from .tenants import TenantStore, tenant_of
from .upstream import (
    Headers,
    UpstreamError,
    provider_for,
    request_headers,
    response_headers,
    with_header,
)

log = logging.getLogger("headroom.proxy")


JSON_HEADERS: Headers = [(b"content-type", b"application/json")]
_SEEN_ABOVE = 4096  # outputs smaller than this compress fast enough on the event loop
_SEEN_LIMIT = 8192
# Even from the memo, a big body costs a few ms (hashing and counting): off the loop too.
_INLINE_BELOW = 512 * 1024
# An upstream body that breaks off midway (a closed connection, a read timeout).
_BROKEN: tuple[type[BaseException], ...] = (asyncio.TimeoutError, ConnectionError, OSError)
try:
    import aiohttp as _aiohttp

    _BROKEN = (*_BROKEN, _aiohttp.ClientError)
except ImportError:  # the proxy extra is missing: create_app says so
    pass
_OPS_PATHS = ("/livez", "/readyz", "/stats", "/metrics")
_LLM_PATHS = ("/v1/messages", "/v1/chat/completions", "/chat/completions", "/v1/responses")
# The retrieval store of the request being handled: the shared store seen through the
# client's tenant prefix (copied into worker threads with the context).
_request_store: contextvars.ContextVar[Store | None] = contextvars.ContextVar(
    "headroom_proxy_store", default=None
)


class _ClientGone(Exception):
    """The client disconnected while the proxy was reading its request."""


@dataclass
class ProxyStats:
    """Counters for ``/stats`` (the savings live in the ledger)."""

    requests: int = 0
    compressed: int = 0
    passed_through: int = 0
    bypassed: int = 0
    failed_open: int = 0
    upstream_errors: int = 0
    upstream_unreachable: int = 0
    rejected: int = 0
    disconnects: int = 0
    rate_limited: int = 0
    limit_fallbacks: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        """The counters, plus ``errors``: requests that failed open, were rejected, or
        got an upstream error or no upstream at all."""
        with self._lock:
            out = {k: v for k, v in vars(self).items() if not k.startswith("_")}
        out["errors"] = (
            out["failed_open"] + out["rejected"] + out["upstream_errors"]
            + out["upstream_unreachable"]
        )  # fmt: skip
        return out


class _Body:
    """The client's request body, read through ``receive``; afterwards ``receive`` is
    watched for a disconnect."""

    def __init__(self, receive: Receive) -> None:
        self.receive = receive
        self.done = asyncio.Event()

    async def read(self, limit: int) -> bytes | None:
        """The whole body, or None when it exceeds ``limit`` bytes."""
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                raise _ClientGone
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not msg.get("more_body", False):
                self.done.set()
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def first(self) -> tuple[bytes, bool]:
        """The first chunk and whether more follow."""
        msg = await self.receive()
        if msg["type"] == "http.disconnect":
            raise _ClientGone
        more = bool(msg.get("more_body", False))
        if not more:
            self.done.set()
        return msg.get("body", b""), more

    async def rest(self, first: bytes) -> AsyncIterator[bytes]:
        yield first
        while True:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                raise _ClientGone
            yield msg.get("body", b"")
            if not msg.get("more_body", False):
                self.done.set()
                return

    async def disconnected(self) -> None:
        await self.done.wait()
        while True:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                return


class HeadroomProxy:
    """The ASGI app. ``ledger`` holds the savings; ``stats`` the request counters."""

    def __init__(self, config: ProxyConfig | None = None) -> None:
        self.config = config or ProxyConfig()
        check_backend(self.config)
        self.upstream = BackendClient(self.config)
        self.engine_config = HeadroomConfig(
            min_tokens_to_compress=self.config.min_tokens_to_compress
        )
        self.policy = self.config.policy
        self.ledger = SavingsLedger()
        self.stats = ProxyStats()
        spec = self.config.store if self.config.store is not None else self.config.redis_url
        self._store_spec = spec
        self._store: Store | None = None
        limits = RateLimits(
            rpm=self.config.rpm,
            tpm=self.config.tpm,
            global_rpm=self.config.global_rpm,
            redis_url=self.config.redis_url,
            window=self.config.limit_window,
        ) if self.config.rpm or self.config.tpm or self.config.global_rpm else None  # fmt: skip
        self.limits = limits
        self.metrics = _metrics() if self.config.metrics else None
        self.counters = SharedCounters(self.config.redis_url)
        self.costs: Costs | None = None
        if self.config.budget > 0 and not costs.available():
            require("genai_prices", "proxy")  # a budget cannot work unpriced: say so
        if (self.config.costs or self.config.budget > 0) and costs.available():
            self.costs = Costs(
                self.counters,
                budget=self.config.budget,
                period=self.config.budget_period,
                scope=self.config.budget_scope,
            )
        self.cache: ResponseCache | None = None
        if self.config.cache:
            require("cachetools", "proxy")
            self.cache = ResponseCache(
                ttl=self.config.cache_ttl,
                max_entries=self.config.cache_max_entries,
                max_bytes=self.config.cache_max_bytes,
                redis_url=self.config.redis_url,
            )
        # Whether requests are measured at all (a disabled feature costs nothing).
        self.request_log: RequestLog | None = None
        if self.config.log_file:
            self.request_log = RequestLog(
                self.config.log_file,
                per_process=self.config.workers > 1,
                max_bytes=self.config.log_max_bytes,
                backups=self.config.log_backups,
                log_messages=self.config.log_messages,
            )
        features = (self.metrics, limits, self.costs, self.cache, self.request_log)
        self._observing = any(x is not None for x in features)
        self.memory: ProxyMemory | None = None
        if self.config.memory:
            # Memory lives where the retrieval store does: Redis when there is one.
            path, url = self.config.memory_path, self.config.redis_url
            backend: MemoryBackend | None = None
            if path:
                backend = MemoryStore(path)
            elif url:
                backend = RedisMemoryStore(url)
            self.memory = ProxyMemory(backend)
        # Digests of large tool outputs already compressed (touched on the event loop only).
        self._seen: OrderedDict[int, None] = OrderedDict()

    # ------------------------------------------------------------------ lifecycle
    async def aclose(self) -> None:
        await self.upstream.aclose()
        await self.counters.aclose()
        if self.cache is not None:
            await self.cache.aclose()
        if self.request_log is not None:
            self.request_log.close()

    @property
    def store(self) -> Store:
        """The shared retrieval store (opened on first use)."""
        if self._store is None:
            spec = self._store_spec
            self._store = default_store() if spec is None else shared_store(spec)
        return self._store

    def _tenant_store(self, scope: Scope) -> Store:
        tenant = tenant_of(scope.get("headers") or (), scope.get("client"))
        return TenantStore(lambda: self.store, tenant)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":  # websockets: not ours to serve
            return
        path: str = scope["path"]
        if path in _OPS_PATHS:
            await self._ops(path, send)
            return
        self.stats.add("requests")
        limits = self.limits
        if not self._observing:  # nothing to measure or count: the plain path
            await self._watch(scope, _Body(receive), send)
            return
        llm = scope["method"] == "POST" and path.startswith(_LLM_PATHS)
        ex = Exchange(path=path, route=route_label(path), method=scope["method"])
        ex.provider = provider_for(path, list(scope.get("headers") or ()))
        exchange.current.set(ex)
        if llm and self.request_log is not None and self.request_log.log_messages:
            receive = _teed(receive, ex, self.config.max_body_bytes)
        if llm:
            ex.tenant = tenant_of(scope.get("headers") or (), scope.get("client"))
            # Usage is read from the answer's bytes: ask for them uncompressed.
            scope["headers"] = [
                (k, v) for k, v in scope.get("headers") or () if k.lower() != b"accept-encoding"
            ]
        if limits is not None and llm:
            denied = await limits.admit(ex.tenant)
            self.stats.limit_fallbacks = limits.fallbacks
            if denied is not None:
                ex.status = 429
                ex.error = f"rate limited ({denied.what})"
                if self.metrics is not None:
                    self.metrics.rate_limited.labels(denied.what).inc()
                await self._rate_limited(path, denied, send)
                await self.counters.add({"count:rate_limited": 1})
                self._finish(ex)
                return
        if self.costs is not None and llm and self.costs.budget > 0:
            over = await self.costs.check(ex.tenant)
            if over is not None:
                ex.status = 402
                ex.error = "over budget"
                await self._over_budget(path, over, send)
                await self.counters.add({"count:over_budget": 1})
                self._finish(ex)
                return
        key: str | None = None
        if self.cache is not None and llm:
            receive, key, hit = await self._cache_lookup(ex, receive)
            if hit is not None and key is not None:
                await self._replay(ex, key, hit, send)
                self._finish(ex)
                return
        captured: list[bytes] | None = [] if key is not None else None
        size = 0
        response_headers: Headers = []

        async def observed(message: Message) -> None:
            nonlocal captured, size, response_headers
            if message["type"] == "http.response.start":
                ex.status = int(message["status"])
                if captured is not None:
                    response_headers = list(message.get("headers") or ())
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                if body and ex.first_byte_at is None:
                    ex.first_byte_at = time.perf_counter()
                ex.tap.feed(body)
                if captured is not None:
                    size += len(body)
                    if self.cache is not None and size > self.cache.max_bytes:
                        captured = None
                    else:
                        captured.append(body)
            await send(message)

        try:
            await self._watch(scope, _Body(receive), observed)
        finally:
            ex.ended_at = time.perf_counter()
            if limits is not None and llm and limits.tpm is not None:
                with contextlib.suppress(Exception):
                    await limits.charge(ex.tenant, ex.tap.billed())
            if self.costs is not None and llm:
                await self._price(ex)
            if key is not None and captured is not None and self.cache is not None:
                data = b"".join(captured)
                if worth_keeping(ex.status, data, key.endswith(":s")):
                    entry = CachedResponse(ex.status, kept_headers(response_headers), data)
                    with contextlib.suppress(Exception):
                        await self.cache.put(key, entry)
            self._finish(ex)

    async def _cache_lookup(
        self, ex: Exchange, receive: Receive
    ) -> tuple[Receive, str | None, CachedResponse | None]:
        """Reads the request body (then replays it to the handler) and looks it up."""
        buffered: list[Message] = []
        size = 0
        complete = False
        while size <= self.config.max_body_bytes:
            msg = await receive()
            buffered.append(msg)
            if msg["type"] != "http.request":
                break
            size += len(msg.get("body", b""))
            if not msg.get("more_body", False):
                complete = True
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        if not complete:
            return replay, None, None
        raw = b"".join(m.get("body", b"") for m in buffered)
        try:
            key = cache_key(ex.tenant, route_label(ex.path), json.loads(raw))
        except ValueError:
            key = None
        if key is None or self.cache is None:
            return replay, None, None
        hit = await self.cache.get(key)
        ex.cache_hit = hit is not None
        if self.metrics is not None:
            self.metrics.cache.labels("hit" if hit is not None else "miss").inc()
        await self.counters.add({"count:cache_hits" if hit else "count:cache_misses": 1})
        return replay, key, hit

    async def _replay(self, ex: Exchange, key: str, hit: CachedResponse, send: Send) -> None:
        """Sends a stored answer: a stored stream event by event."""
        ex.status = hit.status
        ex.forwarded_at = ex.first_byte_at = time.perf_counter()
        headers = [*hit.headers, (b"x-headroom-cache", b"hit")]
        if not key.endswith(":s"):
            await _respond(send, hit.status, hit.body, headers)
            return
        await send({"type": "http.response.start", "status": hit.status, "headers": headers})
        for event in hit.body.split(b"\n\n"):
            if event:
                await _body(send, event + b"\n\n", True)
        await _body(send, b"", False)

    async def _price(self, ex: Exchange) -> None:
        try:
            provider = "anthropic" if ex.path.startswith("/v1/messages") else "openai"
            saved = max(0, ex.tokens_before - ex.tokens_after)
            ex.cost, ex.savings = costs.price(ex.response_model(), provider, ex.usage, saved)
            if self.costs is not None and (ex.cost or ex.savings):
                await self.costs.record(ex.cost, ex.savings, ex.tenant)
        except Exception:  # bookkeeping must never break serving
            log.exception("headroom proxy: pricing a request failed")

    async def _over_budget(self, path: str, over: BudgetExceeded, send: Send) -> None:
        fmt = ANTHROPIC if path.startswith("/v1/messages") else OPENAI_CHAT
        who = "this client's" if over.scope == "client" else "the proxy's"
        message = (
            f"headroom proxy: {who} {over.period} budget of ${over.limit:.2f} is spent "
            f"(${over.spent:.2f}); requests resume in the next period."
        )
        kind = "billing_error" if fmt is ANTHROPIC else "insufficient_quota"
        await _respond(send, 402, dumps_body(fmt.error_body(kind, message)), JSON_HEADERS)

    def _finish(self, ex: Exchange) -> None:
        """Counts a finished request in the metrics (never fails the request)."""
        try:
            if self.metrics is not None:
                self.metrics.observe(ex)
            if self.request_log is not None:
                self.request_log.write(ex, ex.provider)
        except Exception:  # bookkeeping must never break serving
            log.exception("headroom proxy: recording a request failed")

    async def _rate_limited(self, path: str, denied: Denied, send: Send) -> None:
        self.stats.add("rate_limited")
        fmt = ANTHROPIC if path.startswith("/v1/messages") else OPENAI_CHAT
        what = {"tokens": "tokens", "requests": "requests", "global": "requests (all clients)"}
        message = (
            f"headroom proxy: rate limit for {what[denied.what]} reached; "
            f"retry after {denied.retry_after} s."
        )
        headers = [*JSON_HEADERS, (b"retry-after", str(denied.retry_after).encode())]
        error = fmt.error_body("rate_limit_error", message)
        await _respond(send, 429, dumps_body(error), headers)

    async def _watch(self, scope: Scope, body: _Body, send: Send) -> None:
        """Runs the request; a client that goes away cancels it (and the upstream call)."""
        _request_store.set(self._tenant_store(scope))
        finished = False

        async def tracked(message: Message) -> None:
            nonlocal finished
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finished = True

        work = asyncio.ensure_future(self._handle(scope, body, tracked))
        watch = asyncio.ensure_future(body.disconnected())
        try:
            done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            work.cancel()
            watch.cancel()
            raise
        if work in done or finished:  # done, or only bookkeeping left after the response
            watch.cancel()
            with contextlib.suppress(_ClientGone):
                await work
            return
        # The client went away: cancelling the work closes the upstream call.
        self.stats.add("disconnects")
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, _ClientGone, Exception):
            await work

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                self.upstream.session()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _ops(self, path: str, send: Send) -> None:
        if path == "/livez":
            payload: dict[str, Any] = {"status": "ok"}
        elif path == "/readyz":
            payload = {"status": "ready"}
        elif path == "/metrics":
            if self.metrics is None:
                error = {"error": "metrics are off (--no-metrics)"}
                await _respond(send, 404, dumps_body(error), JSON_HEADERS)
                return
            text = await asyncio.to_thread(self.metrics.render) if self.metrics.multiprocess else (
                self.metrics.render()
            )  # fmt: skip
            await _respond(send, 200, text, [(b"content-type", CONTENT_TYPE.encode())])
            return
        else:
            payload = {**self.stats.as_dict(), **self.ledger.summary().as_dict()}
            payload["shared"] = await self._shared_stats()
        await _respond(send, 200, dumps_body(payload), JSON_HEADERS)

    async def _shared_stats(self) -> dict[str, Any]:
        """Figures summed over every worker and replica (with Redis; else this process)."""
        names = ["count:rate_limited", "count:over_budget", "count:cache_hits",
                 "count:cache_misses"]  # fmt: skip
        got = await self.counters.get(names)
        out: dict[str, Any] = {n.split(":", 1)[1]: int(v) for n, v in got.items()}
        out["scope"] = "redis" if self.counters.shared else "process"
        if self.counters.failures:
            out["redis_failures_here"] = self.counters.failures
        if self.costs is not None:
            out["costs"] = await self.costs.summary()
        return out

    # ------------------------------------------------------------------ requests
    async def _handle(self, scope: Scope, body: _Body, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        raw_headers: Headers = list(scope.get("headers") or ())
        headers, ours = request_headers(raw_headers)
        provider = provider_for(path, headers)
        url = upstream_url(
            self.config,
            provider,
            (scope.get("raw_path") or path.encode("latin-1")).decode("latin-1"),
            scope.get("query_string", b"").decode("latin-1"),
        )
        fmt = format_for_path(path) if method == "POST" else None
        if fmt is None:
            await self._pass_through(method, url, headers, body, send, provider)
            return
        raw = await body.read(self.config.max_body_bytes)
        if raw is None:
            self.stats.add("rejected")
            limit = self.config.max_body_bytes
            error = fmt.error_body(
                "request_too_large", f"Request body exceeds the proxy's limit of {limit} bytes."
            )
            await _respond(send, 413, dumps_body(error), JSON_HEADERS)
            return
        if self.memory is not None and fmt in (ANTHROPIC, OPENAI_CHAT):
            tenant = tenant_of(raw_headers, scope.get("client"))
            injector = self.memory.injector(owner_of(tenant, ours.get(b"x-headroom-user")))
            new = inject(raw, injector)
            if new is not None:
                raw = new
                headers = with_header(headers, b"content-length", str(len(raw)).encode())
            headers = with_header(headers, b"accept-encoding", b"identity")
            send = stripping_send(send, injector)
        extra: Headers = []
        if ours.get(b"x-headroom-bypass", b"").strip().lower() in (b"true", b"1", b"yes"):
            self.stats.add("bypassed")
            extra = [(b"x-headroom-skipped", b"bypass")]
        elif may_hold_tool_output(raw):
            outcome, reason = await self._compress(fmt, raw, _request_store.get())
            if reason:
                self.stats.add("failed_open")
                extra = [(b"x-headroom-skipped", reason.encode("ascii", "replace"))]
            elif outcome is not None and outcome.changed:
                await self._compressed(fmt, method, url, headers, outcome, send)
                return
        self.stats.add("passed_through")
        await self._forward(method, url, headers, raw, send, provider, extra)

    async def _compress(
        self, fmt: WireFormat, raw: bytes, store: Store | None
    ) -> tuple[RequestCompression | None, str]:
        """(the compression, "") or (None, why it failed open)."""
        try:
            parsed = json.loads(raw)
        except ValueError:
            return None, ""  # not ours to judge: the provider answers bad JSON itself
        if not isinstance(parsed, dict):
            return None, ""

        def run() -> RequestCompression:
            return compress_request(
                fmt,
                parsed,
                config=self.engine_config,
                policy=self.policy,
                store=store,
            )

        try:
            size = len(raw)
            if size > self.config.thread_above and (
                size > _INLINE_BELOW or self._has_new_outputs(fmt, parsed)
            ):
                outcome = await asyncio.to_thread(run)
            else:
                outcome = run()
        except Exception as exc:  # never worse than no proxy: send the original
            log.warning("headroom proxy: compression failed, forwarding the original: %r", exc)
            ex = exchange.current.get()
            if ex is not None:
                ex.compression_failed = True
                ex.error = f"compression failed: {type(exc).__name__}"
            return None, f"error: {type(exc).__name__}"
        ex = exchange.current.get()
        if ex is not None:
            model = parsed.get("model")
            ex.model = model if isinstance(model, str) else ""
            if outcome.changed:
                ex.tokens_before, ex.tokens_after = outcome.tokens_before, outcome.tokens_after
                if outcome.result is not None:
                    ex.transforms = list(outcome.result.transforms_applied)
        if outcome.result is not None:
            self.ledger.record(
                outcome.tokens_before,
                outcome.tokens_after,
                model=outcome.result.model,
                source="proxy",
            )
        return outcome, ""

    def _has_new_outputs(self, fmt: WireFormat, body: dict[str, Any]) -> bool:
        """Whether the body holds a large tool output this process has not compressed
        before. Seen ones come from the engine's memo in well under a millisecond, so
        a request made only of them is compressed on the event loop (a thread hop costs
        more); anything new goes to a worker thread. Outputs are told apart by length and
        ends, which costs nothing per byte: a rare mix-up only moves one compression
        onto the event loop or off it, never changes what is sent."""
        try:
            messages = fmt.messages(body) or []
            digests = [
                hash((len(t), t[:256], t[-256:]))
                for t in (slot.text for slot in slots(messages))
                if len(t) > _SEEN_ABOVE
            ]
        except Exception:
            return True
        new = [d for d in digests if d not in self._seen]
        for d in digests:
            self._seen[d] = None
            self._seen.move_to_end(d)
        while len(self._seen) > _SEEN_LIMIT:
            self._seen.popitem(last=False)
        return bool(new)

    # ------------------------------------------------------------------ relaying
    async def _pass_through(
        self, method: str, url: str, headers: Headers, body: _Body, send: Send, provider: str
    ) -> None:
        self.stats.add("passed_through")
        first, more = await body.first()
        content: Any = body.rest(first) if more else first
        await self._forward(method, url, headers, content, send, provider, [])

    async def _forward(
        self,
        method: str,
        url: str,
        headers: Headers,
        content: Any,
        send: Send,
        provider: str,
        extra: Headers,
    ) -> None:
        """Sends the request and streams the upstream response back byte for byte."""
        try:
            mark_forwarded()
            resp = await self.upstream.send(method, url, headers, content)
        except UpstreamError as exc:
            await self._unreachable(send, provider, exc)
            return
        try:
            if resp.status >= 400:
                self.stats.add("upstream_errors")
            await send(
                {
                    "type": "http.response.start",
                    "status": resp.status,
                    "headers": response_headers(resp.headers, body_changed=False) + extra,
                }
            )
            try:
                async for chunk in resp.chunks():
                    if chunk:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except _BROKEN as exc:
                if "text/event-stream" not in resp.content_type:
                    raise  # the client sees the body cut short
                await self._broken_stream(send, provider, exc)
                return
            await send({"type": "http.response.body", "body": b""})
        finally:
            resp.close()

    async def _broken_stream(self, send: Send, provider: str, exc: BaseException) -> None:
        """The upstream stream broke off: end the client's stream with an error event in
        the provider's shape (the SDKs raise it), rather than a silent cut."""
        self.stats.add("upstream_errors")
        ex = exchange.current.get()
        if ex is not None:
            ex.error = f"upstream stream broke: {type(exc).__name__}"
        fmt = ANTHROPIC if provider == "anthropic" else OPENAI_CHAT
        message = f"headroom proxy: the upstream stream broke off ({type(exc).__name__})"
        await _body(send, _stream_error(fmt, message.encode()), False)

    async def _unreachable(self, send: Send, provider: str, exc: UpstreamError) -> None:
        self.stats.add("upstream_unreachable")
        fmt = ANTHROPIC if provider == "anthropic" else OPENAI_CHAT
        kind = "timeout_error" if exc.timeout else "api_error"
        error = fmt.error_body(kind, f"headroom proxy: {exc}")
        await _respond(send, 504 if exc.timeout else 502, dumps_body(error), JSON_HEADERS)

    async def _compressed(
        self,
        fmt: WireFormat,
        method: str,
        url: str,
        headers: Headers,
        outcome: RequestCompression,
        send: Send,
    ) -> None:
        self.stats.add("compressed")
        info: Headers = outcome.info_headers()
        data = dumps_body(outcome.body)
        headers = with_header(headers, b"content-length", str(len(data)).encode())
        provider = "anthropic" if fmt is ANTHROPIC else "openai"
        splicer = splicer_for(fmt, self.policy) if outcome.body.get("stream") else None
        if not outcome.tool_offered or (outcome.body.get("stream") and splicer is None):
            await self._forward(method, url, headers, data, send, provider, info)
            return
        headers = with_header(headers, b"accept-encoding", b"identity")
        if splicer is None:
            await self._rounds(fmt, url, headers, outcome, data, send, info, provider)
        else:
            await self._stream_rounds(fmt, url, headers, outcome, data, send, info, provider)

    async def _answer(self, calls: list[ToolCall], model: Any) -> tuple[Any, int]:
        return await asyncio.to_thread(answer_and_count, calls, _request_store.get(), model)

    async def _rounds(
        self,
        fmt: WireFormat,
        url: str,
        headers: Headers,
        outcome: RequestCompression,
        data: bytes,
        send: Send,
        info: Headers,
        provider: str,
    ) -> None:
        """Non-streamed: call, answer retrieval calls, call again; send the last answer."""
        body = outcome.body
        outcome_after = outcome.tokens_after
        usages: list[Any] = []
        first: dict[str, Any] | None = None
        rounds = 0
        retrieval_tokens = 0
        while True:
            try:
                mark_forwarded()
                resp = await self.upstream.send("POST", url, headers, data)
                try:
                    payload = await resp.read()
                finally:
                    resp.close()
            except UpstreamError as exc:
                await self._unreachable(send, provider, exc)
                return
            parsed, calls, action = read_round(
                fmt, self.policy, resp.status, payload, rounds, usages
            )
            if parsed is None:  # errors and odd answers reach the client as is
                if resp.status >= 400:
                    self.stats.add("upstream_errors")
                hdrs = response_headers(resp.headers, body_changed=False)
                await _respond(send, resp.status, payload, hdrs + info)
                break
            first = first or parsed
            if action is not Action.ANSWER:
                final = final_response(fmt, parsed, action, usages, first)
                hdrs = response_headers(resp.headers, body_changed=True)
                if rounds:
                    hdrs.append((b"x-headroom-retrieval-rounds", str(rounds).encode()))
                await _respond(send, 200, dumps_body(final), hdrs + info)
                break
            answers, tokens = await self._answer(calls, body.get("model"))
            # A hidden round re-sends the compressed request, plus the answers.
            retrieval_tokens += outcome_after + tokens
            rounds += 1
            body = fmt.follow_up(body, parsed, answers)
            data = dumps_body(body)
            headers = with_header(headers, b"content-length", str(len(data)).encode())
        if rounds:
            self.ledger.add_retrieval(rounds, retrieval_tokens)

    async def _stream_rounds(
        self,
        fmt: WireFormat,
        url: str,
        headers: Headers,
        outcome: RequestCompression,
        data: bytes,
        send: Send,
        info: Headers,
        provider: str,
    ) -> None:
        """Streamed: relay events as they come; splice hidden rounds into the stream."""
        body = outcome.body
        outcome_after = outcome.tokens_after
        splicer = splicer_for(fmt, self.policy)
        assert splicer is not None
        started = False
        retrieval_tokens = 0
        try:
            while True:
                try:
                    mark_forwarded()
                    resp = await self.upstream.send("POST", url, headers, data)
                except UpstreamError as exc:
                    if not started:
                        await self._unreachable(send, provider, exc)
                    else:
                        await _body(send, _stream_error(fmt, str(exc).encode()), False)
                    return
                try:
                    if resp.status != 200 or "text/event-stream" not in resp.content_type:
                        payload = await resp.read()
                        if resp.status >= 400:
                            self.stats.add("upstream_errors")
                        if not started:
                            hdrs = response_headers(resp.headers, body_changed=False)
                            await _respond(send, resp.status, payload, hdrs + info)
                        else:
                            await _body(send, _stream_error(fmt, payload), False)
                        return
                    if not started:
                        started = True
                        hdrs = response_headers(resp.headers, body_changed=True)
                        await send(
                            {"type": "http.response.start", "status": 200, "headers": hdrs + info}
                        )
                    chunks = resp.chunks()
                    try:
                        async for chunk in chunks:
                            try:
                                out = splicer.feed(chunk)
                            except Exception:  # a splicer bug: relay the rest as it comes
                                log.exception("headroom proxy: stream splicing failed")
                                self.stats.add("failed_open")
                                await _body(send, chunk, True)
                                async for rest in chunks:
                                    await _body(send, rest, True)
                                await _body(send, b"", False)
                                return
                            if out:
                                await _body(send, out, True)
                    except _BROKEN as exc:
                        await self._broken_stream(send, provider, exc)
                        return
                finally:
                    resp.close()
                end = splicer.end_round()
                if end.action is not Action.ANSWER:
                    await _body(send, splicer.finish(), False)
                    return
                answers, tokens = await self._answer(end.calls, body.get("model"))
                retrieval_tokens += outcome_after + tokens
                body = fmt.follow_up(body, end.response, answers)
                data = dumps_body(body)
                headers = with_header(headers, b"content-length", str(len(data)).encode())
                splicer.next_round()
        finally:
            if splicer.rounds:
                self.ledger.add_retrieval(splicer.rounds, retrieval_tokens)


def _teed(receive: Receive, ex: Exchange, limit: int) -> Receive:
    """``receive`` that also keeps the request body (up to ``limit`` bytes) for the log."""
    parts: list[bytes] = []
    size = 0

    async def tee() -> Message:
        nonlocal size
        msg = await receive()
        if msg["type"] == "http.request":
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size <= limit:
                parts.append(chunk)
            if not msg.get("more_body", False) and size <= limit:
                ex.request_body = b"".join(parts)
        return msg

    return tee


def _metrics() -> ProxyMetrics | None:
    try:
        return ProxyMetrics()
    except ImportError:  # an older install of the extra: serve without /metrics
        log.warning("headroom proxy: prometheus-client is not installed; /metrics is off")
        return None


def _stream_error(fmt: WireFormat, payload: bytes) -> bytes:
    """An error event in the middle of a stream, as the provider sends one: the
    upstream's own error body when it is one, else an ``api_error`` saying what failed."""
    try:
        error = json.loads(payload)
    except ValueError:
        error = None
    if not isinstance(error, dict) or "error" not in error:
        error = fmt.error_body("api_error", payload.decode("utf-8", "replace"))
    if fmt is ANTHROPIC:
        return f"event: error\ndata: {json.dumps(error)}\n\n".encode()
    return f"data: {json.dumps(error)}\n\n".encode()


async def _respond(send: Send, status: int, body: bytes, headers: Headers) -> None:
    hdrs = [(k, v) for k, v in headers if k != b"content-length"]
    hdrs.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


def create_app(config: ProxyConfig | None = None) -> HeadroomProxy:
    """The proxy's ASGI app (serve it with uvicorn, or mount it in tests)."""
    return HeadroomProxy(config)
