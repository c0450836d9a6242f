"""SmartCrusher: compresses JSON tool outputs, mostly arrays of records.

1. Lossless first. A compact form keeps every item: minified JSON, or, for arrays
   of records that all share the same keys, a labelled table (column names once,
   then one row of values per record) when that is at least 15% smaller. It wins
   whenever it is no more than ``lossless_slack`` times the size of the lossy
   selection.
2. Otherwise each large array keeps a statistical selection of its items:
   the first and last few; every item that signals trouble (error, fatal,
   exception, failed, timeout, denied, …, or an HTTP status >= 400); items that
   match the query (BM25 plus exact identifier matches); the first item with each
   rare categorical value; and numeric outliers beyond 2 standard deviations.
   Exact duplicates are dropped; trouble items are also deduplicated loosely
   (equal once digits and hex runs are masked), so a repeated error shows once.
3. One marker object per array, appended at its end, says how many items were
   omitted and names the retrieval key. The original is stored under that key.

The output is valid JSON of the same shape (or a labelled table in place of an
array); kept items are the input's own values (number literals are written back
exactly as they were).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from .. import jsonutil
from ..markers import MARKER_KEY, json_marker, json_table
from ..relevance import Joined, identifier_hits, rank, ranked
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
_VOLATILE = re.compile(r"[0-9a-f]*[0-9][0-9a-f]*")

_MAX_CATEGORY_VALUES = 20
_MAX_CATEGORY_LEN = 64
_OUTLIER_Z = 2.0
_OUTLIERS_PER_FIELD = 3


def _signature(canon: str) -> str:
    return _VOLATILE.sub("#", canon)


def _columns(items: list[Any]) -> dict[str, list[tuple[int, Any]]]:
    """Top-level fields of record items: field -> [(item index, value)]."""
    columns: dict[str, list[tuple[int, Any]]] = {}
    for i, item in enumerate(items):
        if type(item) is dict:
            for field, value in item.items():
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


def _numeric(value: Any) -> float | None:
    kind = type(value)
    if kind is int:
        return float(value)
    if kind is jsonutil.Number:
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
        kind = type(column[0][1])
        if kind is not int and kind is not jsonutil.Number:
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


def _trouble_items(canon: list[str]) -> list[int]:
    """Items whose values or keys signal a problem, ignoring words that most items share."""
    n = len(canon)
    # Plain substring scans pick the candidates (far faster than the word regex over
    # everything); the regex then confirms each candidate on its own.
    joined = Joined(canon)
    candidates = joined.docs_containing(_TROUBLE_STEMS) | joined.docs_matching(_HTTP_TROUBLE)
    hits: list[tuple[int, frozenset[str]]] = []
    word_freq: Counter[str] = Counter()
    for i in sorted(candidates):
        cleaned = _FALSY_PAIR.sub("", canon[i])
        found = set(_TROUBLE.findall(cleaned))
        if _HTTP_TROUBLE.search(cleaned):
            found.add("http>=400")
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


def _tabulate(value: Any, depth: int = 0) -> tuple[Any, bool]:
    """``value`` with its outermost tabular arrays written as tables, and whether any was."""
    if depth > jsonutil.MAX_DEPTH:
        return value, False
    if type(value) is list:
        table = _table_of(value)
        if table is not None:
            return table, True
        pairs = [_tabulate(v, depth + 1) for v in value]
        return [v for v, _ in pairs], any(changed for _, changed in pairs)
    if type(value) is dict:
        changed = False
        out = {}
        for k, v in value.items():
            out[k], hit = _tabulate(v, depth + 1)
            changed = changed or hit
        return out, changed
    return value, False


def _compact(text: str) -> str:
    """The smallest lossless form: minified JSON, or tables where records repeat their keys."""
    minified = jsonutil.minify(text)
    if len(minified) > _TABLE_MAX_CHARS:
        return minified
    try:
        tabled, changed = _tabulate(jsonutil.loads(minified))
        if changed:
            candidate = jsonutil.dumps(tabled)
            if len(candidate) <= len(minified) * _TABLE_GAIN:
                return candidate
    except (ValueError, TypeError, RecursionError):
        pass
    return minified


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
        budget = ctx.budget(cfg.max_items)
        keep_first = round(cfg.keep_first * bias)
        keep_last = round(cfg.keep_last * bias)
        try:
            targets = list(jsonutil.arrays(doc, min_len=max(budget, keep_first + keep_last) + 1))
        except RecursionError:
            return None
        key = key_for(text)
        omitted_total = 0
        for array in targets:
            kept = self._select(
                array, ctx.query, budget, keep_first, keep_last, cfg.json_relevance_threshold
            )
            omitted = len(array) - len(kept)
            if omitted <= 0:
                continue
            omitted_total += omitted
            total = len(array)
            array[:] = [array[i] for i in kept]
            array.append(json_marker(omitted, total, key))

        if omitted_total == 0:
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
        if floor <= len(lossy) * cfg.lossless_slack * 3:
            compact = _compact(text)
            if len(compact) < len(text) and len(compact) <= len(lossy) * cfg.lossless_slack:
                return Compressed(compact, lossless=True)
        if len(lossy) >= len(text):
            return None
        stored = ctx.remember(text)
        if stored != key:  # a custom store must keep our key, or the marker would lie
            return None
        return Compressed(lossy, key=key)

    @staticmethod
    def _select(
        items: list[Any],
        query: str | None,
        budget: int,
        keep_first: int,
        keep_last: int,
        threshold: float | None = None,
    ) -> list[int]:
        n = len(items)
        canon = [jsonutil.canonical(item).lower() for item in items]
        # Trouble items are deduplicated loosely (digits and hex masked); the other picks
        # differ from their neighbours precisely in such values, so only exact repeats go.
        keep: set[int] = set()
        near: set[str] = set()
        exact: set[str] = set()

        def take(candidates: list[int], cap: int | None, loose: bool) -> None:
            taken = 0
            for i in candidates:
                if cap is not None and taken >= cap:
                    return
                sig = _signature(canon[i])
                if i in keep or canon[i] in exact or (loose and sig in near):
                    continue
                near.add(sig)
                exact.add(canon[i])
                keep.add(i)
                taken += 1

        # Always the ends (without exact repeats); then trouble (distinct kinds), then
        # what the question asks about.
        take([*range(min(keep_first, n)), *range(max(0, n - keep_last), n)], cap=None, loose=False)
        take(_trouble_items(canon), cap=max(2 * budget, 10), loose=True)
        # Every item naming an identifier from the question (user_42, req-7), up to a
        # generous cap, then the best lexical matches.
        take(identifier_hits(canon, query), cap=max(2 * budget, 10), loose=False)
        if threshold is None:
            take(rank(canon, query, limit=max(3, budget // 3)), cap=None, loose=False)
        else:  # relevance = BM25 / the array's best BM25 (0-1); keep those at the threshold
            order, scores = ranked(canon, query, limit=n)
            best = max(scores, default=0.0)
            if best > 0:
                take([i for i in order if scores[i] / best >= threshold], cap=budget, loose=False)
        # Fill the remaining budget with what is unusual.
        columns = _columns(items)
        for candidates in (_rare_items(columns, n), _outliers(columns, n)):
            room = budget - len(keep)
            if room <= 0:
                break
            take(candidates, cap=room, loose=False)
        return sorted(keep)
