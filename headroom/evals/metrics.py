"""The offline checks, each a pure function of the input, the output and the store.

They trust nothing the compressor reports about itself: needles are searched in
the output text, keys are found by scanning the output, token counts are redone.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from .. import jsonutil
from ..markers import (
    MARKER_KEY,
    TEXT_GAP,
    expand_tables,
    is_any_json_marker,
    is_member_marker,
    is_text_marker,
    keys_in,
    member_marker_name,
)
from ..messages import slots
from ..retrieval import retrieve
from ..store import Store


@dataclass(frozen=True)
class OutputPair:
    """One tool output before and after compression."""

    message_index: int
    path: tuple[Any, ...]
    original: str
    compressed: str


def output_pairs(
    original: list[dict[str, Any]], compressed: list[dict[str, Any]]
) -> list[OutputPair]:
    """Every tool output of ``original`` with the text at the same place in ``compressed``.

    A missing or non-string counterpart yields an empty string (caught by the
    structure check)."""
    pairs = []
    for slot in slots(original):
        node: Any = compressed[slot.message_index] if slot.message_index < len(compressed) else None
        for step in slot.path:
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                node = None
                break
        pairs.append(
            OutputPair(
                slot.message_index, slot.path, slot.text, node if isinstance(node, str) else ""
            )
        )
    return pairs


def contains(text: str, needle: str) -> bool:
    """``needle`` occurs in ``text`` verbatim, or as its JSON-escaped form."""
    if needle in text:
        return True
    escaped = json.dumps(needle, ensure_ascii=False)[1:-1]
    return escaped != needle and escaped in text


@dataclass(frozen=True)
class NeedleCheck:
    needle: str
    inline: bool
    retrievable: bool  # some key in the output returns it in one retrieve call

    @property
    def retained(self) -> bool:
        return self.inline or self.retrievable


def check_needle(
    needle: str,
    pairs: Iterable[OutputPair],
    store: Store,
    only_messages: Iterable[int] | None = None,
) -> NeedleCheck:
    """Looks for ``needle`` in the outputs whose original contains it (restricted to
    the messages ``only_messages`` when given)."""
    allowed = None if only_messages is None else set(only_messages)
    sources = [
        p
        for p in pairs
        if contains(p.original, needle) and (allowed is None or p.message_index in allowed)
    ]
    if not sources:
        raise ValueError(f"needle {needle!r} is not in any tool output: the case is broken")
    if any(contains(p.compressed, needle) for p in sources):
        return NeedleCheck(needle, True, True)
    for pair in sources:
        for key in keys_in(pair.compressed):
            got = retrieve(key, store=store)
            if got.found and contains(got.content, needle):
                return NeedleCheck(needle, False, True)
    return NeedleCheck(needle, False, False)


def round_trip(pairs: Iterable[OutputPair], store: Store) -> tuple[int, list[str]]:
    """(keys checked, failures): every key in an output must return that output's
    original byte-exact."""
    checked = 0
    failures = []
    for pair in pairs:
        for key in keys_in(pair.compressed):
            checked += 1
            got = retrieve(key, store=store)
            if not got.found:
                failures.append(f"{key}: not found")
            elif got.content != pair.original:
                failures.append(
                    f"{key}: content differs from the original ({len(got.content)} vs {len(pair.original)} chars)"
                )
    return checked, failures


# ---------------------------------------------------------------- fabrication


def _same(a: Any, b: Any) -> bool:
    """Deep equality that tells ``1`` from ``1.0`` from ``true`` (JSON literals differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=False))
    return bool(a == b)


def json_fabrications(original: Any, output: Any, path: str = "$") -> list[str]:
    """Everything in ``output`` that is not in ``original`` at the same path.

    Markers are set aside: a marker object or marker string at the end of a list, and
    one marker member (``__headroom__``, or ``__headroom__1``, … when the input object
    has that name) in an object. A dict may lose keys but not gain or change them; a
    list's remaining elements must be, in order, elements of the original list
    (each checked recursively, so nested arrays may be crushed too)."""
    if isinstance(output, dict) and isinstance(original, dict):
        problems = []
        marker_seen = False
        for k, v in output.items():
            if k not in original and is_member_marker(k, v) and not marker_seen:
                marker_seen = k == member_marker_name(original)
                if not marker_seen:
                    problems.append(f"{path}.{k}: marker member under the wrong name")
                continue
            if k == MARKER_KEY and k not in original:
                problems.append(f"{path}: marker key mixed into a data object")
            elif k not in original:
                problems.append(f"{path}.{k}: key not in the input")
            else:
                problems.extend(json_fabrications(original[k], v, f"{path}.{k}"))
        return problems
    if isinstance(output, list) and isinstance(original, list):
        problems = []
        start = 0
        for i, item in enumerate(output):
            if is_any_json_marker(item) and i == len(output) - 1:
                continue
            for j in range(start, len(original)):
                if not json_fabrications(original[j], item, f"{path}[{j}]"):
                    start = j + 1
                    break
            else:
                problems.append(
                    f"{path}[{i}]: item not found (in order) in the input: {_short(item)}"
                )
        return problems
    if _same(original, output):
        return []
    return [f"{path}: {_short(output)} != input {_short(original)}"]


