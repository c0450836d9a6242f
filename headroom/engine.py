"""compress(): the one engine every integration delegates to."""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .compressors.base import Compressed, Compressor, CompressorContext
from .config import HeadroomConfig
from .errors import HeadroomError, StoreError
from .hooks import CompressContext, CompressEvent, CompressionHooks
from .messages import (
    TextSlot,
    countable_strings,
    image_slots,
    is_system,
    safe_json,
    set_text,
    slots,
    tool_names,
    user_text,
)
from .pipeline import Pipeline, PipelineExtension, PipelineStage, new_request_id, pipeline_for
from .result import CompressResult, OutputReport
from .retrieval import RETRIEVE_TOOL_NAME
from .router import ContentRouter
from .store import Store, default_store, shared_store
from .store.base import key_for
from .tokens import clear_token_memo, content_digest, counter_for

log = logging.getLogger("headroom")

DEFAULT_CONFIG = HeadroomConfig()
_router = ContentRouter()
_prefixes: Any = None  # a cache_align.PrefixTracker, made on first use

# Per-output memo: the same output under the same options always compresses to the
# same bytes, so a repeat (the next turn of a conversation) costs one hash.
_MEMO_LIMIT = 4096
_memo: OrderedDict[tuple[Any, ...], tuple[str, str, Compressed | None, int]] = OrderedDict()
_memo_lock = threading.Lock()


def clear_memo() -> None:
    """Forget memoized results and token counts (benchmarks use it to measure cold calls)."""
    with _memo_lock:
        _memo.clear()
    clear_token_memo()
    aligner = sys.modules.get(__package__ + ".cache_align")  # imported on first compress()
    if aligner is not None:
        aligner.clear_message_memo()


def _resolve_store(store: Any, config: HeadroomConfig) -> Store:
    chosen = store if store is not None else config.store
    if chosen is None:
        return default_store()
    return shared_store(chosen, ttl=config.store_ttl_seconds, timeout=config.store_timeout_seconds)


class _LazyStore:
    """Opens the store only when an original actually needs storing."""

    def __init__(self, store: Any, config: HeadroomConfig) -> None:
        self._spec = store
        self._config = config
        self._store: Store | None = None

    def get(self) -> Store:
        if self._store is None:
            self._store = _resolve_store(self._spec, self._config)
        return self._store

    def remember(self, text: str) -> str:
        key = key_for(text)
        self.get().put(key, text, ttl=self._config.store_ttl_seconds)
        return key

    def down(self) -> bool:
        """The store is known to be unreachable now (its circuit breaker is open)."""
        return self._store is not None and bool(getattr(self._store, "circuit_open", False))


def _call_hook(hooks: CompressionHooks | None, name: str, default: Any, *args: Any) -> Any:
    if hooks is None:
        return default
    try:
        return getattr(hooks, name)(*args)
    except Exception:
        log.exception("headroom: hook %s failed; ignoring it", name)
        return default


