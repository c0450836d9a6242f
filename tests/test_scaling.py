"""Scaling property: no input makes compression super-linear.

For adversarial shapes (``tests/adversarial.py``) at 10 KB and 100 KB, carried to each
content kind through ``compress()`` and fed straight into each regex-bearing helper
(signatures, markers, volatile tokens, relevance, routing), the time taken is divided
by the time the tokenizer needs to count the same text, in the same run. That ratio
may grow at most ``MAX_GROWTH`` times from 10 KB to 100 KB: linear work keeps it
flat, a quadratic regex multiplies it by ten. Timings are minimums of several runs
with the memos cleared, in CPU time of the calling thread (so a loaded machine that
preempts the test distorts nothing); nothing is compared with an absolute time.

Run with ``-s`` to print the worst pair per kind.
"""

from __future__ import annotations

import gc
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
# A helper alone is a C-speed scan: at 100 KB it leaves the CPU's fastest caches, which
# the tokenizer's heavier work per byte hardly notices. Quadratic work still grows 10x.
HELPER_GROWTH = 3.0
RUNS = 3
RETRIES = 3  # a failing pair is measured again (more runs) before it counts

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
        gc.disable()  # a collection triggered by earlier tests is no cost of this call
        try:
            start = time.thread_time()
            fn()
            best = min(best, time.thread_time() - start)
        finally:
            gc.enable()
    return max(best, 1e-7)


MIN_TIMED = 0.002  # seconds: a faster call is repeated, at both sizes alike


def _growth(make: Callable[[int], tuple[Callable[[], Any], str]], runs: int) -> float:
    """(time / count time) at LARGE over the same at SMALL. The four timings take turns
    run by run, so a burst of load from elsewhere hits both sizes alike."""
    (fn_s, text_s), (fn_l, text_l) = make(SMALL), make(LARGE)
    fn_s(), fn_l()  # warm: imports, compiled patterns, the tokenizer
    repeat = max(1, min(200, round(MIN_TIMED / _best(fn_s, 1))))

    def timed(fn: Callable[[], Any]) -> Callable[[], None]:
        def run() -> None:
            for _ in range(repeat):
                fn()

        return run

    best = [float("inf")] * 4
    jobs = [timed(fn_s), lambda: COUNTER.count(text_s), timed(fn_l), lambda: COUNTER.count(text_l)]
    for _ in range(runs):
        for i, job in enumerate(jobs):
            best[i] = min(best[i], _best(job, 1))
    t_s, c_s, t_l, c_l = best
    return (t_l / c_l) / (t_s / c_s)


def _check(
    label: str,
    group: str,
    make: Callable[[int], tuple[Callable[[], Any], str]],
    limit: float = MAX_GROWTH,
) -> None:
    growth = _growth(make, RUNS)
    for attempt in range(RETRIES):
        if growth <= limit:
            break
        growth = min(growth, _growth(make, RUNS + 2 * (attempt + 1)))
    if growth > _worst.get(group, (0.0, ""))[0]:
        _worst[group] = (growth, label)
    assert growth <= limit, (
        f"{label}: (time / token-count time) grew {growth:.2f}x from {SMALL:,} to "
        f"{LARGE:,} characters (limit {limit}x): super-linear work"
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
        # The regex paths are under test: the ONNX models (prose embeddings, Magika)
        # cost seconds per 100 KB and would only slow this module down.
        options.setdefault("use_ml", False)
        return (lambda: headroom.compress(messages, **options)), countable(messages)

    _check(f"{shape_name} as {kind}", kind, make)


_ROUTER = ContentRouter()


def _signature(body: str) -> Any:
    return json_crusher._signature(body.lower())  # it reads lower-cased items


def _markers(body: str) -> Any:
    return [markers.is_text_marker(line) for line in body.split("\n")], markers.keys_in(body)


_GREP_LINES = _grep_of(2 * LARGE).split("\n")


def _relevance(body: str) -> Any:
    docs = _GREP_LINES[: len(body) // 40]  # the output grows with the question
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

        return (lambda: fn(body)), body

    _check(f"{shape_name} in {helper}", helper, make, HELPER_GROWTH)
