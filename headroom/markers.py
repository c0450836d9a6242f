"""The markers Headroom inserts in place of omitted content.

A marker is the only text in compressed output that was not in the input, so it
is easy to recognise. Text markers are whole lines that start with
``TEXT_MARKER_PREFIX``. JSON has one marker per reduced container, in one of three
forms:

- an array of records ends with a marker object, whose single key is ``MARKER_KEY``;
- an array of scalars ends with a marker string, ``"[headroom: 9 of 12 items omitted; …]"``;
- an object gains one marker member, named ``MARKER_KEY`` (``__headroom__1``,
  ``__headroom__2``, … when the object already has a member of that name), whose value
  is the same sentence.

A lossless table (an array of same-shaped records written as column names plus
rows of values) is labelled with ``MARKER_KEY`` too; ``expand_tables`` turns it
back into the records it came from.
"""

from __future__ import annotations

import re
from typing import Any

MARKER_KEY = "__headroom__"
TEXT_MARKER_PREFIX = "[headroom:"
KEY_PATTERN = re.compile(r"\bhr_[0-9a-f]{16}\b")
# Joins the pieces of a line that kept some of its sentences and dropped others.
TEXT_GAP = " … "
# A marker line, alone or behind the comment syntax (and Python's ``...``) that
# keeps elided source code parseable: ``is_text_marker`` peels those off by hand.
# (A regex with two ``\s*`` in a row took quadratic time on a long blank line.)
_MARKER_LEADS = ("#", "//", "/*")


def omitted_note(omitted: int, total: int, unit: str, key: str, over_cap: int | None = None) -> str:
    """The sentence that tells the model what was left out and how to get it back.
    ``over_cap``: a hard cap on kept items that had to yield (see ``SmartCrusherConfig``)."""
    yielded = (
        f" (over the cap of {over_cap} {unit}, to keep every error and query match)"
        if over_cap is not None
        else ""
    )
    return (
        f"{omitted} of {total} {unit} omitted{yielded}; call headroom_retrieve with "
        f'key="{key}" (add a query to fetch only matching {unit})'
    )


# The sentence omitted_note writes, recognised again (numbers may carry thousands
# separators). Anchored literals and bounded character classes: linear time.
_NOTE = (
    r"[\d,]{1,24} of [\d,]{1,24} [a-z]{1,16} omitted"
    r"(?: \(over the cap of [\d,]{1,24} [a-z]{1,16}, to keep every error and query match\))?"
    r"; call headroom_retrieve with "
    r'key="hr_[0-9a-f]{16}" \(add a query to fetch only matching [a-z]{1,16}\)'
)
_NOTE_RE = re.compile(_NOTE)
_ITEM_MARKER_RE = re.compile(re.escape(TEXT_MARKER_PREFIX) + " " + _NOTE + r"\]")
_MEMBER_NAME = re.compile(re.escape(MARKER_KEY) + r"(?:[1-9][0-9]{0,8})?")


def json_marker(
    omitted: int, total: int, key: str, unit: str = "items", over_cap: int | None = None
) -> dict[str, str]:
    """The marker object that ends a reduced array of records."""
    return {MARKER_KEY: omitted_note(omitted, total, unit, key, over_cap)}


def item_marker(
    omitted: int, total: int, key: str, unit: str = "items", over_cap: int | None = None
) -> str:
    """The marker string that ends a reduced array of scalars."""
    return f"{TEXT_MARKER_PREFIX} {omitted_note(omitted, total, unit, key, over_cap)}]"


def is_item_marker(value: Any) -> bool:
    """A marker string at the end of a reduced array of scalars."""
    return type(value) is str and _ITEM_MARKER_RE.fullmatch(value) is not None


def member_marker_name(names: Any) -> str:
    """The name for the marker member of an object whose member names are ``names``:
    ``MARKER_KEY``, else the first of ``__headroom__1``, ``__headroom__2``, … not taken."""
    if MARKER_KEY not in names:
        return MARKER_KEY
    n = 1
    while f"{MARKER_KEY}{n}" in names:
        n += 1
    return f"{MARKER_KEY}{n}"


def is_member_marker(name: Any, value: Any) -> bool:
    """A member that a reduced object gained: a ``__headroom__`` name (optionally with a
    number) whose value is the omitted-content sentence."""
    return (
        type(name) is str
        and type(value) is str
        and _MEMBER_NAME.fullmatch(name) is not None
        and _NOTE_RE.fullmatch(value) is not None
    )


def member_marker_of(value: Any) -> str | None:
    """The name of the marker member of object ``value``, if it has one (the last one:
    markers are appended after the members that stayed)."""
    if type(value) is not dict:
        return None
    for name in reversed(value):
        if is_member_marker(name, value[name]):
            return str(name)
        break
    return None


def text_marker(omitted: int, total: int, key: str, unit: str = "lines") -> str:
    return f"{TEXT_MARKER_PREFIX} {omitted_note(omitted, total, unit, key)}]"


def is_json_marker(value: Any) -> bool:
    """The marker object that ends a reduced array of records."""
    return isinstance(value, dict) and len(value) == 1 and MARKER_KEY in value


def is_any_json_marker(value: Any) -> bool:
    """An array element that is a marker: a marker object or a marker string."""
    return is_json_marker(value) or is_item_marker(value)


def is_text_marker(line: str) -> bool:
    """Whether ``line`` is a text marker (in linear time, whatever the line holds)."""
    if TEXT_MARKER_PREFIX not in line:
        return False
    rest = line.lstrip()
    if rest.startswith("..."):
        rest = rest[3:].lstrip()
    for lead in _MARKER_LEADS:
        if rest.startswith(lead):
            rest = rest[len(lead) :].lstrip()
            break
    return rest.startswith(TEXT_MARKER_PREFIX)


def json_table(columns: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    note = f"table of {len(rows)} items: each row lists the values of the columns, in order"
    return {MARKER_KEY: note, "columns": columns, "rows": rows}


def is_json_table(value: Any) -> bool:
    return (
        type(value) is dict
        and value.keys() == {MARKER_KEY, "columns", "rows"}
        and isinstance(value[MARKER_KEY], str)
        and value[MARKER_KEY].startswith("table of ")
        and isinstance(value["columns"], list)
        and isinstance(value["rows"], list)
    )


def expand_tables(value: Any, depth: int = 0) -> Any:
    """``value`` with every Headroom table turned back into its list of records."""
    if depth > 256:
        return value
    if is_json_table(value):
        columns = value["columns"]
        return [dict(zip(columns, row, strict=True)) for row in value["rows"]]
    if type(value) is dict:
        return {k: expand_tables(v, depth + 1) for k, v in value.items()}
    if type(value) is list:
        return [expand_tables(v, depth + 1) for v in value]
    return value


def keys_in(text: str) -> list[str]:
    """Every retrieval key named in ``text``, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in KEY_PATTERN.finditer(text):
        seen.setdefault(match.group(0), None)
    return list(seen)