def compress(
    messages: list[dict[str, Any]],
    model: str = "gpt-4o",
    *,
    config: HeadroomConfig | None = None,
    hooks: CompressionHooks | None = None,
    store: Any = None,
    query: str | None = None,
    extensions: Iterable[PipelineExtension] | None = None,
    request_id: str | None = None,
    smart_crusher_config: Any = None,
    **options: Any,
) -> CompressResult:
    """Compress the tool outputs in ``messages`` (OpenAI or Anthropic format).

    The input is never mutated. Outputs that cannot be compressed, or would not get
    smaller, are returned unchanged. Keyword ``options`` override fields of
    ``config`` (for example ``min_tokens_to_compress=100``). ``extensions`` receive
    the input stages of the request lifecycle (see ``headroom.pipeline``), under
    ``request_id`` when an integration passes its own. ``smart_crusher_config`` (a
    ``SmartCrusherConfig``) sets the JSON compressor's knobs.
    """
    if not isinstance(messages, list):
        raise TypeError(
            f"compress() expects a list of message dicts, got {type(messages).__name__}"
        )
    if model is not None and not isinstance(model, str):
        raise TypeError(f"compress() expects model to be a string, got {type(model).__name__}")
    started = time.perf_counter()
    cfg = config or DEFAULT_CONFIG
    if smart_crusher_config is not None:
        # A SmartCrusherConfig: its fields map onto config options (explicit options win).
        options = {**smart_crusher_config.config_options(), **options}
    if options:
        cfg = cfg.with_options(**options)
    if query is not None:
        cfg = cfg.with_options(query=query)
    model_name = model or "gpt-4o"
    counter = counter_for(model_name)
    pipe = pipeline_for(extensions)
    rid = request_id or (new_request_id() if pipe else "")
    if pipe:
        messages = _received(pipe, rid, model_name, messages)

    last_user = next((user_text(m) for m in reversed(messages) if user_text(m)), None)
    ctx = CompressContext(
        model=model_name,
        config=cfg,
        query=cfg.query if cfg.query is not None else last_user,
        message_count=len(messages),
        tool_names=tool_names(messages),
    )
    work = _call_hook(hooks, "pre_compress", messages, messages, ctx)
    if not isinstance(work, list):
        log.warning("headroom: pre_compress returned %s, not a list; ignoring it", type(work))
        work = messages
    biases = _call_hook(hooks, "compute_biases", {}, work, ctx) or {}
    if not isinstance(biases, dict):
        biases = {}

    tokens_before = sum(counter.count(s) for m in work for s in countable_strings(m))
    # Images count by their provider's formula (headroom.images); only looked at when present.
    has_images = next(image_slots(work), None) is not None
    images_exact = True
    if has_images:
        from .images.apply import count_images

        image_tokens, images_exact = count_images(work, model_name)
        tokens_before += image_tokens
    lazy = _LazyStore(store, cfg)
    warnings: list[str] = []
    transforms: list[str] = []

    # Imported here: their regexes cost import time that most imports never need.
    from .cache_align import align_messages

    scope = _conversation_scope(model_name, work)
    queries = _queries(work, cfg)  # before alignment: a moved date is no question
    unaligned = work
    aligned = align_messages(work, move_dates=cfg.cache_align)
    warnings.extend(aligned.warnings)
    if aligned.moved is not None:
        transforms.append("cache_align:date_moved")
    work = aligned.messages
    if pipe:
        pipe.emit(
            PipelineStage.INPUT_CACHED,
            rid,
            model=model_name,
            messages=work,
            details={"volatile": list(aligned.warnings), "moved": aligned.moved},
        )

    out = list(work)
    fingerprint = (cfg.fingerprint, counter.encoding_name, _classifier_stamp(cfg))
    plans = _plan(work, queries, cfg, counter, biases, fingerprint)
    if pipe:
        routes = [
            {"message_index": p.slot.message_index, "kind": p.kind, "compressor": p.name}
            for p in plans
        ]
        pipe.emit(PipelineStage.INPUT_ROUTED, rid, model=model_name, details={"routes": routes})
    reports: list[OutputReport] = []
    rewritten: list[tuple[TextSlot, str]] = []
    for plan in plans:
        report, new_text = _run(plan, cfg, counter, lazy, warnings)
        reports.append(report)
        if new_text is not None:
            i = plan.slot.message_index
            out[i] = set_text(out[i], plan.slot.path, new_text)
            rewritten.append((plan.slot, new_text))
    if has_images:
        from .images.apply import compress_images

        out, image_reports = compress_images(
            work, out, model_name, cfg, queries, lazy.remember, counter.count
        )
        reports.extend(image_reports)

    transforms.extend(t for r in reports if (t := r.transform) is not None)
    keys = list(dict.fromkeys(r.key for r in reports if r.key and r.transform is not None))
    tokens_after = tokens_before - sum(r.tokens_saved for r in reports if r.transform is not None)
    if aligned.moved is not None:  # the moved sentence is counted where it now stands
        tokens_after = sum(counter.count(s) for m in out for s in countable_strings(m))
        if has_images:
            tokens_after += count_images(out, model_name)[0]
        if tokens_after > tokens_before:  # never larger: undo the move
            undone = _unalign(out, unaligned, aligned.messages, rewritten)
            if undone is not None:
                out = undone
                tokens_after = sum(counter.count(s) for m in out for s in countable_strings(m))
                if has_images:
                    tokens_after += count_images(out, model_name)[0]
                transforms.remove("cache_align:date_moved")
                warnings.append("cache_align: the date stays put (moving it would add tokens)")
    if cfg.model_limit is not None:
        out, tokens_after = _fit(out, cfg, counter, biases, lazy, tokens_after, transforms,
                                 keys, warnings)  # fmt: skip
    stability = _prefix_tracker().observe_messages(scope, out)
    result = CompressResult(
        messages=out,
        tokens_before=tokens_before,
        tokens_after=tokens_after,
        transforms_applied=transforms,
        retrieval_keys=keys,
        model=model_name,
        encoding=counter.encoding_name,
        tokens_exact=counter.exact and images_exact,
        outputs=reports,
        warnings=warnings,
        duration_ms=(time.perf_counter() - started) * 1000.0,
        prefix_stability=stability,
    )
    if pipe:
        pipe.emit(PipelineStage.INPUT_COMPRESSED, rid, model=model_name, result=result)
        pipe.emit(
            PipelineStage.INPUT_REMEMBERED,
            rid,
            model=model_name,
            result=result,
            details={"retrieval_keys": list(keys)},
        )
    _call_hook(
        hooks,
        "post_compress",
        None,
        CompressEvent(
            model=model_name,
            tokens_before=result.tokens_before,
            tokens_after=result.tokens_after,
            tokens_saved=result.tokens_saved,
            compression_ratio=result.compression_ratio,
            transforms_applied=list(result.transforms_applied),
            retrieval_keys=list(keys),
            duration_ms=result.duration_ms,
            outputs_compressed=len(reports) - sum(1 for r in reports if r.transform is None),
        ),
    )
    return result


