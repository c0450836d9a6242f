"""Counting and compressing one image block.

``count_block`` says what a block costs; ``compress_block`` returns the blocks to put in
its place (or None to keep it) and always leaves a reason when it keeps the original.
Every path is deterministic: the same block, model and question intent give the same
bytes. Nothing here raises for bad input.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._extras import require
from ..markers import TEXT_MARKER_PREFIX
from . import blocks, codec, cost, ocr
from .intent import Intent, intent_of

# OCR replaces a screenshot only when it is mostly flat background ...
OCR_MIN_BACKGROUND = 0.5
# ... nearly all of its ink lies inside recognised text lines ...
OCR_MIN_COVERAGE = 0.9
# ... and the recogniser is confident on average.
OCR_MIN_SCORE = 0.85
LOW_DETAIL_BOX = 512  # what OpenAI looks at in detail: "low"


@dataclass(frozen=True)
class ImageOutcome:
    """What happened to one image block."""

    tokens_before: int
    tokens_after: int
    exact: bool = True
    action: str = "-"  # "resized", "low_detail" or "ocr"
    replacement: list[dict[str, Any]] | None = None
    key: str | None = None
    skipped: str | None = None
    stored: str | None = field(default=None, repr=False)


_MEMO_LIMIT = 256
_probes: OrderedDict[bytes, codec.Probe] = OrderedDict()
_outcomes: OrderedDict[tuple[Any, ...], ImageOutcome] = OrderedDict()
_ocr_memo: OrderedDict[bytes, str | None] = OrderedDict()  # one OCR per image, any model
_NOT_READ: Any = object()
_memo_lock = threading.Lock()


def _digest(data: str) -> bytes:
    return hashlib.blake2b(data.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _remember(memo: OrderedDict[Any, Any], key: Any, value: Any) -> None:
    with _memo_lock:
        memo[key] = value
        if len(memo) > _MEMO_LIMIT:
            memo.popitem(last=False)


def _probe(data: str) -> codec.Probe:
    """Header facts for base64 ``data``, memoized (the header is read once per image)."""
    digest = _digest(data)
    with _memo_lock:
        hit = _probes.get(digest)
    if hit is not None:
        return hit
    raw = codec.decode_base64(data)
    probe = (
        codec.Probe(reason="image data is not valid base64") if raw is None else codec.probe(raw)
    )
    _remember(
        _probes, digest, codec.Probe(probe.width, probe.height, probe.format, b"", probe.reason)
    )
    return probe


def count_block(block: Any, rules: cost.ImageRules) -> tuple[int, bool]:
    """(tokens, exact) for one image block; 0 for anything that is not an image block.
    Images we cannot see (URLs, file ids, unreadable data) are estimated, not exact."""
    image = blocks.parse(block)
    if image is None:
        return 0, True
    if image.data is None:
        return cost.nominal_tokens(rules, image.detail), False
    probe = _probe(image.data)
    if probe.width < 1 or probe.height < 1:
        return cost.nominal_tokens(rules, image.detail), False
    return cost.image_tokens(probe.width, probe.height, rules, image.detail), True


def clear_memo() -> None:
    with _memo_lock:
        _probes.clear()
        _outcomes.clear()
        _ocr_memo.clear()


def compress_block(
    block: dict[str, Any],
    model: str,
    query: str | None,
    remember: Callable[[str], str],
    count_text: Callable[[str], int],
    use_ocr: bool = True,
) -> ImageOutcome:
    """Compress one image block for ``model``, given the question it should answer."""
    rules = cost.rules_for(model)
    before, exact = count_block(block, rules)
    image = blocks.parse(block)
    if image is None:
        return ImageOutcome(0, 0, skipped="not an image block")
    if image.data is None:
        return ImageOutcome(before, before, False, skipped="image given by reference, not seen")
    intent = intent_of(query)
    ocr_on = use_ocr and intent.about_text and ocr.available()
    block_digest = _digest(repr(sorted(block.items(), key=lambda kv: kv[0])))
    memo_key = (block_digest, model, intent, ocr_on)
    with _memo_lock:
        hit = _outcomes.get(memo_key)
    if hit is None:
        try:
            hit = _compress(
                block, image, rules, before, exact, intent, ocr_on, remember, count_text
            )
        except Exception as exc:  # a truncated file, a store error: keep the original
            return ImageOutcome(before, before, exact, skipped=f"image kept ({type(exc).__name__})")
        _remember(_outcomes, memo_key, hit)
    elif hit.stored is not None:
        try:
            remember(hit.stored)  # the store may have expired it, or be another store
        except Exception as exc:
            return ImageOutcome(before, before, exact, skipped=f"store unavailable ({exc})")
    return hit


def _fmt(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def _marker(action: str, key: str) -> str:
    return (
        f"{TEXT_MARKER_PREFIX} {action}; the original image is stored: call "
        f'headroom_retrieve with key="{key}"]'
    )


def _compress(
    block: dict[str, Any],
    image: blocks.ImageBlock,
    rules: cost.ImageRules,
    before: int,
    exact: bool,
    intent: Intent,
    ocr_on: bool,
    remember: Callable[[str], str],
    count_text: Callable[[str], int],
) -> ImageOutcome:
    assert image.data is not None
    raw = codec.decode_base64(image.data)
    if raw is None:
        return ImageOutcome(before, before, False, skipped="image data is not valid base64")
    probe = codec.probe(raw)
    if probe.reason is not None:
        return ImageOutcome(before, before, exact, skipped=probe.reason)
    im = codec.load(raw)  # raises on truncated data: the caller keeps the original
    size = im.size
    description = f"{probe.format} image {_fmt(size)}, {len(raw):,} bytes"

    if ocr_on:
        digest = _digest(image.data)
        with _memo_lock:
            text = _ocr_memo.get(digest, _NOT_READ)
        if text is _NOT_READ:
            text = _ocr_text(im)
            _remember(_ocr_memo, digest, text)
        assert text is None or isinstance(text, str)
        if text is not None:
            stored = blocks.record(block, description)
            key = remember(stored)
            note = _marker(
                f"OCR text of a {_fmt(size)} screenshot (OCR may misread look-alike characters "
                "such as O/0 and l/1)",
                key,
            )
            new_text = f"{note}\n{text}"
            after = count_text(new_text)
            if after < before:
                replacement = [blocks.text_block(block, new_text)]
                return ImageOutcome(before, after, exact, "ocr", replacement, key, stored=stored)

    detail = image.detail
    openai_style = image.style in ("openai", "responses")
    if rules.supports_low_detail and openai_style and detail != "low" and intent.coarse_only:
        detail = "low"
        scale = min(1.0, LOW_DETAIL_BOX / max(size))
        target = (max(1, int(size[0] * scale)), max(1, int(size[1] * scale)))
        action = f"detail low (question needs no fine detail), {_fmt(size)}→{_fmt(target)}"
        kind = "low_detail"
    elif rules.scheme == "tiles" and detail == "low":
        return ImageOutcome(before, before, exact, skipped="already detail low")
    else:
        target = cost.target_size(size[0], size[1], rules)
        action = f"image resized {_fmt(size)}→{_fmt(target)}"
        kind = "resized"
    tokens = cost.image_tokens(target[0], target[1], rules, detail)
    if tokens >= before:
        return ImageOutcome(before, before, exact, skipped="within the provider's size caps")
    data, media_type = codec.encode(codec.resize(im, *target), probe.format)
    stored = blocks.record(block, description)
    key = remember(stored)
    note = _marker(action, key)
    after = tokens + count_text(note)
    if after >= before:
        return ImageOutcome(before, before, exact, skipped="no savings")
    new_block = blocks.rebuilt(block, data, media_type, detail if detail != image.detail else None)
    replacement = [new_block, blocks.text_block(block, note)]
    return ImageOutcome(before, after, exact, kind, replacement, key, stored=stored)


def _ocr_text(im: Any) -> str | None:
    """The text of a screenshot that is mostly text, or None (a photo, a chart, low
    confidence, OCR unavailable)."""
    import numpy as np

    gray = np.asarray(im.convert("L"), dtype=np.int16)
    values, counts = np.unique(gray // 8, return_counts=True)
    background = int(values[counts.argmax()])
    if counts.max() / gray.size < OCR_MIN_BACKGROUND:
        return None
    # Light text on a dark background (terminals) reads better inverted.
    dark = background * 8 < 128
    ops = require("PIL.ImageOps", "image")
    lines = ocr.read_lines(ops.invert(im.convert("L")) if dark else im)
    if not lines:
        return None
    if sum(line.score for line in lines) / len(lines) < OCR_MIN_SCORE:
        return None
    ink = np.abs(gray // 8 - background) > 2
    inside = np.zeros_like(ink)
    for line in lines:
        left, top, right, bottom = line.box
        inside[max(0, top - 2) : bottom + 3, max(0, left - 2) : right + 3] = True
    total_ink = int(ink.sum())
    if total_ink and int((ink & inside).sum()) / total_ink < OCR_MIN_COVERAGE:
        return None
    return "\n".join(line.text for line in lines)
