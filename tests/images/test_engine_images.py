"""compress() with images in both message formats, and getting the originals back."""

from __future__ import annotations

import copy
import json

from headroom import MemoryStore, answer_tool_call, compress, retrieve
from headroom.images import clear_memo, parse_record

from .helpers import (
    anthropic_block,
    anthropic_tool_turn,
    decoded_size,
    openai_block,
    openai_tool_turn,
)


def test_tool_result_image_is_counted_and_compressed_anthropic():
    clear_memo()
    store = MemoryStore()
    block = anthropic_block("terminal_2400x1600.png")
    messages = anthropic_tool_turn(block, "what is in the screenshot?")
    before = copy.deepcopy(messages)
    result = compress(messages, model="gemini-2.0-flash", store=store)
    assert messages == before  # input not mutated
    assert result.tokens_before > 258 * 12  # the image is counted, not ~9 tokens
    assert result.tokens_after < result.tokens_before * 0.6
    assert result.transforms_applied[0].startswith("router:image_resized:")
    content = result.messages[2]["content"][0]["content"]
    assert content[0] == {"type": "text", "text": "screenshot taken"}
    assert decoded_size(content[1]) == (2304, 1536)
    assert content[2]["text"].startswith("[headroom: image resized 2400x1600→2304x1536")
    (key,) = result.retrieval_keys
    assert parse_record(retrieve(key, store=store).content)[1] == block

    # Anthropic tool results may hold images: the answer carries the original block.
    answer = answer_tool_call({"key": key}, store=store, format="anthropic")
    assert not answer.is_error and answer.blocks is not None
    assert answer.blocks[1] == block
    # A query does not filter an image.
    assert retrieve(key, query="ERR_QUOTA", store=store).content == store.get(key)


def test_openai_answer_describes_the_image_without_base64():
    clear_memo()
    store = MemoryStore()
    block = openai_block("terminal_2400x1600.png")
    result = compress(openai_tool_turn(block, "show me the page"), model="gpt-4o", store=store)
    (key,) = result.retrieval_keys
    answer = answer_tool_call(json.dumps({"key": key}), store=store)
    assert answer.blocks is None and not answer.is_error
    assert "PNG image 2400x1600" in answer.content and "iVBOR" not in answer.content
    assert len(answer.content) < 400


def test_user_images_are_counted_but_only_compressed_when_asked():
    clear_memo()
    image = openai_block("ui_1920x1080.png")
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "what colour is the header?"}, image]}
    ]
    kept = compress(messages, model="gpt-4o")
    assert kept.messages == messages and kept.tokens_before == kept.tokens_after
    assert kept.tokens_before > 1105  # 1105 for the image plus the question's text
    assert kept.outputs[-1].skipped == "user image (compress_user_messages=False)"
    changed = compress(messages, model="gpt-4o", compress_user_messages=True)
    assert changed.messages[0]["content"][1]["image_url"]["detail"] == "low"
    assert changed.tokens_after < changed.tokens_before - 900


def test_url_images_make_the_count_inexact():
    url = {"type": "image_url", "image_url": {"url": "https://example.com/shot.png"}}
    result = compress([{"role": "user", "content": [url]}], model="gpt-4o")
    assert result.tokens_exact is False and result.tokens_before >= 765
    inline = compress([{"role": "user", "content": [openai_block("ui_1920x1080.png")]}])
    assert inline.tokens_exact is True


def test_excluded_tools_and_system_images_are_untouched():
    clear_memo()
    block = anthropic_block("terminal_2400x1600.png")
    messages = anthropic_tool_turn(block, "what is in it?", tool="keep_me")
    result = compress(messages, model="gemini-2.0-flash", excluded_tools=["keep_me"])
    assert result.messages == messages
    assert any(o.skipped == "excluded tool keep_me" for o in result.outputs)


def test_bad_images_inside_a_conversation_never_raise():
    clear_memo()
    for name in ("truncated.png", "unsupported.bmp", "huge_8000x6250.png"):
        messages = anthropic_tool_turn(anthropic_block(name), "what does it say?")
        result = compress(messages, model="claude-sonnet-4-5")
        assert result.messages == messages and result.retrieval_keys == []
        assert result.outputs[-1].skipped


def test_odd_image_blocks_never_raise():
    odd = [
        {"type": "image"},
        {"type": "image", "source": "nope"},
        {"type": "image", "source": {"type": "base64", "data": 12}},
        {"type": "image_url"},
        {"type": "image_url", "image_url": {"url": None}},
        {"type": "image_url", "image_url": "data:image/png;base64,"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "input_image", "file_id": "file_1"},
    ]
    for block in odd:
        for model in ("gpt-4o", "claude-sonnet-4-5", "gemini-2.0-flash", "o4-mini"):
            messages = anthropic_tool_turn(block, "what does it say?")
            result = compress(messages, model=model, compress_user_messages=True)
            assert result.messages == messages
