"""Issue 12: inputs that stalled the engine, lost values or crashed it.

Each finding's input is kept here as quoted in the issue. Time-bound findings are
checked as a ratio within one run (the helper on 10x the input may take at most
~3x the linear share), never against an absolute time; the scaling module covers
every shape on every kind. The generator at the end builds message lists in the same
spirit and checks the engine's promises on each.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

import headroom
from headroom import cache_align, jsonutil, markers, relevance
from headroom.compressors import json_crusher
from headroom.engine import clear_memo
from headroom.markers import expand_tables
from headroom.store import MemoryStore
from tests.adversarial import KINDS, SHAPES, carry, shape


def _tool(content: str, question: str | None = None) -> list[dict[str, Any]]:
    return carry("text", content)[0] if question is None else KINDS["text"][0](content)


def _best(fn: Callable[[], Any], runs: int = 3) -> float:
    """The least CPU time of this thread over ``runs`` calls (load elsewhere and
    preemption don't count)."""
    best = float("inf")
    for _ in range(runs):
        start = time.thread_time()
        fn()
        best = min(best, time.thread_time() - start)
    return max(best, 1e-7)


def _linear(fn: Callable[[int], Any], small: int, factor: int = 10) -> float:
    """How much more than linearly ``fn(n)`` grows from ``small`` to ``factor``× that:
    about 1 for linear work, about ``factor`` for quadratic."""
    fn(small)
    t_small = _best(lambda: fn(small))
    t_large = _best(lambda: fn(small * factor))
    return t_large / t_small / factor


# --------------------------------------------------------------------------- high: stalls


def test_hex_run_in_a_json_item_is_linear():
    """The item-signature pattern backtracked over a long run of a-f ("AAAA…" base64)."""
    assert _linear(lambda n: json_crusher._signature("a" * n), 20_000) < 3.0
    assert json_crusher._signature('{"id":"ab12cd","x":"abcdef","n":42}') == (
        '{"id":"#","x":"abcdef","n":#}'
    )


def test_issue_json_item_with_a_long_run_compresses():
    content = json.dumps([{"id": i, "blob": "A" * 60000 if i == 0 else "x"} for i in range(100)])
    result = headroom.compress(
        [{"role": "tool", "tool_call_id": "c", "content": content}], store=MemoryStore()
    )
    assert result.tokens_after <= result.tokens_before


def test_blank_run_in_a_log_line_is_linear():
    """The marker-line pattern had two ``\\s*`` in a row: quadratic on a long blank line."""
    assert _linear(lambda n: markers.is_text_marker(" " * n + "done"), 20_000) < 3.0
    assert _linear(lambda n: markers.is_text_marker("... " + " " * n + "x[headroom:"), 20_000) < 3.0
    for line in ("[headroom: 3 lines]", "  # [headroom: x]", "... // [headroom: x]",
                 "...[headroom: x]", "/* [headroom: x] */", "\t...\t#\t[headroom: x]"):  # fmt: skip
        assert markers.is_text_marker(line), line
    for line in ("x [headroom: y]", "## [headroom: x]", "done", "....[headroom: x]"):
        assert not markers.is_text_marker(line), line


def test_issue_log_with_a_long_blank_last_line_compresses():
    log = "\n".join(f"2024-01-01 12:00:{i % 60:02d} INFO worker {i} ok" for i in range(400))
    text = log + "\n" + " " * 100_000 + "done"
    result = headroom.compress(_tool(text), store=MemoryStore())
    assert result.messages[-1]["content"].endswith("done") or result.outputs[-1].key


def test_request_id_labels_are_linear():
    """The request-id value lookahead rescanned the rest of "req-id:req-id:…" per label."""
    assert _linear(lambda n: cache_align.find_volatile("req-id:" * n), 2_000) < 3.0
    found = cache_align.find_volatile("X-Request-ID: abc123def and trace_id=7f3a9c")
    assert [t.text for t in found] == ["abc123def", "7f3a9c"]


def test_issue_long_system_prompt_compresses():
    messages = [{"role": "system", "content": "req-id:" * 15000}, {"role": "user", "content": "hi"}]
    result = headroom.compress(messages)
    assert result.messages == messages


def test_cache_align_on_a_long_dotted_prompt_is_linear():
    def align(n: int) -> None:
        cache_align._volatile_cached.cache_clear()
        cache_align.align_messages(
            [{"role": "system", "content": "a." * n}, {"role": "user", "content": "hi"}],
            move_dates=True,
        )

    assert _linear(align, 20_000) < 3.0


def test_sentence_search_keeps_its_answers():
    prompt = "Be brief. Today is Tuesday, January 7, 2025."
    messages = [{"role": "system", "content": prompt}, {"role": "user", "content": "hello " * 40}]
    aligned = cache_align.align_messages(messages, move_dates=True)
    assert aligned.moved == "Today is Tuesday, January 7, 2025."
    # A long run of blanks before the date sentence still finds it.
    spaced = "Be brief." + " " * 5000 + "Today is Tuesday, January 7, 2025."
    moved = cache_align.align_messages(
        [{"role": "system", "content": spaced}, {"role": "user", "content": "hi"}],
        move_dates=True,
    )
    assert moved.moved == "Today is Tuesday, January 7, 2025."


# --------------------------------------------------------------------------- medium


def test_query_terms_are_bounded_and_counted_in_one_pass():
    question = " ".join(f"word{i} thing{i * 3}x" for i in range(3000))  # a pasted 60 KB question
    assert len(relevance.query_terms(question)) == relevance.MAX_QUERY_TERMS
    assert len(relevance.identifiers(question)) == relevance.MAX_QUERY_TERMS
    # The question's last words (where a question usually is) still count.
    assert "thing8997x" in relevance.query_terms(question)

    docs = [f"src/f{i}.py:{i}: value_{i} = run({i}) word{i}" for i in range(2000)]

    def score(n: int) -> None:
        relevance.rank(docs * (n // 2000), question, 10)

    assert _linear(score, 2000, factor=8) < 3.0
    counts = relevance.term_counts(["a b-c b c.d c", "b"], ["b", "c", "b-c"])
    assert counts == {0: {"b": 1, "c": 1, "b-c": 1}, 1: {"b": 1}}  # "c.d" is one word


def test_deeply_nested_json_lines_do_not_raise():
    text = ("[" * 5000 + "]" * 5000 + "\n") * 2
    result = headroom.compress(_tool(text), min_tokens_to_compress=0, store=MemoryStore())
    assert result.messages[-1]["content"] in (text, result.messages[-1]["content"])
    assert jsonutil.looks_like_json(text)
    with pytest.raises(ValueError):
        jsonutil.loads("[" * 100_000 + "]" * 100_000)


def test_duplicate_keys_are_never_called_lossless():
    records = ",".join(
        f'{{"id": {i}, "amount": 1, "amount": -1, "note": "n{i}"}}' for i in range(12)
    )
    text = "[" + records + "]"
    store = MemoryStore()
    result = headroom.compress(_tool(text), min_tokens_to_compress=0, store=store)
    out = result.messages[-1]["content"]
    report = result.outputs[-1]
    if report.transform is not None and report.key is None:
        # Lossless: both values of every duplicate are still there, in order.
        assert out.count('"amount":1,"amount":-1') == 12
    elif report.transform is not None:
        assert store.get(report.key) == text
    with pytest.raises(jsonutil.DuplicateKeyError):
        jsonutil.loads_strict('{"a": 1, "a": 2}')


def test_negative_zero_is_written_back_as_written():
    text = "[" + ",".join(f'{{"id": {i}, "value": -0, "x": -0.0}}' for i in range(30)) + "]"
    result = headroom.compress(_tool(text), min_tokens_to_compress=0, store=MemoryStore())
    out = result.messages[-1]["content"]
    assert '"value":0' not in out and '"value":-0' in out
    assert jsonutil.dumps(jsonutil.loads('{"a": -0, "b": [-0, 0, 10]}')) == '{"a":-0,"b":[-0,0,10]}'


# --------------------------------------------------------------------------- low


def _with_args(arguments: Any) -> list[dict[str, Any]]:
    call = {"id": "c", "type": "function", "function": {"name": "t", "arguments": arguments}}
    return [
        {"role": "user", "content": "go"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c", "content": "done"},
    ]


def test_circular_and_deep_tool_call_arguments():
    circular: dict[str, Any] = {"a": [1, 2]}
    circular["self"] = circular
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(10_000):
        node["k"] = {}
        node = node["k"]
    for args in (circular, deep, [deep, circular]):
        result = headroom.compress(_with_args(args))
        assert result.tokens_before == result.tokens_after > 0
        assert result.messages[1]["tool_calls"][0]["function"]["arguments"] is args


@pytest.mark.parametrize("ending", ["", "\r\n"])
@pytest.mark.parametrize("kind", ["log", "search"])
def test_crlf_output_gains_no_carriage_return(kind: str, ending: str):
    if kind == "log":
        lines = [
            f"2024-01-01 12:00:{i % 60:02d} INFO worker {i} processed job {i * 7}"
            for i in range(300)
        ]
        lines += ["ERROR boom", "done"]
    else:
        lines = [f"src/mod{i % 30}/file{i}.py:{i + 1}:    value_{i} = run({i})" for i in range(300)]
    text = "\r\n".join(lines) + ending
    result = headroom.compress(_tool(text), store=MemoryStore())
    out = result.messages[-1]["content"]
    assert result.outputs[-1].transform is not None
    assert "\r\r" not in out
    assert out.endswith("\r") == text.endswith("\r")
    # Every line ends in CR except the input's own last line, which is kept verbatim
    # (without a CR) wherever it stands: adding one would alter an input line.
    last = text.split("\n")[-1]
    assert all(line.endswith("\r") or line == last for line in out.split("\n")[:-1])
    assert sum(line == last for line in out.split("\n")) <= 1 + lines.count(last)


def test_cache_align_never_makes_a_request_larger():
    rng = random.Random(12)
    for _ in range(30):
        head = " ".join(rng.choice(["Be brief.", "You help.", "Answer in English.", "Hi."])
                        for _ in range(rng.randint(1, 4)))  # fmt: skip
        date = rng.choice(["Today is January 7, 2025.", "The current date is 2025-01-07.",
                           "It is now 10:45 UTC."])  # fmt: skip
        user = rng.choice(["hi", "Why did the build fail?", [{"type": "text", "text": "hey"}]])
        messages = [
            {"role": "system", "content": f"{head} {date}"},
            {"role": "user", "content": user},
        ]
        result = headroom.compress(messages, cache_align=True)
        assert result.tokens_after <= result.tokens_before, messages


def test_work_budget_passes_large_outputs_through_with_the_reason():
    output = "\n".join(f"2024-01-01 12:00:00 INFO job {i} done" for i in range(2000))
    messages = _tool(output, question="why did job 7 fail")
    full = headroom.compress(messages, store=MemoryStore())
    assert full.outputs[-1].transform is not None
    limited = headroom.compress(messages, store=MemoryStore(), max_work=len(output) * 4)
    report = limited.outputs[-1]
    assert report.transform is None and "work budget" in (report.skipped or "")
    assert limited.messages == messages
    # Deterministic: the budget counts characters and passes, never time.
    again = headroom.compress(messages, store=MemoryStore(), max_work=len(output) * 4)
    assert again.outputs[-1].skipped == report.skipped


# --------------------------------------------------------------------------- generator


def _adversarial_messages(rng: random.Random) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """One message list: an adversarial shape (2–6 KB) carried to a random kind, with
    sometimes a second shape as the question and an odd tool-call argument."""
    body = shape(rng.choice(list(SHAPES)), rng.randint(2000, 6000))
    if rng.random() < 0.3:  # mix two shapes
        body += "\n" + shape(rng.choice(list(SHAPES)), rng.randint(100, 2000))
    kind = rng.choice(list(KINDS))
    messages, options = carry(kind, body)
    if rng.random() < 0.3:
        messages.insert(0, {"role": "user", "content": shape(rng.choice(list(SHAPES)), 3000)})
    if rng.random() < 0.2:
        messages.insert(0, {"role": "system", "content": body[:4000]})
    if rng.random() < 0.5:
        messages = [
            {**m, "content": m["content"].replace("\n", "\r\n")} if m.get("role") == "tool" else m
            for m in messages
        ]
    options["min_tokens_to_compress"] = rng.choice([0, 50, 250])
    return messages, options


@pytest.mark.parametrize("seed", range(40))
def test_generated_adversarial_inputs_keep_every_promise(seed: int):
    rng = random.Random(seed)
    messages, options = _adversarial_messages(rng)
    snapshot = json.dumps(messages)
    store = MemoryStore()
    first = headroom.compress(messages, store=store, **options)
    assert json.dumps(messages) == snapshot  # input untouched
    assert first.tokens_after <= first.tokens_before  # never larger
    clear_memo()
    second = headroom.compress(messages, store=store, **options)
    assert second.messages == first.messages  # deterministic, memo or not
    for before, after in zip(messages, first.messages, strict=True):
        if before.get("role") in ("user", "system"):
            assert after == before  # user and system messages untouched
    for key in first.retrieval_keys:
        original = store.get(key)
        assert original is not None
        assert any(original == m.get("content") for m in messages)  # byte-exact
    for m in first.messages:
        content = m.get("content")
        if isinstance(content, str) and content.startswith(("[", "{")):
            try:
                parsed = json.loads(content)
            except (ValueError, RecursionError):
                continue
            expand_tables(parsed)  # every table we wrote expands again
