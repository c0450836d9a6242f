"""``with_memory``: an OpenAI or Anthropic SDK client (or a ``HeadroomClient``) that
brings relevant memories into each new user message and learns facts from replies.

Only ``chat.completions.create`` (OpenAI) and ``messages.create`` (Anthropic) are wrapped,
sync and async, with or without ``stream=True``; every other attribute is the client's.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from .api import Memory
from .inline import StreamStripper, add_block, extract, memory_block, message_text

log = logging.getLogger("headroom")
_MAX_REMEMBERED_BLOCKS = 4096


def _digest(message: Any) -> str:
    raw = json.dumps(message, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


class MemoryInjector:
    """Adds the memory block to the new user message and re-adds the same bytes to the
    earlier user messages it once added a block to, so the sent prefix never changes."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self._blocks: OrderedDict[str, str] = OrderedDict()

    def prepare(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """SDK keyword arguments with ``messages`` prepared (see :meth:`inject`)."""
        messages = kwargs.get("messages")
        if not isinstance(messages, list) or not messages:
            return kwargs
        out = self.inject(
            messages,
            lambda m: isinstance(m, dict) and m.get("role") == "user",
            lambda m: m.get("content"),
            lambda m, c: {**m, "content": c},
        )
        return {**kwargs, "messages": out}

    def inject(
        self,
        messages: list[Any],
        is_user: Callable[[Any], bool],
        content_of: Callable[[Any], Any],
        with_content: Callable[[Any, Any], Any],
    ) -> list[Any]:
        """A copy of ``messages``: earlier user messages that once got a block get the
        same block again; the last one, when from the user, gets a new block."""
        out = list(messages)
        for i, msg in enumerate(messages[:-1]):
            if is_user(msg):
                block = self._blocks.get(_digest(content_of(msg)))
                if block is not None:
                    out[i] = with_content(msg, add_block(content_of(msg), block))
        last = messages[-1] if messages else None
        if last is None or not is_user(last):
            return out
        content = content_of(last)
        query = message_text(content)
        if not query.strip() or not isinstance(content, (str, list)):
            return out
        try:
            facts = self.memory.search(query)
        except Exception as exc:  # a broken store never breaks the call
            log.warning("headroom: memory search failed: %s", exc)
            facts = []
        block = memory_block(facts)
        key = _digest(content)
        self._blocks[key] = block
        self._blocks.move_to_end(key)
        while len(self._blocks) > _MAX_REMEMBERED_BLOCKS:
            self._blocks.popitem(last=False)
        out[-1] = with_content(last, add_block(content, block))
        return out

    def learn(self, facts: list[Any]) -> None:
        for f in facts:
            try:
                self.memory.add(f.fact, subject=f.subject, scope=f.scope)
            except Exception as exc:
                log.warning("headroom: memory write failed: %s", exc)


def _strip_response(resp: Any, injector: MemoryInjector) -> Any:
    """Remove ``<memory>`` blocks from a finished OpenAI or Anthropic response in place."""
    facts: list[Any] = []
    for choice in getattr(resp, "choices", None) or []:
        message: Any = getattr(choice, "message", None)
        text = getattr(message, "content", None)
        if isinstance(text, str):
            message.content, found = extract(text)
            facts.extend(found)
    content = getattr(resp, "content", None)
    if isinstance(content, list):
        for block in content:
            if getattr(block, "type", None) == "text" and isinstance(block.text, str):
                block.text, found = extract(block.text)
                facts.extend(found)
    injector.learn(facts)
    return resp


class _StreamFilter:
    """Rewrites text deltas of OpenAI chunks or Anthropic events; one event is held back
    so the text kept at the end of a block can be appended to it."""

    def __init__(self, injector: MemoryInjector) -> None:
        self.injector = injector
        self.strippers: dict[Any, StreamStripper] = {}
        self.pending: Any = None
        self.pending_key: Any = None

    def _text_ref(self, event: Any) -> tuple[Any, Any, str] | None:
        """(object holding the text, key, attribute name) of a text delta, if any."""
        choices = getattr(event, "choices", None)
        if choices:
            delta = getattr(choices[0], "delta", None)
            if isinstance(getattr(delta, "content", None), str):
                return delta, ("openai", choices[0].index), "content"
            return None
        if getattr(event, "type", None) == "content_block_delta":
            delta = event.delta
            if getattr(delta, "type", None) == "text_delta":
                return delta, ("anthropic", event.index), "text"
        return None

    def _flush(self, key: Any) -> list[Any]:
        out = []
        stripper = self.strippers.pop(key, None)
        if self.pending is not None and self.pending_key == key:
            ref = self._text_ref(self.pending)
            if ref is not None and stripper is not None:
                obj, _, attr = ref
                setattr(obj, attr, getattr(obj, attr) + stripper.finish())
                self.injector.learn(stripper.facts)
            out.append(self.pending)
            self.pending = None
        elif stripper is not None:
            self.injector.learn(stripper.facts)
        return out

    def process(self, event: Any) -> list[Any]:
        ref = self._text_ref(event)
        if ref is not None:
            obj, key, attr = ref
            stripper = self.strippers.setdefault(key, StreamStripper())
            setattr(obj, attr, stripper.feed(getattr(obj, attr)))
            out = [] if self.pending is None else [self.pending]
            if self.pending is not None and self.pending_key != key:
                out = self._flush(self.pending_key)
            self.pending, self.pending_key = event, key
            return out
        ends_block = getattr(event, "type", None) == "content_block_stop" or any(
            getattr(c, "finish_reason", None) for c in getattr(event, "choices", None) or []
        )
        out = self._flush(self.pending_key) if ends_block and self.pending is not None else []
        if self.pending is not None:
            out.append(self.pending)
            self.pending = None
        return [*out, event]

    def close(self) -> list[Any]:
        out = []
        for key in list(self.strippers):
            out.extend(self._flush(key))
        if self.pending is not None:
            out.append(self.pending)
            self.pending = None
        return out


class _Stream:
    """The SDK stream, iterated through a :class:`_StreamFilter`; other attributes
    (``close``, ``response``, context management) are the SDK stream's."""

    def __init__(self, stream: Any, injector: MemoryInjector) -> None:
        self._stream = stream
        self._filter = _StreamFilter(injector)

    def __iter__(self) -> Iterator[Any]:
        for event in self._stream:
            yield from self._filter.process(event)
        yield from self._filter.close()

    async def __aiter__(self) -> AsyncIterator[Any]:
        async for event in self._stream:
            for out in self._filter.process(event):
                yield out
        for out in self._filter.close():
            yield out

    def __enter__(self) -> _Stream:
        self._stream.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stream.__exit__(*exc)

    async def __aenter__(self) -> _Stream:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self._stream.__aexit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _Create:
    def __init__(self, target: Any, injector: MemoryInjector) -> None:
        self._target = target
        self._injector = injector

    def _finish(self, result: Any, stream: bool) -> Any:
        if stream:
            return _Stream(result, self._injector)
        try:
            return _strip_response(result, self._injector)
        except Exception as exc:  # an unexpected shape: the answer as it came
            log.warning("headroom: memory extraction skipped: %s", exc)
            return result

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs = self._injector.prepare(kwargs)
        stream = bool(kwargs.get("stream"))
        result = self._target(*args, **kwargs)
        if inspect.isawaitable(result):

            async def finish() -> Any:
                return self._finish(await result, stream)

            return finish()
        return self._finish(result, stream)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _Surface:
    def __init__(self, target: Any, injector: MemoryInjector, path: tuple[str, ...]) -> None:
        self._target = target
        self._injector = injector
        self._path = path

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        path = (*self._path, name)
        if path in (("chat", "completions", "create"), ("messages", "create")):
            return _Create(value, self._injector)
        if path in (("chat",), ("chat", "completions"), ("messages",)):
            return _Surface(value, self._injector, path)
        return value


class MemoryClient(_Surface):
    """The wrapped client; ``client.memory`` is the user's :class:`Memory`."""

    def __init__(self, client: Any, memory: Memory) -> None:
        self.memory = memory
        super().__init__(client, MemoryInjector(memory), ())

    def __repr__(self) -> str:
        return f"MemoryClient({self._target!r}, user_id={self.memory.user_id!r})"


def with_memory(
    client: Any,
    user_id: str,
    *,
    session_id: str | None = None,
    agent_id: str | None = None,
    path: str | os.PathLike[str] | None = None,
    k: int = 5,
    memory: Memory | None = None,
) -> MemoryClient:
    """Wrap an OpenAI/Anthropic client (sync or async) or a ``HeadroomClient`` with memory."""
    mem = memory or Memory(user_id, session_id=session_id, agent_id=agent_id, path=path, k=k)
    return MemoryClient(client, mem)


__all__ = ["MemoryClient", "MemoryInjector", "with_memory"]
