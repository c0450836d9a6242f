import copy
import itertools
import json

import pytest

from headroom.cache_align import (
    Alignment,
    PrefixStability,
    PrefixTracker,
    VolatileToken,
    align_messages,
    find_volatile,
    request_prefix,
)
from tests.helpers import in_threads

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
    ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
)
UUID = "3f2a9c1d-0e4b-4a6f-9b2c-1d2e3f4a5b6c"


def spans(text):
    return [(t.kind, t.text, t.start, t.end) for t in find_volatile(text)]


def only(text, value):
    """The single token found in ``text``, checked to sit exactly where ``value`` is."""
    found = find_volatile(text)
    assert len(found) == 1, found
    token = found[0]
    start = text.index(value)
    assert (token.text, token.start, token.end) == (value, start, start + len(value))
    assert text[token.start : token.end] == token.text
    return token.kind


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        (f"session {UUID} opened", UUID, "uuid"),
        (f"SESSION {UUID.upper()}", UUID.upper(), "uuid"),
        ("Current date: 2025-01-07.", "2025-01-07", "iso_date"),
        ("built at 2025-01-07T14:03:22Z by ci", "2025-01-07T14:03:22Z", "iso_date"),
        ("at 2025-01-07T14:03:22.123+05:30.", "2025-01-07T14:03:22.123+05:30", "iso_date"),
        ("log 2025-01-07 14:03:22 done", "2025-01-07 14:03:22", "iso_date"),
        ("see report-2025-01-07.pdf", "2025-01-07", "iso_date"),
        ("Today is January 7, 2025.", "January 7, 2025", "human_date"),
        ("Issued 7 Jan 2025 in Berlin", "7 Jan 2025", "human_date"),
        ("Date: Tue, 07 Jan 2025", "Tue, 07 Jan 2025", "human_date"),
        ("It is Tuesday, January 7, 2025 here", "Tuesday, January 7, 2025", "human_date"),
        ("due Jan. 7th, 2025!", "Jan. 7th, 2025", "human_date"),
        ("The current time is 14:03:22.", "14:03:22", "time"),
        ("Meet at 3:45 PM sharp", "3:45 PM", "time"),
        ("The current time is 14:03 UTC.", "14:03 UTC", "time"),
        (f"Authorization: Bearer {JWT}", JWT, "jwt"),
        ("md5 d41d8cd98f00b204e9800998ecf8427e ok", "d41d8cd98f00b204e9800998ecf8427e", "hex_hash"),
        (
            "commit da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "hex_hash",
        ),
        ("sha256 " + "ab" * 32, "ab" * 32, "hex_hash"),
        ("nonce 9f86d081884c7d65 used", "9f86d081884c7d65", "hex_hash"),
        ("Stripe req_8f3a9c1d2e4b failed", "req_8f3a9c1d2e4b", "request_id"),
        ("request-id: 7c1e2f30a9b8.", "7c1e2f30a9b8", "request_id"),
        (f"X-Request-ID {UUID}", UUID, "request_id"),
        (
            "trace_id=4bf92f3577b34da6a3ce929d0e0e4736",
            "4bf92f3577b34da6a3ce929d0e0e4736",
            "request_id",
        ),
    ],
)
def test_each_kind_is_found_at_its_offsets(text, value, kind):
    assert only(text, value) == kind


def test_several_tokens_are_ordered_and_never_overlap():
    text = f"{JWT} at 2025-01-07T14:03:22Z for {UUID}, req_ab12cd34ef and 3:45 PM on 7 Jan 2025"
    found = find_volatile(text)
    assert [t.kind for t in found] == [
        "jwt",
        "iso_date",
        "uuid",
        "request_id",
        "time",
        "human_date",
    ]
    for a, b in itertools.pairwise(found):
        assert a.end <= b.start
    # The ISO date-time wins over the clock time inside it; the JWT over its hex runs.
    assert all(t.kind != "time" or t.text == "3:45 PM" for t in found)


@pytest.mark.parametrize(
    "text",
    [
        "You are a helpful assistant. Answer briefly and cite your sources.",
        "Requires Python 3.10 or newer; tested on version 1.2.3 and 2.0.0-rc1.",
        "We served 12345 users and 1234567890123456 requests in 2025.",
        "The aspect ratio is 16:9 and John 3:16 is a verse.",
        "Listen on port 8080 at 192.168.0.1 or ::1.",
        "May I help you? March forward on Sunday with the deadline.",
        "The request id field is required; see the request-handler docs.",
        "A decaf facade was accessed; the deadbeef cafe is closed.",
        "Use sha256 and UTF-8; see RFC 2616 and ISO 8601.",
        "Call 555-1234 or 10-20-30; build v2024.1 shipped.",
        "abcdefabcdefabcd is just letters; 0123456789012345 is just digits.",
        "",
    ],
)
def test_ordinary_text_has_no_volatile_tokens(text):
    assert find_volatile(text) == []


