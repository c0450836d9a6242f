"""JSON helpers that never change a value's text.

``loads`` keeps every float's literal (``1.10`` stays ``1.10``) and ``dumps``
writes it back, so re-serialised items are the input's own values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

MAX_DEPTH = 64


class Number(str):
    """A JSON number literal that is not an integer, kept exactly as written."""

    __slots__ = ()

    def as_float(self) -> float:
        return float(self)


def loads(text: str) -> Any:
    return json.loads(text, parse_float=Number, parse_constant=Number)


_encode_str = json.JSONEncoder(ensure_ascii=False).encode
# Reused: json.dumps with options builds a new encoder on every call.
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def canonical(value: Any) -> str:
    """Compact JSON for comparing and matching items (``Number`` literals come out quoted)."""
    return _compact(value)


_SURROGATE = re.compile("[\ud800-\udfff]")


def dumps(value: Any) -> str:
    """Minified JSON; ``Number`` literals are written verbatim.

    Non-ASCII text is written as is, except lone surrogates (which JSON can carry only
    as ``\\udXXX`` escapes): they are escaped again, so the output always encodes
    as UTF-8 and can be sent.
    """
    out = _dumps(value)
    if _SURROGATE.search(out):
        out = _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", out)
    return out


def _dumps(value: Any, depth: int = 0) -> str:
    if depth > MAX_DEPTH * 4:
        raise ValueError("JSON nested too deeply")
    if isinstance(value, Number):
        return str.__str__(value)
    if isinstance(value, str):
        return _encode_str(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return json.dumps(value)
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(_encode_str(str(k)) + ":" + _dumps(v, depth + 1) for k, v in value.items())
            + "}"
        )
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_dumps(v, depth + 1) for v in value) + "]"
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


_MINIFY = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")|[ \t\r\n]+', re.S)


_DROP_WHITESPACE = str.maketrans("", "", " \t\r\n")


def minify(text: str) -> str:
    """Drop insignificant whitespace from valid JSON text, leaving every token as written."""
    if '\\"' not in text:
        # No escaped quote anywhere, so every '"' opens or closes a string: the even
        # pieces of a split are outside strings. Twice as fast as the regex below.
        pieces = text.split('"')
        pieces[0::2] = [p.translate(_DROP_WHITESPACE) for p in pieces[0::2]]
        return '"'.join(pieces)
    return _MINIFY.sub(lambda m: m.group(1) or "", text)


def looks_like_json(text: str) -> bool:
    stripped = text.strip()
    return len(stripped) >= 2 and (
        (stripped[0] == "{" and stripped[-1] == "}") or (stripped[0] == "[" and stripped[-1] == "]")
    )


def arrays(value: Any, min_len: int, depth: int = 0) -> Iterator[list[Any]]:
    """The outermost lists with at least ``min_len`` elements, depth-first in document order."""
    if depth > MAX_DEPTH:
        return
    if isinstance(value, list):
        if len(value) >= min_len:
            yield value
            return
        for item in value:
            yield from arrays(item, min_len, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            yield from arrays(item, min_len, depth + 1)
