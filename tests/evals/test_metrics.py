"""The checks must catch compressors that drop, invent, lie about keys or break shape."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from headroom import MemoryStore
from headroom.evals import metrics
from headroom.evals.cases import EvalCase, builtin_cases
from headroom.evals.runner import aggregate, cache_stability, engine_compress, run_case
from headroom.markers import item_marker, json_marker, omitted_note, text_marker
from headroom.store.base import key_for


@dataclass
class Fake:
    messages: list[dict[str, Any]]
    tokens_before: int = 0
    tokens_after: int = 0


def _replace_output(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    out = [dict(m) for m in messages]
    out[-1]["content"] = text
    return out


def _log_case() -> EvalCase:
    return next(c for c in builtin_cases() if c.name == "logs-fatal-at-67")


def _json_case() -> EvalCase:
    return next(c for c in builtin_cases() if c.name == "json-orders-failed-payment")


def test_identity_compressor_passes_everything(memory_store: MemoryStore) -> None:
    r = run_case(_log_case(), lambda m, s: Fake(m), memory_store)
    assert all(n.inline for n in r.needles)
    assert r.fabrications == [] and r.structure == [] and r.round_trip_failures == []
    assert r.tokens_before == r.tokens_after > 250


def test_dropped_needle_is_caught(memory_store: MemoryStore) -> None:
    case = _log_case()

    def drop_fatal(messages: list[dict[str, Any]], store: Any) -> Fake:
        kept = [ln for ln in case.output.splitlines() if "FATAL" not in ln]
        return Fake(_replace_output(messages, "\n".join(kept)))

    r = run_case(case, drop_fatal, memory_store)
    assert [n.retained for n in r.needles] == [False, False, False]
    assert r.fabrications == []  # dropping is not inventing
    m = {x.name: x for x in aggregate([r], None)}
    assert m["retention_total"].value == 0.0 and not m["retention_total"].passed


def test_dropped_needle_behind_a_valid_key_counts_as_retrievable(memory_store: MemoryStore) -> None:
    case = _log_case()

    def drop_but_store(messages: list[dict[str, Any]], store: Any) -> Fake:
        key = key_for(case.output)
        store.put(key, case.output)
        kept = [*case.output.splitlines()[:10], text_marker(90, 100, key)]
        return Fake(_replace_output(messages, "\n".join(kept)))

    r = run_case(case, drop_but_store, memory_store)
    assert all(n.retained and not n.inline for n in r.needles)
    assert r.keys_checked == 1 and r.round_trip_failures == [] and r.fabrications == []
    m = {x.name: x for x in aggregate([r], None)}
    assert m["retention_total"].passed and not m["retention_inline"].passed


def test_invented_line_is_caught(memory_store: MemoryStore) -> None:
    case = _log_case()
    invented = case.output + "\n2026-03-14T09:00:00Z ERROR [db] replica lag 900s"
    r = run_case(case, lambda m, s: Fake(_replace_output(m, invented)), memory_store)
    assert len(r.fabrications) == 1 and "replica lag" in r.fabrications[0]
    assert not {x.name: x for x in aggregate([r], None)}["no_fabrication"].passed


def test_changed_json_value_is_caught(memory_store: MemoryStore) -> None:
    case = _json_case()
    doc = json.loads(case.output)
    doc[5]["amount"] = 1.0 if doc[5]["amount"] != 1.0 else 2.0
    r = run_case(case, lambda m, s: Fake(_replace_output(m, json.dumps(doc))), memory_store)
    assert r.fabrications and "amount" in r.fabrications[0]


def test_json_subset_with_marker_is_not_fabrication(memory_store: MemoryStore) -> None:
    case = _json_case()
    doc = json.loads(case.output)
    key = key_for(case.output)
    memory_store.put(key, case.output)
    kept = [*doc[:3], doc[-1], json_marker(len(doc) - 4, len(doc), key)]
    r = run_case(case, lambda m, s: Fake(_replace_output(m, json.dumps(kept))), memory_store)
    assert r.fabrications == [] and r.structure == [] and r.round_trip_failures == []
    assert r.tokens_after < r.tokens_before


def test_reordered_or_added_json_items_are_caught() -> None:
    original = [{"id": 1}, {"id": 2}, {"id": 3}]
    assert metrics.json_fabrications(original, [{"id": 3}, {"id": 1}])  # order changed
    assert metrics.json_fabrications(original, [{"id": 1}, {"id": 4}])  # new item
    assert metrics.json_fabrications({"a": [1]}, {"a": [1], "b": 2})  # new key
    assert metrics.json_fabrications([1.5], [1.50]) == []  # same float after parsing
    assert metrics.json_fabrications([1], [True])  # int vs bool
    assert metrics.json_fabrications([{"id": 1, "x": [1, 2, 3]}], [{"id": 1, "x": [1, 3]}]) == []


def test_the_three_json_marker_forms_are_set_aside_and_nothing_else() -> None:
    key = "hr_0123456789abcdef"
    original = {
        "records": [{"id": i} for i in range(5)],
        "versions": ["1.0", "1.1", "2.0"],
        "time": {"1.0": "a", "1.1": "b", "2.0": "c", "__headroom__": "input"},
    }
    note = omitted_note(2, 4, "keys", key)
    good = {
        "records": [{"id": 0}, json_marker(4, 5, key)],
        "versions": ["1.0", item_marker(2, 3, key)],
        "time": {"1.0": "a", "__headroom__": "input", "__headroom__1": note},
    }
    assert metrics.json_fabrications(original, good) == []
    # A marker string anywhere but last, a marker member under a name the input had
    # free (or already had), or a marker that is no marker sentence: all caught.
    assert metrics.json_fabrications(original, {"versions": [item_marker(2, 3, key), "1.0"]})
    assert metrics.json_fabrications(original, {"time": {"__headroom__2": note}})
    assert metrics.json_fabrications(original, {"time": {"__headroom__": note}})
    assert metrics.json_fabrications(original, {"time": {"__headroom__1": "made up"}})
    assert metrics.json_fabrications(original, {"versions": ["[headroom: invented]"]})


def test_lying_key_fails_round_trip(memory_store: MemoryStore) -> None:
    case = _log_case()
    key = "hr_" + "0" * 16
    memory_store.put(key, "something else entirely")
    text = case.output + "\n" + text_marker(0, 100, key)
    r = run_case(case, lambda m, s: Fake(_replace_output(m, text)), memory_store)
    assert r.keys_checked == 1 and len(r.round_trip_failures) == 1
    assert not {x.name: x for x in aggregate([r], None)}["round_trip"].passed


def test_missing_key_fails_round_trip(memory_store: MemoryStore) -> None:
    case = _log_case()
    text = "\n".join(case.output.splitlines()[:5]) + "\n" + text_marker(95, 100, "hr_" + "1" * 16)
    r = run_case(case, lambda m, s: Fake(_replace_output(m, text)), memory_store)
    assert r.round_trip_failures and "not found" in r.round_trip_failures[0]
    assert not any(n.retained for n in r.needles)


def test_broken_pairing_and_user_edits_are_caught(memory_store: MemoryStore) -> None:
    def rename(messages: list[dict[str, Any]], store: Any) -> Fake:
        out = [dict(m) for m in messages]
        out[-1]["tool_call_id"] = "call_other"
        return Fake(out)

    r = run_case(_log_case(), rename, memory_store)
    assert any("no tool call" in p for p in r.structure)

    def edit_user(messages: list[dict[str, Any]], store: Any) -> Fake:
        out = [dict(m) for m in messages]
        out[1]["content"] = "something else"
        return Fake(out)

    assert run_case(_log_case(), edit_user, memory_store).structure


def test_growth_invalid_json_and_broken_code_are_caught(memory_store: MemoryStore) -> None:
    case = _json_case()
    r = run_case(case, lambda m, s: Fake(_replace_output(m, case.output[:-3])), memory_store)
    assert any("no longer parses" in p for p in r.structure)

    grown = run_case(
        _log_case(), lambda m, s: Fake(m, tokens_before=10, tokens_after=11), memory_store
    )
    assert any("tokens_after" in p for p in grown.structure)

    code = next(c for c in builtin_cases() if c.language == "python")
    assert metrics.code_parses(code.output, "python") is True
    cut = "\n".join(code.output.splitlines()[:-3]) + "\ndef broken(:\n"
    r = run_case(code, lambda m, s: Fake(_replace_output(m, cut)), memory_store)
    assert any("python code no longer parses" in p for p in r.structure)


def test_mutating_the_input_is_caught(memory_store: MemoryStore) -> None:
    def mutate(messages: list[dict[str, Any]], store: Any) -> Fake:
        messages[-1]["content"] = "x"
        return Fake(messages)

    assert any("mutated" in p for p in run_case(_log_case(), mutate, memory_store).structure)


def test_broken_case_is_refused(memory_store: MemoryStore) -> None:
    case = EvalCase("bad", "logs", "q", "a", "hello world " * 100, ("not there",))
    with pytest.raises(ValueError, match="not in any tool output"):
        run_case(case, lambda m, s: Fake(m), memory_store)


def test_cache_stability_catches_position_dependent_output(memory_store: MemoryStore) -> None:
    pool = builtin_cases()[::3]

    def last_only(messages: list[dict[str, Any]], store: Any) -> Fake:
        out = [dict(m) for m in messages]
        last = max(i for i, m in enumerate(out) if m.get("role") == "tool")
        out[last]["content"] = "\n".join(str(out[last]["content"]).splitlines()[:3])
        return Fake(out)

    unstable = cache_stability(last_only, memory_store, pool, turns=4)
    assert unstable.stable_turns == 0 and unstable.rate == 0.0 and unstable.first_change
    stable = cache_stability(lambda m, s: Fake(m), memory_store, pool, turns=4)
    assert stable.rate == 1.0


def test_engine_keeps_every_builtin_needle(memory_store: MemoryStore) -> None:
    fn = engine_compress()
    results = [run_case(c, fn, memory_store) for c in builtin_cases()]
    assert len(results) >= 30
    lost = [(r.name, n.needle) for r in results for n in r.needles if not n.retained]
    assert lost == []
    json_results = [r for r in results if r.kind == "json"]
    assert all(r.tokens_after < r.tokens_before for r in json_results)
    assert all(r.keys_checked >= 1 and not r.round_trip_failures for r in json_results)
