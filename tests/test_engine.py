import copy
import hashlib
import json
import subprocess
import sys

import pytest

from headroom import CompressionHooks, HeadroomConfig, MemoryStore, compress, retrieve
from headroom.errors import ConfigError
from headroom.samples import FATAL_CODE, build_log, demo_transcript, needle_logs
from tests.helpers import anthropic_turn, openai_turn


def run(messages, **kw):
    kw.setdefault("store", MemoryStore())
    return compress(messages, **kw)


def test_non_list_is_a_type_error():
    for bad in ("hello", {"role": "user"}, None, 3):
        with pytest.raises(TypeError, match="list of message dicts"):
            compress(bad)


def test_input_is_not_mutated_and_pairing_survives():
    messages = demo_transcript()
    snapshot = copy.deepcopy(messages)
    result = run(messages)
    assert messages == snapshot
    assert len(result.messages) == len(messages)
    for before, after in zip(messages, result.messages, strict=False):
        assert {k: v for k, v in before.items() if k != "content"} == {
            k: v for k, v in after.items() if k != "content"
        }
    assert result.messages[0] is messages[0]  # untouched messages are shared, not copied


def test_result_numbers_are_consistent():
    result = run(demo_transcript())
    assert result.tokens_saved == result.tokens_before - result.tokens_after > 0
    assert result.compression_ratio == pytest.approx(result.tokens_saved / result.tokens_before)
    assert result.tokens_exact and result.encoding == "o200k_base"
    assert len(result.retrieval_keys) == 3 and len(result.transforms_applied) == 3
    claude = run(demo_transcript(), model="claude-sonnet-4-5-20250929")
    assert not claude.tokens_exact


@pytest.mark.parametrize("shape", ["string", "blocks"])
def test_anthropic_tool_results(shape):
    original = needle_logs()
    content = original if shape == "string" else [{"type": "text", "text": original}]
    store = MemoryStore()
    result = compress(anthropic_turn(content), model="claude-sonnet-4-5", store=store)
    block = result.messages[2]["content"][0]
    assert block["type"] == "tool_result" and block["tool_use_id"] == "toolu_1"
    out = block["content"] if shape == "string" else block["content"][0]["text"]
    assert FATAL_CODE in out and len(out) < len(original) / 5
    assert retrieve(result.retrieval_keys[0], store=store).content == original


def test_excluded_tools_are_never_touched():
    result = run(openai_turn(needle_logs(), tool="Read"))
    assert result.messages[-1]["content"] == needle_logs()
    assert result.outputs[0].skipped == "excluded tool Read"
    custom = run(openai_turn(needle_logs(), tool="dump"), excluded_tools={"DUMP"})
    assert custom.tokens_saved == 0


def test_small_outputs_and_user_messages_are_untouched():
    small = json.dumps([{"id": i} for i in range(10)], indent=2)
    assert run(openai_turn(small)).tokens_saved == 0
    pasted = [{"role": "user", "content": needle_logs()}]
    assert run(pasted).messages == pasted
    opted_in = run(pasted, compress_user_messages=True)
    assert opted_in.tokens_saved > 0 and FATAL_CODE in opted_in.messages[0]["content"]


@pytest.mark.parametrize(
    "content",
    [
        "{not json at all" + " filler" * 400,
        "[" * 50_000 + "]" * 50_000,  # deeper than any parser allows
        "lone \udc80 surrogate " * 300,
        b"raw bytes are not ours to touch",
        {"weird": "content type"},
        None,
        "x" * (2 * 1024 * 1024),
    ],
)
def test_malformed_content_passes_through(content):
    messages = openai_turn(content)
    result = run(messages)
    assert result.messages[-1]["content"] is content or result.messages[-1]["content"] == content
    assert result.tokens_after == result.tokens_before


def test_a_50_mb_log_compresses_and_stays_retrievable():
    content = "2025-01-07 INFO request served in 12ms\n" * (50 * 1024 * 1024 // 38)
    store = MemoryStore()
    result = compress(openai_turn(content), store=store)
    assert result.tokens_after < 200
    assert retrieve(result.retrieval_keys[0], store=store).content == content


def test_garbage_messages_do_not_raise():
    weird = [None, 5, "text", {"role": "tool"}, {"role": "assistant", "tool_calls": "nope"}]
    assert run(weird).messages == weird


def test_deterministic_across_processes():
    code = (
        "import hashlib, json; from headroom import compress, MemoryStore; "
        "from headroom.samples import demo_transcript; "
        "r = compress(demo_transcript(), store=MemoryStore()); "
        "print(hashlib.sha256(json.dumps(r.messages).encode()).hexdigest())"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    here = hashlib.sha256(json.dumps(run(demo_transcript()).messages).encode()).hexdigest()
    assert outs == {here + "\n"}


def test_earlier_turns_compress_identically_when_the_conversation_grows():
    turn1 = openai_turn(needle_logs(), question="What caused the outage?")
    first = run(turn1)
    turn2 = [
        *turn1,
        {"role": "assistant", "content": "PG-5523."},
        {"role": "user", "content": "Show latency for req-00c0ffee"},
    ]
    second = run(turn2)
    assert second.messages[: len(turn1)] == first.messages


def test_hooks_are_called_and_a_failing_hook_is_ignored():
    seen = {}

    class Recorder(CompressionHooks):
        def pre_compress(self, messages, ctx):
            seen["ctx"] = ctx
            return messages

        def post_compress(self, event):
            seen["event"] = event

    result = run(demo_transcript(), hooks=Recorder())
    assert seen["ctx"].query.startswith("What caused the outage")
    assert seen["ctx"].tool_names["call_logs"] == "search_logs"
    assert seen["event"].tokens_saved == result.tokens_saved

    class Broken(CompressionHooks):
        def compute_biases(self, messages, ctx):
            raise RuntimeError("bug in user hook")

    assert run(demo_transcript(), hooks=Broken()).tokens_saved == result.tokens_saved


def test_options_and_config():
    with pytest.raises(ConfigError):
        compress([], no_such_option=1)
    with pytest.raises(ConfigError):
        HeadroomConfig(min_tokens_to_compress=-1)
    result = run(openai_turn(needle_logs()), config=HeadroomConfig(model_limit=100))
    assert any("model_limit" in w for w in result.warnings)


def test_store_failure_keeps_the_original():
    class FullDisk(MemoryStore):
        def put(self, key, value, ttl=None):
            raise OSError("No space left on device")

    result = compress(openai_turn(needle_logs()), store=FullDisk())
    assert result.messages[-1]["content"] == needle_logs()
    assert result.retrieval_keys == [] and result.warnings


def test_memo_restores_an_evicted_original():
    store = MemoryStore()
    first = compress(openai_turn(needle_logs()), store=store)
    key = first.retrieval_keys[0]
    store.delete(key)
    again = compress(openai_turn(needle_logs()), store=store)
    assert again.messages == first.messages
    assert retrieve(key, store=store).content == needle_logs()


def test_odd_roles_and_hook_biases_do_not_break_a_call():
    class NaNBias(CompressionHooks):
        def compute_biases(self, messages, ctx):
            return {3: float("nan"), 0: "high"}

    messages = [{"role": ["user"], "content": "odd"}, *openai_turn(build_log())[1:]]
    result = compress(messages, hooks=NaNBias())
    assert result.tokens_saved > 0 and not result.warnings


def test_a_small_model_limit_keeps_room_for_the_conversation():
    messages = openai_turn(needle_logs())
    result = compress(messages, model_limit=4000)  # below the default output_reserve
    assert len(result.messages) == len(messages)
