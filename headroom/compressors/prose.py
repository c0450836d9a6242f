"""ProseCompressor: query-aware extractive compression of long technical prose.

Documentation pages, articles, READMEs and long explanations are cut into
paragraphs (blank lines) and sentences; a fenced code block counts as one unit.
Each sentence gets a relevance score:

- ``prose-lexical`` (the default): BM25 against the query terms mixed with a
  word-frequency salience score, in milliseconds;
- ``prose``: with ``use_ml=True`` and the ``ml`` extra, the cosine similarity of its
  MiniLM embedding to the query's, or, without a query, to the document's mean
  embedding (how central the sentence is). It is opt-in: embedding a 3,000-token
  output costs about half a second of CPU, and on our prose cases it keeps no more
  of what matters than the lexical scorer (see ``benchmarks/bench.py``). Very long
  texts are scored lexically either way.

The first sentence of the text and of each paragraph, and the last sentence, get a
small bonus. Sentences are then picked by maximal marginal relevance (relevance
minus similarity to what is already picked) until they hold about
``prose_keep_ratio`` (times the caller's bias) of the tokens. Sentences holding a
number or identifier that the query names are always kept.

The output keeps the kept sentences in their order and their paragraphs: adjacent
kept sentences keep the text between them verbatim, a run of dropped sentences
inside a line becomes ``markers.TEXT_GAP`` (one made of whole lines, such as list
items, just goes, so the kept lines stay whole), and a paragraph with nothing kept
disappears. Every output line, split on TEXT_GAP, is thus made of verbatim pieces
of the input. One marker line at the end names the key of the stored original.

With ``token_classifier_path`` set (label ``prose-tokens``), a token-classification
model scores every whitespace-separated word instead; the best-scoring share of
words (plus words naming a query identifier or number) is kept, in order, line by
line, joined by single spaces. A path that does not hold a usable model raises
ConfigError. The model is used whenever a path is given (``use_ml`` is about the
bundled models only); a missing ``ml`` extra selects sentences lexically.
"""

from __future__ import annotations

import heapq
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .. import ml
from ..markers import TEXT_GAP, text_marker
from ..relevance import bm25_scores, identifiers, query_terms, whole_token_pattern
from .base import Compressed, CompressorContext

log = logging.getLogger("headroom")

MIN_SENTENCES = 8
MIN_WORDS = 64
# Embedding costs about 5 ms a sentence on two cores; longer texts use the lexical scorer.
MAX_ML_SENTENCES = 600
# Beyond this many sentences, selection skips the redundancy term (it grows quadratically).
MAX_MMR_SENTENCES = 5000
LAMBDA = 0.7  # MMR: weight of relevance against redundancy
QUERY_WEIGHT = 0.75  # relevance: weight of the query match against centrality
FIRST_BONUS = 0.15  # the text's first sentence
PARAGRAPH_BONUS = 0.08  # each paragraph's first sentence
LAST_BONUS = 0.08  # the text's last sentence

# A key of the store's shape, to measure the marker before the original is stored.
_PROBE_KEY = "hr_" + "0" * 16

_warned_no_classifier = False

LABEL_ML = "prose"
LABEL_LEXICAL = "prose-lexical"
LABEL_TOKENS = "prose-tokens"


@dataclass(frozen=True)
class _Unit:
    """A sentence (or a whole fenced code block): ``text[start:end]``."""

    start: int
    end: int
    paragraph: int


# ---------------------------------------------------------------- splitting

_FENCE = re.compile(r"[ \t]*(`{3,}|~{3,})")
# Lines that start a block of their own: list items, headings, quotes, table rows.
_BLOCK_START = re.compile(r"[ \t]*(?:[-*+•][ \t]|\d{1,3}[.)][ \t]|#|>|\|)")
# Sentence-final punctuation (with closing quotes or brackets). Latin marks need
# whitespace after them, so "3.14", "v1.2.3", "config.yaml" and URLs never match;
# CJK marks end a sentence wherever they stand.
_END = re.compile(r"[.!?…]+[\"'”’)\]»]*(?=\s)|[。！？]+[\"'”’)\]»」』]*")
_LINE_END = re.compile(r"(?:[.!?…:;。！？：；][\"'”’)\]»」』]*|[:;])$")
_OPENERS = "([{\"'`*_“‘«"
# Words that a full stop follows without ending the sentence.
_ABBREVIATIONS = frozenset((
    "e.g", "eg", "i.e", "ie", "cf", "vs", "viz", "al", "approx", "ca", "dr", "mr", "mrs",
    "ms", "prof", "jr", "sr", "st", "mt", "inc", "ltd", "corp", "co", "dept", "fig", "figs",
    "eq", "eqs", "sec", "sect", "ch", "vol", "ref", "refs", "resp", "incl", "esp", "est",
    "misc", "u.s", "u.k", "a.m", "p.m",
))  # fmt: skip


