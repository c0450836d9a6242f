"""compress(): the one engine every integration delegates to."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

from .compressors.base import Compressed, CompressorContext
from .config import HeadroomConfig
from .errors import HeadroomError
from .hooks import CompressContext, CompressEvent, CompressionHooks
from .messages import TextSlot, countable_strings, set_text, slots, tool_names, user_text
from .result import CompressResult, OutputReport
from .router import ContentRouter
from .store import Store, default_store, shared_store
from .store.base import key_for
from .tokens import clear_token_memo, content_digest, counter_for

log = logging.getLogger("headroom")

DEFAULT_CONFIG = HeadroomConfig()
_router = ContentRouter()

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


def _resolve_store(store: Any, config: HeadroomConfig) -> Store:
    chosen = store if store is not None else config.store
    if chosen is None:
        return default_store()
    return shared_store(chosen, ttl=config.store_ttl_seconds)


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
    **options: Any,
) -> CompressResult:
    """Compress the tool outputs in ``messages`` (OpenAI or Anthropic format).

    The input is never mutated. Outputs that cannot be compressed, or would not get
    smaller, are returned unchanged. Keyword ``options`` override fields of
    ``config`` (for example ``min_tokens_to_compress=100``).
    """
    if not isinstance(messages, list):
        raise TypeError(
            f"compress() expects a list of message dicts, got {type(messages).__name__}"
        )
    started = time.perf_counter()
    cfg = config or DEFAULT_CONFIG
    if options:
        cfg = cfg.with_options(**options)
    if query is not None:
        cfg = cfg.with_options(query=query)
    model_name = model or "gpt-4o"
    counter = counter_for(model_name)

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

    tokens_before = sum(counter.count(s) for m in work for s in countable_strings(m))
    lazy = _LazyStore(store, cfg)
    fingerprint = (cfg.fingerprint, counter.encoding_name)
    out = list(work)
    reports: list[OutputReport] = []
    warnings: list[str] = []

    # Each output's query is the last user text before it (unless one is given), so
    # outputs from earlier turns compress identically on every later turn.
    user_before: list[str | None] = []
    current: str | None = None
    for m in work:
        user_before.append(current)
        text = user_text(m)
        current = text or current

    for slot in slots(work, include_user=cfg.compress_user_messages):
        raw_bias = biases.get(slot.message_index, 1.0) if isinstance(biases, dict) else 1.0
        bias = float(raw_bias) if isinstance(raw_bias, (int, float)) else 1.0
        slot_query = cfg.query if cfg.query is not None else user_before[slot.message_index]
        report, new_text = _compress_slot(
            slot, cfg, counter, lazy, slot_query, bias, fingerprint, warnings
        )
        reports.append(report)
        if new_text is not None:
            out[slot.message_index] = set_text(out[slot.message_index], slot.path, new_text)

    saved = sum(r.tokens_saved for r in reports if r.transform is not None)
    tokens_after = tokens_before - saved
    if cfg.model_limit is not None and tokens_after > cfg.model_limit:
        warnings.append(
            f"compressed messages still use {tokens_after} tokens, above model_limit "
            f"{cfg.model_limit}"
        )
    keys = list(dict.fromkeys(r.key for r in reports if r.key and r.transform is not None))
    result = CompressResult(
        messages=out,
        tokens_before=tokens_before,
        tokens_after=tokens_after,
        transforms_applied=[t for r in reports if (t := r.transform) is not None],
        retrieval_keys=keys,
        model=model_name,
        encoding=counter.encoding_name,
        tokens_exact=counter.exact,
        outputs=reports,
        warnings=warnings,
        duration_ms=(time.perf_counter() - started) * 1000.0,
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
            outputs_compressed=len(result.transforms_applied),
        ),
    )
    return result


def _compress_slot(
    slot: TextSlot,
    cfg: HeadroomConfig,
    counter: Any,
    lazy: _LazyStore,
    query: str | None,
    bias: float,
    fingerprint: tuple[str, str],
    warnings: list[str],
) -> tuple[OutputReport, str | None]:
    """Compress one output; returns its report and the new text (None: keep the original)."""
    text = slot.text
    n_before = counter.count(text)

    def report(kind: str, name: str, n_after: int, **extra: Any) -> OutputReport:
        return OutputReport(
            slot.message_index, slot.tool_name, slot.tool_call_id, kind, name, n_before, n_after,
            **extra,
        )  # fmt: skip

    def skipped(reason: str, kind: str = "-", name: str = "-") -> tuple[OutputReport, None]:
        return report(kind, name, n_before, skipped=reason), None

    if slot.role == "tool" and cfg.is_excluded(slot.tool_name):
        return skipped(f"excluded tool {slot.tool_name}")
    if n_before < cfg.min_tokens_to_compress:
        return skipped("below min_tokens_to_compress")
    if len(text) > cfg.max_input_chars:
        return skipped("above max_input_chars")

    digest = content_digest(text)
    memo_key = (*fingerprint, query, round(bias, 4), digest)
    with _memo_lock:
        hit = _memo.get(memo_key)
        if hit is not None:
            _memo.move_to_end(memo_key)
    if hit is not None:
        kind, name, compressed, n_after = hit
        if compressed is not None and compressed.key is not None:
            try:
                store = lazy.get()
                if not store.exists(compressed.key):  # evicted or expired: store it again
                    lazy.remember(text)
            except Exception as exc:
                warnings.append(f"message {slot.message_index}: store unavailable ({exc}); kept")
                return skipped("store unavailable", kind, name)
    else:
        kind, compressor = _router.route(text)
        name = compressor.name
        ctx = CompressorContext(
            config=cfg,
            counter=counter,
            remember=lazy.remember,
            query=query,
            bias=bias,
            tool_name=slot.tool_name,
        )
        try:
            compressed = compressor.compress(text, ctx)
        except (HeadroomError, OSError) as exc:
            warnings.append(f"message {slot.message_index}: {exc}; output kept unchanged")
            return skipped(f"error: {exc}", kind, name)
        except Exception:  # a compressor bug must never break the user's agent
            log.exception("headroom: %s failed on message %d", name, slot.message_index)
            return skipped("compressor error", kind, name)
        n_after = counter.count(compressed.text) if compressed is not None else n_before
        if compressed is not None and n_after >= n_before:
            compressed, n_after = None, n_before  # never larger
        with _memo_lock:
            _memo[memo_key] = (kind, name, compressed, n_after)
            if len(_memo) > _MEMO_LIMIT:
                _memo.popitem(last=False)

    if compressed is None:
        return skipped("no savings", kind, name)
    label = compressed.label or name
    done = report(kind, label, n_after, key=compressed.key, lossless=compressed.lossless)
    return done, compressed.text
