"""Server-sent events: an incremental parser that keeps each event's raw bytes.

Events are forwarded byte-identical unless they must change, so the parser hands
back the raw text of every event alongside its parsed fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class SSEEvent:
    """One event: ``raw`` is its exact bytes including the blank line that ends it."""

    raw: bytes
    event: str | None
    data: str

    _json: Any = None
    _parsed: bool = False

    def json(self) -> Any:
        """``data`` as JSON, or None when it is not JSON (``[DONE]``, a comment, …)."""
        if not self._parsed:
            self._parsed = True
            try:
                self._json = json.loads(self.data) if self.data else None
            except ValueError:
                self._json = None
        return self._json


def _parse_block(raw: bytes) -> SSEEvent:
    event: str | None = None
    data: list[str] = []
    for line in raw.decode("utf-8", "replace").splitlines():
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    return SSEEvent(raw, event, "\n".join(data))


class SSEParser:
    """Feed bytes as they arrive; get back whole events. Handles LF, CRLF and CR line
    ends and events split across chunks anywhere."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not chunk:
            return []
        self._buf += chunk
        events: list[SSEEvent] = []
        while True:
            end, size = _boundary(self._buf)
            if end < 0:
                break
            raw = self._buf[: end + size]
            self._buf = self._buf[end + size :]
            events.append(_parse_block(raw))
        return events

    def close(self) -> list[SSEEvent]:
        """Whatever is left when the stream ends (an unterminated last event)."""
        rest, self._buf = self._buf, b""
        return [_parse_block(rest)] if rest.strip() else []

    @property
    def pending(self) -> bytes:
        return self._buf


def _boundary(buf: bytes) -> tuple[int, int]:
    """Position and length of the first blank line (event end), or (-1, 0)."""
    best = (-1, 0)
    for sep in (b"\n\n", b"\r\n\r\n", b"\r\r"):
        i = buf.find(sep)
        if i >= 0 and (best[0] < 0 or i < best[0]):
            best = (i, len(sep))
    return best


def encode_event(data: Any, event: str | None = None) -> bytes:
    """One event as bytes: ``event:`` (when given) and a compact JSON ``data:`` line."""
    payload = data if isinstance(data, str) else dumps_compact(data)
    head = f"event: {event}\n" if event else ""
    try:
        return f"{head}data: {payload}\n\n".encode()
    except UnicodeEncodeError:  # a lone surrogate, which UTF-8 cannot carry: escape it
        if isinstance(data, str):
            raise
        payload = json.dumps(data, separators=(",", ":"))
        return f"{head}data: {payload}\n\n".encode()


def dumps_compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
