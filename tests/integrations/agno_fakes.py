"""Offline fakes for the Agno tests: a scripted Agno Model and realistic tool outputs.

The scripted model behaves like a provider: it sees only what it is sent, calls tools
with OpenAI-style ids, and (when streaming) sends tool calls as fragments that only its
own ``parse_tool_calls`` can assemble, like OpenAIChat does.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from agno.models.base import Model
from agno.models.message import Message
from agno.models.response import ModelResponse

FATAL_MESSAGE = "FATAL OutOfMemoryError: heap exhausted in SessionCache.put (cache never evicts)"
HIDDEN_REQUEST = "req-0042"
HIDDEN_VALUE = "tenant-7f3a9c"  # appears only in the original entry for HIDDEN_REQUEST
KEY_RE = re.compile(r"hr_[0-9a-f]{8,}")


def json_log(n: int = 100, fatal_at: int = 67) -> str:
    """A JSON array of log records with one FATAL entry buried in the middle."""
    records = []
    for i in range(n):
        record: dict[str, Any] = {
            "ts": f"2024-05-01T12:{i // 60:02d}:{i % 60:02d}Z",
            "level": "INFO" if i % 7 else "DEBUG",
            "service": "session-api",
            "request_id": f"req-{i:04d}",
            "message": f"GET /v1/sessions/{1000 + i} served in {20 + (i * 37) % 90} ms",
            "heap_mb": 512 + i * 9,
        }
        if f"req-{i:04d}" == HIDDEN_REQUEST:
            record["tenant"] = HIDDEN_VALUE
        if i == fatal_at:
            record["level"] = "FATAL"
            record["message"] = FATAL_MESSAGE
        records.append(record)
    return json.dumps(records, indent=1)


def build_log(lines: int = 2000) -> str:
    """A plain-text CI build log."""
    out = []
    for i in range(lines):
        out.append(
            f"[{i:05d}] step compile: building module pkg/mod_{i % 97}.py ... ok ({i % 13} warnings)"
        )
    out.append("BUILD SUCCESSFUL in 4m 12s")
    return "\n".join(out)


def db_rows(n: int = 60) -> str:
    rows = [
        {
            "id": i,
            "table": "sessions",
            "bytes": 4096 * (i + 1),
            "evicted": False,
            "owner": f"svc-{i % 5}",
        }
        for i in range(n)
    ]
    return json.dumps(rows)


def heap_dump(n: int = 80) -> str:
    rows = [
        {"class": f"com.acme.Obj{i}", "instances": 100 + i, "retained_kb": 10 * i} for i in range(n)
    ]
    rows[n // 2] = {
        "class": "com.acme.SessionCache$Entry",
        "instances": 9_800_000,
        "retained_kb": 7_340_032,
    }
    return json.dumps(rows)


# --------------------------------------------------------------------------- the model


@dataclass
class Step:
    """One scripted reply: tool calls, or a final text."""

    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    content: str | None = None


Script = Callable[[list[Message], int], Step]


@dataclass
class ScriptedModel(Model):
    """A fake provider driven by ``script(messages_received, call_index) -> Step``."""

    id: str = "gpt-4o"
    name: str = "Scripted"
    provider: str = "Scripted"
    script: Script | None = None
    temperature: float | None = None
    received: list[list[Message]] = field(default_factory=list)
    tools_seen: list[list[str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._lock = threading.Lock()
        self._ids = 0

    # -- bookkeeping
    def _next(self, messages: list[Message], tools: Any) -> Step:
        with self._lock:
            self.received.append(list(messages))
            names = []
            for t in tools or []:
                fn = t.get("function") if isinstance(t, dict) else None
                names.append(fn.get("name") if isinstance(fn, dict) else t.get("name"))
            self.tools_seen.append(names)
            index = len(self.received) - 1
        assert self.script is not None
        return self.script(list(messages), index)

    def _call_id(self) -> str:
        with self._lock:
            self._ids += 1
            return f"call_{self._ids:03d}"

    def _calls(self, step: Step) -> list[dict[str, Any]]:
        return [
            {
                "id": self._call_id(),
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(args)},
            }
            for name, args in step.tool_calls
        ]

    # -- non-streaming
    def invoke(self, *args: Any, **kwargs: Any) -> ModelResponse:
        step = self._next(kwargs["messages"], kwargs.get("tools"))
        if step.tool_calls:
            return ModelResponse(
                role="assistant", content=step.content, tool_calls=self._calls(step)
            )
        return ModelResponse(role="assistant", content=step.content or "")

    async def ainvoke(self, *args: Any, **kwargs: Any) -> ModelResponse:
        return self.invoke(*args, **kwargs)

    # -- streaming: text in chunks, tool calls in fragments keyed by index
    def _deltas(self, step: Step) -> Iterator[ModelResponse]:
        yield ModelResponse(role="assistant")
        if step.content:
            words = step.content.split(" ")
            for i, word in enumerate(words):
                yield ModelResponse(content=word + (" " if i < len(words) - 1 else ""))
        for index, call in enumerate(self._calls(step)):
            arguments = call["function"]["arguments"]
            half = len(arguments) // 2
            yield ModelResponse(
                tool_calls=[
                    {
                        "index": index,
                        "id": call["id"],
                        "type": "function",
                        "function": {
                            "name": call["function"]["name"],
                            "arguments": arguments[:half],
                        },
                    }
                ]
            )
            yield ModelResponse(
                tool_calls=[{"index": index, "function": {"arguments": arguments[half:]}}]
            )

    def invoke_stream(self, *args: Any, **kwargs: Any) -> Iterator[ModelResponse]:
        step = self._next(kwargs["messages"], kwargs.get("tools"))
        yield from self._deltas(step)

    async def ainvoke_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ModelResponse]:  # type: ignore[override]
        step = self._next(kwargs["messages"], kwargs.get("tools"))
        for delta in self._deltas(step):
            yield delta

    def parse_tool_calls(self, tool_calls_data: list[Any]) -> list[dict[str, Any]]:
        """Merge streamed fragments by index, as OpenAI-style providers must."""
        calls: dict[int, dict[str, Any]] = {}
        for frag in tool_calls_data:
            entry = calls.setdefault(
                frag["index"],
                {"id": None, "type": "function", "function": {"name": "", "arguments": ""}},
            )
            if frag.get("id"):
                entry["id"] = frag["id"]
            fn = frag.get("function") or {}
            if fn.get("name"):
                entry["function"]["name"] = fn["name"]
            entry["function"]["arguments"] += fn.get("arguments") or ""
        return [calls[i] for i in sorted(calls)]

    def _parse_provider_response(self, response: Any, **kwargs: Any) -> ModelResponse:
        return response  # type: ignore[no-any-return]

    def _parse_provider_response_delta(self, response: Any) -> ModelResponse:
        return response  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- scripts


def last_turn(messages: list[Message]) -> list[Message]:
    """Messages after the last user message."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].role == "user":
            return messages[i + 1 :]
    return messages


