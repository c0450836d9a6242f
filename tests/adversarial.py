"""Adversarial inputs: the shapes that made regexes backtrack, and texts that carry them
to every content kind and every regex-bearing path of the engine.

``shape(name, size)`` builds one shape of about ``size`` characters; ``carry(kind,
body)`` wraps a body so that ``compress()`` routes it to ``kind`` (or, for the
``system`` and ``query`` kinds, puts it where volatile-token detection or relevance
scoring reads it). Everything is deterministic: the random shapes use fixed seeds.

When a new stall is found, add its shape here: the scaling test then covers it on
every kind and helper.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from typing import Any


def _cycle(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def _random(alphabet: str, size: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice(alphabet) for _ in range(size))


def _nested(size: int) -> str:
    depth = size // 2
    return "[" * depth + "]" * depth


def _nested_objects(size: int) -> str:
    depth = size // 6
    return '{"a":' * depth + "1" + "}" * depth


def _base64(size: int) -> str:
    raw = random.Random(7).randbytes(size * 3 // 4 + 3)
    return base64.b64encode(raw).decode()[:size]


SHAPES: dict[str, Callable[[int], str]] = {
    # long runs of one character
    "run_a": lambda n: "a" * n,
    "run_A_base64_zeros": lambda n: "A" * n,  # a zero-padded base64 image
    "run_0": lambda n: "0" * n,
    "blanks_then_word": lambda n: " " * n + "done",
    "tabs": lambda n: "\t" * n,
    # alternations of two
    "alt_ab": lambda n: _cycle("ab", n),
    "alt_a_dot": lambda n: _cycle("a.", n),
    "alt_0a": lambda n: _cycle("0a", n),
    "alt_a_blank": lambda n: _cycle("a ", n),
    "alt_crlf": lambda n: _cycle("x\r\n", n),
    # value-like content
    "hex": lambda n: _random("0123456789abcdef", n, 1),
    "base64": _base64,
    "digits": lambda n: _random("0123456789", n, 2),
    "digit_colons": lambda n: _cycle("1:", n),
    "delimiters": lambda n: _cycle(",;|/-_=:.", n),
    "req_id_labels": lambda n: _cycle("req-id:", n),
    "jwt_like": lambda n: _cycle("eyJa.", n),
    "marker_like": lambda n: "... " + " " * n + "# [headroom: x",
    "dates": lambda n: _cycle("2024-01-01T10:00:00", n),
    # a pasted question: many distinct words
    "many_words": lambda n: " ".join(f"term{i}x" for i in range(n // 9 + 1))[:n],
    # deep nesting
    "nested_arrays": _nested,
    "nested_objects": _nested_objects,
}


def shape(name: str, size: int) -> str:
    return SHAPES[name](size)


_LOG_HEAD = "\n".join(
    f"2024-01-01 12:00:{i % 60:02d} INFO worker {i} processed job {i * 7}" for i in range(400)
)
_GREP_HEAD = "\n".join(
    f"src/mod{i % 30}/file{i}.py:{i + 1}:    value_{i} = run({i})" for i in range(300)
)
_PROSE_HEAD = " ".join(
    f"The service number {i} answered every request it was given within the agreed time."
    for i in range(60)
)
_CODE_HEAD = "\n".join(
    f"def handler_{i}(request):\n    return process(request, {i})\n" for i in range(40)
)


def _tool(content: str, question: str | None = None) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if question is not None:
        messages.append({"role": "user", "content": question})
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "run", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": content},
    ]
    return messages


def _grep_of(size: int) -> str:
    lines = [
        f"src/mod{i % 30}/file{i}.py:{i + 1}:    value_{i} = run({i})" for i in range(size // 40)
    ]
    return "\n".join(lines)


# kind -> (messages builder, compress options)
KINDS: dict[str, tuple[Callable[[str], list[dict[str, Any]]], dict[str, Any]]] = {
    # the body inside one item of a JSON array of records (the first finding)
    "json": (
        lambda body: _tool(
            json.dumps([{"id": i, "blob": body if i == 0 else "x"} for i in range(100)])
        ),
        {},
    ),
    "jsonl": (
        lambda body: _tool(
            "\n".join(json.dumps({"id": i, "msg": body if i == 3 else "ok"}) for i in range(50))
        ),
        {},
    ),
    "log": (lambda body: _tool(_LOG_HEAD + "\n" + body), {}),
    "search": (lambda body: _tool(_GREP_HEAD + "\nsrc/last.py:1:" + body), {}),
    "prose": (lambda body: _tool(_PROSE_HEAD + " " + body + " The end."), {}),
    "code": (lambda body: _tool(_CODE_HEAD + "\n# " + body + "\n"), {"compress_code": True}),
    "text": (lambda body: _tool(body), {}),
    # volatile-token detection reads every system prompt; cache_align moves dates
    "system": (
        lambda body: [
            {"role": "system", "content": body},
            {"role": "user", "content": "hi"},
        ],
        {"cache_align": True},
    ),
    # the body is the question; the output grows with it
    "query": (lambda body: _tool(_grep_of(len(body)), question=body), {}),
}


def carry(kind: str, body: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    build, options = KINDS[kind]
    return build(body), dict(options)


def countable(messages: list[dict[str, Any]]) -> str:
    """The text of ``messages`` that the tokenizer counts (for the reference timing)."""
    return "\n".join(m["content"] for m in messages if isinstance(m.get("content"), str))
