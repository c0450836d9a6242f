from __future__ import annotations

import pytest

from headroom.memory.inline import StreamStripper, extract

ANSWER = "Sure, Go it is.\n\nHere is the plan."
BLOCK = (
    '<memory>{"facts": [{"subject": "language", "fact": "prefers Go", "scope": "user"}]}</memory>'
)


def test_extract_strips_and_parses() -> None:
    text, facts = extract(f"{ANSWER}\n\n{BLOCK}")
    assert text == ANSWER
    assert [(f.subject, f.fact, f.scope) for f in facts] == [("language", "prefers Go", "user")]


def test_malformed_block_is_ignored_answer_kept() -> None:
    text, facts = extract(f"{ANSWER}\n<memory>{{not json</memory>")
    assert (text, facts) == (ANSWER, [])
    text, facts = extract(f'{ANSWER}<memory>{{"facts": 3}}')  # unclosed: left alone
    assert text == f'{ANSWER}<memory>{{"facts": 3}}' and facts == []
    text, facts = extract(ANSWER + '<memory>{"facts": [{"fact": "x", "scope": "galaxy"}]}</memory>')
    assert text == ANSWER and [(f.subject, f.scope) for f in facts] == [("x", "user")]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 11, 64])
def test_stream_stripper_matches_extract(size: int) -> None:
    for full in (
        f"{ANSWER}\n\n{BLOCK}",
        f"{ANSWER} a < b and <mem is not a tag\n",
        f"{ANSWER}\n\n{BLOCK}\nP.S. more text  ",
        f"{ANSWER}<memory>unclosed",
    ):
        s = StreamStripper()
        out = "".join(s.feed(full[i : i + size]) for i in range(0, len(full), size)) + s.finish()
        expected, facts = extract(full)
        assert out == expected
        assert s.facts == facts
