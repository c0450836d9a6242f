"""Runs cases through a compressor and turns the checks into gated metrics."""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..messages import tool_exchange
from ..store import MemoryStore, Store
from ..tokens import count_tokens
from . import metrics
from .cases import EvalCase, builtin_cases
from .progress import Progress

# compress_fn(messages, store) -> an object with ``.messages`` (a CompressResult, or a
# fake in tests). Optional ``tokens_before``/``tokens_after`` are checked for honesty.
CompressFn = Callable[[list[dict[str, Any]], Store], Any]

# Minimum token savings per content kind. A kind is gated only when the router sends
# it to a real compressor; until then its savings are reported, not judged.
SAVINGS_THRESHOLDS: dict[str, float] = {
    "json": 0.50,
    "logs": 0.30,
    "search": 0.20,
    "code": 0.10,
    "diff": 0.30,
    "prose": 0.0,
}


# Kinds whose compressor needs an optional extra: (extra, the module that shows it is
# installed). Without it the compressor keeps everything, which says nothing about it.
KIND_EXTRAS: dict[str, tuple[str, str]] = {"code": ("code", "tree_sitter")}


def unjudged_kinds(kinds: Iterable[str] | None = None) -> dict[str, str]:
    """The kinds that can't be judged on this install, each with the reason."""
    import importlib.util

    out: dict[str, str] = {}
    for kind in kinds if kinds is not None else KIND_EXTRAS:
        if kind not in KIND_EXTRAS:
            continue
        extra, module = KIND_EXTRAS[kind]
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out[kind] = f'the {extra} extra is not installed (pip install ".[{extra}]")'
    return out


def engine_compress(model: str = "gpt-4o", **options: Any) -> CompressFn:
    """The real engine as a CompressFn."""
    from ..engine import compress

    def run(messages: list[dict[str, Any]], store: Store) -> Any:
        return compress(messages, model=model, store=store, **options)

    return run


# The evals judge every compressor, so code (off by default) is switched on.
EVAL_OPTIONS: dict[str, Any] = {"compress_code": True}


def routed_compressor(text: str) -> str:
    """The name of the compressor the engine's router picks for ``text``."""
    from ..config import HeadroomConfig
    from ..router import ContentRouter

    compressor = ContentRouter().route(text, HeadroomConfig(**EVAL_OPTIONS))[1]
    return compressor.name if compressor is not None else "passthrough"


@dataclass
class CaseResult:
    name: str
    kind: str
    compressor: str
    tokens_before: int
    tokens_after: int
    latency_ms: float
    input_chars: int
    needles: list[metrics.NeedleCheck]
    keys_checked: int
    round_trip_failures: list[str]
    fabrications: list[str]
    structure: list[str]

    @property
    def savings(self) -> float:
        return 1 - self.tokens_after / self.tokens_before if self.tokens_before else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "compressor": self.compressor,
            "tokens_before": self.tokens_before,
            "tokens_after": self.tokens_after,
            "savings": round(self.savings, 4),
            "latency_ms": round(self.latency_ms, 3),
            "input_chars": self.input_chars,
            "needles": len(self.needles),
            "needles_inline": sum(n.inline for n in self.needles),
            "needles_retained": sum(n.retained for n in self.needles),
            "lost_needles": [n.needle for n in self.needles if not n.retained],
            "retrieval_only_needles": [
                n.needle for n in self.needles if n.retained and not n.inline
            ],
            "keys_checked": self.keys_checked,
            "round_trip_failures": self.round_trip_failures,
            "fabrications": self.fabrications[:20],
            "structure_problems": self.structure,
        }