def _short(value: Any, limit: int = 80) -> str:
    try:
        text = jsonutil.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _verbatim_pieces(line: str, original: str) -> bool:
    """A line that kept some sentences of the input: each piece between gap markers is
    verbatim input text."""
    return all(piece and piece in original for piece in line.split(TEXT_GAP))


def text_fabrications(original: str, output: str) -> list[str]:
    """Output lines that are neither input lines, marker lines, nor input text joined
    by gap markers."""
    known = set(original.splitlines())
    return [
        f"line {n + 1}: {line[:80]!r}"
        for n, line in enumerate(output.splitlines())
        if line not in known
        and not is_text_marker(line)
        and line.strip()
        and not _verbatim_pieces(line, original)
    ]


def fabrications(pair: OutputPair) -> list[str]:
    """What the compressed output says that the input did not."""
    if pair.compressed == pair.original:
        return []
    if jsonutil.looks_like_json(pair.original):
        try:
            before = jsonutil.loads(pair.original)
        except (ValueError, RecursionError):
            before = None
        if before is not None:
            try:
                after = jsonutil.loads(pair.compressed)
            except (ValueError, RecursionError):
                return text_fabrications(pair.original, pair.compressed)
            return json_fabrications(before, expand_tables(after))
    return text_fabrications(pair.original, pair.compressed)


# ---------------------------------------------------------------- structure


def _skeleton(messages: list[dict[str, Any]], reference: list[dict[str, Any]]) -> str:
    """The messages with every tool output of ``reference`` blanked, as canonical JSON."""
    from ..messages import set_text

    out = [dict(m) if isinstance(m, dict) else m for m in messages]
    for slot in slots(reference):
        if slot.message_index < len(out) and isinstance(out[slot.message_index], dict):
            with contextlib.suppress(KeyError, IndexError, TypeError):
                out[slot.message_index] = set_text(out[slot.message_index], slot.path, "")
    return json.dumps(out, sort_keys=True, default=str)


def tool_pairing_problems(messages: list[dict[str, Any]]) -> list[str]:
    """Every tool result must answer an earlier tool call (OpenAI or Anthropic format)."""
    called: set[str] = set()
    problems = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            problems.append(f"message {i}: not a dict")
            continue
        for call in msg.get("tool_calls") or ():
            if isinstance(call, dict) and isinstance(call.get("id"), str):
                called.add(call["id"])
        content = msg.get("content")
        blocks = content if isinstance(content, list) else []
        for block in blocks:
            if isinstance(block, dict) and block.get("type") == "tool_use":
                called.add(str(block.get("id")))
            if (
                isinstance(block, dict)
                and block.get("type") == "tool_result"
                and block.get("tool_use_id") not in called
            ):
                problems.append(
                    f"message {i}: tool_result {block.get('tool_use_id')} has no tool_use"
                )
        if msg.get("role") == "tool" and msg.get("tool_call_id") not in called:
            problems.append(f"message {i}: tool result {msg.get('tool_call_id')} has no tool call")
    return problems


@lru_cache(maxsize=8)
def _parser(language: str) -> Any:
    import importlib

    import tree_sitter

    module = importlib.import_module(f"tree_sitter_{language}")
    lang_fn = getattr(module, "language", None) or getattr(module, f"language_{language}")
    return tree_sitter.Parser(tree_sitter.Language(lang_fn()))


def code_parses(text: str, language: str) -> bool | None:
    """True/False from tree-sitter; None when the grammar is not installed."""
    try:
        parser = _parser(language)
    except (ImportError, AttributeError):
        return None
    return not bool(parser.parse(text.encode("utf-8")).root_node.has_error)


def structure_problems(
    original: list[dict[str, Any]],
    compressed: list[dict[str, Any]],
    pairs: list[OutputPair],
    language: str | None = None,
) -> list[str]:
    """Conversation shape, tool-call pairing, JSON validity, code validity."""
    problems = []
    if len(compressed) != len(original):
        problems.append(f"message count changed: {len(original)} -> {len(compressed)}")
    elif _skeleton(original, original) != _skeleton(compressed, original):
        problems.append("messages changed outside tool outputs (roles, ids, calls or user text)")
    problems.extend(tool_pairing_problems(compressed))
    for pair in pairs:
        where = f"message {pair.message_index}"
        if jsonutil.looks_like_json(pair.original):
            try:
                jsonutil.loads(pair.original)
                valid_before = True
            except (ValueError, RecursionError):
                valid_before = False
            if valid_before:
                try:
                    jsonutil.loads(pair.compressed)
                except (ValueError, RecursionError):
                    problems.append(f"{where}: compressed JSON no longer parses")
        if (
            language
            and code_parses(pair.original, language)
            and code_parses(pair.compressed, language) is False
        ):
            problems.append(f"{where}: compressed {language} code no longer parses")
    return problems
