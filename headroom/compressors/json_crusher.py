"""SmartCrusher: compresses JSON tool outputs.

1. Lossless first. A compact form keeps every item: minified JSON, or, for arrays
   of records that all share the same keys, a labelled table (column names once,
   then one row of values per record) when that is at least 15% smaller. It wins
   whenever it is no more than ``lossless_slack`` times the size of the lossy
   selection.
2. Otherwise every large container keeps a selection: arrays of records, arrays of
   scalars (version lists, numbers) and objects that are maps rather than records
   (members keyed by version, id or name). Wherever they sit in the document, each
   keeps: the first and last few; what the query names (identifiers, BM25 matches,
   field values that are query words, map keys); what the document itself points at
   (a map member keyed by the top-level ``version``); every item that signals
   trouble (error, fatal, exception, failed, timeout, denied, …, or an HTTP status
   >= 400); the first item with each rare categorical value; and numeric outliers
   beyond 2 standard deviations. Exact duplicates are dropped; trouble items are
   also deduplicated loosely (equal once digits and hex runs are masked), so a
   repeated error shows once. Kept items and members are searched for big
   containers in turn. Under a ``SmartCrusherConfig`` the kept count is hard-capped
   and the lexical ranking is a relevance threshold (see ``headroom.crusher_config``).
3. One marker per reduced container names the omitted count and the retrieval key:
   a marker object ending an array of records, a ``"[headroom: …]"`` string ending
   an array of scalars, a ``"__headroom__"`` member (``__headroom__1``, … if taken)
   in an object. The original is stored under that key.

The output is valid JSON of the same shape (or a labelled table in place of an
array); kept items are the input's own values (number literals are written back
exactly as they were).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from typing import Any

from .. import jsonutil
from ..markers import (
    MARKER_KEY,
    is_any_json_marker,
    is_member_marker,
    item_marker,
    json_marker,
    json_table,
    member_marker_name,
    omitted_note,
)
from ..relevance import (
    Joined,
    bm25_scores,
    identifiers,
    query_terms,
    rank,
    whole_token_pattern,
)
from ..store.base import key_for
from .base import Compressed, CompressorContext

# Words that signal a problem, matched in lower-cased text. Distinctive stems match
# inside longer names too (NullPointerException, ValueError, error_code, errorMessage,
# OOMKilled); short or ambiguous ones must stand alone, with "_" and digits counting
# as separators (is_failed, oom_killed), so "room" or "hispanic" don't match.
_TROUBLE = re.compile(
    r"error|exception|fatal|traceback|segfault|segmentation fault|deadlock|timeout|"
    r"timed ?out|refused|unauthori[sz]ed|forbidden|unavailable|unhealthy|crashloop|oomkilled|"
    r"(?<![a-z])(?:fail|failed|failures?|failing|denied|panic|panicked|critical|crash|"
    r"crashed|abort|aborted|killed|oom|rejected|invalid)(?![a-z])"
)
# Every word _TROUBLE matches contains one of these.
_TROUBLE_STEMS = (
    "error", "exception", "fatal", "traceback", "segfault", "segmentation fault",
    "deadlock", "timeout", "timed", "refused", "unauthori", "forbidden", "unavailable",
    "unhealthy", "crash", "fail", "denied", "panic", "critical", "abort", "killed", "oom",
    "rejected", "invalid",
)  # fmt: skip
_HTTP_TROUBLE = re.compile(r'"(?:status|status_?code|http_?status|code)":"?[45]\d\d\b')
# "error": null, "failed": 0, "errors": [] … say that nothing went wrong.
_FALSY_PAIR = re.compile(r'"[^"]*":(?:null|false|0|""|\[\]|\{\})(?=[,}\]])')
# A run of hex characters holding a digit. Matching starts only where a run starts
# (the lookbehind), so a long digit-free run costs one scan, not one per position.
_VOLATILE = re.compile(r"(?<![0-9a-f])[a-f]*[0-9][0-9a-f]*")

_MAX_CATEGORY_VALUES = 20
_MAX_CATEGORY_LEN = 64
_OUTLIER_Z = 2.0
_OUTLIERS_PER_FIELD = 3
_MAX_TUPLE = 8  # a list this short among many is a tuple of fields, not a collection
_MAX_VALUE_HITS = 20_000  # a query word that is this many values names no item


def _signature(canon: str) -> str:
    return _VOLATILE.sub("#", canon)


def _columns(items: list[Any]) -> dict[str, list[tuple[int, Any]]]:
    """Top-level fields of record items: field -> [(item index, value)]. Short lists
    count as records whose fields are their positions (``[timestamp, value]`` pairs)."""
    columns: dict[str, list[tuple[int, Any]]] = {}
    for i, item in enumerate(items):
        if type(item) is dict:
            fields: Any = item.items()
        elif type(item) is list and len(item) <= _MAX_TUPLE:
            fields = ((f"#{k}", v) for k, v in enumerate(item))
        else:
            continue
        for field, value in fields:
            column = columns.get(field)
            if column is None:
                columns[field] = column = []
            column.append((i, value))
    return columns


def _rare_items(columns: dict[str, list[tuple[int, Any]]], n: int) -> list[int]:
    """First index of each rare value of each low-cardinality string field."""
    if n < 10:
        return []
    picks: set[int] = set()
    rare_limit = max(1, n // 20)
    for column in columns.values():
        counts = Counter(v for _, v in column if type(v) is str and len(v) <= _MAX_CATEGORY_LEN)
        if not 2 <= len(counts) <= _MAX_CATEGORY_VALUES or counts.most_common(1)[0][1] < n // 2:
            continue
        rare = {v for v, c in counts.items() if c <= rare_limit}
        for i, v in column:
            if type(v) is str and v in rare:
                picks.add(i)
                rare.discard(v)
    return sorted(picks)


# A number written as a string, as metrics APIs do ("0.25", "-3", "1e-3").
_NUMERIC_TEXT = re.compile(r"-?\d{1,20}(?:\.\d{1,20})?(?:[eE][-+]?\d{1,3})?")


def _numeric(value: Any) -> float | None:
    kind = type(value)
    if kind is int:
        return float(value)
    if kind is jsonutil.Number or (kind is str and _NUMERIC_TEXT.fullmatch(value)):
        try:
            f = float(value)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _outliers(columns: dict[str, list[tuple[int, Any]]], n: int) -> list[int]:
    """The most extreme values (|z| > 2) of each numeric field, a few per field."""
    if n < 8:
        return []
    picks: set[int] = set()
    for column in columns.values():
        if len(column) < max(8, int(0.8 * n)):
            continue
        first = column[0][1]
        kind = type(first)
        if kind is not int and kind is not jsonutil.Number and _numeric(first) is None:
            continue
        values = [(i, f) for i, v in column if (f := _numeric(v)) is not None]
        if len(values) < max(8, int(0.8 * n)):
            continue
        mean = sum(v for _, v in values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for _, v in values) / len(values))
        if std == 0.0:
            continue
        limit = _OUTLIER_Z * std
        far = [(abs(v - mean) / std, i) for i, v in values if abs(v - mean) > limit]
        far.sort(key=lambda zi: (-zi[0], zi[1]))
        picks.update(i for _, i in far[:_OUTLIERS_PER_FIELD])
    return sorted(picks)


# Strings longer than this are documents (a package's README, a description), not
# status values: a word like "error" inside one is no sign that the item went wrong.
_PROSE_CHARS = 400


def _without_prose(value: Any, depth: int = 0) -> Any:
    """``value`` with its long strings emptied."""
    if type(value) is str:
        return "" if len(value) > _PROSE_CHARS else value
    if depth > jsonutil.MAX_DEPTH:
        return value
    if type(value) is dict:
        return {k: _without_prose(v, depth + 1) for k, v in value.items()}
    if type(value) is list:
        return [_without_prose(v, depth + 1) for v in value]
    return value


# A run this long without a quote can only be inside a long string.
_LONG_RUN = re.compile(f'[^"]{{{_PROSE_CHARS},}}')
_WINDOW = 64  # characters around a stem that hold the whole word it belongs to
_WINDOWED_FROM = 4096  # texts longer than this are checked around their stems only


def _trouble_words(text: str) -> set[str]:
    """The trouble words of one lower-cased item, minus fields that say nothing went
    wrong. A long item is checked only around the places a stem occurs (each window is
    widened to the quote before it, so a ``"key":null`` pair is seen whole)."""
    if len(text) > _WINDOWED_FROM:
        starts: list[int] = []
        for stem in _TROUBLE_STEMS:
            pos = text.find(stem)
            while pos >= 0:
                starts.append(pos)
                pos = text.find(stem, pos + 1)
        spans: list[list[int]] = []
        for pos in sorted(starts):
            lo = max(0, pos - _WINDOW)
            quote = text.rfind('"', 0, lo)
            lo = quote if quote >= 0 and lo - quote <= _WINDOW else lo
            hi = pos + _WINDOW
            if spans and lo <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], hi)
            else:
                spans.append([lo, hi])
        pieces = [text[lo:hi] for lo, hi in spans]
    else:
        pieces = [text]
    found: set[str] = set()
    for piece in pieces:
        found.update(_TROUBLE.findall(_FALSY_PAIR.sub("", piece)))
    if _HTTP_TROUBLE.search(text):  # a falsy value is never a 4xx or 5xx status
        found.add("http>=400")
    return found


def _trouble_items(
    canon: list[str], items: list[Any] | None = None, joined: Joined | None = None
) -> list[int]:
    """Items whose values or keys signal a problem, ignoring words that most items share
    and the text of long strings."""
    n = len(canon)
    # Plain substring scans pick the candidates (far faster than the word regex over
    # everything); the regex then confirms each candidate on its own.
    joined = joined or Joined(canon)
    candidates = joined.docs_containing(_TROUBLE_STEMS) | joined.docs_matching(_HTTP_TROUBLE)
    hits: list[tuple[int, frozenset[str]]] = []
    word_freq: Counter[str] = Counter()
    for i in sorted(candidates):
        text = canon[i]
        if items is not None and _LONG_RUN.search(text):
            text = jsonutil.canonical(_without_prose(items[i])).lower()
        found = _trouble_words(text)
        if found:
            frozen = frozenset(found)
            hits.append((i, frozen))
            word_freq.update(frozen)
    common = {w for w, c in word_freq.items() if c > n // 2}
    return [i for i, words in hits if words - common]


_TABLE_MIN_ROWS = 4
_TABLE_GAIN = 0.85  # a table must be at most this share of the minified size
# Tables are tried on outputs small enough to keep whole; bigger ones get crushed, and
# rebuilding a large document in Python would cost more than it saves.
_TABLE_MAX_CHARS = 256 * 1024


def _table_of(items: list[Any]) -> dict[str, Any] | None:
    """``items`` as a header-plus-rows table when they are records of one shape."""
    if len(items) < _TABLE_MIN_ROWS or type(items[0]) is not dict:
        return None
    columns = list(items[0])
    if len(columns) < 2 or MARKER_KEY in items[0]:
        return None
    shape = tuple(columns)
    if any(type(item) is not dict or tuple(item) != shape for item in items):
        return None
    return json_table(columns, [list(item.values()) for item in items])


def _tables(value: Any, depth: int = 0) -> tuple[Any, int]:
    """``value`` with its outermost tabular arrays written as tables, and about how many
    characters that saves (0: no table)."""
    if depth > jsonutil.MAX_DEPTH:
        return value, 0
    if type(value) is list:
        table = _table_of(value)
        if table is not None:
            saved = len(jsonutil.canonical(value)) - len(jsonutil.canonical(table))
            return table, max(saved, 1)
        pairs = [_tables(v, depth + 1) for v in value]
        return [v for v, _ in pairs], sum(saved for _, saved in pairs)
    if type(value) is dict:
        total = 0
        out = {}
        for k, v in value.items():
            out[k], saved = _tables(v, depth + 1)
            total += saved
        return out, total
    return value, 0


def _tabulate(value: Any) -> tuple[Any, bool]:
    """``value`` with its outermost tabular arrays written as tables, and whether that
    promises to be worth writing the whole document out again: the tables, measured
    alone, must save nearly the share a table must save."""
    tabled, saved = _tables(value)
    if not saved:
        return tabled, False
    size = len(jsonutil.canonical(value))
    return tabled, size - saved <= size * _TABLE_GAIN * 1.02


def _compact(text: str) -> str:
    """The smallest lossless form: minified JSON, or tables where records repeat their keys."""
    minified = jsonutil.minify(text)
    if len(minified) > _TABLE_MAX_CHARS:
        return minified
    try:
        # Strict: a record that repeats a key would lose a value in the table.
        tabled, changed = _tabulate(jsonutil.loads_strict(minified))
        if changed:
            candidate = jsonutil.dumps(tabled)
            if len(candidate) <= len(minified) * _TABLE_GAIN:
                return candidate
    except (ValueError, TypeError, RecursionError):
        pass
    return minified


# An object is reduced like an array when it is a map rather than a record: many
# members whose values are mostly containers (records keyed by id or name), or so many
# members that no record has that many fields (``time`` keyed by version).
_MAP_CONTAINER_SHARE = 0.8
_MAP_WIDE_FACTOR = 2


def _is_map(obj: dict[str, Any], threshold: int) -> bool:
    n = len(obj)
    if n < threshold:
        return False
    if n >= _MAP_WIDE_FACTOR * threshold:
        return True
    containers = sum(1 for v in obj.values() if type(v) is dict or type(v) is list)
    return containers >= _MAP_CONTAINER_SHARE * n


class _Reducer:
    """Walks a parsed document and reduces, in place, every large container in it."""

    def __init__(
        self,
        query: str | None,
        budget: int,
        keep_first: int,
        keep_last: int,
        key: str,
        cap: int | None = None,
        relevance: float | None = None,
    ):
        self.query = query
        self.cap = cap  # a hard cap on kept items (SmartCrusherConfig), or None
        self.relevance = relevance  # SmartCrusherConfig.relevance_threshold, or None
        self.budget = budget if cap is None else min(budget, cap)
        if cap is not None and keep_first + keep_last > self.budget:
            # Ends scaled up by the bias share the capped budget in their own proportion.
            keep_first = round(keep_first * self.budget / (keep_first + keep_last))
            keep_last = self.budget - keep_first
        self.keep_first = keep_first
        self.keep_last = keep_last
        self.key = key
        self.threshold = max(self.budget, keep_first + keep_last) + 1
        if cap is not None:
            self.threshold = min(self.threshold, cap + 1)
        ids, terms = _query_words(query)
        self.terms = set(ids) | set(terms)
        self.omitted = 0
        self.anchors: set[str] = set()

    def anchor(self, doc: Any) -> None:
        """Remember the short strings the top of the document states (a package's
        ``version``, ``dist-tags.latest``): a map member keyed by one of them, or a list
        item equal to one, is the document pointing at itself and stays."""
        if type(doc) is not dict:
            return
        for value in doc.values():
            if type(value) is dict and len(value) < self.threshold:
                values = list(value.values())
            else:
                values = [value]
            self.anchors.update(
                v for v in values if type(v) is str and 0 < len(v) <= _MAX_CATEGORY_LEN
            )

    def walk(self, value: Any, depth: int = 0) -> None:
        if depth > jsonutil.MAX_DEPTH:
            return
        if type(value) is list:
            if len(value) >= self.threshold:
                self.array(value)
            # Kept items are searched too: a big array or map inside a kept record is
            # reduced by the same rules (the marker is never an item to search).
            for item in value:
                if type(item) is dict or type(item) is list:
                    self.walk(item, depth + 1)
        elif type(value) is dict:
            if _is_map(value, self.threshold):
                self.object(value)
            for member in value.values():  # a marker member is a string: never walked
                if type(member) is dict or type(member) is list:
                    self.walk(member, depth + 1)

    def named(
        self, canon: list[str], joined: Joined, scalars: list[Any] | None = None
    ) -> list[int]:
        """Items holding a field whose whole value is a word or id of the query
        (``"name":"pip"`` for "which pip is installed?"), unless many items share that
        field and value (``"installer":"pip"`` in every item says nothing)."""
        found: set[int] = set()
        if not self.terms:
            return sorted(found)
        text = joined.text
        cap = max(3, len(canon) // 10)
        groups: dict[tuple[str, str], set[int]] = {}
        for term in sorted(self.terms):
            needle = ":" + jsonutil.canonical(term)
            if text.count(needle) > _MAX_VALUE_HITS:
                continue  # a value this common names no particular item
            pos = text.find(needle)
            while pos >= 0:
                after = pos + len(needle)
                if after >= len(text) or text[after] in ",}]\n":
                    opening = text.rfind('"', 0, max(0, pos - 1))
                    name = text[opening + 1 : pos - 1] if opening >= 0 else ""
                    hits = groups.setdefault((name, term), set())
                    if len(hits) <= cap:
                        hits.add(joined.doc_at(pos))
                pos = text.find(needle, after)
        for hits in groups.values():
            if len(hits) <= cap:
                found.update(hits)
        return sorted(found)

    def array(self, items: list[Any]) -> None:
        n = len(items)
        scalars = not any(type(i) is dict or type(i) is list for i in items)
        canon = [jsonutil.canonical(item).lower() for item in items]
        columns = {"": list(enumerate(items))} if scalars else _columns(items)
        # A kept string that reads like our marker would claim an omission we did not make.
        joined = Joined(canon)
        banned = (
            {i for i, item in enumerate(items) if is_any_json_marker(item)}
            if "[headroom:" in joined.text or MARKER_KEY in joined.text
            else set()
        )
        pointed = (
            [i for i, v in enumerate(items) if type(v) is str and v in self.anchors]
            if scalars and self.anchors
            else []
        )
        kept, over = _select(canon, columns, self.query, self.budget, self.keep_first,
                             self.keep_last, named=self.named(canon, joined), banned=banned,
                             items=items, joined=joined, pointed=pointed, cap=self.cap,
                             relevance=self.relevance)  # fmt: skip
        omitted = n - len(kept)
        if omitted <= 0:
            return
        self.omitted += omitted
        items[:] = [items[i] for i in kept]
        if scalars:
            items.append(item_marker(omitted, n, self.key, over_cap=over))
        else:
            items.append(json_marker(omitted, n, self.key, over_cap=over))

    def object(self, obj: dict[str, Any]) -> None:
        names = list(obj)
        values = list(obj.values())
        canon = [
            (jsonutil.canonical(name) + ":" + jsonutil.canonical(value)).lower()
            for name, value in obj.items()
        ]
        # Members the query names by their key (or the key's last path segment, as in
        # package-lock's "node_modules/lodash"), and those the document points at.
        terms = self.terms
        named = [
            i
            for i, name in enumerate(names)
            if (low := name.lower()) in terms
            or ("/" in low and low.rstrip("/").rsplit("/", 1)[-1] in terms)
        ]
        pointed = [i for i, name in enumerate(names) if name in self.anchors]
        joined = Joined(canon)
        banned = (
            {i for i, (n, v) in enumerate(obj.items()) if is_member_marker(n, v)}
            if MARKER_KEY in joined.text
            else set()
        )
        columns = _columns(values)
        named.extend(self.named(canon, joined))
        kept, over = _select(canon, columns, self.query, self.budget, self.keep_first,
                             self.keep_last, named=sorted(set(named)), banned=banned,
                             items=values, joined=joined, pointed=pointed, cap=self.cap,
                             relevance=self.relevance)  # fmt: skip
        omitted = len(names) - len(kept)
        if omitted <= 0:
            return
        self.omitted += omitted
        marker = member_marker_name(obj)
        obj.clear()
        obj.update((names[i], values[i]) for i in kept)
        obj[marker] = omitted_note(omitted, len(names), "keys", self.key, over)


class SmartCrusher:
    """JSON compressor; see the module docstring for the rules."""

    name = "smart_crusher"

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None:
        try:
            doc = jsonutil.loads(text)
        except (ValueError, RecursionError):
            return None
        if not isinstance(doc, (dict, list)):
            return None
        cfg = ctx.config
        bias = min(max(ctx.bias, 0.1), 10.0)
        key = key_for(text)
        reducer = _Reducer(
            ctx.query,
            ctx.budget(cfg.max_items),
            round(cfg.keep_first * bias),
            round(cfg.keep_last * bias),
            key,
            cap=cfg.json_max_items,
            relevance=cfg.json_relevance_threshold,
        )
        try:
            reducer.anchor(doc)
            reducer.walk(doc)
        except RecursionError:
            return None
        if reducer.omitted == 0:
            compact = _compact(text)
            return Compressed(compact, lossless=True) if len(compact) < len(text) else None
        try:
            lossy = jsonutil.dumps(doc)
        except (ValueError, TypeError, RecursionError):
            return None
        # Minifying removes at most every whitespace character, and a table rarely
        # saves more than two thirds of the rest, so this bound says whether a lossless
        # form could come close to the lossy size without building one.
        floor = len(text) - sum(text.count(c) for c in " \n\t\r")
        # Above the table limit the compact form is the minified text, never below floor.
        reach = 1 if floor > _TABLE_MAX_CHARS else 3
        if floor <= len(lossy) * cfg.lossless_slack * reach:
            compact = _compact(text)
            if len(compact) < len(text) and len(compact) <= len(lossy) * cfg.lossless_slack:
                return Compressed(compact, lossless=True)
        if len(lossy) >= len(text):
            return None
        stored = ctx.remember(text)
        if stored != key:  # a custom store must keep our key, or the marker would lie
            return None
        return Compressed(lossy, key=key)


@lru_cache(maxsize=64)
def _query_words(query: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The query's identifiers and its content words (lower-cased)."""
    return tuple(identifiers(query)), tuple(query_terms(query))


