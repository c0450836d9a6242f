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


def _int_or_negative_zero(literal: str) -> int | Number:
    # ``-0`` has no int of its own: keep its literal, or it would come back as ``0``.
    return Number(literal) if literal == "-0" else int(literal)


def loads(text: str) -> Any:
    """Parse JSON, keeping number literals that Python's types would change.

    Nesting too deep for the parser raises ``ValueError``, like any other bad input.
    """
    # The int hook costs a Python call per integer, so it is used only when the text
    # may hold a -0 at all.
    parse_int = _int_or_negative_zero if "-0" in text else None
    try:
        return json.loads(text, parse_float=Number, parse_constant=Number, parse_int=parse_int)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


class DuplicateKeyError(ValueError):
    """An object names the same key twice, so a parsed value would lose data."""


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise DuplicateKeyError("JSON object has duplicate keys")
    return out


def loads_strict(text: str) -> Any:
    """:func:`loads` that raises :class:`DuplicateKeyError` when an object repeats a key
    (the parsed value would keep only the last one). Slower: use it before claiming that
    a rewritten document is lossless."""
    parse_int = _int_or_negative_zero if "-0" in text else None
    try:
        return json.loads(
            text,
            parse_float=Number,
            parse_constant=Number,
            parse_int=parse_int,
            object_pairs_hook=_unique_pairs,
        )
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


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
