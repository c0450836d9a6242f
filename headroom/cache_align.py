"""Cache alignment: keep the prompt prefix byte-stable from call to call.

Provider prompt caches (OpenAI, Anthropic, Gemini) only hit when a request starts
with exactly the bytes of an earlier one. A system prompt that embeds today's date,
a request id or a fresh UUID changes those bytes on every call and silently turns
every request into a cache miss.

- ``find_volatile`` locates such values in a text.
- ``align_messages`` reports them in system prompts and, when asked, moves a
  trailing "Today is …" sentence out of the system prompt into the first user
  message, where it no longer disturbs the cached prefix.
- ``PrefixTracker`` measures how much of a request's serialized prefix stayed the
  same since the previous request of the same conversation (scope).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .messages import is_system, safe_json, text_parts, user_text
from .tokens import content_digest

__all__ = [
    "Alignment",
    "MessageDigest",
    "PrefixStability",
    "PrefixTracker",
    "VolatileToken",
    "align_messages",
    "find_volatile",
    "message_digests",
    "request_prefix",
]

# ---------------------------------------------------------------------------
# Volatile tokens
# ---------------------------------------------------------------------------

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
_WEEKDAY = (
    r"(?:Mon(?:day)?|Tue(?:s(?:day)?)?|Wed(?:nesday)?|Thu(?:r(?:s(?:day)?)?)?"
    r"|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)\.?"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)\d{2}(?!\d)"
_ZONE = (
    r"(?:UTC|GMT|Z|[ECMP][SD]T|CES?T|BST|IST|JST|AEST)(?:[+-]\d{1,2}(?::?\d{2})?)?"
    r"|[+-](?:[01]\d|2[0-3]):?[0-5]\d"
)

# Each pattern is tried on the whole text; overlaps are settled by _PRIORITY.
_PATTERNS: dict[str, re.Pattern[str]] = {
    "jwt": re.compile(
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{7,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+"
        r"(?![A-Za-z0-9_-])"
    ),
    # Ids with a request/trace prefix (req_8f3a…), or the value after a request-id
    # label ("X-Request-ID: …", "trace_id=…"). The value must contain a digit within
    # its first 64 characters: an unbounded lookahead rescanned the rest of a text like
    # "req-id:req-id:…" once per label (quadratic time).
    "request_id": re.compile(
        r"(?<![A-Za-z0-9])(?:req|request|trace|span|corr(?:elation)?)[_-]"
        r"(?=[A-Za-z0-9]*\d)[A-Za-z0-9]{6,}(?![A-Za-z0-9])"
        r"|(?i:(?<![A-Za-z0-9])(?:x-)?(?:request|req|trace|correlation|span)[-_ ]?id)"
        r"(?:\s*[:=]\s*|\s+)[\"']?"
        r"(?P<value>(?=[A-Za-z0-9._:/+-]{0,64}\d)[A-Za-z0-9][A-Za-z0-9._:/+-]{5,})"
    ),
    "uuid": re.compile(
        r"(?<![0-9A-Za-z])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
        r"-[0-9a-fA-F]{12}(?![0-9A-Za-z])"
    ),
    "iso_date": re.compile(
        rf"(?<![\w.])(?<!\d-){_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
        r"(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:[.,]\d+)?)?"
        r"(?:\s?(?:Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d))?)?"
        r"(?!\w|-\d)"
    ),
    "human_date": re.compile(
        rf"(?<![\w]){_WEEKDAY},?\s+{_MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?(?![\w])"
        rf"|(?<![\w])(?:{_WEEKDAY},?\s+)?{_MONTH}\s+{_DAY},?\s+{_YEAR}"
        rf"|(?<![\w])(?:{_WEEKDAY},?\s+)?{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}",
        re.IGNORECASE,
    ),
    # A clock time qualifies with seconds, AM/PM, a time zone or a two-digit hour,
    # so ratios and verse numbers ("16:9", "3:16") are left alone.
    "time": re.compile(
        r"(?<![\w:.])(?:"
        r"(?:[01]?\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:\s?[AaPp]\.?[Mm]\b\.?)?"
        r"|(?:0?[1-9]|1[0-2]):[0-5]\d\s?[AaPp]\.?[Mm]\b\.?"
        r"|(?:[01]\d|2[0-3]):[0-5]\d"
        r"|(?:[01]?\d|2[0-3]):[0-5]\d(?=\s?(?:" + _ZONE + r")(?![\w]))"
        r")(?:\s?(?:" + _ZONE + r")(?![\w]))?(?![\w:]|\.\d)"
    ),
    "hex_hash": re.compile(r"(?<![0-9A-Za-z])(?:0x)?[0-9a-fA-F]{16,}(?![0-9A-Za-z])"),
}

# Most specific first: a JWT contains hex runs, a labelled request id may be a UUID,
# an ISO date-time contains a clock time.
_PRIORITY = ("jwt", "request_id", "uuid", "iso_date", "human_date", "time", "hex_hash")
_DATE_KINDS = frozenset({"iso_date", "human_date", "time"})


@dataclass(frozen=True)
class VolatileToken:
    """A value in a text that likely differs from one request to the next."""

    kind: str
    text: str
    start: int
    end: int


def _plausible_hash(token: str) -> bool:
    digits = token[2:] if token[:2].lower() == "0x" else token
    has_digit = any(c.isdigit() for c in digits)
    has_letter = any(c.isalpha() for c in digits)
    if not has_digit:
        return len(digits) in (32, 40, 64) and has_letter  # "deadbeef…" of a hash's length
    return has_letter  # digits alone are a plain (long) integer


def _candidates(text: str) -> list[VolatileToken]:
    found: list[VolatileToken] = []
    for kind in _PRIORITY:
        for match in _PATTERNS[kind].finditer(text):
            if kind == "request_id" and match.group("value") is not None:
                start, end = match.span("value")
            else:
                start, end = match.span()
            value = text[start:end]
            if kind == "request_id":
                # A trailing sentence period is punctuation, not part of the id.
                trimmed = value.rstrip(".:/")
                end -= len(value) - len(trimmed)
                value = trimmed
            if kind == "hex_hash" and not _plausible_hash(value):
                continue
            if end > start:
                found.append(VolatileToken(kind, value, start, end))
    return found


@lru_cache(maxsize=32)
def _volatile_cached(text: str) -> tuple[VolatileToken, ...]:
    """find_volatile, remembered: the same system prompt comes with every request."""
    return tuple(find_volatile(text))


def find_volatile(text: str) -> list[VolatileToken]:
    """Every volatile value in ``text``, ordered by position and never overlapping.

    Kinds: ``uuid``, ``iso_date``, ``human_date``, ``time``, ``jwt``, ``hex_hash``
    and ``request_id``. Where two candidates overlap, the more specific kind wins
    (then the longer match).
    """
    if not isinstance(text, str) or not text:
        return []
    by_kind: dict[str, list[VolatileToken]] = {kind: [] for kind in _PRIORITY}
    for token in _candidates(text):
        by_kind[token.kind].append(token)
    # One kind's matches never overlap each other (finditer), so a kind only has to
    # give way to the kinds before it: one sorted sweep per kind, no per-token inserts.
    chosen: list[VolatileToken] = []
    for kind in _PRIORITY:
        fresh = by_kind[kind]
        if not fresh:
            continue
        fresh.sort(key=lambda t: t.start)
        kept: list[VolatileToken] = []
        j = 0
        for token in fresh:
            while j < len(chosen) and chosen[j].end <= token.start:
                j += 1
            if j < len(chosen) and chosen[j].start < token.end:
                continue  # overlaps a more specific value
            kept.append(token)
        chosen = sorted(chosen + kept, key=lambda t: t.start) if chosen else kept
    return chosen


# ---------------------------------------------------------------------------
# Aligning system prompts
# ---------------------------------------------------------------------------

# Words that mark a sentence as the current date or time rather than a fixed fact.
_NOW_CUE = re.compile(
    r"\b(?:today|tonight|now|current(?:ly)?|date|time|as of|it is|it's)\b", re.IGNORECASE
)
_MAX_SENTENCE = 200  # a longer tail is a paragraph, not a date line
_MAX_AFTER_DATE = 32  # text allowed after the last date/time value (" UTC", " (Berlin).")
_SHORTEN_AT = 48


@dataclass(frozen=True)
class Alignment:
    """The outcome of ``align_messages``."""

    messages: list[Any]
    warnings: list[str]
    moved: str | None


def _shorten(text: str) -> str:
    if len(text) <= _SHORTEN_AT:
        return text
    return text[:28] + "…" + text[-12:]


def _last_boundary(text: str, tokens: list[VolatileToken], floor: int = 0) -> int:
    """Where the last sentence starts: after the last ``.!?`` + whitespace or newline
    that is not inside a volatile value ("Jan. 7", "3:45 p.m."); 0 if there is none.
    Only the end of ``text`` matters, so it is searched from the back, each mark's
    last position found once (linear time even for "a.a.a.…"), and no further back
    than ``floor`` (0 is returned then)."""
    starts = [t.start for t in tokens]  # tokens are sorted and never overlap
    last = {c: text.rfind(c) for c in "\n.!?"}
    while True:
        cut = max(last.values())
        if cut < 0 or cut < floor:
            return 0
        spot = cut + 1
        on_mark = text[cut] == "\n" or (spot < len(text) and text[spot].isspace())
        if on_mark:
            at = bisect.bisect_left(starts, spot) - 1  # the last value starting before spot
            if at < 0 or tokens[at].end <= spot:
                return spot
        last[text[cut]] = text.rfind(text[cut], 0, cut)


def _trailing_date_sentence(text: str) -> tuple[str, str] | None:
    """Split ``text`` into (kept text, moved sentence) when it ends with a sentence that
    states the current date or time; None otherwise."""
    body = text.rstrip()
    trailing_ws = text[len(body) :]
    if not body:
        return None
    tokens = list(_volatile_cached(body))
    # A boundary at or before ``floor`` (the last non-blank character in front of the
    # final _MAX_SENTENCE characters) starts a sentence too long to move anyway.
    floor = len(body[: max(0, len(body) - _MAX_SENTENCE)].rstrip()) - 1
    start = _last_boundary(body, tokens, floor)
    while start < len(body) and body[start].isspace():
        start += 1
    sentence = body[start:]
    head = body[:start].rstrip()
    if not head or not sentence or len(sentence) > _MAX_SENTENCE:
        return None
    dated = [t for t in tokens if t.start >= start and t.kind in _DATE_KINDS]
    if not dated or len(body) - dated[-1].end > _MAX_AFTER_DATE:
        return None
    if not _NOW_CUE.search(sentence):
        return None
    return head + trailing_ws, sentence


def _move_out(msg: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """``msg`` without its trailing date sentence, and that sentence."""
    content = msg.get("content")
    if isinstance(content, str):
        split = _trailing_date_sentence(content)
        if split is None:
            return None
        return {**msg, "content": split[0]}, split[1]
    if isinstance(content, list) and content:
        last = content[-1]
        if not (
            isinstance(last, dict)
            and last.get("type") == "text"
            and isinstance(last.get("text"), str)
        ):
            return None
        split = _trailing_date_sentence(last["text"])
        if split is None:
            return None
        new_content = [*content[:-1], {**last, "text": split[0]}]
        return {**msg, "content": new_content}, split[1]
    return None


def _append_line(msg: dict[str, Any], line: str) -> dict[str, Any]:
    content = msg.get("content")
    if isinstance(content, list):
        return {**msg, "content": [*content, {"type": "text", "text": line}]}
    return {**msg, "content": f"{content}\n\n{line}"}


_MAX_WARNINGS = 10  # per call: the rest are counted in one line


def _warnings(messages: list[Any]) -> list[str]:
    out: list[str] = []
    more = 0
    for index, msg in enumerate(messages):
        if not is_system(msg):
            continue
        for path, text in text_parts(msg.get("content")):
            where = f"message {index}, part {path[0]}" if path else f"message {index}"
            for token in _volatile_cached(text):
                if len(out) >= _MAX_WARNINGS:
                    more += 1
                    continue
                out.append(
                    f"system prompt ({where}) has a volatile {token.kind} "
                    f'"{_shorten(token.text)}" at offset {token.start}: it changes the '
                    "prompt prefix on every call and defeats prompt caching"
                )
    if more:
        out.append(f"system prompt has {more} more volatile values")
    return out


def align_messages(messages: list[Any], *, move_dates: bool = False) -> Alignment:
    """Report volatile values in the system prompt(s) and optionally move a trailing
    current-date sentence into the first user message.

    Without ``move_dates`` the messages are returned as given. With it, a system or
    developer message that ends with a sentence such as "Today is January 7, 2025."
    loses that sentence (and the whitespace before it); the sentence is appended as a
    final line of the first user message that has text. When there is no such
    user message nothing moves. Warnings describe the volatile values left in the
    system prompts of the returned messages.
    """
    if not isinstance(messages, list):
        return Alignment(messages=messages, warnings=[], moved=None)
    if not move_dates:
        return Alignment(messages=messages, warnings=_warnings(messages), moved=None)

    # The first user message: it is sent again unchanged on every later turn, so the
    # moved line breaks the cached prefix only when the date itself changes.
    target = next((i for i, m in enumerate(messages) if user_text(m)), None)
    if target is None:
        return Alignment(messages=messages, warnings=_warnings(messages), moved=None)

    out = list(messages)
    sentences: list[str] = []
    for index, msg in enumerate(messages):
        if not is_system(msg):
            continue
        result = _move_out(msg)
        if result is not None:
            out[index], sentence = result
            sentences.append(sentence)
    if not sentences:
        return Alignment(messages=messages, warnings=_warnings(messages), moved=None)
    moved = "\n".join(sentences)
    out[target] = _append_line(out[target], moved)
    return Alignment(messages=out, warnings=_warnings(out), moved=moved)


# ---------------------------------------------------------------------------
# Measuring prefix stability
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PrefixStability:
    """How much of a request's prefix repeats the previous request of its scope."""

    stable_bytes: int
    previous_bytes: int
    total_bytes: int

    @property
    def ratio(self) -> float:
        """The share of the previous prefix that was sent again unchanged."""
        if self.previous_bytes <= 0:
            return 0.0
        return self.stable_bytes / self.previous_bytes


