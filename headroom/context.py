"""Context fitting: drop whole messages when a conversation exceeds the model's window.

Compression shrinks tool outputs; when the messages still do not fit, a fitter drops
the least useful messages. Dropping is reversible like everything else: the dropped
messages are stored as one JSON array and a marker line names its retrieval key.

Rules every fitter keeps:

- A tool call and its results are one *unit* and are dropped together (an OpenAI
  assistant message with ``tool_calls`` plus the ``tool`` messages answering it; an
  Anthropic assistant message with ``tool_use`` blocks plus the user message that
  carries the matching ``tool_result`` blocks).
- System and developer messages are never dropped, nor anything from the
  ``keep_last_turns``-th last real user message on.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from .errors import ConfigError
from .markers import text_marker
from .messages import countable_strings, is_system

__all__ = [
    "ContextFitter",
    "Fitted",
    "IntelligentContext",
    "RollingWindow",
    "TokenCounterLike",
    "fitter_for",
]


class TokenCounterLike(Protocol):
    def count(self, text: str) -> int: ...


@dataclass(frozen=True)
class Fitted:
    """Messages after fitting: what was dropped (original indices) and where it is stored."""

    messages: list[Any]
    dropped: list[int]
    tokens_before: int
    tokens_after: int
    key: str | None


class ContextFitter(Protocol):
    """Drops messages until a conversation fits a token budget."""

    name: str

    def fit(
        self,
        messages: list[Any],
        *,
        counter: TokenCounterLike,
        limit: int,
        keep_last_turns: int,
        biases: Mapping[int, float],
        remember: Callable[[str], str],
    ) -> Fitted | None:
        """The fitted messages, or None when ``messages`` already fit in ``limit``."""
        ...


# ---------------------------------------------------------------------------
# Reading the conversation
# ---------------------------------------------------------------------------

# Unit kinds and their value weights: tool exchanges go first, user text last.
_WEIGHTS = {"tool": 1.0, "assistant": 2.0, "other": 2.0, "user": 3.0}
# Recency spans [0.5, 0.99]: it orders units of a kind (older first) but never lets
# a tool exchange outrank conversation text unless a hook bias says so.
_MIN_RECENCY = 0.5
_MAX_RECENCY = 0.99
# Room for the marker's retrieval key, whose hex digits tokenize unevenly.
_KEY_SLACK = 12
_PLACEHOLDER_KEY = "hr_0000000000000000"


def _role(msg: Any) -> str | None:
    role = msg.get("role") if isinstance(msg, dict) else None
    return role if isinstance(role, str) else None


def _blocks(msg: Any, kind: str) -> list[dict[str, Any]]:
    content = msg.get("content") if isinstance(msg, dict) else None
    if not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == kind]


def _is_carrier(msg: Any) -> bool:
    """A user message that holds only tool_result blocks (Anthropic)."""
    content = msg.get("content") if isinstance(msg, dict) else None
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)
    )


def _is_real_user(msg: Any) -> bool:
    """A user turn typed by a person, not a carrier of tool results."""
    return _role(msg) == "user" and not _is_carrier(msg)


def _openai_call_ids(msg: Any) -> set[str]:
    calls = msg.get("tool_calls") if isinstance(msg, dict) else None
    if not isinstance(calls, list):
        return set()
    return {c["id"] for c in calls if isinstance(c, dict) and isinstance(c.get("id"), str)}


def _has_openai_calls(msg: Any) -> bool:
    calls = msg.get("tool_calls") if isinstance(msg, dict) else None
    return isinstance(calls, list) and bool(calls)


@dataclass(frozen=True)
class _Unit:
    """Messages that are kept or dropped together."""

    position: int  # order among all units
    indices: tuple[int, ...]
    kind: str  # "system", "tool", "assistant", "user" or "other"
    tokens: int
    starts_turn: bool  # begins with a real user message


def _unit_end(messages: list[Any], i: int) -> int:
    """One past the last message of the unit that starts at ``i``."""
    msg = messages[i]
    if _role(msg) != "assistant":
        return i + 1
    end = i + 1
    if _has_openai_calls(msg):
        ids = _openai_call_ids(msg)
        while end < len(messages) and _role(messages[end]) == "tool":
            call_id = messages[end].get("tool_call_id")
            if ids and call_id not in ids:
                break
            end += 1
    use_ids = {b["id"] for b in _blocks(msg, "tool_use") if isinstance(b.get("id"), str)}
    if _blocks(msg, "tool_use") and end < len(messages) and _role(messages[end]) == "user":
        answers = {
            b["tool_use_id"]
            for b in _blocks(messages[end], "tool_result")
            if isinstance(b.get("tool_use_id"), str)
        }
        # A carrier always belongs to its calls; a user message that mixes results
        # with typed text does too, or the results would lose their calls.
        if answers & use_ids or (answers and _is_carrier(messages[end])):
            end += 1
    return end


def _kind(messages: list[Any], indices: tuple[int, ...]) -> str:
    first = messages[indices[0]]
    role = _role(first)
    if is_system(first):
        return "system"
    if role == "tool" or _is_carrier(first):
        return "tool"
    if role == "assistant":
        if len(indices) > 1 or _has_openai_calls(first) or _blocks(first, "tool_use"):
            return "tool"
        return "assistant"
    if role == "user":
        return "user"
    return "other"


def _message_tokens(msg: Any, counter: TokenCounterLike) -> int:
    try:
        return sum(counter.count(s) for s in countable_strings(msg))
    except (TypeError, ValueError, RecursionError):
        return 0


def _units(messages: list[Any], tokens: list[int]) -> list[_Unit]:
    units: list[_Unit] = []
    i = 0
    while i < len(messages):
        end = _unit_end(messages, i)
        indices = tuple(range(i, end))
        units.append(
            _Unit(
                position=len(units),
                indices=indices,
                kind=_kind(messages, indices),
                tokens=sum(tokens[j] for j in indices),
                starts_turn=_is_real_user(messages[i]),
            )
        )
        i = end
    return units


def _protected_from(messages: list[Any], keep_last_turns: int) -> int:
    """Index of the first message of the protected tail (``len`` when there is none)."""
    if keep_last_turns <= 0:
        return len(messages)
    users = [i for i, m in enumerate(messages) if _is_real_user(m)]
    if not users:
        return len(messages)
    return users[-min(keep_last_turns, len(users))]


def _bias(unit: _Unit, biases: Mapping[int, float]) -> float:
    values: list[float] = []
    for i in unit.indices:
        raw = biases.get(i)
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and not math.isnan(raw):
            values.append(max(0.0, float(raw)))
    return max(values) if values else 1.0


# ---------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------


def _serialize(records: list[dict[str, Any]]) -> str:
    """The dropped messages as one JSON array of ``{"index", "message"}`` records, in
    their original order and with their keys as given (so a round trip gives them back)."""
    try:
        return json.dumps(records, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        pass
    try:  # values JSON cannot carry are written as their repr
        return json.dumps(records, ensure_ascii=False, default=repr)
    except (TypeError, ValueError, RecursionError):
        flat = [{"index": r["index"], "message": repr(r["message"])} for r in records]
        return json.dumps(flat, ensure_ascii=False)


def _with_marker(msg: Any, marker: str) -> Any:
    """``msg`` with ``marker`` as its first line, or None when it cannot carry one."""
    if _role(msg) != "user":
        return None
    content = msg.get("content")
    if content is None:
        return {**msg, "content": marker}
    if isinstance(content, str):
        return {**msg, "content": marker + "\n\n" + content}
    if isinstance(content, list) and not _blocks(msg, "tool_result"):
        return {**msg, "content": [{"type": "text", "text": marker}, *content]}
    return None


class _Base:
    """Shared machinery; subclasses choose the order in which units are dropped."""

    name = "base"

    def _drop_order(self, droppable: list[_Unit], biases: Mapping[int, float]) -> list[list[_Unit]]:
        raise NotImplementedError

    def fit(
        self,
        messages: list[Any],
        *,
        counter: TokenCounterLike,
        limit: int,
        keep_last_turns: int,
        biases: Mapping[int, float],
        remember: Callable[[str], str],
    ) -> Fitted | None:
        """The fitted messages, or None when ``messages`` already fit in ``limit``."""
        if not isinstance(messages, list) or not messages:
            return None
        if not isinstance(limit, (int, float)) or isinstance(limit, bool):
            return None
        tokens = [_message_tokens(m, counter) for m in messages]
        before = sum(tokens)
        if before <= limit:
            return None
        if not isinstance(biases, Mapping):
            biases = {}
        keep = keep_last_turns if isinstance(keep_last_turns, int) else 0
        boundary = _protected_from(messages, keep)
        units = _units(messages, tokens)
        droppable = [u for u in units if u.kind != "system" and u.indices[-1] < boundary]
        reserve = (
            counter.count(
                text_marker(len(messages), len(messages), _PLACEHOLDER_KEY, unit="messages")
            )
            + _KEY_SLACK
        )

        dropped: set[int] = set()  # unit positions
        current = before
        for group in self._drop_order(droppable, biases):
            if current + reserve <= limit:
                break
            for unit in group:
                dropped.add(unit.position)
                current -= unit.tokens
        if not dropped:
            # Nothing may be dropped: keep everything (the caller reports the overflow).
            return Fitted(list(messages), [], before, before, None)
        self._start_with_user(units, droppable, dropped)
        return self._build(messages, units, dropped, tokens, before, counter, remember)

    @staticmethod
    def _start_with_user(units: list[_Unit], droppable: list[_Unit], dropped: set[int]) -> None:
        """Drop leading non-user units so the kept conversation opens with a user turn."""
        allowed = {u.position for u in droppable}
        for unit in units:
            if unit.kind == "system" or unit.position in dropped:
                continue
            if unit.starts_turn or unit.position not in allowed:
                return
            dropped.add(unit.position)

    @staticmethod
    def _build(
        messages: list[Any],
        units: list[_Unit],
        dropped: set[int],
        tokens: list[int],
        before: int,
        counter: TokenCounterLike,
        remember: Callable[[str], str],
    ) -> Fitted:
        gone = sorted(i for u in units if u.position in dropped for i in u.indices)
        gone_set = set(gone)
        records = [{"index": i, "message": messages[i]} for i in gone]
        key = remember(_serialize(records))
        kept = [i for i in range(len(messages)) if i not in gone_set]
        out = [messages[i] for i in kept]
        after = sum(tokens[i] for i in kept)
        marker = text_marker(len(gone), len(messages), key, unit="messages")
        for pos, i in enumerate(kept):
            if is_system(messages[i]):
                continue
            marked = _with_marker(messages[i], marker)
            if marked is not None:
                out[pos] = marked
                after += _message_tokens(marked, counter) - tokens[i]
            break
        return Fitted(out, gone, before, after, key)


class RollingWindow(_Base):
    """Drops the oldest whole turns first (a turn: a real user message and everything up
    to the next one), so the kept history still opens with a user message."""

    name = "rolling_window"

    def _drop_order(self, droppable: list[_Unit], biases: Mapping[int, float]) -> list[list[_Unit]]:
        turns: list[list[_Unit]] = []
        for unit in droppable:
            if unit.starts_turn or not turns:
                turns.append([unit])
            else:
                turns[-1].append(unit)
        return turns


class IntelligentContext(_Base):
    """Drops the least valuable units first.

    value = kind weight (tool exchange < assistant text < user text)
          x recency (0.5 for the oldest droppable unit up to 0.99 for the newest)
          x bias (the largest hook bias among the unit's messages; 1.0 by default)

    Ties go to the older unit. If the kept conversation would then open with an
    assistant message, the units up to the next real user message go too.
    """

    name = "intelligent_context"

    def _drop_order(self, droppable: list[_Unit], biases: Mapping[int, float]) -> list[list[_Unit]]:
        n = len(droppable)

        def value(rank: int, unit: _Unit) -> float:
            span = _MAX_RECENCY - _MIN_RECENCY
            recency = _MAX_RECENCY if n <= 1 else _MIN_RECENCY + span * rank / (n - 1)
            return _WEIGHTS.get(unit.kind, 2.0) * recency * _bias(unit, biases)

        scored = sorted(
            ((value(rank, unit), unit.position, unit) for rank, unit in enumerate(droppable)),
            key=lambda item: (item[0], item[1]),
        )
        return [[unit] for _, _, unit in scored]


_FITTERS: dict[str, Callable[[], ContextFitter]] = {
    "intelligent": IntelligentContext,
    "rolling": RollingWindow,
}


def fitter_for(strategy: str) -> ContextFitter:
    """The fitter for a ``context_strategy`` value: ``"intelligent"`` or ``"rolling"``."""
    try:
        return _FITTERS[strategy]()
    except KeyError:
        raise ConfigError(
            f"unknown context strategy {strategy!r}; expected one of {', '.join(_FITTERS)}"
        ) from None
