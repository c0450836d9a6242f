"""Property tests for the text compressors: no fabricated lines, originals back
byte-exact, never larger, same bytes every time."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom import MemoryStore, compress, retrieve
from headroom.markers import TEXT_GAP, is_text_marker
from tests.helpers import openai_turn

WORDS = ["build", "cache", "worker", "request", "retry", "queue", "disk", "user", "pool"]
PROBLEMS = ["ERROR disk full", "WARN slow query", "Traceback (most recent call last):",
            "error: cannot find symbol", "FAILED tests/test_x.py::test_y", "panic: nil map"]  # fmt: skip

log_line = st.one_of(
    st.builds(
        lambda t, w, n: f"2025-01-07T10:{t // 60 % 60:02d}:{t % 60:02d}Z INFO {w} done in {n}ms",
        st.integers(0, 3599), st.sampled_from(WORDS), st.integers(0, 999),
    ),
    st.builds(lambda w, n: f"[{n:3d}%] CC src/{w}/{w}_{n}.c", st.sampled_from(WORDS), st.integers(0, 100)),
    st.sampled_from(PROBLEMS),
    st.builds(lambda w: f"    at {w}.run({w}.java:{len(w)})", st.sampled_from(WORDS)),
    st.just(""),
    st.text(max_size=60).filter(lambda s: "\n" not in s and "\r" not in s),
)  # fmt: skip
logs = st.lists(log_line, min_size=30, max_size=400).map("\n".join)
search = st.lists(
    st.builds(
        lambda d, f, n, w: f"src/{d}/{f}.py:{n}:    {w} = load_{w}(timeout={n})",
        st.sampled_from(WORDS), st.sampled_from(WORDS), st.integers(1, 900), st.sampled_from(WORDS),
    ),
    min_size=30,
    max_size=400,
).map("\n".join)  # fmt: skip
sentence = st.builds(
    lambda a, b, n: f"The {a} service retries the {b} call after {n} seconds when it fails.",
    st.sampled_from(WORDS), st.sampled_from(WORDS), st.integers(1, 90),
)  # fmt: skip
prose = st.lists(
    st.lists(sentence, min_size=3, max_size=8).map(" ".join), min_size=3, max_size=10
).map("\n\n".join)
outputs = st.one_of(logs, search, prose)
questions = st.sampled_from(["why did the build fail?", "where is load_cache?", "", "req-7"])


def check_verbatim(original: str, compressed: str) -> None:
    known = set(original.split("\n"))
    for line in compressed.split("\n"):
        if line in known or is_text_marker(line):
            continue
        pieces = line.split(TEXT_GAP)
        assert all(p and p in original for p in pieces), line


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outputs, questions)
def test_text_compression_keeps_every_promise(output, question):
    store = MemoryStore()
    result = compress(
        openai_turn(output, question=question), store=store, min_tokens_to_compress=20
    )
    compressed = result.messages[-1]["content"]
    assert result.tokens_after <= result.tokens_before
    if compressed == output:
        return
    check_verbatim(output, compressed)
    (key,) = result.retrieval_keys
    assert key in compressed
    assert retrieve(key, store=store).content == output


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(outputs, questions)
def test_text_compression_is_deterministic(output, question):
    a = compress(
        openai_turn(output, question=question), store=MemoryStore(), min_tokens_to_compress=20
    )
    b = compress(
        openai_turn(output, question=question), store=MemoryStore(), min_tokens_to_compress=20
    )
    assert json.dumps(a.messages) == json.dumps(b.messages)
