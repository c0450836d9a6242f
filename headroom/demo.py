"""``headroom demo``: compress a bundled agent transcript and show, per tool output,
what it cost before and after, that the buried error survived, and that
``headroom_retrieve`` gives the original back byte-exact."""

from __future__ import annotations

import json
import time

from .engine import compress
from .retrieval import answer_tool_call
from .samples import FATAL_CODE, FATAL_MESSAGE, demo_transcript
from .store import MemoryStore


def run_demo(model: str = "gpt-4o") -> int:
    messages = demo_transcript()
    store = MemoryStore()  # the demo leaves nothing behind on disk
    started = time.perf_counter()
    result = compress(messages, model=model, store=store)
    first_ms = (time.perf_counter() - started) * 1000
    # The next turn of the chat sends the same messages again: served from the memo.
    warm = compress(messages, model=model, store=store)
    exact = "exact" if result.tokens_exact else f"approximate, {result.encoding} stand-in"
    print(
        f"Headroom demo: one agent turn, {len(messages)} messages, model {model} ({exact} counts)"
    )
    print(f"Question: {messages[1]['content']}\n")
    header = f"{'msg':>3}  {'tool':<12} {'before':>7} {'after':>7} {'saved':>6}  transform"
    print(header)
    print("-" * len(header))
    failures = 0
    for report in result.outputs:
        original = messages[report.message_index]["content"]
        compressed = result.messages[report.message_index]["content"]
        saved = report.tokens_saved / report.tokens_before if report.tokens_before else 0.0
        transform = report.transform or f"kept as is ({report.skipped})"
        print(
            f"{report.message_index:>3}  {report.tool_name or '-':<12} {report.tokens_before:>7} "
            f"{report.tokens_after:>7} {saved:>6.1%}  {transform}"
        )
        if FATAL_MESSAGE in original:
            survived = FATAL_MESSAGE in compressed and FATAL_CODE in compressed
            failures += not survived
            print(
                f"     buried FATAL entry ({FATAL_CODE}) survived inline: {'yes' if survived else 'NO'}"
            )
        if report.key:
            answer = answer_tool_call(json.dumps({"key": report.key}), store=store)
            exact_back = not answer.is_error and answer.content == original
            failures += not exact_back
            print(
                f"     headroom_retrieve(key={report.key!r}) returns the original byte-exact: "
                f"{'yes' if exact_back else 'NO'}"
            )
        elif report.compressor == "passthrough":
            print("     plain text: no compressor for this kind yet, sent unchanged")
    print("-" * len(header))
    print(
        f"total: {result.tokens_before} -> {result.tokens_after} tokens, saved "
        f"{result.tokens_saved} ({result.compression_ratio:.1%})"
    )
    print(
        f"time: first call {first_ms:.1f} ms (includes loading the tokenizer once per "
        f"process), the same turn again {warm.duration_ms:.2f} ms"
    )
    return 1 if failures else 0