def _unalign(
    out: list[dict[str, Any]],
    unaligned: list[dict[str, Any]],
    aligned: list[dict[str, Any]],
    rewritten: list[tuple[TextSlot, str]],
) -> list[dict[str, Any]] | None:
    """``out`` with the messages that alignment changed as they were before it, their
    compressed tool outputs written in again; None when a changed message had other
    text rewritten (a user message compressed with the moved sentence in it)."""
    changed = {i for i, (a, b) in enumerate(zip(unaligned, aligned, strict=True)) if a is not b}
    if any(slot.message_index in changed and slot.role != "tool" for slot, _ in rewritten):
        return None
    restored = list(out)
    for i in changed:
        restored[i] = unaligned[i]
    for slot, text in rewritten:
        if slot.message_index in changed:
            i = slot.message_index
            restored[i] = set_text(restored[i], slot.path, text)
    return restored


def _prefix_tracker() -> Any:
    global _prefixes
    if _prefixes is None:
        from .cache_align import PrefixTracker

        with _memo_lock:
            if _prefixes is None:
                _prefixes = PrefixTracker()
    return _prefixes


def _conversation_scope(model: str, messages: list[dict[str, Any]]) -> str:
    """Which earlier request this one is compared with: the last one of the same model
    whose first non-system message was the same (the same conversation), judged before
    alignment moves anything into it."""
    opener = next(
        (m for m in messages if isinstance(m, dict) and not is_system(m)),
        None,
    )
    try:
        seen = repr(opener)
    except RecursionError:  # absurdly deep tool-call arguments
        seen = safe_json(opener)
    return f"{model}:{content_digest(seen).hex()}"