def _boundary(text: str, seg_start: int, mark_start: int, mark: str, nxt: str) -> bool:
    """Whether the punctuation ``mark`` at ``mark_start`` ends a sentence, given the
    first visible character after it."""
    if nxt.islower():
        return False  # "e.g. the", "... and then", "etc. or"
    if "!" in mark or "?" in mark or "…" in mark:
        return True
    word_start = mark_start
    while word_start > seg_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:mark_start].lstrip(_OPENERS)
    lowered = word.lower()
    if lowered in _ABBREVIATIONS:
        return False
    if lowered == "no" and nxt.isdigit():
        return False  # "No. 5"
    if len(word) == 1 and word.isupper():
        return False  # an initial: "J. Smith"
    # "1. Install" or "a. First" at the start of a line is a list label.
    return not ((word.isdigit() or len(word) == 1) and not text[seg_start:word_start].strip())


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The sentences of ``text[start:end]`` (which has no blank line), as spans with
    no surrounding whitespace."""
    spans: list[tuple[int, int]] = []
    current = start
    for match in _END.finditer(text, start, end):
        cut = match.end()
        after = cut
        while after < end and text[after].isspace():
            after += 1
        if after >= end:
            break
        if _boundary(text, current, match.start(), match.group(), text[after]):
            spans.append((current, cut))
            current = after
    while end > current and text[end - 1].isspace():
        end -= 1
    if end > current:
        spans.append((current, end))
    return spans


def _continues(previous: str, line: str) -> bool:
    """Whether ``line`` continues the sentence of ``previous`` (hard-wrapped prose)
    rather than starting a new block (a list item, a heading, a new line of a list)."""
    if _BLOCK_START.match(line):
        return False
    before = previous.strip()
    if before.startswith(("#", "|")) or _LINE_END.search(before):
        return False
    first = line.lstrip()[:1]
    return first.islower() or len(before) >= 40 or before.endswith((",", "-", "(", "/"))


def _layout(text: str) -> list[_Unit]:
    """Every sentence of ``text`` with its paragraph number, in order."""
    units: list[_Unit] = []
    paragraph = -1
    in_paragraph = False
    segment: list[int] = []  # [start, end] of the open run of lines, or empty
    previous = ""
    fence = ""
    fence_start = 0

    def close_segment() -> None:
        if segment:
            units.extend(_Unit(s, e, paragraph) for s, e in _sentences(text, *segment))
            segment.clear()

    pos = 0
    for line in text.split("\n"):
        line_start, line_end = pos, pos + len(line)
        pos = line_end + 1
        body = line.strip()
        if fence:
            if body.startswith(fence) and not body.strip(fence[0]):
                units.append(_Unit(fence_start, line_start + len(line.rstrip()), paragraph))
                fence = ""
                in_paragraph = False
            continue
        if not body:
            close_segment()
            in_paragraph = False
            continue
        opening = _FENCE.match(line)
        if opening:
            close_segment()
            paragraph += 1
            in_paragraph = False
            fence = opening.group(1)
            fence_start = line_start + len(line) - len(line.lstrip())
            continue
        first = line_start + len(line) - len(line.lstrip())
        last = line_start + len(line.rstrip())
        if segment and _continues(previous, line):
            segment[1] = last
        else:
            close_segment()
            if not in_paragraph:
                paragraph += 1
                in_paragraph = True
            segment.extend((first, last))
        previous = line
    close_segment()
    if fence:  # an unclosed fence runs to the end
        end = len(text.rstrip())
        if end > fence_start:
            units.append(_Unit(fence_start, end, paragraph))
    return units


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` in order, each an exact substring of it (a fenced code
    block counts as one)."""
    return [text[u.start : u.end] for u in _layout(text)]