def _select(
    canon: list[str],
    columns: dict[str, list[tuple[int, Any]]],
    query: str | None,
    budget: int,
    keep_first: int,
    keep_last: int,
    named: list[int] | None = None,
    banned: set[int] | None = None,
    items: list[Any] | None = None,
    joined: Joined | None = None,
    pointed: list[int] | None = None,
    cap: int | None = None,
    relevance: float | None = None,
) -> tuple[list[int], int | None]:
    """Indices of the items (or members) to keep, in order, and the hard cap when it had
    to yield (else None). ``canon`` holds each one's lower-cased canonical JSON,
    ``columns`` the fields of record items; ``named`` (the query names them) and
    ``pointed`` (the document points at them) are kept first, ``banned`` never.

    ``cap`` (``SmartCrusherConfig.max_items_after_crush``) bounds the kept count: the
    picks that are not errors or query matches are cut, latest pick first, and the
    protected ones are kept even when they alone exceed it. ``relevance`` replaces the
    default lexical ranking by a threshold on the normalized BM25 score (module
    docstring of ``headroom.crusher_config``)."""
    n = len(canon)
    # Trouble items are deduplicated loosely (digits and hex masked); the other picks
    # differ from their neighbours precisely in such values, so only exact repeats go.
    keep: set[int] = set()
    near: set[str] = set()
    exact: set[str] = set()
    skip = banned or set()
    order: list[int] = []  # every pick, in the order taken
    protected: set[int] = set()  # errors and query matches: the cap never cuts these
    # Under a hard cap, "never dropped" lifts the generous per-kind caps as well.
    wide = None if cap is not None else max(2 * budget, 10)

    def take(candidates: list[int], cap: int | None, loose: bool, protect: bool = False) -> None:
        taken = 0
        for i in candidates:
            if cap is not None and taken >= cap:
                return
            if i in skip:
                continue
            sig = _signature(canon[i])
            if i in keep or canon[i] in exact or (loose and sig in near):
                continue
            near.add(sig)
            exact.add(canon[i])
            keep.add(i)
            order.append(i)
            if protect:
                protected.add(i)
            taken += 1

    # Always what the query names by key, then the ends (without exact repeats); then
    # trouble (distinct kinds), then what the question asks about.
    if cap is None:
        named = sorted(set(named or ()) | set(pointed or ()))
        pointed = None
    if named:
        take(named, cap=max(2 * budget, 10) if cap is None else None, loose=False, protect=True)
    if pointed:
        take(pointed, cap=None, loose=False)
    take([*range(min(keep_first, n)), *range(max(0, n - keep_last), n)], cap=None, loose=False)
    joined = joined or Joined(canon)
    take(_trouble_items(canon, items, joined), cap=wide, loose=True, protect=True)
    # Every item naming an identifier from the question (user_42, req-7), up to a
    # generous cap, then the best lexical matches. Only items that hold a query word
    # at all can match, so a plain substring scan narrows the field first.
    ids, terms = _query_words(query)
    low: set[int] = set()  # matched a query word, but scored below the threshold
    if ids or terms:
        found = sorted(joined.docs_containing([*ids, *terms]))
        sub = Joined([canon[i] for i in found])
        # An identifier that most items hold ("4.17.1" in every package document's
        # version list) does not say which item is meant.
        for ident in ids:
            hits = sorted(sub.docs_with(whole_token_pattern((ident,))))
            if len(hits) <= max(budget, n // 2):
                take([found[j] for j in hits], cap=wide, loose=False, protect=True)
        # A word most of these items hold barely moves BM25 (its idf is near zero) but
        # costs a scan of every occurrence, so only the rarer words are ranked.
        half = max(1, len(found) // 2)
        rarer = [w for w in (*ids, *terms) if len(sub.docs_containing([w])) <= half]
        if rarer and relevance is not None:
            # Normalized relevance: BM25 over this container's items, divided by the best.
            scores = bm25_scores(canon, list(dict.fromkeys(rarer)))
            best = max(scores, default=0.0)
            if best > 0.0:
                above = [i for i, v in enumerate(scores) if v > 0.0 and v / best >= relevance]
                above.sort(key=lambda i: (-scores[i], i))
                low = {i for i, v in enumerate(scores) if v > 0.0 and v / best < relevance}
                take(above, cap=budget, loose=False)
        elif rarer:
            best_found = rank(sub.text.split("\n"), " ".join(rarer), limit=max(3, budget // 3))
            take([found[j] for j in best_found], cap=None, loose=False)
    # Fill the remaining budget with what is unusual.
    for candidates in (_rare_items(columns, n), _outliers(columns, n)):
        room = budget - len(keep)
        if room <= 0:
            break
        take([i for i in candidates if i not in low], cap=room, loose=False)
    if cap is None or len(keep) <= cap:
        return sorted(keep), None
    optional = [i for i in order if i not in protected]
    room = max(0, cap - len(protected))
    kept = protected.union(optional[:room])
    return sorted(kept), (cap if len(protected) > cap else None)