def tool_texts(messages: list[Message]) -> list[str]:
    return [
        m.content for m in last_turn(messages) if m.role == "tool" and isinstance(m.content, str)
    ]


def call_then_answer(*calls: tuple[str, dict[str, Any]]) -> Script:
    """Call ``calls`` in one turn; then answer with what the tool results show."""

    def script(messages: list[Message], index: int) -> Step:
        results = tool_texts(messages)
        if not results:
            return Step(tool_calls=list(calls), content="Looking at the logs.")
        if not any("FATAL" in text for text in results):
            return Step(content="No fatal entry found.")
        found = (
            "OutOfMemoryError" if any(FATAL_MESSAGE in text for text in results) else "something"
        )
        return Step(content=f"Root cause: {found} in SessionCache.put; add eviction.")

    return script


def retrieving_script(tool: str) -> Script:
    """Call ``tool``; find the Headroom key; retrieve HIDDEN_REQUEST; answer its tenant."""

    def script(messages: list[Message], index: int) -> Step:
        turn = last_turn(messages)
        retrieved = [m for m in turn if m.role == "tool" and m.tool_name == "headroom_retrieve"]
        if retrieved:
            text = retrieved[-1].content or ""
            match = re.search(r'"tenant":\s*"([^"]+)"', text)
            return Step(content=f"tenant={match.group(1) if match else 'unknown'}")
        outputs = [m.content for m in turn if m.role == "tool" and isinstance(m.content, str)]
        if not outputs:
            return Step(tool_calls=[(tool, {})])
        key = next((k for text in outputs for k in KEY_RE.findall(text)), None)
        if key is None:
            match = re.search(r'"tenant":\s*"([^"]+)"', outputs[-1])
            return Step(content=f"tenant={match.group(1) if match else 'unknown'} (uncompressed)")
        return Step(tool_calls=[("headroom_retrieve", {"key": key, "query": HIDDEN_REQUEST})])

    return script
