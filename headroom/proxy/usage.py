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
    rb'cache_read_input_tokens|cache_creation_input_tokens|cached_tokens)"\s*:\s*(\d+)'
)


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
        """Input (cache reads and writes included) plus output tokens; 0 when none found."""
        u = normalized(self.usage())
        return u.get("input", 0) + u.get("output", 0)


_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,200})"')


def normalized(raw: dict[str, int]) -> dict[str, int]:
    """``input`` (every input token, cached ones included), ``output``, ``cache_read``,
    ``cache_write``, from either provider's names. Anthropic's ``input_tokens`` leaves
    cache reads and writes out, so they are added; OpenAI's ``prompt_tokens`` (and the
    Responses API's ``input_tokens``) already hold its ``cached_tokens``."""
    anthropic_read = raw.get("cache_read_input_tokens", 0)
    anthropic_write = raw.get("cache_creation_input_tokens", 0)
    base = max(raw.get("input_tokens", 0), raw.get("prompt_tokens", 0))
    out = {
        "input": base + anthropic_read + anthropic_write,
        "output": max(raw.get("output_tokens", 0), raw.get("completion_tokens", 0)),
        "cache_read": anthropic_read or raw.get("cached_tokens", 0),
        "cache_write": anthropic_write,
    }
    return {k: v for k, v in out.items() if v}


def model_in(head: bytes) -> str:
    """The model the answer names (its first ``"model"`` field), or ``""``."""
    m = _MODEL.search(head)
    return m.group(1).decode("utf-8", "replace") if m else ""
