"""``--memory``: cross-conversation memory inside the proxy.

The owner of a request's memories is its tenant (the API-key digest) plus the
``x-headroom-user`` header, which the proxy consumes and never forwards. Before the
upstream call the new user message gets the memory block; the answer (whole or streamed)
has its ``<memory>`` blocks parsed, learned and stripped before the client sees it.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..memory import Memory, open_memory_store
from ..memory.api import MemoryBackend
from ..memory.client import MemoryInjector
from ..memory.inline import StreamStripper, extract

log = logging.getLogger("headroom.proxy")

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
_MAX_OWNERS = 1024


def owner_of(tenant: str, user: bytes | None) -> str:
    name = (user or b"").strip().decode("utf-8", "replace")[:200]
    return f"{tenant}|u:{name}"


class ProxyMemory:
    """One injector per owner (kept for the last ``_MAX_OWNERS``), over one store."""

    def __init__(self, store: MemoryBackend | None = None, k: int = 5) -> None:
        self._store = store
        self.k = k
        self._injectors: OrderedDict[str, MemoryInjector] = OrderedDict()

    @property
    def store(self) -> MemoryBackend:
        if self._store is None:
            self._store = open_memory_store()
        return self._store

    def injector(self, owner: str) -> MemoryInjector:
        inj = self._injectors.get(owner)
        if inj is None:
            inj = MemoryInjector(Memory(owner, store=self.store, k=self.k))
            self._injectors[owner] = inj
        self._injectors.move_to_end(owner)
        while len(self._injectors) > _MAX_OWNERS:
            self._injectors.popitem(last=False)
        return inj


def inject(raw: bytes, injector: MemoryInjector) -> bytes | None:
    """The request body with the memory block added, or None to send ``raw`` as it is."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        return None
    try:
        prepared = injector.prepare(body)
    except Exception as exc:  # any failure keeps the original
        log.warning("headroom proxy: memory injection skipped: %r", exc)
        return None
    if prepared is body or prepared.get("messages") == body["messages"]:
        return None
    return json.dumps(prepared, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _strip_json(payload: bytes, injector: MemoryInjector) -> bytes | None:
    """A whole answer without its ``<memory>`` blocks (None: unchanged)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    texts: list[dict[str, Any]] = []
    for choice in data.get("choices") or []:
        msg = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(msg, dict) and isinstance(msg.get("content"), str):
            texts.append(msg)
    content = data.get("content")
    for block in content if isinstance(content, list) else []:
        ok = isinstance(block, dict) and block.get("type") == "text"
        if ok and isinstance(block.get("text"), str):
            texts.append(block)
    facts: list[Any] = []
    changed = False
    for holder in texts:
        key = "content" if isinstance(holder.get("content"), str) else "text"
        new, found = extract(holder[key])
        if new != holder[key]:
            holder[key], changed = new, True
        facts.extend(found)
    injector.learn(facts)
    return json.dumps(data, ensure_ascii=False).encode("utf-8") if changed else None


class _SseFilter:
    """Rewrites the text deltas of Anthropic or OpenAI Chat SSE events; text held back
    by a stripper and released at a block's end goes out in an extra delta."""

    def __init__(self, injector: MemoryInjector) -> None:
        self.injector = injector
        self.buf = b""
        self.strippers: dict[Any, StreamStripper] = {}

    def feed(self, chunk: bytes) -> bytes:
        self.buf += chunk.replace(b"\r\n", b"\n")
        out: list[bytes] = []
        while (end := self.buf.find(b"\n\n")) >= 0:
            event, self.buf = self.buf[: end + 2], self.buf[end + 2 :]
            out.append(self._event(event))
        return b"".join(out)

    def close(self) -> bytes:
        rest, self.buf = self.buf, b""
        for stripper in self.strippers.values():
            self.injector.learn(stripper.facts)
        self.strippers.clear()
        return rest

    def _event(self, event: bytes) -> bytes:
        lines = event.rstrip(b"\n").split(b"\n")
        idx = next((i for i, ln in enumerate(lines) if ln.startswith(b"data:")), -1)
        if idx < 0:
            return event
        try:
            data = json.loads(lines[idx][5:])
        except ValueError:
            return event
        if not isinstance(data, dict):
            return event
        kind = data.get("type")

        def dump(d: Any) -> bytes:
            new = [*lines]
            new[idx] = b"data: " + json.dumps(d, ensure_ascii=False).encode("utf-8")
            return b"\n".join(new) + b"\n\n"

        if kind == "content_block_delta":
            delta = data.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                text = delta.get("text")
                if isinstance(text, str):
                    stripper = self.strippers.setdefault(data.get("index"), StreamStripper())
                    delta["text"] = stripper.feed(text)
                    return dump(data) if delta["text"] != text else event
            return event
        if kind == "content_block_stop":
            index = data.get("index")
            if index not in self.strippers:
                return event
            stripper = self.strippers.pop(index)
            self.injector.learn(stripper.facts)
            rest = stripper.finish()
            if not rest:
                return event
            extra = {
                "type": "content_block_delta",
                "index": data.get("index"),
                "delta": {"type": "text_delta", "text": rest},
            }
            data_line = json.dumps(extra, ensure_ascii=False).encode("utf-8")
            return b"event: content_block_delta\ndata: " + data_line + b"\n\n" + event
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            return event
        changed = False
        for choice in choices:
            if not isinstance(choice, dict):
                continue
            key = choice.get("index", 0)
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                stripper = self.strippers.setdefault(key, StreamStripper())
                text = delta["content"]
                delta["content"] = stripper.feed(text)
                changed = changed or delta["content"] != text
            if choice.get("finish_reason") and key in self.strippers:
                stripper = self.strippers.pop(key)
                self.injector.learn(stripper.facts)
                rest = stripper.finish()
                if rest and isinstance(delta, dict):
                    delta["content"] = (delta.get("content") or "") + rest
                    changed = True
        return dump(data) if changed else event


def stripping_send(send: Send, injector: MemoryInjector) -> Send:
    """``send`` that strips ``<memory>`` blocks from a 200 answer (JSON or SSE) first."""
    state: dict[str, Any] = {"mode": "pass", "start": None, "body": [], "sse": None}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            ctype = b""
            encoded = False
            for k, v in headers:
                if k.lower() == b"content-type":
                    ctype = v.lower()
                elif k.lower() == b"content-encoding" and v.strip().lower() != b"identity":
                    encoded = True
            if message.get("status") != 200 or encoded:
                state["mode"] = "pass"
            elif b"text/event-stream" in ctype:
                state["mode"] = "sse"
                state["sse"] = _SseFilter(injector)
                kept = [h for h in headers if h[0].lower() != b"content-length"]
                message = {**message, "headers": kept}
            elif b"json" in ctype:
                state["mode"] = "json"
                state["start"] = message
                return
            await send(message)
            return
        if message["type"] != "http.response.body" or state["mode"] == "pass":
            await send(message)
            return
        more = bool(message.get("more_body"))
        chunk: bytes = message.get("body", b"")
        if state["mode"] == "sse":
            sse: _SseFilter = state["sse"]
            out = sse.feed(chunk)
            if not more:
                out += sse.close()
            if out or not more:
                await send({"type": "http.response.body", "body": out, "more_body": more})
            return
        state["body"].append(chunk)
        if more:
            return
        payload = b"".join(state["body"])
        try:
            new = _strip_json(payload, injector)
        except Exception as exc:  # an unexpected shape: the answer as it came
            log.warning("headroom proxy: memory extraction skipped: %r", exc)
            new = None
        start = state["start"]
        if new is not None:
            headers = [h for h in start.get("headers") or [] if h[0].lower() != b"content-length"]
            headers.append((b"content-length", str(len(new)).encode()))
            start = {**start, "headers": headers}
            payload = new
        await send(start)
        await send({"type": "http.response.body", "body": payload, "more_body": False})

    return wrapped