def _common_prefix(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    block = 4096
    pos = 0
    while pos < n and a[pos : pos + block] == b[pos : pos + block]:
        pos += block
    if pos >= n:
        return n
    lo, hi = pos, min(pos + block, n)  # the first difference lies in [lo, hi)
    while lo < hi:
        mid = (lo + hi) // 2
        if a[lo : mid + 1] == b[lo : mid + 1]:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _as_bytes(prefix: Any) -> bytes:
    if isinstance(prefix, str):
        return prefix.encode("utf-8", "surrogatepass")
    try:
        return bytes(prefix)
    except (TypeError, ValueError):
        return repr(prefix).encode("utf-8", "surrogatepass")


class PrefixTracker:
    """Remembers the last request prefix per scope (a conversation, a user, an agent)
    and reports how much of each new one is a byte-exact repeat.

    Thread-safe. Memory is bounded: at most ``max_scopes`` scopes and ``max_bytes``
    remembered bytes in total; the least recently observed scopes are forgotten first.
    """

    def __init__(self, max_scopes: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._max_scopes = max(1, max_scopes)
        self._max_bytes = max(0, max_bytes)
        self._last: OrderedDict[str, bytes | tuple[MessageDigest, ...]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def _swap(self, scope: str, value: bytes | tuple[MessageDigest, ...], size: int) -> Any:
        """Stores ``value`` (taking ``size`` bytes) for ``scope``; returns the one before."""
        with self._lock:
            previous = self._last.pop(scope, None)
            if previous is not None:
                self._bytes -= _held(previous)
            if size <= self._max_bytes:
                self._last[scope] = value
                self._bytes += size
            while self._last and (
                len(self._last) > self._max_scopes or self._bytes > self._max_bytes
            ):
                _, old = self._last.popitem(last=False)
                self._bytes -= _held(old)
        return previous

    def observe(self, scope: str, prefix: bytes) -> PrefixStability:
        """Record ``prefix`` as the latest of ``scope`` and compare it with the one before."""
        data = _as_bytes(prefix)
        previous = self._swap(scope, data, len(data))
        if not isinstance(previous, bytes):
            return PrefixStability(0, 0, len(data))
        return PrefixStability(_common_prefix(previous, data), len(previous), len(data))

    def observe_messages(self, scope: str, messages: Any) -> PrefixStability:
        """Like ``observe(scope, request_prefix(messages))``, from per-message digests
        (see :func:`message_digests`), so a repeated message costs a lookup rather
        than a serialization. The figures are the same bytes of the same serialization;
        only inside the first message that changed, and when either version of it is
        over 4 KB, the common part of that message is counted as zero (an undercount,
        never an overstatement)."""
        current = message_digests(messages)
        previous = self._swap(scope, current, _held(current))
        total = _serialized_size(current)
        if not isinstance(previous, tuple):
            return PrefixStability(0, 0, total)
        return PrefixStability(
            _common_digests(previous, current), _serialized_size(previous), total
        )

    def forget(self, scope: str) -> None:
        """Drop what is remembered for ``scope``."""
        with self._lock:
            old = self._last.pop(scope, None)
            if old is not None:
                self._bytes -= _held(old)

    def __len__(self) -> int:
        with self._lock:
            return len(self._last)


@dataclass(frozen=True)
class MessageDigest:
    """One message's canonical serialization, summarized: its length in bytes, a
    BLAKE2b digest, and the bytes themselves when they are short."""

    size: int
    digest: bytes
    data: bytes | None


_KEEP_BYTES = 4096  # a message this short keeps its bytes, for byte-exact comparison
_BIG_STRING = 4096  # a string this long is known by its content digest in signatures
_MEMO_LIMIT = 8192  # messages
_MEMO_CHARS = 16_000_000  # text held by the memo's keys
_message_memo: OrderedDict[Any, tuple[MessageDigest, int]] = OrderedDict()
_memo_chars = 0
_message_lock = threading.Lock()


def _key_chars(key: Any) -> int:
    """Characters of text a signature holds (its short strings)."""
    if isinstance(key, str):
        return len(key)
    if isinstance(key, tuple):
        return sum(_key_chars(k) for k in key)
    return 0


class _Unkeyable(Exception):
    pass


def _signature(value: Any, depth: int = 0) -> Any:
    """A hashable key that determines ``value``'s canonical serialization. Long strings
    enter by their content digest, which ``headroom.tokens`` remembers per string
    object, so a message seen before is recognized without reading its text again."""
    kind = type(value)
    if kind is str:
        return value if len(value) < _BIG_STRING else (b"#", content_digest(value))
    if kind is dict:
        if depth > 50:
            raise _Unkeyable
        return (
            dict,
            *(
                (
                    k if type(k) is str else (type(k), k),
                    v if type(v) is str and len(v) < _BIG_STRING else _signature(v, depth + 1),
                )
                for k, v in value.items()
            ),
        )
    if value is None or kind is bool or kind is int or kind is float:
        return (kind, value)
    if isinstance(value, str):  # a str subclass serializes as its text
        return _signature(str(value), depth)
    if depth > 50:
        raise _Unkeyable
    if isinstance(value, (list, tuple)):
        return (list, *(_signature(v, depth + 1) for v in value))
    raise _Unkeyable


def message_digests(messages: Any) -> tuple[MessageDigest, ...]:
    """The :class:`MessageDigest` of each message of a list, memoized by content."""
    if not isinstance(messages, list):
        messages = [messages]
    out: list[MessageDigest] = []
    for message in messages:
        try:
            key: Any = _signature(message)
            hash(key)
        except (_Unkeyable, TypeError):
            key = None
        hit = _message_memo.get(key) if key is not None else None
        if hit is not None:
            out.append(hit[0])
            continue
        data = request_prefix([message])[1:-1]  # the message's part of the list
        entry = MessageDigest(
            len(data),
            hashlib.blake2b(data, digest_size=16).digest(),
            data if len(data) <= _KEEP_BYTES else None,
        )
        if key is not None:
            _remember(key, entry)
        out.append(entry)
    return tuple(out)


def clear_message_memo() -> None:
    """Forget the memoized message digests."""
    global _memo_chars
    with _message_lock:
        _message_memo.clear()
        _memo_chars = 0


def _remember(key: Any, entry: MessageDigest) -> None:
    global _memo_chars
    chars = _key_chars(key) + (entry.size if entry.data is not None else 0)
    if chars > _MEMO_CHARS // 4:
        return
    with _message_lock:
        old = _message_memo.pop(key, None)
        if old is not None:
            _memo_chars -= old[1]
        _message_memo[key] = (entry, chars)
        _memo_chars += chars
        while _message_memo and (len(_message_memo) > _MEMO_LIMIT or _memo_chars > _MEMO_CHARS):
            _, (_, dropped) = _message_memo.popitem(last=False)
            _memo_chars -= dropped


def _serialized_size(digests: tuple[MessageDigest, ...]) -> int:
    """Bytes of ``[m0,m1,…]`` given each message's size."""
    return 2 + sum(d.size for d in digests) + max(0, len(digests) - 1)


def _common_digests(previous: tuple[MessageDigest, ...], current: tuple[MessageDigest, ...]) -> int:
    """The common prefix, in bytes, of the two serializations ``[m0,m1,…]``."""
    pos = 1  # "["
    if not previous or not current:
        return 2 if len(previous) == len(current) else 1  # "[]" against "[…"
    for i, (a, b) in enumerate(zip(previous, current, strict=False)):
        if a.digest != b.digest or a.size != b.size:
            if a.data is not None and b.data is not None:
                pos += _common_prefix(a.data, b.data)
            return pos
        pos += a.size
        more_a, more_b = i + 1 < len(previous), i + 1 < len(current)
        if more_a != more_b:
            return pos  # "," against "]"
        pos += 1  # the same "," (or the closing "]")
    return pos


def _held(value: bytes | tuple[MessageDigest, ...]) -> int:
    """Bytes a remembered value keeps alive, roughly."""
    if isinstance(value, bytes):
        return len(value)
    return sum(64 + (len(d.data) if d.data is not None else 0) for d in value)


def _plain(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON data: string keys, lists for tuples, text for the rest."""
    if depth > 200:  # deeper data (or a cycle) is cut off: repr() would recurse too
        return "[headroom: nested too deeply]"
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    return repr(value)


_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def request_prefix(messages: Any) -> bytes:
    """A deterministic serialization of a message list (canonical JSON: sorted keys,
    compact separators, UTF-8), for measuring with ``PrefixTracker``."""
    try:
        # Messages off the wire are plain JSON data: the C encoder serializes them as
        # _plain would, at half the cost. Anything else takes the careful path.
        text = _CANONICAL.encode(messages) if _is_wire_data(messages) else None
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is None:
        try:
            text = json.dumps(
                _plain(messages), sort_keys=True, ensure_ascii=False, separators=(",", ":")
            )
        except (TypeError, ValueError, RecursionError):
            text = safe_json(messages)
    return text.encode("utf-8", "surrogatepass")


def _is_wire_data(messages: Any) -> bool:
    """True when the top level is a list of dicts with string keys only (what JSON
    parsing gives). Deeper oddities make the C encoder raise, which falls back too:
    only keys that are bool or None would serialize differently, and wire data has
    none."""
    return isinstance(messages, list) and all(
        isinstance(m, dict) and all(isinstance(k, str) for k in m) for m in messages
    )
