"""OCR of a text screenshot when the question is about its text (needs the image-ocr
extra; one small image, because each OCR run takes seconds)."""

from __future__ import annotations

import pytest

from headroom import MemoryStore, compress
from headroom.images import clear_memo, ocr

from .helpers import anthropic_block, anthropic_tool_turn

pytestmark = pytest.mark.skipif(not ocr.available(), reason="rapidocr-onnxruntime not installed")


def test_text_screenshot_becomes_its_text_byte_stably():
    messages = anthropic_tool_turn(
        anthropic_block("terminal_small_900x260.png"), "what does the error message say?"
    )
    outputs = []
    for _ in range(2):
        clear_memo()
        result = compress(messages, model="claude-sonnet-4-5", store=MemoryStore())
        outputs.append(result.messages)
    assert outputs[0] == outputs[1]  # one ONNX thread: the same text every run
    (report,) = [o for o in result.outputs if o.kind == "image"]
    assert report.compressor == "image_ocr" and report.tokens_after < report.tokens_before / 2
    text = result.messages[2]["content"][0]["content"][1]["text"]
    assert text.startswith("[headroom: OCR text of a 900x260 screenshot")
    assert "build failed" in text and "7421" in text