def test_odd_input_to_find_volatile():
    assert find_volatile(None) == []  # type: ignore[arg-type]
    assert find_volatile(5) == []  # type: ignore[arg-type]


def system(text):
    return {"role": "system", "content": text}


def test_warnings_name_the_kind_message_offset_and_text():
    prompt = "You are helpful. Current date: 2025-01-07."
    messages = [system(prompt), {"role": "user", "content": "hi 2025-01-07"}]
    result = align_messages(messages)
    assert isinstance(result, Alignment)
    offset = prompt.index("2025-01-07")
    assert result.warnings == [
        f'system prompt (message 0) has a volatile iso_date "2025-01-07" at offset {offset}: '
        "it changes the prompt prefix on every call and defeats prompt caching"
    ]  # only system prompts are scanned


def test_warnings_cover_developer_messages_and_text_parts_and_shorten_long_tokens():
    messages = [
        {"role": "user", "content": "hello"},
        {
            "role": "developer",
            "content": [
                {"type": "text", "text": "Rules."},
                {"type": "text", "text": f"token {JWT}"},
            ],
        },
    ]
    (warning,) = align_messages(messages).warnings
    assert "(message 1, part 1)" in warning and "volatile jwt" in warning
    assert "at offset 6:" in warning
    assert JWT not in warning and JWT[:20] in warning and "…" in warning


def test_default_leaves_messages_identical():
    messages = [
        system("You are helpful. Today is January 7, 2025."),
        {"role": "user", "content": "hi"},
    ]
    snapshot = copy.deepcopy(messages)
    result = align_messages(messages)
    assert result.messages is messages and messages == snapshot
    assert result.moved is None and len(result.warnings) == 1


def conversation(date, user_content):
    return [
        system(f"You are helpful. Today is {date}."),
        {"role": "user", "content": user_content},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second question"},
    ]


@pytest.mark.parametrize(
    ("user_content", "expected"),
    [
        ("What day is it?", "What day is it?\n\nToday is {date}."),
        (
            [{"type": "text", "text": "What day is it?"}],
            [
                {"type": "text", "text": "What day is it?"},
                {"type": "text", "text": "Today is {date}."},
            ],
        ),
    ],
)
def test_move_dates_keeps_the_system_prompt_byte_identical(user_content, expected):
    outputs = []
    for date in ("January 7, 2025", "January 8, 2025"):
        messages = conversation(date, user_content)
        snapshot = copy.deepcopy(messages)
        result = align_messages(messages, move_dates=True)
        assert messages == snapshot  # never mutated
        assert result.moved == f"Today is {date}."
        assert result.warnings == []
        want = json.loads(json.dumps(expected).replace("{date}", date))
        # The date goes to the first user message, which every later turn resends as is.
        assert result.messages[1]["content"] == want
        assert result.messages[2:] == messages[2:]
        outputs.append(result.messages)
    first, second = outputs
    assert first[0] == second[0] == system("You are helpful.")
    assert request_prefix(first[:1]) == request_prefix(second[:1])
    # Within a day, a later turn repeats the earlier request's messages byte for byte.
    later = align_messages([*conversation("January 8, 2025", user_content), *[
        {"role": "assistant", "content": "second answer"}, {"role": "user", "content": "third"},
    ]], move_dates=True)  # fmt: skip
    assert later.messages[:4] == second


def test_move_dates_anthropic_skips_tool_result_carriers():
    messages = [
        system("Be terse.\nCurrent date: 2025-01-07."),
        {"role": "user", "content": [{"type": "text", "text": "Look it up"}]},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "found"}],
        },
    ]
    result = align_messages(messages, move_dates=True)
    assert result.moved == "Current date: 2025-01-07."
    assert result.messages[0]["content"] == "Be terse."
    assert result.messages[1]["content"] == [
        {"type": "text", "text": "Look it up"},
        {"type": "text", "text": "Current date: 2025-01-07."},
    ]
    assert result.messages[3] is messages[3]


def test_move_dates_from_a_text_part_keeps_its_other_fields():
    part = {"type": "text", "text": "Be terse. The current time is 14:03 UTC.", "cache": 1}
    messages = [{"role": "system", "content": [part]}, {"role": "user", "content": "time?"}]
    result = align_messages(messages, move_dates=True)
    assert result.messages[0]["content"] == [{"type": "text", "text": "Be terse.", "cache": 1}]
    assert result.messages[1]["content"] == "time?\n\nThe current time is 14:03 UTC."
    assert part["text"].endswith("UTC.")


