"""Property tests: random message lists in both formats keep every promise."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom import MemoryStore, compress, retrieve
from headroom.markers import expand_tables, is_json_marker, is_text_marker
from headroom.messages import tool_exchange

scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=30),
    st.sampled_from(["error: disk full", "FATAL", "ok", "timeout", "denied"]),
)
record = st.dictionaries(
    st.sampled_from(["id", "level", "msg", "latency", "user"]), scalar, min_size=1
)
array = st.lists(record, min_size=0, max_size=120)
payload = st.one_of(
    array.map(lambda a: json.dumps(a, indent=2)),
    array.map(lambda a: json.dumps({"total": len(a), "results": a})),
    st.text(min_size=0, max_size=400),
    st.just("{broken json " * 100),
)


@st.composite
def conversations(draw):
    fmt = draw(st.sampled_from(["openai", "anthropic"]))
    outputs = draw(st.lists(payload, min_size=1, max_size=4))
    question = draw(st.sampled_from(["what failed?", "find user 42", "", "latency of req-7"]))
    messages = [{"role": "user", "content": question}]
    for i, out in enumerate(outputs):
        call_id = f"call_{i}"
        if fmt == "openai":
            messages += tool_exchange(out, f"tool{i}", call_id)
        else:
            # A tool_result's content is a string or a list of text blocks.
            body = [{"type": "text", "text": out}] if draw(st.booleans()) else out
            messages.append(
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": call_id, "name": f"tool{i}", "input": {}}
                    ],
                }
            )
            messages.append(
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": call_id, "content": body}],
                }
            )
    return fmt, messages


def _text(content):
    return content if isinstance(content, str) else "".join(b["text"] for b in content)


def _outputs(fmt, messages):
    if fmt == "openai":
        return [(m["tool_call_id"], m["content"]) for m in messages if m["role"] == "tool"]
    return [
        (b["tool_use_id"], _text(b["content"]))
        for m in messages
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
    ]


def _items(value, path=()):
    """Every leaf container of a JSON document with its path, minus markers."""
    if isinstance(value, list):
        return [(path, v) for v in value if not is_json_marker(v)]
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _items(v, (*path, k))]
    return []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations())
def test_compression_keeps_every_promise(case):
    fmt, messages = case
    store = MemoryStore()
    result = compress(messages, store=store, min_tokens_to_compress=20)

    # Valid output, same length, pairing ids and order intact.
    assert len(result.messages) == len(messages)
    before, after = _outputs(fmt, messages), _outputs(fmt, result.messages)
    assert [i for i, _ in before] == [i for i, _ in after]
    assert result.tokens_after <= result.tokens_before

    for (_, original), (_, compressed) in zip(before, after, strict=False):
        if compressed == original:
            continue
        keys = [k for k in result.retrieval_keys if k in compressed]
        # Lossless or lossy: either way the JSON still parses and invents nothing
        # (a lossless table is read back into its records first).
        out_doc, in_doc = expand_tables(json.loads(compressed)), json.loads(original)
        allowed = {(p, json.dumps(v, sort_keys=True)) for p, v in _items(in_doc)}
        for p, v in _items(out_doc):
            assert (p, json.dumps(v, sort_keys=True)) in allowed
        if keys:
            assert retrieve(keys[0], store=store).content == original  # all omitted items come back
        else:
            assert out_doc == in_doc  # nothing omitted without a key
        assert not any(is_text_marker(line) for line in compressed.splitlines())


@settings(max_examples=30, deadline=None)
@given(conversations())
def test_same_input_same_bytes(case):
    _, messages = case
    a = compress(messages, store=MemoryStore(), min_tokens_to_compress=20)
    b = compress(messages, store=MemoryStore(), min_tokens_to_compress=20)
    assert json.dumps(a.messages) == json.dumps(b.messages)
