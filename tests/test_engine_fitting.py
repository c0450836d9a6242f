"""compress() with the system-prompt CacheAligner and context fitting switched on."""

from __future__ import annotations

import json

from headroom import MemoryStore, compress, retrieve
from headroom.messages import countable_strings, tool_exchange
from headroom.samples import build_log, needle_logs
from headroom.tokens import counter_for


def dated(day: str, question: str = "What failed?") -> list[dict]:
    return [
        {"role": "system", "content": f"You are helpful. Today is {day}."},
        *tool_exchange(needle_logs(), "search_logs", "call_1", question=question),
    ]


def test_volatile_system_prompt_is_reported_and_left_alone_by_default():
    messages = dated("January 7, 2025")
    result = compress(messages)
    assert result.messages[0] == messages[0]
    assert any("human_date" in w and "January 7, 2025" in w for w in result.warnings)


def test_cache_align_keeps_the_prefix_byte_stable_across_days():
    monday = compress(dated("January 6, 2025"), cache_align=True)
    tuesday = compress(dated("January 7, 2025"), cache_align=True)
    assert (
        monday.messages[0]
        == tuesday.messages[0]
        == {"role": "system", "content": "You are helpful."}
    )
    assert "cache_align:date_moved" in tuesday.transforms_applied
    user = tuesday.messages[1]["content"]
    assert user.endswith("Today is January 7, 2025.")
    # The second call repeats everything up to the moved date line.
    stable = tuesday.prefix_stability
    assert stable is not None and stable.previous_bytes > 0
    prefix = json.dumps(tuesday.messages, sort_keys=True)
    assert stable.stable_bytes >= prefix.index("January 7") - 40
    # Without alignment the two days already differ inside the system prompt.
    compress(dated("January 6, 2025"))
    plain = compress(dated("January 7, 2025")).prefix_stability
    assert plain is not None and plain.stable_bytes < stable.stable_bytes


def long_chat(turns: int) -> list[dict]:
    messages: list[dict] = [{"role": "system", "content": "You are an SRE assistant."}]
    for t in range(turns):
        messages += tool_exchange(
            build_log(lines=400, seed=t), "run_build", f"call_{t}", question=f"turn {t}: status?"
        )
        messages.append(
            {"role": "assistant", "content": f"Build {t} failed on a missing identifier."}
        )
    return messages


def test_model_limit_drops_old_tool_exchanges_and_keeps_them_retrievable():
    messages = long_chat(8)
    store = MemoryStore()
    free = compress(messages, store=store)
    limit = free.tokens_after // 2 + 500
    result = compress(messages, store=store, model_limit=limit, output_reserve=500)
    assert result.tokens_after <= limit - 500
    fit = [t for t in result.transforms_applied if t.startswith("intelligent_context:dropped=")]
    assert fit, result.transforms_applied
    assert result.messages[0] == messages[0]  # the system prompt stays
    assert result.messages[-4:] == free.messages[-4:]  # so does the last turn
    # Every tool result still has its call.
    calls = {c["id"] for m in result.messages for c in m.get("tool_calls") or ()}
    results = {m["tool_call_id"] for m in result.messages if m["role"] == "tool"}
    assert results == calls
    dropped_key = result.retrieval_keys[-1]
    stored = json.loads(retrieve(dropped_key, store=store).content)
    for entry in stored:
        assert messages[entry["index"]]["role"] == entry["message"]["role"]
    assert any(dropped_key in s for m in result.messages for s in countable_strings(m))


def test_rolling_window_drops_oldest_turns_first():
    messages = long_chat(6)
    counter = counter_for("gpt-4o")
    total = sum(counter.count(s) for m in compress(messages).messages for s in countable_strings(m))
    result = compress(
        messages, model_limit=total // 2 + 300, output_reserve=300, context_strategy="rolling"
    )
    assert any(t.startswith("rolling_window:dropped=") for t in result.transforms_applied)
    kept_calls = [c["id"] for m in result.messages for c in m.get("tool_calls") or ()]
    assert kept_calls == sorted(kept_calls, key=lambda c: int(c.split("_")[1]))
    assert "call_0" not in kept_calls and "call_5" in kept_calls


def test_a_limit_that_cannot_be_met_only_warns():
    messages = long_chat(1)
    result = compress(messages, model_limit=50, output_reserve=10)
    assert any("above model_limit" in w for w in result.warnings)
    assert result.messages[0] == messages[0]