def run_case(
    case: EvalCase,
    compress_fn: CompressFn,
    store: Store,
    model: str = "gpt-4o",
    messages: list[dict[str, Any]] | None = None,
) -> CaseResult:
    given = messages if messages is not None else case.messages()
    original = copy.deepcopy(given)  # judged against this, even if the compressor mutates ``given``
    started = time.perf_counter()
    result = compress_fn(given, store)
    latency = (time.perf_counter() - started) * 1000.0
    out: list[dict[str, Any]] = list(result.messages)
    pairs = metrics.output_pairs(original, out)
    structure = metrics.structure_problems(original, out, pairs, case.language)
    if given != original:
        structure.append("the compressor mutated its input messages")
    before = sum(count_tokens(p.original, model) for p in pairs)
    after = sum(count_tokens(p.compressed, model) for p in pairs)
    if after > before:
        structure.append(f"tool outputs grew: {before} -> {after} tokens")
    reported_before = getattr(result, "tokens_before", None)
    reported_after = getattr(result, "tokens_after", None)
    if (
        isinstance(reported_before, int)
        and isinstance(reported_after, int)
        and reported_after > reported_before
    ):
        structure.append(
            f"reported tokens_after {reported_after} > tokens_before {reported_before}"
        )
    keys_checked, rt_failures = metrics.round_trip(pairs, store)
    fabricated = [f"message {p.message_index}: {f}" for p in pairs for f in metrics.fabrications(p)]
    sources = case.needle_sources or {}
    needles = [
        metrics.check_needle(n, pairs, store, sources.get(n)) for n in dict.fromkeys(case.needles)
    ]
    routed = {routed_compressor(p.original) for p in pairs if p.original}
    compressor = ",".join(sorted(routed)) or "-"
    return CaseResult(
        case.name,
        case.kind,
        compressor,
        before,
        after,
        latency,
        sum(len(p.original) for p in pairs),
        needles,
        keys_checked,
        rt_failures,
        fabricated,
        structure,
    )


# ---------------------------------------------------------------- cache stability


@dataclass
class CacheStability:
    turns: int
    stable_turns: int  # turns whose earlier messages compressed byte-identically
    prefix_bytes: list[int]
    first_change: str | None = None

    @property
    def rate(self) -> float:
        checked = self.turns - 1
        return self.stable_turns / checked if checked > 0 else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "turns": self.turns,
            "stable_turns": self.stable_turns,
            "rate": self.rate,
            "prefix_bytes": self.prefix_bytes,
            "first_change": self.first_change,
        }


def cache_stability(
    compress_fn: CompressFn,
    store: Store,
    cases: Sequence[EvalCase],
    turns: int = 10,
    reset: Callable[[], None] | None = None,
) -> CacheStability:
    """A simulated agent session: each turn adds a question, a tool call and its output,
    then the whole conversation is compressed again. The messages from earlier turns
    must come out byte-identical, or the provider's prefix cache misses.

    ``reset`` runs before every turn (the engine's memo is cleared, so stability comes
    from determinism, not from a cache)."""
    conversation: list[dict[str, Any]] = [{"role": "system", "content": "You are an SRE agent."}]
    previous: list[str] = []
    stable = 0
    prefix_bytes: list[int] = []
    first_change: str | None = None
    for turn in range(turns):
        case = cases[turn % len(cases)]
        call_id = f"call_t{turn}"
        conversation += tool_exchange(case.output, case.tool_name, call_id, question=case.question)
        conversation.append(
            {"role": "assistant", "content": f"Noted the result of step {turn + 1}."}
        )
        if reset is not None:
            reset()
        out = compress_fn(list(conversation), store).messages
        current = [json.dumps(m, sort_keys=True, ensure_ascii=False) for m in out]
        if turn > 0:
            same = current[: len(previous)] == previous
            stable += same
            if not same and first_change is None:
                index = next(
                    i for i, (a, b) in enumerate(zip(previous, current, strict=False)) if a != b
                )
                first_change = f"turn {turn + 1}: message {index} changed"
        prefix_bytes.append(sum(len(s.encode()) for s in current[: len(previous)]))
        previous = current
    return CacheStability(turns, stable, prefix_bytes, first_change)


