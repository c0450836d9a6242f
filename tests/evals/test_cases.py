from __future__ import annotations

from headroom.evals.cases import KINDS, builtin_cases, builtin_variants


def test_builtin_cases_are_deterministic_and_cover_every_kind() -> None:
    a, b = builtin_cases(0), builtin_cases(0)
    assert [c.output for c in a] == [c.output for c in b]
    assert len(a) >= 30
    assert {c.kind for c in a} == set(KINDS)
    assert len({c.name for c in a}) == len(a)
    assert builtin_cases(1)[0].output != a[0].output


def test_every_needle_is_in_its_output() -> None:
    for case in builtin_cases(0) + builtin_variants(80, seed=3):
        assert case.needles and case.question
        assert case.missing_needles() == [], case.name


def test_messages_are_a_paired_tool_turn() -> None:
    msgs = builtin_cases()[0].messages()
    call_id = msgs[2]["tool_calls"][0]["id"]
    assert msgs[3] == {
        "role": "tool",
        "tool_call_id": call_id,
        "content": builtin_cases()[0].output,
    }