# ---------------------------------------------------------------- query needles

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?!\w)")
_BACKTICKED = re.compile(r"`([^`\n]{2,80})`")
_DOTTED = re.compile(r"[A-Za-z_][\w-]*(?:\.[\w-]+)+")


def _needles(query: str | None) -> list[str]:
    """Lower-cased strings from the query that must be kept wherever they appear:
    identifiers, numbers, file and dotted names, back-quoted code."""
    if not query:
        return []
    found: dict[str, None] = dict.fromkeys(identifiers(query))
    for number in _NUMBER.findall(query):
        found.setdefault(number.lower(), None)
    for code in _BACKTICKED.findall(query):
        if code.strip():
            found.setdefault(code.strip().lower(), None)
    for name in _DOTTED.findall(query):
        if len(name) >= 5 and name.lower() not in _ABBREVIATIONS:
            found.setdefault(name.lower(), None)
    return list(found)


def _needle_pattern(needles: Sequence[str]) -> re.Pattern[str] | None:
    return whole_token_pattern(tuple(needles)) if needles else None


# ---------------------------------------------------------------- scoring


def _rescale(values: Sequence[float]) -> list[float]:
    """Min-max scaling to [0, 1] (all zeros when the values are all equal)."""
    if not values:
        return []
    low, high = min(values), max(values)
    if not high > low:
        return [0.0] * len(values)
    span = high - low
    return [(v - low) / span for v in values]


def _position_bonus(units: Sequence[_Unit]) -> list[float]:
    bonus = [0.0] * len(units)
    seen: set[int] = set()
    for i, unit in enumerate(units):
        if unit.paragraph not in seen:
            seen.add(unit.paragraph)
            bonus[i] += PARAGRAPH_BONUS
    if units:
        bonus[0] += FIRST_BONUS
        bonus[-1] += LAST_BONUS
    return bonus


Redundancy = Callable[[int], Iterable[tuple[int, float]]]


