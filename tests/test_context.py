import copy
import json

import pytest

from headroom.context import (
    ContextFitter,
    Fitted,
    IntelligentContext,
    RollingWindow,
    fitter_for,
)
from headroom.errors import ConfigError
from headroom.markers import keys_in, text_marker
from headroom.messages import countable_strings
from headroom.store.base import key_for
from headroom.tokens import counter_for

COUNTER = counter_for("gpt-4o")
SYSTEM = {"role": "system", "content": "You are a careful SRE assistant."}


class Memory:
    """A ``remember`` callable that keeps what it stores."""

    def __init__(self):
        self.saved = {}
        self.calls = 0

    def __call__(self, text):
        self.calls += 1
        key = key_for(text)
        self.saved[key] = text
        return key


def tokens(messages):
    return sum(COUNTER.count(s) for m in messages for s in countable_strings(m))


def output(i, lines=40):
    return "\n".join(
        f"2025-01-0{i % 9 + 1} worker-{i} processed batch {j} ok" for j in range(lines)
    )


def openai_conversation(turns=6):
    messages = [SYSTEM]
    for i in range(turns):
        call = {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": "search_logs", "arguments": json.dumps({"q": f"batch {i}"})},
        }
        messages += [
            {"role": "user", "content": f"Question {i}: what happened in batch {i}?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": output(i)},
            {"role": "assistant", "content": f"Answer {i}: batch {i} processed fine."},
        ]
    return messages


def anthropic_conversation(turns=6):
    messages = []
    for i in range(turns):
        messages += [
            {"role": "user", "content": [{"type": "text", "text": f"Question {i}: batch {i}?"}]},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Looking."},
                    {"type": "tool_use", "id": f"toolu_{i}", "name": "logs", "input": {"i": i}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": output(i)}
                ],
            },
            {"role": "assistant", "content": f"Answer {i}: batch {i} processed fine."},
        ]
    return messages


def fit(fitter, messages, limit, keep_last_turns=2, biases=None, remember=None):
    return fitter.fit(
        messages,
        counter=COUNTER,
        limit=limit,
        keep_last_turns=keep_last_turns,
        biases=biases or {},
        remember=remember or Memory(),
    )


def assert_paired(messages):
    """Every tool result has its call earlier on, and every call has its result."""
    calls, results = [], []
    for m in messages:
        if not isinstance(m, dict):
            continue
        for call in m.get("tool_calls") or []:
            calls.append(call["id"])
        if m.get("role") == "tool":
            assert m["tool_call_id"] in calls, "orphaned OpenAI tool result"
            results.append(m["tool_call_id"])
        if isinstance(m.get("content"), list):
            for block in m["content"]:
                if block.get("type") == "tool_use":
                    calls.append(block["id"])
                if block.get("type") == "tool_result":
                    assert block["tool_use_id"] in calls, "orphaned Anthropic tool result"
                    results.append(block["tool_use_id"])
    assert sorted(calls) == sorted(results), "a tool call lost its result"


def is_real_user(m):
    content = m.get("content")
    carrier = isinstance(content, list) and all(b.get("type") == "tool_result" for b in content)
    return m.get("role") == "user" and not carrier


def first_conversational(messages):
    return next(m for m in messages if m.get("role") not in ("system", "developer"))


def strip_marker(msg):
    """``msg`` without a leading context marker (as it was before fitting)."""
    content = msg["content"]
    if isinstance(content, str) and content.startswith("[headroom:"):
        return {**msg, "content": content.split("\n\n", 1)[1]}
    if isinstance(content, list) and content[0].get("text", "").startswith("[headroom:"):
        return {**msg, "content": content[1:]}
    return msg


FITTERS = [IntelligentContext(), RollingWindow()]
FORMATS = [openai_conversation, anthropic_conversation]


def test_fitter_for_and_protocol():
    assert isinstance(fitter_for("intelligent"), IntelligentContext)
    assert isinstance(fitter_for("rolling"), RollingWindow)
    assert fitter_for("intelligent").name == "intelligent_context"
    assert fitter_for("rolling").name == "rolling_window"
    fitter: ContextFitter = fitter_for("rolling")
    assert callable(fitter.fit)
    with pytest.raises(ConfigError):
        fitter_for("random")


