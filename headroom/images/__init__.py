"""Images: honest token counts per provider, and compression that keeps what the
model would see (resize to the provider's caps and tile boundaries, ``detail: "low"``
for coarse questions, OCR of text screenshots for questions about their text).

Needs the ``image`` extra (Pillow; OCR also needs rapidocr-onnxruntime).
"""

from __future__ import annotations

from .blocks import ImageBlock, is_image_block, parse, parse_record
from .compress import ImageOutcome, clear_memo, compress_block, count_block
from .cost import ImageRules, image_tokens, kept_size, rules_for, snap_to_tiles, target_size
from .intent import Intent, intent_of

__all__ = [
    "ImageBlock",
    "ImageOutcome",
    "ImageRules",
    "Intent",
    "clear_memo",
    "compress_block",
    "count_block",
    "image_tokens",
    "intent_of",
    "is_image_block",
    "kept_size",
    "parse",
    "parse_record",
    "rules_for",
    "snap_to_tiles",
    "target_size",
]
