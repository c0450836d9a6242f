"""Scaling property: no input makes compression super-linear.

For adversarial shapes (``tests/adversarial.py``) at 10 KB and 100 KB, carried to each
content kind through ``compress()`` and fed straight into each regex-bearing helper
(signatures, markers, volatile tokens, relevance, routing), the time taken is divided
by the time the tokenizer needs to count the same text, in the same run. That ratio
may grow at most ``MAX_GROWTH`` times from 10 KB to 100 KB: linear work keeps it
flat, a quadratic regex multiplies it by ten. Timings are minimums of several runs
with the memos cleared; nothing is compared with an absolute time.

Run with ``-s`` to print the worst pair per kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import headroom
from headroom import cache_align, jsonutil, markers, relevance
from headroom.compressors import json_crusher
from headroom.engine import clear_memo
from headroom.router import ContentRouter
from headroom.tokens import counter_for
from tests.adversarial import KINDS, SHAPES, _grep_of, carry, countable, shape

SMALL, LARGE = 10_000, 100_000
MAX_GROWTH = 1.5
RUNS = 3
RETRIES = 2  # a failing pair is measured again (more runs) before it counts

COUNTER = counter_for("gpt-4o")
KIND_NAMES = list(KINDS)
SHAPE_NAMES = list(SHAPES)
# Every shape goes to a third of the kinds (rotating), about 60 pairs at 100 KB in all;
# every kind still sees shapes of every family.
# The pairs of the findings are always in.
FINDINGS = [
    ("run_A_base64_zeros", "json"),
    ("run_a", "json"),
    ("blanks_then_word", "log"),
    ("blanks_then_word", "search"),
    ("req_id_labels", "system"),
    ("alt_a_dot", "system"),
    ("many_words", "query"),
]
PAIRS = FINDINGS + [
    (s, k)
    for i, s in enumerate(SHAPE_NAMES)
    for j, k in enumerate(KIND_NAMES)
    if (i + j) % 3 == 0 and (s, k) not in FINDINGS
]

_worst: dict[str, tuple[float, str]] = {}


def _clear_caches() -> None:
    cached = getattr(cache_align, "_volatile_cached", None)
    if cached is not None:
        cached.cache_clear()


def _best(fn: Callable[[], Any], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        clear_memo()
        _clear_caches()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return max(best, 1e-7)


def _count_time(text: str, runs: int) -> float:
    return _best(lambda: COUNTER.count(text), runs)


def _growth(make: Callable[[int], tuple[Callable[[], Any], str]], runs: int) -> float:
    ratios = []
    for size in (SMALL, LARGE):
        fn, text = make(size)
        fn()  # warm: imports, compiled patterns, the tokenizer
        ratios.append(_best(fn, runs) / _count_time(text, runs))
    return ratios[1] / ratios[0]


def _check(label: str, group: str, make: Callable[[int], tuple[Callable[[], Any], str]]) -> None:
    growth = _growth(make, RUNS)
    for attempt in range(RETRIES):
        if growth <= MAX_GROWTH:
            break
        growth = min(growth, _growth(make, RUNS + 2 * (attempt + 1)))
    if growth > _worst.get(group, (0.0, ""))[0]:
        _worst[group] = (growth, label)
    assert growth <= MAX_GROWTH, (
        f"{label}: (time / token-count time) grew {growth:.2f}x from {SMALL:,} to "
        f"{LARGE:,} characters (limit {MAX_GROWTH}x): super-linear work"
    )


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print("\nworst growth of (time / count time), 10 KB -> 100 KB, per kind or helper:")
    for group, (growth, label) in sorted(_worst.items()):
        print(f"  {group:<12} {growth:5.2f}x  {label}")


@pytest.mark.parametrize(("shape_name", "kind"), PAIRS, ids=[f"{s}-{k}" for s, k in PAIRS])
def test_compress_scales_linearly(shape_name: str, kind: str) -> None:
    def make(size: int) -> tuple[Callable[[], Any], str]:
        messages, options = carry(kind, shape(shape_name, size))
        options.setdefault("store", "memory")
        return (lambda: headroom.compress(messages, **options)), countable(messages)

    _check(f"{shape_name} as {kind}", kind, make)


_ROUTER = ContentRouter()
HELPER_REPEAT = 5


def _signature(body: str) -> Any:
    return json_crusher._signature(body.lower())  # it reads lower-cased items


def _markers(body: str) -> Any:
    return [markers.is_text_marker(line) for line in body.split("\n")], markers.keys_in(body)


def _relevance(body: str) -> Any:
    docs = _grep_of(len(body)).split("\n")
    return relevance.rank(docs, body, 10), relevance.matching(docs, body)


HELPERS: dict[str, Callable[[str], Any]] = {
    "signatures": _signature,
    "markers": _markers,
    "volatile": cache_align.find_volatile,
    "relevance": _relevance,
    "routing": lambda body: _ROUTER.detect(body, use_ml=False),
    "minify": jsonutil.minify,
}


@pytest.mark.parametrize("helper", list(HELPERS))
@pytest.mark.parametrize("shape_name", SHAPE_NAMES)
def test_helpers_scale_linearly(helper: str, shape_name: str) -> None:
    fn = HELPERS[helper]

    def make(size: int) -> tuple[Callable[[], Any], str]:
        body = shape(shape_name, size)

        def run() -> None:
            for _ in range(HELPER_REPEAT):  # sturdier timings: helpers are fast
                fn(body)

        return run, body

    _check(f"{shape_name} in {helper}", helper, make)
