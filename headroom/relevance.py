"""Cheap lexical relevance: BM25 over word tokens plus exact identifier matches.

Used to keep the items a user's question is about, and to answer
``headroom_retrieve(key, query=...)``. Pure Python, deterministic, no model.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from itertools import accumulate

_WORD = re.compile(r"[a-z0-9_]+(?:[-.][a-z0-9_]+)*")
_STOPWORD_TEXT = """
    a an and are as at be but by can could did do does for from had has have how i if in
    into is it its me my no not of on or our should so than that the their them then there
    these they this to up us was we were what when where which who why will with would you
    your show find get give tell list all any
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def words(text: str) -> list[str]:
    """Lower-cased word tokens; dotted and dashed names stay whole (``req-42``, ``v1.2``)."""
    return _WORD.findall(text.lower())


# A query is the last user message, which may be a whole pasted file. Scoring costs
# about one scan of the output per term, so only this many distinct terms (and as
# many identifiers) count: the first half and the last half, where the question
# usually stands. Longer terms are no words anyone searches for.
MAX_QUERY_TERMS = 32
MAX_TERM_CHARS = 128


def _bounded(items: list[str]) -> list[str]:
    if len(items) <= MAX_QUERY_TERMS:
        return items
    half = MAX_QUERY_TERMS // 2
    return items[:half] + items[-half:]


def query_terms(query: str | None) -> list[str]:
    """Distinct content words of a query, in order, without stopwords (at most
    ``MAX_QUERY_TERMS``: the first and the last ones)."""
    if not query:
        return []
    seen: dict[str, None] = {}
    for word in words(query):
        if word not in _STOPWORDS and 1 < len(word) <= MAX_TERM_CHARS:
            seen.setdefault(word, None)
    return _bounded(list(seen))


_IDENTIFIER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*[A-Za-z0-9_]")


def identifiers(query: str | None) -> list[str]:
    """Query tokens that look like identifiers: they mix letters with digits or ``_``/``-``,
    or are long runs of digits. These must match exactly, wherever they appear (at most
    ``MAX_QUERY_TERMS``: the first and the last ones)."""
    out: dict[str, None] = {}
    for token in _IDENTIFIER.findall(query or ""):
        if len(token) > MAX_TERM_CHARS:
            continue
        has_digit = any(c.isdigit() for c in token)
        has_alpha = any(c.isalpha() for c in token)
        if (has_digit and (has_alpha or len(token) >= 4)) or ("_" in token and has_alpha):
            out.setdefault(token.lower(), None)
    return _bounded(list(out))


class Joined:
    """Documents joined by newlines, so one C-speed scan covers all of them.

    ``doc_at(pos)`` maps a position in ``text`` back to its document's index.
    """

    def __init__(self, docs: Sequence[str]) -> None:
        self.text = "\n".join(docs)
        self.starts = list(accumulate([len(doc) + 1 for doc in docs[:-1]], initial=0))

    def doc_at(self, pos: int) -> int:
        return bisect_right(self.starts, pos) - 1

    def doc_counts(self, pattern: re.Pattern[str]) -> Counter[int]:
        """How many times ``pattern`` matches in each document it matches at all."""
        starts = self.starts
        return Counter([bisect_right(starts, m.start()) - 1 for m in pattern.finditer(self.text)])

    def docs_matching(self, pattern: re.Pattern[str]) -> set[int]:
        """Indices of the documents ``pattern`` matches somewhere."""
        return set(self.doc_counts(pattern))

    def docs_with(self, pattern: re.Pattern[str]) -> set[int]:
        """:meth:`docs_matching` for a pattern that never matches a newline: after a hit
        the scan goes on from the next document, one hit per document being enough."""
        found: set[int] = set()
        text, starts = self.text, self.starts
        last = len(starts) - 1
        match = pattern.search(text)
        while match is not None:
            doc = bisect_right(starts, match.start()) - 1
            found.add(doc)
            if doc >= last:
                break
            match = pattern.search(text, starts[doc + 1])
        return found

    def docs_containing(self, needles: Sequence[str]) -> set[int]:
        """Indices of the documents holding any needle (which has no newline) as a substring."""
        found: set[int] = set()
        text = self.text
        for needle in needles:
            pos = text.find(needle)
            while pos >= 0:
                doc = self.doc_at(pos)
                found.add(doc)
                # Skip to the next document: one hit per document is enough.
                nxt = self.starts[doc + 1] if doc + 1 < len(self.starts) else len(text)
                pos = text.find(needle, nxt)
        return found


# The right edge of a ``_WORD`` token: no word character next, and no "-x" or ".x"
# that would continue it.
_TOKEN_END = r"(?![a-z0-9_]|[-.][a-z0-9_])"


def term_counts(
    docs: Sequence[str], terms: Sequence[str], joined: Joined | None = None
) -> dict[int, Counter[str]]:
    """For lower-cased documents: how often each term occurs as a whole ``words()`` token.

    Equal to counting ``words(doc)``, without splitting every document into words. Each
    term is found by a scan of its own, which the regex engine runs as a fast literal
    search (several times faster than one scan for all terms at once). ``joined`` is
    ``Joined(docs)`` when the caller has it already.
    """
    wanted = tuple(sorted(set(terms)))
    counts: dict[int, Counter[str]] = {}
    if not wanted or not docs:
        return counts
    if joined is None:
        joined = Joined(docs)
    starts, text = joined.starts, joined.text
    # Every hit is one whole token, so no two terms' hits overlap: sorted by position they
    # are the matches of one scan for all the terms, in order.
    found: list[tuple[int, str]] = []
    for term in wanted:
        found.extend([(m.start(), term) for m in whole_token_pattern((term,)).finditer(text)])
    if len(wanted) > 1:
        found.sort()
    # (document, term) of every hit, counted at C speed; a Counter keeps first-seen order,
    # so documents and terms come in the order a match-by-match count would give.
    hits = Counter([(bisect_right(starts, pos) - 1, term) for pos, term in found])
    for (doc, term), n in hits.items():
        counter = counts.get(doc)
        if counter is None:
            counts[doc] = counter = Counter()
        counter[term] = n
    return counts


