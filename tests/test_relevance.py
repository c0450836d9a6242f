"""Lexical relevance: the fast scans must agree exactly with plain word splitting."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from headroom.relevance import (
    Joined,
    bm25_scores,
    identifier_hits,
    matching,
    rank,
    term_counts,
    words,
)

# Text built from the characters that decide token edges, so the awkward cases
# ("a.b", "x-.y", "_-z", "term2") come up often.
_alphabet = st.sampled_from(list('ab_1-. \n"x'))
_docs = st.lists(st.text(_alphabet, max_size=40), min_size=1, max_size=8)
_terms = st.lists(st.sampled_from(["a", "b", "a.b", "a-b", "x", "1", "_", "ab", "b1"]), max_size=4)


@settings(max_examples=400, deadline=None)
@given(_docs, _terms)
def test_term_counts_equal_counting_words(docs, terms):
    expected = {}
    for i, doc in enumerate(docs):
        c = Counter(w for w in words(doc) if w in terms)
        if c:
            expected[i] = c
    assert term_counts(docs, terms) == expected


@given(
    _docs, st.lists(st.text(st.sampled_from(list("ab_1-. x")), min_size=1, max_size=4), max_size=3)
)
def test_docs_containing_is_substring_search(docs, needles):
    expected = {i for i, d in enumerate(docs) if any(n in d for n in needles)}
    assert Joined(docs).docs_containing(needles) == expected


def test_bm25_prefers_the_document_about_the_query():
    docs = [
        "the build finished in 12 seconds",
        "connection pool exhausted: 100 of 100 connections busy",
        "pool party on friday",
    ]
    scores = bm25_scores(docs, ["connection", "pool"])
    assert scores[1] > scores[2] > scores[0] == 0.0


def test_identifiers_rank_first_and_match_exactly():
    docs = ['{"id":"req-41","msg":"slow"}', '{"id":"req-42","msg":"ok"}', '{"msg":"slow slow"}']
    assert rank(docs, "why was req-42 slow?", limit=3)[0] == 1
    assert matching(docs, "what about req-42") == [1]
    # "req" alone is not the token "req-42": no partial-token matches.
    assert term_counts([d.lower() for d in docs], ["req"]) == {}


def test_identifiers_match_whole_tokens_only():
    docs = ["req-4 done", "req-40 done", "xreq-4", "a.req-4", "(req-4)", "req-4.5"]
    assert identifier_hits(docs, "what about req-4?") == [0, 4]
