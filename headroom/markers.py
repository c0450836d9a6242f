"""The markers Headroom inserts in place of omitted content.

A marker is the only text in compressed output that was not in the input, so it
is easy to recognise: JSON markers are objects with the single key
``MARKER_KEY``; text markers are whole lines that start with ``TEXT_MARKER_PREFIX``.
"""

from __future__ import annotations

import re
from typing import Any

MARKER_KEY = "__headroom__"
TEXT_MARKER_PREFIX = "[headroom:"
KEY_PATTERN = re.compile(r"\bhr_[0-9a-f]{16}\b")


def omitted_note(omitted: int, total: int, unit: str, key: str) -> str:
    """The sentence that tells the model what was left out and how to get it back."""
    return (
        f"{omitted} of {total} {unit} omitted; call headroom_retrieve with "
        f'key="{key}" (add a query to fetch only matching {unit})'
    )


def json_marker(omitted: int, total: int, key: str, unit: str = "items") -> dict[str, str]:
    return {MARKER_KEY: omitted_note(omitted, total, unit, key)}


def text_marker(omitted: int, total: int, key: str, unit: str = "lines") -> str:
    return f"{TEXT_MARKER_PREFIX} {omitted_note(omitted, total, unit, key)}]"


def is_json_marker(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and MARKER_KEY in value


def is_text_marker(line: str) -> bool:
    return line.lstrip().startswith(TEXT_MARKER_PREFIX)


def keys_in(text: str) -> list[str]:
    """Every retrieval key named in ``text``, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in KEY_PATTERN.finditer(text):
        seen.setdefault(match.group(0), None)
    return list(seen)