def _lexical_scores(
    texts: Sequence[str], query: str | None
) -> tuple[list[float], Redundancy | None]:
    """BM25 against the query mixed with word-frequency salience; redundancy is the
    overlap of distinctive content words."""
    n = len(texts)
    lowered = [t.lower() for t in texts]
    vocab = [query_terms(t) for t in lowered]
    doc_freq: Counter[str] = Counter()
    for terms in vocab:
        doc_freq.update(terms)
    # Salience: the mean document frequency of a sentence's content words (SumBasic).
    salience = _rescale([sum(doc_freq[w] for w in ws) / len(ws) if ws else 0.0 for ws in vocab])
    relevance = salience
    terms = query_terms(query)
    if terms:
        bm25 = bm25_scores(lowered, terms)
        if max(bm25) > 0:
            matched = _rescale(bm25)
            relevance = [
                QUERY_WEIGHT * m + (1.0 - QUERY_WEIGHT) * s
                for m, s in zip(matched, salience, strict=True)
            ]
    if n > MAX_MMR_SENTENCES:
        return relevance, None
    # Words in more than 5% of the sentences say little about redundancy.
    common = max(20, n // 20)
    sets = [[w for w in ws if doc_freq[w] <= common] for ws in vocab]
    postings: dict[str, list[int]] = {}
    for i, ws in enumerate(sets):
        for w in ws:
            postings.setdefault(w, []).append(i)

    def similar(i: int) -> Iterable[tuple[int, float]]:
        overlap: Counter[int] = Counter()
        for w in sets[i]:
            overlap.update(postings[w])
        size = len(sets[i])
        return ((j, k / math.sqrt(size * len(sets[j]))) for j, k in overlap.items())

    return relevance, similar


def _embedding_scores(
    texts: Sequence[str], query: str | None
) -> tuple[list[float], Redundancy | None]:
    """Cosine similarity to the query (and to the document's centroid); redundancy is
    the cosine similarity between sentences."""
    import numpy as np

    embedder = ml.sentence_embedder()
    vectors = embedder.embed(texts)
    centroid = vectors.mean(axis=0)
    centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
    central = _rescale([float(x) for x in vectors @ centroid])
    relevance = central
    if query and query.strip():
        q = embedder.embed([query.strip()])[0]
        matched = _rescale([float(x) for x in vectors @ q])
        relevance = [
            QUERY_WEIGHT * m + (1.0 - QUERY_WEIGHT) * c
            for m, c in zip(matched, central, strict=True)
        ]
    if len(texts) > MAX_MMR_SENTENCES:
        return relevance, None

    def similar(i: int) -> Iterable[tuple[int, float]]:
        return enumerate(float(x) for x in vectors @ vectors[i])

    return relevance, similar


def _select(
    relevance: Sequence[float],
    costs: Sequence[float],
    budget: float,
    must: Iterable[int],
    similar: Redundancy | None,
) -> set[int]:
    """Greedy MMR under a token budget; ``must`` is taken first, whatever it costs.

    Scores only fall as more is picked, so a lazy heap re-scores just the candidates
    that reach the top. Ties go to the earlier sentence."""
    n = len(relevance)
    chosen: set[int] = set()
    closest = [0.0] * n  # highest similarity to any chosen sentence
    used = 0.0

    def take(i: int) -> None:
        nonlocal used
        chosen.add(i)
        used += costs[i]
        if similar is not None:
            for j, s in similar(i):
                if s > closest[j]:
                    closest[j] = s

    def score(i: int) -> float:
        return LAMBDA * relevance[i] - (1.0 - LAMBDA) * closest[i]

    for i in sorted(set(must)):
        take(i)
    heap = [(-score(i), i) for i in range(n) if i not in chosen]
    heapq.heapify(heap)
    while heap:
        negative, i = heapq.heappop(heap)
        current = score(i)
        if current < -negative:
            heapq.heappush(heap, (-current, i))
            continue
        if used + costs[i] <= budget:
            take(i)
    if not chosen and n:
        take(min(range(n), key=lambda i: (-relevance[i], i)))
    return chosen


# ---------------------------------------------------------------- output


def _line_start(text: str, pos: int) -> int | None:
    """Where the line holding ``pos`` starts, if only blanks come before ``pos`` on it."""
    while pos > 0 and text[pos - 1] in " \t":
        pos -= 1
    return pos if pos == 0 or text[pos - 1] == "\n" else None


def _ends_line(text: str, pos: int) -> bool:
    """Whether only blanks follow ``pos`` on its line."""
    while pos < len(text) and text[pos] in " \t\r":
        pos += 1
    return pos == len(text) or text[pos] == "\n"


def _render(text: str, units: Sequence[_Unit], chosen: set[int]) -> str:
    """Kept sentences by paragraph, paragraphs separated by a blank line.

    Adjacent kept sentences keep the text between them. A run of dropped sentences
    inside a line becomes TEXT_GAP; one made of whole lines (list items, short lines)
    just disappears, so the kept lines stay whole input lines, indentation included.
    """
    runs: dict[int, list[list[int]]] = {}
    previous = -2
    for i, unit in enumerate(units):
        if i not in chosen:
            continue
        paragraph = runs.setdefault(unit.paragraph, [])
        if previous == i - 1 and paragraph:
            paragraph[-1][1] = unit.end
        else:
            paragraph.append([unit.start, unit.end])
        previous = i
    out: list[str] = []
    for paragraph in runs.values():
        parts: list[str] = []
        for k, (start, end) in enumerate(paragraph):
            begins_line = k == 0
            if k:
                whole_lines = _ends_line(text, paragraph[k - 1][1])
                begins_line = whole_lines and _line_start(text, start) is not None
                parts.append("\n" if begins_line else TEXT_GAP)
            line_start = _line_start(text, start) if begins_line else None
            parts.append(text[line_start if line_start is not None else start : end])
        out.append("".join(parts))
    return "\n\n".join(out)


def _finish(
    text: str,
    body: str,
    omitted: int,
    total_units: int,
    unit: str,
    total_tokens: int,
    ctx: CompressorContext,
    label: str,
) -> Compressed | None:
    """``body`` plus the marker line, if that is smaller than ``text``; the original is
    stored only then."""
    probe = body + text_marker(omitted, total_units, _PROBE_KEY, unit=unit)
    if ctx.counter.count(probe) >= total_tokens:
        return None
    key = ctx.remember(text)
    return Compressed(body + text_marker(omitted, total_units, key, unit=unit), key, label=label)


_NEGATION = re.compile(r"^(?:not|no|never|none|nor|without|cannot)\W*$|n't\W*$", re.IGNORECASE)


class ProseCompressor:
    """Keeps the sentences of long prose that matter for the query."""

    name = "prose"

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None:
        ratio = min(1.0, ctx.config.prose_keep_ratio * max(ctx.bias, 0.0))
        if not text or not text.strip() or ratio >= 1.0:
            return None
        if ctx.config.token_classifier_path:
            if ml.ml_available():
                return self._by_tokens(text, ctx, ratio, ctx.config.token_classifier_path)
            global _warned_no_classifier
            if not _warned_no_classifier:
                _warned_no_classifier = True
                log.warning(
                    "headroom: token_classifier_path is set but the ml extra is missing; "
                    "prose is compressed by lexical sentence selection (prose-lexical)"
                )
        return self._by_sentences(text, ctx, ratio)

    # -------------------------------------------------------------- sentences

    def _by_sentences(self, text: str, ctx: CompressorContext, ratio: float) -> Compressed | None:
        units = _layout(text)
        n = len(units)
        if n < MIN_SENTENCES:
            return None
        texts = [text[u.start : u.end] for u in units]
        label = LABEL_LEXICAL
        scored: tuple[list[float], Redundancy | None] | None = None
        if ctx.config.use_ml and n <= MAX_ML_SENTENCES and ml.ml_available():
            try:
                scored = _embedding_scores(texts, ctx.query)
                label = LABEL_ML
            except Exception:  # a broken install must not break compression
                log.exception("headroom: sentence embeddings failed; using the lexical scorer")
        if scored is None:
            scored = _lexical_scores(texts, ctx.query)
        relevance, similar = scored
        bonus = _position_bonus(units)
        relevance = [r + b for r, b in zip(relevance, bonus, strict=True)]

        pattern = _needle_pattern(_needles(ctx.query))
        must = (
            [i for i, t in enumerate(texts) if pattern.search(t.lower())]
            if pattern is not None
            else []
        )
        total = ctx.counter.count(text)
        # Sentence costs only steer the budget, so they are estimated from their length
        # (the engine counts the result exactly); counting each would cost more than
        # the whole selection.
        per_char = total / max(1, len(text))
        costs = [len(t) * per_char for t in texts]
        chosen = _select(relevance, costs, ratio * total, must, similar)
        if len(chosen) >= n:
            return None
        body = _render(text, units, chosen) + "\n\n"
        return _finish(text, body, n - len(chosen), n, "sentences", total, ctx, label)

    # -------------------------------------------------------------- words

    def _by_tokens(
        self, text: str, ctx: CompressorContext, ratio: float, path: str
    ) -> Compressed | None:
        lines: list[list[str]] = []
        for line in text.split("\n"):
            lines.append(line.split())
        words = [w for line_words in lines for w in line_words]
        n = len(words)
        if n < MIN_WORDS:
            return None
        probabilities = ml.token_classifier(path).keep_probabilities(words)
        keep_count = max(1, math.ceil(ratio * n))
        order = sorted(range(n), key=lambda i: (-probabilities[i], i))
        chosen = set(order[:keep_count])
        pattern = _needle_pattern(_needles(ctx.query))
        if pattern is not None:
            chosen.update(i for i, w in enumerate(words) if pattern.search(w.lower()))
        # Dropping a negation would turn a statement into its opposite.
        chosen.update(i for i, w in enumerate(words) if _NEGATION.search(w))
        if len(chosen) >= n:
            return None
        out_lines: list[str] = []
        index = 0
        for line_words in lines:
            if not line_words:
                if out_lines and out_lines[-1]:
                    out_lines.append("")
                continue
            # Runs of adjacent kept words are joined by spaces; a gap where words were
            # dropped is written as TEXT_GAP, so no new sentence appears to be said.
            pieces: list[str] = []
            run: list[str] = []
            for k, w in enumerate(line_words, index):
                if k in chosen:
                    run.append(w)
                elif run:
                    pieces.append(" ".join(run))
                    run = []
            if run:
                pieces.append(" ".join(run))
            index += len(line_words)
            if pieces:
                out_lines.append(TEXT_GAP.join(pieces))
        while out_lines and not out_lines[-1]:
            out_lines.pop()
        body = "\n".join(out_lines) + "\n"
        total = ctx.counter.count(text)
        return _finish(text, body, n - len(chosen), n, "words", total, ctx, LABEL_TOKENS)
