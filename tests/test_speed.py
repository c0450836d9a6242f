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