# ---------------------------------------------------------------- latency


@dataclass(frozen=True)
class LatencyPoint:
    label: str
    input_chars: int
    tokens: int
    ms: float


def latency_sweep(
    compress_fn: CompressFn,
    store: Store,
    sizes: Sequence[int] = (10, 100, 1000, 5000),
    repeat: int = 3,
) -> list[LatencyPoint]:
    """Median time of one compress() call on JSON arrays and logs of growing size.

    Each repeat uses fresh content (a new seed) so the engine's memo cannot help."""
    points = []
    for n in sizes:
        for label, make in (("json", _json_rows), ("logs", _log_lines)):
            times = []
            text = ""
            for r in range(repeat):
                text = make(n, random.Random(n * 31 + r))
                messages = tool_exchange(text, "t", "c1", question="find the errors")
                started = time.perf_counter()
                compress_fn(messages, store)
                times.append((time.perf_counter() - started) * 1000.0)
            times.sort()
            points.append(
                LatencyPoint(f"{label}:{n}", len(text), count_tokens(text), times[len(times) // 2])
            )
    return points


def _warmup_messages() -> list[dict[str, Any]]:
    return [{"role": "user", "content": "warm up"}]


def _json_rows(n: int, rng: random.Random) -> str:
    rows = [
        {
            "id": i,
            "user": f"u{rng.randrange(10**6)}",
            "status": "ok" if rng.random() > 0.01 else "error",
            "ms": rng.randrange(5, 500),
        }
        for i in range(n)
    ]
    return json.dumps(rows, indent=2)


def _log_lines(n: int, rng: random.Random) -> str:
    return "\n".join(
        f"2026-03-14T10:00:{i % 60:02d}Z INFO request {rng.randrange(10**9)} served in {rng.randrange(5, 500)}ms"
        for i in range(n)
    )


# ---------------------------------------------------------------- the suite


@dataclass
class Metric:
    name: str
    value: float | None
    threshold: float | None  # None: reported, not gated
    detail: str = ""

    @property
    def gated(self) -> bool:
        return self.threshold is not None and self.value is not None

    @property
    def passed(self) -> bool:
        return not self.gated or (self.value or 0.0) + 1e-12 >= (self.threshold or 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "threshold": self.threshold,
            "gated": self.gated,
            "passed": self.passed,
            "detail": self.detail,
        }


@dataclass
class SuiteResult:
    suite: str
    dataset: str
    model: str
    cases: list[CaseResult]
    metrics: list[Metric]
    cache: CacheStability | None = None
    latency: list[LatencyPoint] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        return all(m.passed for m in self.metrics)

    def by_kind(self) -> dict[str, dict[str, Any]]:
        kinds: dict[str, dict[str, Any]] = {}
        for c in self.cases:
            k = kinds.setdefault(
                c.kind, {"cases": 0, "tokens_before": 0, "tokens_after": 0, "compressors": set()}
            )
            k["cases"] += 1
            k["tokens_before"] += c.tokens_before
            k["tokens_after"] += c.tokens_after
            k["compressors"].update(c.compressor.split(","))
        for k in kinds.values():
            k["savings"] = 1 - k["tokens_after"] / k["tokens_before"] if k["tokens_before"] else 0.0
            k["compressors"] = sorted(k["compressors"])
        return kinds


def aggregate(
    cases: list[CaseResult],
    cache: CacheStability | None,
    *,
    inline_threshold: float | None = 0.95,
    savings_thresholds: dict[str, float] | None = None,
) -> list[Metric]:
    """Turns case results into metrics with their thresholds."""
    needles = [n for c in cases for n in c.needles]
    total = len(needles)
    out: list[Metric] = []
    if total:
        lost = [f"{c.name}:{n.needle}" for c in cases for n in c.needles if not n.retained]
        out.append(
            Metric(
                "retention_total",
                sum(n.retained for n in needles) / total,
                1.0,
                f"{total} needles" + (f"; lost: {', '.join(lost[:5])}" if lost else ""),
            )
        )
        out.append(
            Metric(
                "retention_inline",
                sum(n.inline for n in needles) / total,
                inline_threshold,
                f"{sum(n.inline for n in needles)}/{total} in the compressed text",
            )
        )
    keys = sum(c.keys_checked for c in cases)
    rt_fail = sum(len(c.round_trip_failures) for c in cases)
    out.append(Metric("round_trip", (keys - rt_fail) / keys if keys else 1.0, 1.0, f"{keys} keys"))
    fab = [c for c in cases if c.fabrications]
    out.append(
        Metric(
            "no_fabrication",
            1 - len(fab) / len(cases) if cases else 1.0,
            1.0,
            f"{len(fab)} of {len(cases)} cases fabricated" + (f" ({fab[0].name})" if fab else ""),
        )
    )
    bad = [c for c in cases if c.structure]
    out.append(
        Metric(
            "structure",
            1 - len(bad) / len(cases) if cases else 1.0,
            1.0,
            f"{bad[0].name}: {bad[0].structure[0]}" if bad else "pairing, JSON, code, size ok",
        )
    )
    if savings_thresholds is not None:
        kinds: dict[str, list[CaseResult]] = {}
        for c in cases:
            kinds.setdefault(c.kind, []).append(c)
        for kind, group in sorted(kinds.items()):
            before = sum(c.tokens_before for c in group)
            after = sum(c.tokens_after for c in group)
            compressors = sorted({name for c in group for name in c.compressor.split(",")})
            real = all(name != "passthrough" for name in compressors)
            threshold = savings_thresholds.get(kind) if real else None
            if compressors == ["passthrough"]:
                why = " (no compressor yet: not gated)"
            elif threshold is None:
                why = " (reported, not gated)"  # mixed content, or no target for this dataset
            else:
                why = ""
            note = ",".join(compressors) + why
            out.append(
                Metric(f"savings[{kind}]", 1 - after / before if before else 0.0, threshold, note)
            )
    if cache is not None:
        out.append(
            Metric(
                "cache_stability",
                cache.rate,
                1.0,
                cache.first_change or f"{cache.turns} turns, prefix byte-identical",
            )
        )
    return out


def run_suite(
    suite: str,
    cases: Sequence[EvalCase],
    compress_fn: CompressFn | None = None,
    *,
    model: str = "gpt-4o",
    store: Store | None = None,
    with_cache: bool = True,
    with_latency: bool = True,
    latency_sizes: Sequence[int] = (10, 100, 1000, 5000),
    inline_threshold: float | None = 0.95,
    savings_thresholds: dict[str, float] | None = None,
    progress: bool = False,
    dataset: str = "builtin",
    reset: Callable[[], None] | None = None,
) -> SuiteResult:
    started = time.perf_counter()
    fn = compress_fn or engine_compress(model, **EVAL_OPTIONS)
    if reset is None and compress_fn is None:
        from ..engine import clear_memo

        reset = clear_memo
    st = store if store is not None else MemoryStore()
    fn(_warmup_messages(), st)  # load the tokenizer before anything is timed
    bar = Progress(len(cases), suite, enabled=progress)
    results = []
    for case in cases:
        bar.step(case.name)
        results.append(run_case(case, fn, st, model))
    bar.close()
    cache = None
    if with_cache:
        pool = list(builtin_cases(0))[::3]  # a mix of kinds
        cache = cache_stability(fn, st, pool, 10, reset)
    latency = latency_sweep(fn, st, latency_sizes) if with_latency else []
    return SuiteResult(
        suite,
        dataset,
        model,
        results,
        aggregate(
            results, cache, inline_threshold=inline_threshold, savings_thresholds=savings_thresholds
        ),
        cache,
        latency,
        duration_s=time.perf_counter() - started,
    )