@pytest.mark.parametrize(
    "prompt",
    [
        "Today is January 7, 2025. You are helpful.",  # not at the end
        "You are helpful. Our company was founded on January 7, 2005.",  # not the current date
        "Today is January 7, 2025.",  # nothing would be left of the prompt
        "You are helpful. Today is a good day.",  # no date at all
    ],
)
def test_only_a_trailing_current_date_sentence_moves(prompt):
    messages = [system(prompt), {"role": "user", "content": "hi"}]
    result = align_messages(messages, move_dates=True)
    assert result.moved is None
    assert result.messages == messages


def test_move_dates_without_a_user_message_changes_nothing():
    messages = [
        system("You are helpful. Today is January 7, 2025."),
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "x", "content": "y"}]},
    ]
    result = align_messages(messages, move_dates=True)
    assert result.moved is None and result.messages == messages
    assert len(result.warnings) == 1


def test_align_odd_input_passes_through():
    weird = [None, 5, "text", {"role": "system"}, {"role": "system", "content": None}, {}]
    assert align_messages(weird, move_dates=True).messages == weird
    assert align_messages(weird).warnings == []


def test_prefix_tracker_figures():
    tracker = PrefixTracker()
    turn1 = [system("You are helpful."), {"role": "user", "content": "hi"}]
    p1 = request_prefix(turn1)
    first = tracker.observe("conv", p1)
    assert first == PrefixStability(0, 0, len(p1)) and first.ratio == 0.0

    same = tracker.observe("conv", p1)
    assert same.stable_bytes == same.previous_bytes == same.total_bytes == len(p1)
    assert same.ratio == 1.0

    turn2 = [*turn1, {"role": "assistant", "content": "hello"}, {"role": "user", "content": "more"}]
    p2 = request_prefix(turn2)
    grown = tracker.observe("conv", p2)
    assert p2.startswith(p1[:-1])  # only the closing bracket differs
    assert grown.stable_bytes == len(p1) - 1 and grown.total_bytes == len(p2)
    assert 0.9 < grown.ratio < 1.0

    changed = [system("You are terse."), *turn2[1:]]
    p3 = request_prefix(changed)
    hit = tracker.observe("conv", p3)
    assert hit.stable_bytes == p2.index(b"helpful") and hit.previous_bytes == len(p2)
    assert hit.ratio < 0.5

    other = tracker.observe("other scope", p3)
    assert other.previous_bytes == 0  # scopes are separate


def test_prefix_tracker_is_bounded():
    tracker = PrefixTracker(max_scopes=3, max_bytes=100)
    for i in range(10):
        tracker.observe(f"s{i}", b"x" * 10)
    assert len(tracker) == 3
    assert tracker.observe("s0", b"x" * 10).previous_bytes == 0  # evicted
    assert tracker.observe("s9", b"x" * 10).previous_bytes == 10
    tracker.observe("big", b"y" * 60)
    tracker.observe("big2", b"z" * 60)  # over max_bytes: the older scopes go
    assert tracker.observe("big", b"y").previous_bytes == 0
    tracker.forget("big2")
    assert tracker.observe("big2", b"z").previous_bytes == 0
    assert tracker.observe("text", "héllo").total_bytes == 6  # str is measured as UTF-8
    assert tracker.observe("text", None).previous_bytes == 6  # type: ignore[arg-type]


def test_prefix_tracker_long_common_prefix_is_exact():
    tracker = PrefixTracker()
    base = bytes(range(256)) * 100
    tracker.observe("s", base)
    for cut in (0, 1, 4095, 4096, 4097, 20000, len(base) - 1):
        changed = base[:cut] + bytes([(base[cut] + 1) % 256]) + base[cut + 1 :]
        tracker.observe("s", base)
        assert tracker.observe("s", changed).stable_bytes == cut


def test_prefix_tracker_is_thread_safe():
    tracker = PrefixTracker(max_scopes=8)
    payload = b"a" * 5000
    results = []

    def work(i):
        for j in range(200):
            stability = tracker.observe(f"scope{(i + j) % 12}", payload)
            results.append(stability)
            assert stability.stable_bytes in (0, len(payload))

    assert in_threads(work, 8) == []
    assert len(results) == 8 * 200 and len(tracker) <= 8
    assert any(r.ratio == 1.0 for r in results)


def test_request_prefix_is_canonical_and_never_raises():
    a = [{"role": "user", "content": "héllo", "name": "x"}]
    b = [{"name": "x", "content": "héllo", "role": "user"}]
    assert request_prefix(a) == request_prefix(b)
    assert request_prefix(a) == '[{"content":"héllo","name":"x","role":"user"}]'.encode()
    odd = [None, 5, {1: b"raw", "k": (1, 2)}, {"s": "lone \udc80"}, object()]
    assert isinstance(request_prefix(odd), bytes)
    assert request_prefix(odd[:4]) == request_prefix(copy.deepcopy(odd[:4]))


def test_volatile_token_is_frozen():
    token = VolatileToken("uuid", UUID, 0, len(UUID))
    with pytest.raises(AttributeError):
        token.kind = "x"  # type: ignore[misc]