@pytest.mark.parametrize("fitter", FITTERS, ids=lambda f: f.name)
@pytest.mark.parametrize("build", FORMATS)
def test_already_fitting_gives_none(fitter, build):
    messages = build(2)
    assert fit(fitter, messages, tokens(messages)) is None
    assert fit(fitter, [], 10) is None


@pytest.mark.parametrize("fitter", FITTERS, ids=lambda f: f.name)
@pytest.mark.parametrize("build", FORMATS)
def test_fits_under_the_limit_and_keeps_pairs(fitter, build):
    messages = build(6)
    snapshot = copy.deepcopy(messages)
    total = tokens(messages)
    limit = total // 2
    memory = Memory()
    fitted = fit(fitter, messages, limit, remember=memory)
    assert isinstance(fitted, Fitted)
    assert messages == snapshot  # input untouched
    assert fitted.tokens_before == total
    assert fitted.tokens_after == tokens(fitted.messages) <= limit
    assert len(fitted.messages) == len(messages) - len(fitted.dropped)
    assert fitted.dropped == sorted(fitted.dropped) and fitted.dropped
    assert memory.calls == 1 and fitted.key in memory.saved
    assert_paired(fitted.messages)
    assert is_real_user(first_conversational(fitted.messages))
    # Deterministic: the same input fits to the same output.
    again = fit(fitter, messages, limit)
    assert again == fitted


@pytest.mark.parametrize("fitter", FITTERS, ids=lambda f: f.name)
@pytest.mark.parametrize("build", FORMATS)
def test_system_and_last_turns_are_kept_byte_identical(fitter, build):
    messages = build(6)
    keep = 2
    users = [i for i, m in enumerate(messages) if is_real_user(m)]
    tail = messages[users[-keep] :]
    limit = tokens(messages) * 2 // 3
    fitted = fit(fitter, messages, limit, keep_last_turns=keep)
    out = fitted.messages
    assert json.dumps(out[-len(tail) :]) == json.dumps(tail)
    if messages[0]["role"] == "system":
        assert out[0] is messages[0]
    assert all(i < users[-keep] for i in fitted.dropped)
    # Some older history survived, so the marker went there, not into the tail.
    assert len(out) > len(tail) + 1


@pytest.mark.parametrize("fitter", FITTERS, ids=lambda f: f.name)
@pytest.mark.parametrize("build", FORMATS)
def test_protected_part_alone_too_big_drops_everything_droppable(fitter, build):
    messages = build(4)
    users = [i for i, m in enumerate(messages) if is_real_user(m)]
    fitted = fit(fitter, messages, 10, keep_last_turns=1)
    tail = messages[users[-1] :]
    assert fitted.dropped == [
        i for i, m in enumerate(messages) if i < users[-1] and m is not SYSTEM
    ]
    assert fitted.tokens_after > 10
    assert [strip_marker(m) for m in fitted.messages if m is not SYSTEM] == tail
    assert_paired(fitted.messages)


def test_nothing_droppable_keeps_everything():
    messages = [SYSTEM, {"role": "user", "content": "x " * 500}]
    fitted = fit(IntelligentContext(), messages, 10)
    assert fitted.dropped == [] and fitted.messages == messages and fitted.key is None
    assert fitted.tokens_after == fitted.tokens_before > 10


