"""TableCompressor: fixed-width listings (``ps aux``, ``df -h``, ``dpkg -l``, ``kubectl
get``) and delimited tables (CSV, TSV, markdown pipes).

The output keeps, verbatim and in order:

- the lines above the table (a preamble such as ``dpkg -l``'s legend), the header and
  any rule under it;
- the first and last rows;
- rows naming an identifier from the query, and the best lexical matches;
- anomalous rows: problem words (errors, failures, ``CrashLoopBackOff``), numeric
  values far from the rest of their column, and rare values of a column that holds
  few distinct values (a ``Z`` process state, an ``rc`` package);

then one marker counting the rows left out, which names the retrieval key of the
whole original. Rows are never reformatted: a kept row is its input lines as they
were. A CSV record whose quoted field spans several lines is kept or left out whole.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from itertools import zip_longest

from ..markers import is_text_marker, text_marker
from ..relevance import (
    Joined,
    distinctive_rank,
    identifier_hits,
    identifiers,
    query_terms,
    term_counts,
    whole_token_pattern,
)
from .base import Compressed, CompressorContext
from .log import crlf_markers, rare_substring_hits, strip_ansi, trouble_lines

_MAX_SCAN = 300  # characters of a line looked at to find columns
_MAX_ROWS = 60  # rows looked at to find columns
_HEADER_SEARCH = 6  # the header is among the first lines
_DELIMITERS = (",", "\t", "|", ";")
_RULE_CHARS = frozenset("-=+|: ")
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(%|[KMGTP]i?B?|[kmgt]?B|ms|s)?")
_UNITS = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "k": 1e3, "m": 1e6, "g": 1e9}


@dataclass(frozen=True)
class Layout:
    """Where a table sits in its text.

    ``header`` is the index of the header line; ``delimiter`` is set for delimited
    tables; ``cuts`` holds the column start positions of a fixed-width one.
    """

    header: int
    delimiter: str | None = None
    cuts: tuple[int, ...] = ()


def _is_rule(line: str) -> bool:
    """A rule under a header: ``-----``, ``+++-====-``, ``|---|---|``."""
    stripped = line.strip()
    return (
        len(stripped) >= 3
        and stripped[0] in "-=+|:"
        and ("-" in stripped or "=" in stripped)
        and set(stripped) <= _RULE_CHARS
    )


def _looks_like_header(line: str) -> bool:
    """Column names: at least two words, mostly letters, hardly any numbers, padded
    apart somewhere by two or more blanks (as every aligned listing's header is)."""
    if "  " not in line.strip():
        return False
    tokens = line.split()
    if len(tokens) < 2 or len(tokens) > 24:
        return False
    # Names, not a sentence: no word ends a clause.
    if any(t[-1] in ".,;!?" and not t.endswith("...") for t in tokens):
        return False
    # Names start with a letter (or "%CPU", "#", dpkg's "||/" legend), never "$", "[".
    if any(not (t[0].isalpha() or t[0] in "%#|/+_") for t in tokens):
        return False
    if sum(t[0].isalpha() for t in tokens) * 2 < len(tokens):
        return False
    if any(t.replace(".", "").isdigit() for t in tokens):
        return False
    if sum(any(c.isdigit() for c in t) for t in tokens) * 4 > len(tokens):
        return False
    chars = "".join(tokens)
    return sum(c.isalpha() for c in chars) >= 0.6 * len(chars)


def _column_cuts(header: str, rows: list[str]) -> tuple[int, ...] | None:
    """The start positions of the columns that the rows (and the header) align to:
    a column starts after a position that is blank in at least 90% of the rows."""
    header = header[:_MAX_SCAN]
    width = min(len(header.rstrip()), _MAX_SCAN)
    rows = rows[:_MAX_ROWS]
    if width < 3 or len(rows) < 3:
        return None
    # One tuple of characters per position (C-speed), then count the blanks in each.
    padded = [row[:width].ljust(width) for row in rows]
    need = 0.9 * len(rows)
    gap = [column.count(" ") >= need for column in zip(*padded, strict=True)]
    cuts = [p for p in range(1, width) if gap[p - 1] and not gap[p]]
    if not cuts:
        return None
    # The columns must line up with the header: a column with no name above it is a
    # blank inside values and joins the column before it, and
    # most names start where their column starts (left-aligned) or end where it ends
    # (right-aligned numbers); ``ss`` centres "Address:Port" on the colon.
    agree = 0
    named: list[int] = []
    for p in cuts:
        end = p
        while end < width and not gap[end]:
            end += 1
        if not header[p - 1 : end + 1].strip():
            continue  # a blank inside a value ("2 hours ago"): no column of its own
        named.append(p)
        starts_with = header[p - 1] == " "
        ends_with = header[end - 1] != " " and (end >= len(header) or header[end] == " ")
        agree += starts_with or ends_with
    cuts = named
    if not cuts:
        return None
    if agree < 0.5 * len(cuts):
        return None
    # Rows fill their columns: most rows have a value in most columns (a compiler's
    # "  31 | code" excerpts line up too, but leave most columns empty).
    bounds = list(zip((0, *cuts), (*cuts, width), strict=True))
    need_cells = max(2, int(0.6 * len(bounds) + 0.999))
    full = sum(1 for row in padded if sum(1 for a, b in bounds if row[a:b].strip()) >= need_cells)
    if full < 0.8 * len(padded):
        return None
    return tuple(cuts)


def _delimited(lines: list[str]) -> Layout | None:
    """A CSV/TSV/pipe table: the header's delimiter count repeats on most lines."""
    head = lines[0]
    for delim in _DELIMITERS:
        n = head.count(delim)
        if n < 1 or (n < 2 and delim in "|;"):
            continue
        same = sum(1 for line in lines if line.count(delim) == n)
        if same < 0.8 * len(lines) or same < 5:
            continue
        # Column names, not data: "10:00:00,123 INFO" is a log line, not a header. Only
        # tabs make a table without a header (dpkg-query -W), and only on nearly all lines.
        names = [f.strip() for f in head.split(delim)]
        if any(len(f) > 60 or ". " in f for f in names):
            continue  # sentences, not column names
        headerless_tsv = delim == "\t" and n >= 2 and same >= 0.95 * len(lines)
        if sum(any(c.isdigit() for c in f) for f in names) * 3 > len(names) and not headerless_tsv:
            continue
        return Layout(0, delimiter=delim)
    return None


def detect(lines: list[str]) -> Layout | None:
    """The table layout of sampled non-blank lines (each may be cut short), or None.

    Indices in the layout count non-blank lines of the sample; ``TableCompressor``
    finds the layout again on the whole text."""
    lines = [line[:_MAX_SCAN] for line in lines if line.strip()]
    if len(lines) < 5:
        return None
    found = _delimited(lines)
    if found is not None:
        return found
    rules: list[bool] = []
    for h in range(min(_HEADER_SEARCH, len(lines) - 4)):
        header = lines[h]
        if not _looks_like_header(header):
            continue
        rules = rules or [_is_rule(line) for line in lines]
        if len(header.split()) < 3 and not rules[h + 1]:
            continue  # two words make a table only with a rule under them (pip list)
        rows = [line for line, rule in zip(lines[h + 1 :], rules[h + 1 :], strict=True) if not rule]
        if len(rows) < 4:
            continue
        # A header names the columns: it does not start like the rows do.
        first = header.split(None, 1)[0]
        if sum(1 for row in rows if row.split(None, 1)[:1] == [first]) * 2 >= len(rows):
            continue
        cuts = _column_cuts(header, rows)
        if cuts is None:
            continue
        ruled = rules[h + 1]
        if len(cuts) >= 2 or ruled:
            return Layout(h, cuts=cuts)
    return None


@dataclass
class _Row:
    start: int  # first line index
    end: int  # index after the last line
    fields: list[str]


def _delimited_rows(lines: list[str], start: int, delim: str) -> list[_Row]:
    """Records from ``start`` on, one per line unless a quoted field spans lines
    (parsed with the csv module; one record per line when it refuses the text)."""
    rows: list[_Row] = []
    if delim in (",", "\t", ";"):
        try:
            body = iter(lines[start:])
            reader = csv.reader(body, delimiter=delim)
            pos = start
            for record in reader:
                end = start + reader.line_num
                if record:
                    rows.append(_Row(pos, end, [f.strip() for f in record]))
                pos = end
            return rows
        except (csv.Error, ValueError):
            rows = []
    for i in range(start, len(lines)):
        if lines[i].strip():
            rows.append(_Row(i, i + 1, [f.strip() for f in lines[i].split(delim)]))
    return rows


def _fixed_rows(lines: list[str], start: int, cuts: tuple[int, ...]) -> list[_Row]:
    bounds = (0, *cuts)
    rows: list[_Row] = []
    for i in range(start, len(lines)):
        line = lines[i]
        if not line.strip() or _is_rule(line):
            continue
        fields = [line[a:b].strip() for a, b in zip(bounds, (*cuts, len(line)), strict=True)]
        rows.append(_Row(i, i + 1, fields))
    return rows


def _number(value: str) -> float | None:
    try:
        return float(value)  # the common case, at C speed
    except ValueError:
        pass
    m = _NUMBER.fullmatch(value)
    if m is None:
        return None
    unit = m.group(1) or ""
    number = float(value[: len(value) - len(unit)]) if unit else float(value)
    return number * _UNITS.get(unit[:1], 1.0)


def _numeric(values: tuple[str, ...]) -> list[float | None] | None:
    """The column's values as numbers, or None when it is not a numeric column (judged
    on its first values before parsing them all)."""
    head = [_number(v) for v in values[:50]]
    if sum(x is not None for x in head) < 0.8 * len(head):
        return None
    numbers = head + [_number(v) for v in values[50:]]
    if sum(x is not None for x in numbers) < 0.8 * len(numbers) or len(numbers) < 5:
        return None
    return numbers


def _anomalies(rows: list[_Row], per_column: int) -> list[int]:
    """Row numbers with outlying numbers or rare categories, most telling first."""
    n = len(rows)
    scored: list[tuple[float, int]] = []
    columns = list(zip_longest(*(r.fields for r in rows), fillvalue=""))[:64]
    for values in columns:
        numbers = _numeric(values)
        if numbers is not None:
            parsed = [x for x in numbers if x is not None and math.isfinite(x)]
            if not parsed:
                continue
            median = statistics.median(parsed)
            mad = statistics.median([abs(x - median) for x in parsed])
            far: list[tuple[float, int]] = []
            top = (float("-inf"), -1)
            for j, x in enumerate(numbers):
                if x is None or not math.isfinite(x):
                    continue
                spread = abs(x - median)
                if x > top[0]:
                    top = (x, j)
                if (mad > 0 and spread > 5 * 1.4826 * mad) or (mad == 0 and spread > 0):
                    far.append((spread, j))
            # The column's largest value always counts ("which uses the most memory");
            # with no spread at all, the rows that leave the common value are the
            # outliers, the farthest first.
            if top[0] > median:
                scored.append((0.5, top[1]))
            far.sort(key=lambda t: (-t[0], t[1]))
            scored.extend((1.0, j) for _, j in far[:per_column])
            continue
        counts = Counter(values)
        if len(counts) < 2 or len(counts) > max(3, n // 10):
            continue
        rare_limit = max(1, n // 50)
        rare = [j for j, v in enumerate(values) if v and counts[v] <= rare_limit]
        scored.extend((2.0, j) for j in rare[:per_column])
    seen: dict[int, None] = {}
    for _, j in sorted(scored):
        seen.setdefault(j, None)
    return list(seen)


def _selective_hits(docs: list[str], query: str | None) -> list[int]:
    """Rows (lower-cased) naming one of the query's identifiers, in order. An identifier
    found on more than half of the rows selects nothing (every ``ss`` row names port
    8080): those identifiers are dropped, and the rows holding the query's rarest word
    (the fewest rows, at most half) are kept instead."""
    hits = identifier_hits(docs, query)
    half = len(docs) // 2
    if len(hits) <= half:
        return hits
    joined = Joined(docs)
    chosen: set[int] = set()
    for ident in identifiers(query):
        found = joined.docs_matching(whole_token_pattern((ident,)))
        if len(found) <= half:
            chosen.update(found)
    per_term: dict[str, set[int]] = {}
    for doc, counter in term_counts(docs, query_terms(query)).items():
        for term in counter:
            per_term.setdefault(term, set()).add(doc)
    sizes = sorted((len(d), t) for t, d in per_term.items() if len(d) <= half)
    if sizes:
        fewest = sizes[0][0]
        for size, term in sizes:
            if size == fewest:
                chosen.update(per_term[term])
    return sorted(chosen)


class TableCompressor:
    """Compressor for tables; see the module docstring for the rules."""

    name = "table"

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None:
        original = text.split("\n")
        # Colour codes are looked through; kept rows are the input's lines as they were.
        lines = strip_ansi(text).split("\n")
        nonblank = [i for i, line in enumerate(lines[:400]) if line.strip()]
        layout = detect([lines[i] for i in nonblank])
        if layout is None or layout.header >= len(nonblank):
            return None
        header = nonblank[layout.header]
        if layout.delimiter is not None:
            rows = _delimited_rows(lines, header + 1, layout.delimiter)
        else:
            rows = _fixed_rows(lines, header + 1, layout.cuts)
        if len(rows) < 8:
            return None
        cfg = ctx.config
        budget = ctx.budget(cfg.max_items)
        n = len(rows)

        # Everything above the first row stays: preamble, header, rules.
        keep_lines: set[int] = set(range(rows[0].start))
        chosen: set[int] = set(range(min(cfg.keep_first, n)))
        chosen.update(range(max(0, n - cfg.keep_last), n))
        docs = ["\n".join(lines[r.start : r.end]).lower() for r in rows]
        chosen.update(_selective_hits(docs, ctx.query)[: 2 * budget + 10])
        chosen.update(distinctive_rank(docs, ctx.query, limit=max(3, budget // 3)))
        chosen.update(rare_substring_hits(Joined(docs), ctx.query))
        raw = ["\n".join(lines[r.start : r.end]) for r in rows]
        problems = trouble_lines(raw, Joined(docs))
        chosen.update(problems[: 2 * budget + 10])
        per_column = max(1, ctx.budget(3))
        chosen.update(_anomalies(rows, per_column)[: 2 * budget + 10])

        for j in chosen:
            keep_lines.update(range(rows[j].start, rows[j].end))
        # Lines after the last row (a footer, a trailing blank) stay.
        keep_lines.update(range(rows[-1].end, len(lines)))
        # Blank lines between rows go with what they separate only when kept rows
        # surround them; plain blank lines are otherwise omitted.
        keep_lines = {i for i in keep_lines if not is_text_marker(original[i])}
        omitted_rows = n - len(chosen)
        if omitted_rows <= 0:
            return None
        key = ctx.remember(text)
        out = [original[i] for i in sorted(keep_lines)]
        tail = len(out)
        while tail and not out[tail - 1].strip():
            tail -= 1
        marker = text_marker(omitted_rows, n, key, unit="rows")
        out.insert(tail, marker)
        out = crlf_markers(out, text)
        return Compressed("\n".join(out), key=key)
