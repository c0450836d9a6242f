"""The fast paths give the same answers as the careful ones."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from headroom.cache_align import _plain, request_prefix
from headroom.tokens import O200K, TokenCounter, get_encoding

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _careful(messages: object) -> bytes:
    text = json.dumps(_plain(messages), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "surrogatepass")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(st.text(), json_values, max_size=5), max_size=5))
def test_request_prefix_fast_path_equals_the_careful_one(messages):
    assert request_prefix(messages) == _careful(messages)


def test_request_prefix_of_real_messages():
    messages = [
        {"role": "system", "content": "Tu es utile. 🧪"},
        {"role": "user", "content": [{"type": "text", "text": "lone \udc80 surrogate"}]},
        {"role": "assistant", "tool_calls": [{"id": "t", "function": {"name": "f"}}]},
        {"role": "tool", "tool_call_id": "t", "content": '{"a": 1.5e300}'},
    ]
    assert request_prefix(messages) == _careful(messages)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_memoized_counts_equal_a_fresh_encode(text):
    counter = TokenCounter("gpt-4o")
    expected = len(get_encoding(O200K).encode_ordinary(text))
    assert counter.count(text) == expected
    assert counter.count(text) == expected  # from the memo
    assert counter.count("".join(list(text))) == expected  # an equal, separate string


# ------------------------------------------------------------ prefix stability by message

message_lists = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "tool"])},
        optional={"content": st.text(max_size=40) | json_values, "name": st.text(max_size=5)},
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(message_lists, message_lists, st.integers(0, 6))
def test_per_message_figures_equal_the_serialized_ones(a, b, shared):
    from headroom.cache_align import PrefixTracker

    second = a[:shared] + b  # often a common head, as in a growing conversation
    by_bytes, by_message = PrefixTracker(), PrefixTracker()
    for messages in (a, second):
        expected = by_bytes.observe("s", request_prefix(messages))
        assert by_message.observe_messages("s", messages) == expected


def test_a_big_changed_message_is_undercounted_never_overstated():
    from headroom.cache_align import PrefixTracker

    head = {"role": "system", "content": "Be brief."}
    before = [head, {"role": "tool", "content": "x" * 10_000 + "a"}]
    after = [head, {"role": "tool", "content": "x" * 10_000 + "b"}]
    by_bytes, by_message = PrefixTracker(), PrefixTracker()
    for messages in (before, after):
        exact = by_bytes.observe("s", request_prefix(messages))
        approx = by_message.observe_messages("s", messages)
    assert (approx.previous_bytes, approx.total_bytes) == (exact.previous_bytes, exact.total_bytes)
    assert approx.stable_bytes == len(request_prefix([head])) and approx.stable_bytes < (
        exact.stable_bytes
    )


def test_message_digests_follow_content_not_identity():
    from headroom.cache_align import message_digests

    big = "line of output\n" * 1000
    one = [{"role": "tool", "content": big, "tool_call_id": "a"}]
    copy = json.loads(json.dumps(one))
    assert message_digests(one) == message_digests(copy)
    copy[0]["content"] += "!"
    assert message_digests(one) != message_digests(copy)
    assert message_digests([{"a": 1}]) != message_digests([{"a": True}])
    assert message_digests([{"a": 1}]) != message_digests([{"a": 1.0}])
    odd = [{1: b"raw", "k": (1, 2)}, None, 5, object()]
    assert len(message_digests(odd)) == 4  # never raises


def test_the_message_memo_is_bounded_by_text():
    from headroom import cache_align

    many = [{"role": "tool", "content": [f"{i} " + "y" * 4000] * 3} for i in range(1500)]
    cache_align.message_digests(many)
    assert cache_align._memo_chars <= cache_align._MEMO_CHARS
    assert len(cache_align._message_memo) <= cache_align._MEMO_LIMIT
    assert cache_align._memo_chars == sum(c for _, c in cache_align._message_memo.values())
