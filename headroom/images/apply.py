"""Image blocks in a whole message list: counting them and compressing the eligible ones.

The engine calls these two functions; everything image-specific stays in this package.
Images inside tool outputs are compressed by default; images the user typed or pasted
only with ``compress_user_messages=True``; system and assistant images never. Every
image is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import HeadroomConfig
from ..messages import ImageSlot, image_slots, replace_block, user_text
from ..result import OutputReport
from .compress import compress_block, count_block
from .cost import rules_for


def count_images(messages: list[Any], model: str) -> tuple[int, bool]:
    """(tokens, exact) of every image block in ``messages``; ``exact`` is False when an
    image could not be seen (a URL, a file id, unreadable data)."""
    rules = rules_for(model)
    total, exact = 0, True
    for slot in image_slots(messages):
        tokens, seen = count_block(slot.block, rules)
        total += tokens
        exact = exact and seen
    return total, exact


def _eligible(slot: ImageSlot, cfg: HeadroomConfig) -> str | None:
    """Why this image is left alone, or None when it may be compressed."""
    if slot.role == "tool":
        return f"excluded tool {slot.tool_name}" if cfg.is_excluded(slot.tool_name) else None
    if slot.role == "user":
        return None if cfg.compress_user_messages else "user image (compress_user_messages=False)"
    return f"{slot.role or 'unknown'} message image"


def compress_images(
    work: list[Any],
    out: list[Any],
    model: str,
    cfg: HeadroomConfig,
    queries: list[str | None],
    remember: Callable[[str], str],
    count_text: Callable[[str], int],
) -> tuple[list[Any], list[OutputReport]]:
    """Compresses the eligible image blocks of ``work`` into ``out`` (the same messages,
    text already compressed); returns the new list and one report per image."""
    reports: list[OutputReport] = []
    edits: list[tuple[ImageSlot, list[dict[str, Any]]]] = []
    for slot in image_slots(work):
        reason = _eligible(slot, cfg)
        query = queries[slot.message_index]
        if slot.role == "user":
            query = user_text(work[slot.message_index]) or query
        if reason is not None:
            tokens, _ = count_block(slot.block, rules_for(model))
            outcome = None
        else:
            outcome = compress_block(slot.block, model, query, remember, count_text)
            tokens = outcome.tokens_before
        if outcome is None or outcome.replacement is None:
            skipped = reason or (outcome.skipped if outcome else None) or "no savings"
            reports.append(
                OutputReport(
                    slot.message_index,
                    slot.tool_name,
                    slot.tool_call_id,
                    "image",
                    "image",
                    tokens,
                    tokens,
                    skipped=skipped,
                )
            )
            continue
        reports.append(
            OutputReport(
                slot.message_index,
                slot.tool_name,
                slot.tool_call_id,
                "image",
                f"image_{outcome.action}",
                outcome.tokens_before,
                outcome.tokens_after,
                key=outcome.key,
            )
        )
        edits.append((slot, outcome.replacement))
    # Later blocks first, so the paths of earlier ones in the same list stay valid.
    for slot, blocks in sorted(edits, key=lambda e: (e[0].message_index, e[0].path), reverse=True):
        i = slot.message_index
        out[i] = replace_block(out[i], slot.path, blocks)
    return out, reports