def _received(
    pipe: Pipeline, rid: str, model: str, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Emits INPUT_RECEIVED; an extension may hand back other messages."""
    event = pipe.emit(PipelineStage.INPUT_RECEIVED, rid, model=model, messages=messages)
    if event.messages is not messages and isinstance(event.messages, list):
        return event.messages
    return messages


def _fit(
    out: list[dict[str, Any]],
    cfg: HeadroomConfig,
    counter: Any,
    biases: dict[Any, Any],
    lazy: _LazyStore,
    tokens_after: int,
    transforms: list[str],
    keys: list[str],
    warnings: list[str],
) -> tuple[list[dict[str, Any]], int]:
    """Drops the least valuable messages when the result still exceeds model_limit."""
    assert cfg.model_limit is not None
    # The reply's reserve never takes more than half the window: a small model_limit
    # with the default reserve must not mean "drop everything".
    reserve = min(cfg.output_reserve, cfg.model_limit // 2)
    limit = max(1, cfg.model_limit - reserve)
    if tokens_after <= limit:
        return out, tokens_after
    from .context import fitter_for

    fitter = fitter_for(cfg.context_strategy)
    clean = {k: float(v) for k, v in biases.items() if isinstance(v, (int, float))}
    try:
        fitted = fitter.fit(
            out,
            counter=counter,
            limit=limit,
            keep_last_turns=cfg.keep_last_turns,
            biases=clean,
            remember=lazy.remember,
        )
    except (HeadroomError, OSError) as exc:
        warnings.append(f"context fitting skipped: {exc}")
        fitted = None
    if fitted is not None and fitted.dropped:
        out, tokens_after = fitted.messages, fitted.tokens_after
        transforms.append(f"{fitter.name}:dropped={len(fitted.dropped)}")
        if fitted.key:
            keys.append(fitted.key)
    if tokens_after > limit:
        warnings.append(
            f"messages still use {tokens_after} tokens, above model_limit {cfg.model_limit} "
            f"minus an output reserve of {reserve}"
        )
    return out, tokens_after


@dataclass
class _Plan:
    """One output, between routing and compressing."""

    slot: TextSlot
    n_before: int
    kind: str = "-"
    name: str = "-"
    skipped: str | None = None
    compressor: Compressor | None = None
    hit: tuple[str, str, Compressed | None, int] | None = None
    memo_key: tuple[Any, ...] = ()
    query: str | None = None
    bias: float = 1.0


def _queries(messages: list[Any], cfg: HeadroomConfig) -> list[str | None]:
    """Each message's relevance query: the given one, else the last user text before it,
    so outputs from earlier turns compress identically on every later turn."""
    if cfg.query is not None:
        return [cfg.query] * len(messages)
    before: list[str | None] = []
    current: str | None = None
    for m in messages:
        before.append(current)
        current = user_text(m) or current
    return before


def _bias(raw: Any) -> float:
    """A hook's bias, made safe: finite, clamped to [0.1, 10], rounded so that equal
    memo keys always mean equal output."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw):
        return 1.0
    return round(min(max(float(raw), 0.1), 10.0), 4)


def _classifier_stamp(cfg: HeadroomConfig) -> tuple[int, int] | None:
    """Size and mtime of the token-classifier model, so a replaced file is not served
    from the memo."""
    if not cfg.token_classifier_path:
        return None
    try:
        st = os.stat(cfg.token_classifier_path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns)


# Passes over an output that compressing it costs whatever the query (routing, masking,
# signatures, trouble scans, joining, token counting), for the work budget.
_BASE_PASSES = 8


@functools.lru_cache(maxsize=64)
def _passes(query: str | None) -> int:
    """Passes over an output: the fixed ones plus one per query term and identifier
    (both bounded, see ``relevance.MAX_QUERY_TERMS``)."""
    from .relevance import identifiers, query_terms

    return _BASE_PASSES + len(query_terms(query)) + len(identifiers(query))


def _plan(
    work: list[dict[str, Any]],
    queries: list[str | None],
    cfg: HeadroomConfig,
    counter: Any,
    biases: dict[Any, Any],
    fingerprint: tuple[Any, ...],
) -> list[_Plan]:
    """Routes every output (or finds it in the memo), without compressing yet."""
    plans: list[_Plan] = []
    for slot in slots(work, include_user=cfg.compress_user_messages):
        bias = _bias(biases.get(slot.message_index, 1.0))
        query = queries[slot.message_index]
        plan = _Plan(slot, counter.count(slot.text), query=query, bias=bias)
        plans.append(plan)
        if slot.role == "tool" and cfg.is_excluded(slot.tool_name):
            plan.skipped = f"excluded tool {slot.tool_name}"
        elif slot.role == "tool" and slot.tool_name == RETRIEVE_TOOL_NAME:
            # The original the model asked for: another marker would send it round again.
            plan.skipped = f"answer to {RETRIEVE_TOOL_NAME}"
        elif plan.n_before < cfg.min_tokens_any:
            plan.skipped = "below min_tokens_to_compress"
        elif len(slot.text) > cfg.max_input_chars:
            plan.skipped = "above max_input_chars"
        elif (units := len(slot.text) * _passes(query)) > cfg.max_work:
            plan.skipped = f"above the work budget ({units:,} > max_work {cfg.max_work:,})"
        if plan.skipped:
            continue
        plan.memo_key = (*fingerprint, query, bias, content_digest(slot.text))
        with _memo_lock:
            plan.hit = _memo.get(plan.memo_key)
            if plan.hit is not None:
                _memo.move_to_end(plan.memo_key)
        if plan.hit is not None:
            plan.kind, plan.name = plan.hit[0], plan.hit[1]
            continue
        try:
            plan.kind, plan.compressor = _router.route(slot.text, cfg)
        except Exception:  # a routing bug must never break the user's agent
            log.exception("headroom: routing failed on message %d", slot.message_index)
            plan.skipped = "routing error"
            continue
        if plan.n_before < cfg.min_tokens_for(plan.kind):  # kind-specific (JSON) threshold
            plan.skipped, plan.compressor = "below min_tokens_to_compress", None
            continue
        if plan.compressor is None:
            plan.skipped = _router.skip_reason(plan.kind)
        else:
            plan.name = plan.compressor.name
    return plans


def _lossless_only(cfg: HeadroomConfig) -> HeadroomConfig:
    """Options under which compressors keep every item (the store can't hold originals):
    a lossless form wins whatever its size; anything that needs the store fails and
    keeps the output as it is."""
    return cfg.with_options(lossless_slack=1e9)


def _run(
    plan: _Plan,
    cfg: HeadroomConfig,
    counter: Any,
    lazy: _LazyStore,
    warnings: list[str],
) -> tuple[OutputReport, str | None]:
    """Compresses one planned output; returns its report and the new text (None: keep)."""
    slot, n_before, kind, name = plan.slot, plan.n_before, plan.kind, plan.name

    def report(label: str, n_after: int, **extra: Any) -> OutputReport:
        return OutputReport(
            slot.message_index, slot.tool_name, slot.tool_call_id, kind, label, n_before,
            n_after, **extra,
        )  # fmt: skip

    def skipped(reason: str) -> tuple[OutputReport, None]:
        return report(name, n_before, skipped=reason), None

    if plan.skipped is not None:
        return skipped(plan.skipped)
    if plan.hit is not None:
        _, _, compressed, n_after = plan.hit
        if compressed is not None and compressed.key is not None:
            try:
                store = lazy.get()
                if not store.exists(compressed.key):  # evicted or expired: store it again
                    lazy.remember(slot.text)
            except Exception as exc:
                warnings.append(f"message {slot.message_index}: store unavailable ({exc}); kept")
                return skipped("store unavailable")
    else:
        assert plan.compressor is not None
        degraded = lazy.down()
        ctx = CompressorContext(
            config=_lossless_only(cfg) if degraded else cfg,
            counter=counter,
            remember=lazy.remember,
            query=plan.query,
            bias=plan.bias,
            tool_name=slot.tool_name,
        )
        try:
            try:
                compressed = plan.compressor.compress(slot.text, ctx)
            except StoreError:
                if degraded:
                    raise
                # The store failed on this output: try once more without storing.
                degraded = True
                ctx = dataclasses.replace(ctx, config=_lossless_only(cfg))
                compressed = plan.compressor.compress(slot.text, ctx)
        except (HeadroomError, OSError) as exc:
            warnings.append(f"message {slot.message_index}: {exc}; output kept unchanged")
            return skipped(f"error: {exc}")
        except Exception:  # a compressor bug must never break the user's agent
            log.exception("headroom: %s failed on message %d", name, slot.message_index)
            return skipped("compressor error")
        n_after = counter.count(compressed.text) if compressed is not None else n_before
        if compressed is not None and n_after >= n_before:
            compressed, n_after = None, n_before  # never larger
        if degraded:  # not memoized: the full compression returns with the store
            note = "store unavailable: outputs are compressed losslessly only"
            if note not in warnings:
                warnings.append(note)
        else:
            with _memo_lock:
                _memo[plan.memo_key] = (kind, name, compressed, n_after)
                if len(_memo) > _MEMO_LIMIT:
                    _memo.popitem(last=False)

    if compressed is None:
        # The compressor found nothing to leave out, or its result was not smaller.
        return skipped(f"no savings from {name}")
    label = compressed.label or name
    return report(label, n_after, key=compressed.key, lossless=compressed.lossless), compressed.text
