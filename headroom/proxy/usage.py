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


_MODEL = re.compile(rb'"model"\s*:\s*"([^"\\]{1,200})"')


def normalized(raw: dict[str, int]) -> dict[str, int]:
    """``input``, ``output``, ``cache_read``, ``cache_write`` from either provider's names
    (Anthropic's ``input_tokens`` leaves cache reads and writes out; OpenAI's
    ``prompt_tokens`` includes its cached tokens, which this does not split out)."""
    out = {
        "input": max(raw.get("input_tokens", 0), raw.get("prompt_tokens", 0)),
        "output": max(raw.get("output_tokens", 0), raw.get("completion_tokens", 0)),
        "cache_read": raw.get("cache_read_input_tokens", 0),
        "cache_write": raw.get("cache_creation_input_tokens", 0),
    }
    return {k: v for k, v in out.items() if v}


def model_in(head: bytes) -> str:
    """The model the answer names (its first ``"model"`` field), or ``""``."""
    m = _MODEL.search(head)
    return m.group(1).decode("utf-8", "replace") if m else ""