def bm25_scores(
    docs: Sequence[str],
    terms: Sequence[str],
    k1: float = 1.2,
    b: float = 0.75,
    counts: dict[int, Counter[str]] | None = None,
) -> list[float]:
    """BM25 score of each document (lower-cased text) for the query terms.

    Length normalisation uses characters rather than words, so documents never need
    splitting into words. ``counts`` is ``term_counts(docs, terms)`` when the caller
    has it already.
    """
    if not docs or not terms:
        return [0.0] * len(docs)
    n = len(docs)
    avg_len = (sum(len(d) for d in docs) / n) or 1.0
    if counts is None:
        counts = term_counts(docs, terms)
    doc_freq: Counter[str] = Counter()
    for c in counts.values():
        doc_freq.update(c.keys())
    idf = {t: math.log(1.0 + (n - doc_freq[t] + 0.5) / (doc_freq[t] + 0.5)) for t in set(terms)}
    scores = [0.0] * n
    for i, c in counts.items():
        norm = k1 * (1.0 - b + b * len(docs[i]) / avg_len)
        scores[i] = sum(idf[t] * f * (k1 + 1.0) / (f + norm) for t, f in c.items())
    return scores


@lru_cache(maxsize=256)
def whole_token_pattern(ids: tuple[str, ...]) -> re.Pattern[str]:
    """Any of ``ids`` (lower-case) as a whole token of lower-cased text."""
    # Whole tokens only: "req-4" must not match inside "req-40" or "xreq-4". Each id comes
    # first and lookbehinds then check what stands before it: a pattern that starts with
    # literals lets the regex engine skip ahead to where one may start, which makes the
    # scan about three times faster than testing the lookbehinds at every position.
    alternatives = "|".join(
        rf"{e}(?<![a-z0-9_]{e})(?<![a-z0-9_][-.]{e})"
        for e in (re.escape(i) for i in sorted(ids, key=len, reverse=True))
    )
    return re.compile(rf"(?:{alternatives})" + _TOKEN_END)


def identifier_hits(
    docs: Sequence[str], query: str | None, joined: Joined | None = None
) -> list[int]:
    """Indices (in order) of the lower-cased documents that hold one of the query's
    identifiers as a whole token. ``joined`` is ``Joined(docs)`` when the caller has it."""
    ids = identifiers(query)
    if not ids or not docs:
        return []
    if joined is None:
        joined = Joined(docs)
    return sorted(joined.docs_with(whole_token_pattern(tuple(ids))))


def ranked(docs: Sequence[str], query: str | None, limit: int) -> tuple[list[int], list[float]]:
    """:func:`rank`'s order, plus every document's plain BM25 score."""
    if limit <= 0 or not query:
        return [], [0.0] * len(docs)
    lowered = [d.lower() for d in docs]
    bm25 = bm25_scores(lowered, query_terms(query))
    scores = list(bm25)
    for i in identifier_hits(lowered, query):
        scores[i] += 100.0
    order = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], i))
    return order[:limit], bm25


def distinctive_rank(
    lowered: Sequence[str],
    query: str | None,
    limit: int,
    max_share: float = 0.1,
    joined: Joined | None = None,
) -> list[int]:
    """:func:`rank` for lower-cased documents, counting only the query words that occur
    at most ``max_share`` × (number of documents) times: in a log where every line says
    "build", that word says nothing about which lines matter. ``joined`` is
    ``Joined(lowered)`` when the caller has it."""
    if limit <= 0 or not query or not lowered:
        return []
    cap = max_share * len(lowered)
    if joined is None:
        joined = Joined(lowered)
    text = joined.text
    # A term's whole-token count is at most its substring count: only when that is over
    # the cap are its tokens counted (at C speed, by one pattern of its own).
    terms = [
        t
        for t in query_terms(query)
        if text.count(t) <= cap or len(whole_token_pattern((t,)).findall(text)) <= cap
    ]
    if not terms:
        return []
    scores = bm25_scores(lowered, terms, counts=term_counts(lowered, terms, joined))
    order = sorted((i for i, s in enumerate(scores) if s > 0), key=lambda i: (-scores[i], i))
    return order[:limit]


def rank(docs: Sequence[str], query: str | None, limit: int) -> list[int]:
    """Indices of the best-matching documents (score > 0), best first, ties by position.

    Documents that contain one of the query's identifiers as a whole token rank first."""
    return ranked(docs, query, limit)[0]


def matching(docs: Sequence[str], query: str | None) -> list[int]:
    """Indices (in document order) of the documents a query is really asking for.

    Exact identifier hits win outright. Otherwise documents that contain every query
    word; failing that, those scoring at least half the best BM25 score. A loose word
    that most documents share therefore does not drag in everything.
    """
    if not query or not docs:
        return []
    lowered = [d.lower() for d in docs]
    hits = identifier_hits(lowered, query)
    if hits:
        return hits
    terms = query_terms(query)
    if not terms:
        return []
    every = [
        i
        for i, d in enumerate(lowered)
        if all(t in d for t in terms) and set(terms) <= set(words(d))
    ]
    if every:
        return every
    scores = bm25_scores(lowered, terms)
    best = max(scores)
    if best <= 0:
        return []
    return [i for i, s in enumerate(scores) if s >= best / 2]