@pytest.mark.parametrize("fitter", FITTERS, ids=lambda f: f.name)
@pytest.mark.parametrize("build", FORMATS)
def test_dropped_messages_are_recoverable_and_the_marker_names_the_key(fitter, build):
    messages = build(6)
    memory = Memory()
    fitted = fit(fitter, messages, tokens(messages) // 2, remember=memory)
    stored = json.loads(memory.saved[fitted.key])
    assert [r["index"] for r in stored] == fitted.dropped
    assert [r["message"] for r in stored] == [messages[i] for i in fitted.dropped]
    # The kept and the dropped messages together are the whole input, in order.
    kept = [i for i in range(len(messages)) if i not in fitted.dropped]
    rebuilt = {i: messages[i] for i in kept} | {r["index"]: r["message"] for r in stored}
    assert [rebuilt[i] for i in range(len(messages))] == messages

    marker = text_marker(len(fitted.dropped), len(messages), fitted.key, unit="messages")
    first = first_conversational(fitted.messages)
    content = first["content"]
    text = content if isinstance(content, str) else content[0]["text"]
    assert text.startswith(marker)
    assert keys_in(text) == [fitted.key]
    original = messages[kept[0] if messages[0] is not SYSTEM else kept[1]]
    assert strip_marker(first) == original


def test_marker_as_leading_text_part_for_list_content():
    messages = anthropic_conversation(6)
    fitted = fit(RollingWindow(), messages, tokens(messages) // 2)
    first = fitted.messages[0]
    assert first["content"][0] == {
        "type": "text",
        "text": text_marker(len(fitted.dropped), len(messages), fitted.key, unit="messages"),
    }
    assert first["content"][1:] == messages[fitted.dropped[-1] + 1]["content"]


def tool_indices(messages):
    return {i for i, m in enumerate(messages) if m.get("tool_calls") or m.get("role") == "tool"}


def test_intelligent_drops_old_tool_outputs_before_conversation():
    messages = openai_conversation(6)
    tool_units = tool_indices(messages)
    # Room for everything but about half of the tool output.
    limit = tokens(messages) - tokens([messages[i] for i in tool_units]) // 2
    fitted = fit(IntelligentContext(), messages, limit)
    assert fitted.dropped and set(fitted.dropped) <= tool_units
    # The oldest exchanges went first.
    assert fitted.dropped == sorted(tool_units)[: len(fitted.dropped)]
    kept_text = [m["content"] for m in fitted.messages if m.get("content")]
    for i in range(6):
        assert any(f"Question {i}" in t for t in kept_text)
        assert f"Answer {i}: batch {i} processed fine." in kept_text
    assert_paired(fitted.messages)


def test_rolling_drops_oldest_whole_turns():
    messages = openai_conversation(6)
    fitted = fit(RollingWindow(), messages, tokens(messages) // 2)
    # A prefix of the conversation goes, whole turns at a time.
    assert fitted.dropped == list(range(1, 1 + len(fitted.dropped)))
    assert len(fitted.dropped) % 4 == 0
    assert fitted.messages[1]["content"].endswith(
        f"Question {len(fitted.dropped) // 4}: what happened in batch {len(fitted.dropped) // 4}?"
    )


def call_index(messages, n):
    return next(
        i for i, m in enumerate(messages) if m.get("tool_calls", [{}])[0].get("id") == f"call_{n}"
    )


def test_bias_above_one_protects_a_unit():
    messages = openai_conversation(6)
    limit = tokens(messages) - 200  # one tool exchange has to go
    plain = fit(IntelligentContext(), messages, limit)
    oldest_output = call_index(messages, 0) + 1
    assert oldest_output in plain.dropped
    biased = fit(IntelligentContext(), messages, limit, biases={oldest_output: 10.0})
    assert oldest_output not in biased.dropped and oldest_output - 1 not in biased.dropped
    assert biased.tokens_after <= limit
    assert_paired(biased.messages)


def test_bias_below_one_drops_a_unit_sooner():
    messages = openai_conversation(6)
    limit = tokens(messages) - tokens([messages[i] for i in tool_indices(messages)]) // 2
    answer = call_index(messages, 3) + 2  # a recent assistant answer
    assert messages[answer]["content"].startswith("Answer 3")
    assert answer not in fit(IntelligentContext(), messages, limit).dropped
    assert answer in fit(IntelligentContext(), messages, limit, biases={answer: 0.01}).dropped
    # Odd bias values are ignored rather than raising.
    odd = fit(IntelligentContext(), messages, limit, biases={answer: float("nan"), 1: "x"})
    assert answer not in odd.dropped


@pytest.mark.parametrize("build", FORMATS)
def test_conversation_starts_with_a_user_turn_after_fitting(build):
    messages = build(6)
    first_user = next(i for i, m in enumerate(messages) if is_real_user(m))
    limit = tokens(messages) - 5
    fitted = fit(IntelligentContext(), messages, limit, biases={first_user: 0.001})
    assert first_user in fitted.dropped
    # Its assistant messages and tool results went too, up to the next user question.
    next_user = next(i for i, m in enumerate(messages) if i > first_user and is_real_user(m))
    assert fitted.dropped == list(range(first_user, next_user))
    assert is_real_user(first_conversational(fitted.messages))
    assert_paired(fitted.messages)


def test_anthropic_result_with_typed_text_stays_with_its_call():
    messages = anthropic_conversation(4)
    # A user message carrying a tool result and a typed follow-up.
    messages[2] = {
        "role": "user",
        "content": [*messages[2]["content"], {"type": "text", "text": "Also check batch 9."}],
    }
    for fitter in FITTERS:
        for limit in range(tokens(messages) // 4, tokens(messages), 400):
            fitted = fit(fitter, messages, limit, keep_last_turns=1)
            if fitted is not None:
                assert_paired(fitted.messages)
                assert (1 in fitted.dropped) == (2 in fitted.dropped)


def test_openai_parallel_calls_form_one_unit():
    call = {"type": "function", "function": {"name": "f", "arguments": "{}"}}
    messages = [
        SYSTEM,
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [
            {**call, "id": "a"}, {**call, "id": "b"}
        ]},
        {"role": "tool", "tool_call_id": "a", "content": output(1)},
        {"role": "tool", "tool_call_id": "b", "content": output(2, lines=5)},
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": "thanks"},
    ]  # fmt: skip
    fitted = fit(IntelligentContext(), messages, tokens(messages) - 50, keep_last_turns=1)
    assert {2, 3, 4} <= set(fitted.dropped)
    assert_paired(fitted.messages)


def test_odd_input_does_not_raise():
    weird = [
        None,
        5,
        "text",
        {"role": "tool"},
        {"role": "assistant", "tool_calls": "nope"},
        {"role": "user", "content": None},
        {"role": "assistant", "content": [{"type": "tool_use"}]},
        {"role": "user", "content": [{"type": "tool_result"}, b"raw"]},
        {"role": "user", "content": "y " * 300},
        {"role": "assistant", "content": {"odd": object()}},
        {"role": "user", "content": "last"},
    ]
    for fitter in FITTERS:
        for keep in (1, 5):
            fitted = fit(fitter, weird, 20, keep_last_turns=keep)
            assert fitted is not None and fitted.messages[-1]["content"].endswith("last")
        memory = Memory()
        everything = fit(fitter, weird, 20, keep_last_turns=0, remember=memory)
        assert everything.messages == []  # nothing protected: all of it may go
        stored = json.loads(memory.saved[everything.key])
        assert [r["index"] for r in stored] == list(range(len(weird)))
        assert stored[5]["message"] == weird[5] and stored[7]["message"]["content"][1] == "b'raw'"
    assert fit(IntelligentContext(), "not a list", 1) is None  # type: ignore[arg-type]
    assert fit(IntelligentContext(), weird, None) is None  # type: ignore[arg-type]
    only_garbage = [None, {"role": "user", "content": "z " * 100}, 7, {"role": "user"}]
    fitted = fit(RollingWindow(), only_garbage, 5, keep_last_turns=1)
    assert fitted.dropped == [0, 1, 2]
    assert fitted.messages == [
        {"role": "user", "content": text_marker(3, 4, fitted.key, "messages")}
    ]


def test_keep_last_turns_zero_may_drop_everything_but_system():
    messages = openai_conversation(3)
    fitted = fit(RollingWindow(), messages, 5, keep_last_turns=0)
    assert fitted.messages == [SYSTEM]
    assert fitted.dropped == list(range(1, len(messages)))


@pytest.mark.parametrize("fitter", FITTERS, ids=lambda f: f.name)
@pytest.mark.parametrize("build", FORMATS)
def test_no_limit_or_bias_orphans_a_tool_result(fitter, build):
    messages = build(6)
    results = [i for i, m in enumerate(messages) if m.get("role") == "tool" or i % 4 == 2]
    total = tokens(messages)
    for biases in ({}, dict.fromkeys(results, 3.0), {results[0]: 0.01, results[1]: 50.0}):
        for limit in range(100, total, 37):
            fitted = fit(fitter, messages, limit, keep_last_turns=1, biases=biases)
            assert_paired(fitted.messages)
            assert is_real_user(first_conversational(fitted.messages))
