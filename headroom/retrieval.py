"""headroom_retrieve: get back what compression left out.

``retrieve(key)`` returns the stored original byte-exact; ``retrieve(key, query=…)``
returns only the items (JSON) or lines (text) that match the query. The tool
definitions let any provider's model call it; ``answer_tool_call`` answers such a
call from the store.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from . import jsonutil
from .errors import ConfigError
from .relevance import matching
from .store import Store, default_store, shared_store

log = logging.getLogger("headroom")

RETRIEVE_TOOL_NAME = "headroom_retrieve"
RETRIEVE_TOOL_DESCRIPTION = (
    "Fetch content that Headroom omitted from a compressed tool output. Call it when a "
    "'__headroom__' or '[headroom: …]' marker says items, keys or lines were omitted and you "
    "need them. Pass the marker's key; add a query (words, ids, error codes) to get only "
    "the matching items or lines instead of the whole original."
)
_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "key": {
            "type": "string",
            "description": "The retrieval key from the marker, e.g. hr_0123abcd4567ef89.",
        },
        "query": {
            "type": "string",
            "description": "Optional: return only items or lines matching these words or ids.",
        },
    },
    "required": ["key"],
    "additionalProperties": False,
}


def retrieve_tool(format: str = "openai") -> dict[str, Any]:
    """The ``headroom_retrieve`` tool definition, in ``"openai"`` or ``"anthropic"`` format."""
    if format == "openai":
        return {
            "type": "function",
            "function": {
                "name": RETRIEVE_TOOL_NAME,
                "description": RETRIEVE_TOOL_DESCRIPTION,
                "parameters": json.loads(json.dumps(_PARAMETERS)),
            },
        }
    if format == "anthropic":
        return {
            "name": RETRIEVE_TOOL_NAME,
            "description": RETRIEVE_TOOL_DESCRIPTION,
            "input_schema": json.loads(json.dumps(_PARAMETERS)),
        }
    raise ValueError(f"format must be 'openai' or 'anthropic', got {format!r}")


@dataclass(frozen=True)
class RetrievalResult:
    """``content`` is the original (or the matching part of it); ``found`` is False for a
    missing or expired key, and ``message`` then says so."""

    key: str
    found: bool
    content: str
    query: str | None = None
    matched: int | None = None
    total: int | None = None
    message: str = ""

    def __str__(self) -> str:
        return self.content if self.found else self.message


# An object with at least this many members is searched member by member (a map keyed
# by version, id or name), like an array item by item.
_MAP_MEMBERS = 16


def _units(value: Any, depth: int = 0) -> list[Any]:
    """The searchable units of a document: the items of its outermost arrays of two or
    more, and the members (as one-member objects) of its outermost large objects,
    except members that are such an array or object themselves: their items count."""
    if depth > jsonutil.MAX_DEPTH:
        return []
    if type(value) is list:
        if len(value) >= 2:
            return list(value)
        return [u for item in value for u in _units(item, depth + 1)]
    if type(value) is dict:
        if len(value) < _MAP_MEMBERS:
            return [u for item in value.values() for u in _units(item, depth + 1)]
        out: list[Any] = []
        for name, member in value.items():
            big = (type(member) is list and len(member) >= 2) or (
                type(member) is dict and len(member) >= _MAP_MEMBERS
            )
            out.extend(_units(member, depth + 1) if big else [{name: member}])
        return out
    return []


def _items(original: str) -> list[Any] | None:
    if not jsonutil.looks_like_json(original):
        return None
    try:
        found = _units(jsonutil.loads(original))
    except (ValueError, RecursionError):
        return None
    return found or None


def filter_original(original: str, query: str) -> tuple[str, int, int, str]:
    """(matching content, matched, total, unit): items for JSON arrays (an object's
    members count as one-member objects when it has many), hunks for diffs (each with
    its commit line and file header), lines otherwise."""
    items = _items(original)
    if items is not None:
        canon = [jsonutil.canonical(i) for i in items]
        hits = matching(canon, query)
        return jsonutil.dumps([items[i] for i in hits]), len(hits), len(items), "items"
    hunks = _hunks(original)
    if hunks is not None:
        hits = matching(hunks, query)
        return "\n".join(hunks[i] for i in hits), len(hits), len(hunks), "hunks"
    lines = original.splitlines()
    hits = matching(lines, query)
    return "\n".join(lines[i] for i in hits), len(hits), len(lines), "lines"


def _hunks(original: str) -> list[str] | None:
    """A diff's hunks, each with its commit line and file header (a diff is searched
    hunk by hunk, so what comes back still reads as a diff)."""
    from .router import looks_like_diff

    if not looks_like_diff(original):
        return None
    from .compressors.diff import hunk_units

    return hunk_units(original)


def retrieve(
    key: str, query: str | None = None, store: Store | str | None = None
) -> RetrievalResult:
    """Look up ``key``. Never raises for a missing key: ``found`` is False instead."""
    if not isinstance(key, str) or not key.strip():
        return RetrievalResult(
            str(key), False, "", query, message="headroom_retrieve needs a non-empty key"
        )
    key = key.strip()
    try:
        backend = default_store() if store is None else shared_store(store)
        original = backend.get(key)
    except ConfigError:
        raise  # a wrong store spec is the caller's to fix
    except Exception as exc:  # an unreachable Redis, an unreadable SQLite file, …
        log.warning("headroom: retrieval store unavailable: %s", exc)
        return RetrievalResult(
            key, False, "", query, message=f"The retrieval store is unavailable ({exc})."
        )
    if original is None:
        return RetrievalResult(
            key,
            False,
            "",
            query,
            message=(
                f"No stored original for key {key!r}: it never existed here or has expired. "
                "Work from the compressed output, or re-run the tool to get fresh data."
            ),
        )
    if not query or not query.strip() or original.startswith(_IMAGE_RECORD):
        return RetrievalResult(key, True, original)  # a stored image is never filtered
    content, matched, total, unit = filter_original(original, query)
    message = (
        ""
        if matched
        else (
            f"No {unit} of {key} match {query!r}; call headroom_retrieve without a query for "
            f"all {total} {unit}."
        )
    )
    return RetrievalResult(key, True, content, query, matched, total, message)


# How a stored original image starts (headroom.images.blocks.record).
_IMAGE_RECORD = '{"__headroom_image__"'


@dataclass(frozen=True)
class ToolAnswer:
    """The text to send back as the tool result, and whether it reports an error.

    ``blocks`` is set only when the answer is an image and ``format="anthropic"`` was
    asked for: Anthropic tool results may carry image blocks, so send these as the
    ``tool_result`` content instead of ``content``.
    """

    content: str
    is_error: bool
    blocks: list[dict[str, Any]] | None = None


def answer_tool_call(
    arguments: Any, store: Store | str | None = None, format: str = "openai"
) -> ToolAnswer:
    """Answer a ``headroom_retrieve`` call. ``arguments`` is a dict or its JSON string.

    A stored image is described in text (never as base64) for ``format="openai"``, whose
    tool messages carry text only; for ``format="anthropic"`` the answer's ``blocks``
    carry the original image block."""
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError):
            return ToolAnswer("headroom_retrieve: arguments are not valid JSON", True)
    if not isinstance(arguments, dict):
        return ToolAnswer("headroom_retrieve: arguments must be an object with a 'key'", True)
    key = arguments.get("key")
    query = arguments.get("query")
    if not isinstance(key, str) or not key.strip():
        return ToolAnswer("headroom_retrieve: 'key' (a string) is required", True)
    if query is not None and not isinstance(query, str):
        return ToolAnswer("headroom_retrieve: 'query' must be a string", True)
    result = retrieve(key, query, store)
    if not result.found:
        return ToolAnswer(result.message, True)
    if result.content.startswith(_IMAGE_RECORD):
        from .images.blocks import describe_stored

        described = describe_stored(result.content, result.key, format)
        if described is not None:
            return ToolAnswer(described[0], False, described[1])
    if result.query and not result.matched:
        return ToolAnswer(result.message, False)
    return ToolAnswer(result.content, False)
