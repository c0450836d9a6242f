"""One image block at a time: resizing, detail low, pass-through reasons, determinism."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from headroom.images import clear_memo, compress_block, count_block, parse_record, rules_for
from headroom.store import MemoryStore, key_for
from headroom.tokens import counter_for

from .helpers import anthropic_block, decoded_size, openai_block


@pytest.fixture
def store():
    clear_memo()
    return MemoryStore()


def run(block, model, store, query=None):
    def remember(text: str) -> str:
        key = key_for(text)
        store.put(key, text)
        return key

    return compress_block(block, model, query, remember, counter_for(model).count, use_ocr=False)


def test_gemini_screenshot_snaps_to_the_tile_boundary(store):
    block = openai_block("terminal_2400x1600.png")
    out = run(block, "gemini-2.0-flash", store)
    assert out.action == "resized" and out.tokens_before == 258 * 12
    new_image, marker = out.replacement
    assert decoded_size(new_image) == (2304, 1536)
    assert "image resized 2400x1600→2304x1536" in marker["text"] and out.key in marker["text"]
    assert out.tokens_after < out.tokens_before * 0.55


def test_gpt4o_resizes_to_what_it_keeps_then_to_the_tile_boundary(store):
    out = run(openai_block("terminal_2400x1600.png"), "gpt-4o", store)
    assert out.tokens_before == 85 + 170 * 6
    assert decoded_size(out.replacement[0]) == (1024, 682)
    assert out.tokens_after < 85 + 170 * 4 + 60  # 4 tiles plus the marker's text


def test_original_block_is_stored_byte_exact(store):
    block = anthropic_block("terminal_2400x1600.png")
    out = run(openai_block("terminal_2400x1600.png"), "gpt-4o", store)
    stored = store.get(out.key)
    description, original = parse_record(stored)
    assert original == openai_block("terminal_2400x1600.png")
    assert "PNG image 2400x1600" in description
    assert block["source"]["data"] in stored


def test_same_input_gives_byte_identical_output(store):
    first = run(openai_block("chart_2000x1200.png"), "gemini-2.0-flash", store, "peak?")
    clear_memo()
    second = run(openai_block("chart_2000x1200.png"), "gemini-2.0-flash", store, "peak?")
    assert json.dumps(first.replacement) == json.dumps(second.replacement)


def test_coarse_question_uses_detail_low_on_openai(store):
    out = run(openai_block("ui_1920x1080.png"), "gpt-4o", store, "what colour is the header?")
    assert out.action == "low_detail" and out.replacement[0]["image_url"]["detail"] == "low"
    assert max(decoded_size(out.replacement[0])) == 512
    assert out.tokens_after < 85 + 60
    # A question about the text keeps full detail.
    kept = run(openai_block("ui_1920x1080.png"), "gpt-4o", store, "what is the invoice number?")
    assert kept.action != "low_detail"


def test_within_caps_is_left_alone_with_a_reason(store):
    out = run(anthropic_block("photo_grace_hopper.jpg"), "claude-sonnet-4-5", store)
    assert out.replacement is None and out.skipped == "within the provider's size caps"
    assert (
        out.tokens_before
        == out.tokens_after
        == count_block(anthropic_block("photo_grace_hopper.jpg"), rules_for("claude-sonnet-4-5"))[0]
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("truncated.png", "image kept"),
        ("unsupported.bmp", "unsupported format BMP"),
        ("huge_8000x6250.png", "above the 40,000,000-pixel limit"),
    ],
)
def test_bad_images_pass_through_with_a_reason(store, name, reason):
    for model in ("gpt-4o", "claude-sonnet-4-5", "gemini-2.0-flash", "gpt-4.1-mini"):
        out = run(anthropic_block(name), model, store)
        assert out.replacement is None and reason in out.skipped
    assert store.stats().entries == 0  # nothing stored for an image left alone


def test_not_base64_and_url_images_pass_through(store):
    bad = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "%%%"}}
    out = run(bad, "claude-sonnet-4-5", store)
    assert out.replacement is None and "base64" in out.skipped and not out.exact
    url = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    out = run(url, "gpt-4o", store)
    assert out.replacement is None and not out.exact and out.tokens_before == 765


def test_metadata_is_stripped_and_orientation_kept(store):
    im = Image.new("RGB", (2400, 800), (250, 250, 250))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° when shown
    exif[0x010F] = "SecretCam"
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes(), quality=90)
    data = base64.b64encode(buf.getvalue()).decode()
    block = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/jpeg", "data": data},
    }
    out = run(block, "gemini-2.0-flash", store)
    assert out.replacement is not None
    new = base64.b64decode(out.replacement[0]["source"]["data"])
    with Image.open(io.BytesIO(new)) as got:
        assert got.height > got.width  # the rotation was applied before EXIF was dropped
        assert not got.getexif() and "icc_profile" not in got.info
    assert b"SecretCam" not in new


def test_a_failing_store_keeps_the_image_and_is_not_remembered(store):
    def broken(text: str) -> str:
        raise OSError("disk full")

    block = openai_block("terminal_2400x1600.png")
    count = counter_for("gpt-4o").count
    out = compress_block(block, "gpt-4o", None, broken, count, use_ocr=False)
    assert out.replacement is None and out.skipped == "image kept (OSError)"
    assert run(block, "gpt-4o", store).action == "resized"  # a working store: compressed
