"""Billed tokens read from the provider's own answer, as it streams past.

The proxy keeps the first and last few KB of a response body and reads the usage
figures there: Anthropic puts ``input_tokens`` (and the cache figures) in
``message_start`` at the head of a stream and the final ``output_tokens`` at its tail;
OpenAI puts ``usage`` at the end of a body or stream. Nothing is parsed per chunk.
"""

from __future__ import annotations

import re

_HEAD = 4096
_TAIL = 8192
_FIELD = re.compile(
    rb'"(input_tokens|prompt_tokens|output_tokens|completion_tokens|'
    rb'cache_read_input_tokens|cache_creation_input_tokens)"\s*:\s*(\d+)'
)
_INPUT = {b"input_tokens", b"prompt_tokens"}
_OUTPUT = {b"output_tokens", b"completion_tokens"}


class UsageTap:
    """Fed with the response body's chunks; :meth:`billed` gives the tokens found."""

    __slots__ = ("head", "tail")

    def __init__(self) -> None:
        self.head = b""
        self.tail = b""

    def feed(self, chunk: bytes) -> None:
        if len(self.head) < _HEAD:
            self.head += chunk[: _HEAD - len(self.head)]
        self.tail = (self.tail + chunk)[-_TAIL:]

    def usage(self) -> dict[str, int]:
        """The largest figure seen for each field (streams repeat cumulative counts)."""
        found: dict[str, int] = {}
        for blob in (self.head, self.tail):
            for name, value in _FIELD.findall(blob):
                key = name.decode()
                found[key] = max(found.get(key, 0), int(value))
        return found

    def billed(self) -> int:
        """Input (with cache reads and writes) plus output tokens; 0 when none found."""
        u = self.usage()
        inputs = max((u.get(k.decode(), 0) for k in _INPUT), default=0)
        outputs = max((u.get(k.decode(), 0) for k in _OUTPUT), default=0)
        cache = u.get("cache_read_input_tokens", 0) + u.get("cache_creation_input_tokens", 0)
        return inputs + outputs + cache
