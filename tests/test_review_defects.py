"""Regression tests for defects found in the adversarial review of the merged engine."""

from __future__ import annotations

import pytest

from headroom import RETRIEVE_TOOL_NAME, HeadroomConfig, answer_tool_call, compress

LOG = "\n".join(
    f"2024-01-01 12:00:{i % 60:02d} INFO worker {i} processed item {i * 7}" for i in range(400)
)


def _call(call_id: str, name: str, arguments: str = "{}") -> dict[str, object]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        ],
    }


def test_retrieve_answer_is_not_compressed_again() -> None:
    """The answer to a headroom_retrieve call is the original the model asked for: compressing
    it again on the next turn would hide it behind a new marker, and the model would loop."""
    first = compress(
        [
            {"role": "user", "content": "what happened"},
            _call("c1", "bash"),
            {"role": "tool", "tool_call_id": "c1", "content": LOG},
        ]
    )
    (key,) = first.retrieval_keys
    answer = answer_tool_call({"key": key})
    assert not answer.is_error and answer.content == LOG
    turn = [
        *first.messages,
        _call("c2", RETRIEVE_TOOL_NAME, f'{{"key": "{key}"}}'),
        {"role": "tool", "tool_call_id": "c2", "content": answer.content},
    ]
    second = compress(turn)
    assert second.messages[-1]["content"] == LOG


def test_retrieve_answer_is_kept_in_anthropic_format_too() -> None:
    messages = [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": RETRIEVE_TOOL_NAME, "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": LOG}]},
    ]  # fmt: skip
    result = compress(messages)
    assert result.messages == messages


def test_excluded_tools_given_as_one_string_names_one_tool() -> None:
    """``excluded_tools="bash"`` means the tool bash, not the letters b, a, s and h."""
    messages = [{"role": "tool", "tool_call_id": "c", "name": "bash", "content": LOG}]
    assert compress(messages, excluded_tools="bash").messages == messages
    assert HeadroomConfig(excluded_tools="bash").excluded_tools == frozenset({"bash"})


def test_a_model_that_is_not_a_string_is_a_clear_type_error() -> None:
    """``model=5`` used to fail deep inside with ``AttributeError: 'int' object has no
    attribute 'strip'``; like a non-list ``messages`` it is now a TypeError naming it."""
    messages = [{"role": "tool", "tool_call_id": "c", "content": LOG}]
    with pytest.raises(TypeError, match="model"):
        compress(messages, model=5)  # type: ignore[arg-type]
    assert compress(messages, model=None).messages[0]["content"] != LOG  # type: ignore[arg-type]
