"""Needle in a haystack: 100 service log lines, one FATAL entry at position 67.

Offline it prints the token counts before and after compression and shows that the
FATAL entry is still there (inline, or one headroom_retrieve call away). With
ANTHROPIC_API_KEY or OPENAI_API_KEY set it also asks a model
"What caused the outage? What's the error code? What's the fix?" with the original
and with the compressed logs, and prints both answers.

    python examples/needle_in_haystack_test.py
"""

from __future__ import annotations

import json
import sys

from headroom import MemoryStore, compress, retrieve
from headroom.evals import llm
from headroom.evals.cases import needle_log_lines
from headroom.markers import keys_in

QUESTION = "What caused the outage? What's the error code? What's the fix?"


def main() -> int:
    lines = needle_log_lines(100, 67)
    fatal = lines[67]
    # The tool returns structured log records, as most log APIs do.
    records = [{"seq": i, "line": line} for i, line in enumerate(lines)]
    output = json.dumps(records, indent=2)
    messages = [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_logs",
                    "type": "function",
                    "function": {"name": "read_logs", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_logs", "content": output},
    ]
    store = MemoryStore()
    result = compress(messages, model="gpt-4o", store=store)
    compressed = result.messages[-1]["content"]
    print(f"tokens before: {result.tokens_before}")
    print(f"tokens after:  {result.tokens_after}  ({100 * result.compression_ratio:.0f}% saved)")
    plain = compress(
        [*messages[:2], {**messages[2], "content": "\n".join(lines)}], model="gpt-4o", store=store
    )
    print(
        f"(the same logs as plain text lines: {plain.tokens_before} -> {plain.tokens_after} tokens;"
        " text logs pass through until a log compressor lands)"
    )
    inline = fatal in compressed
    retrievable = any(fatal in retrieve(k, store=store).content for k in keys_in(compressed))
    print(f"FATAL entry at position 67 kept inline: {inline}; retrievable: {inline or retrievable}")
    print(f"  {fatal}")
    if not (inline or retrievable):
        print("the FATAL entry was lost", file=sys.stderr)
        return 1

    chosen = llm.provider()
    if chosen is None:
        print(llm.NO_KEY)
        return 0
    ask = llm.make_ask(*chosen)
    original_answer = ask(llm.prompt(output, QUESTION))
    compressed_answer = ask(llm.prompt(compressed, QUESTION))
    print(f"\n{chosen[0]} {chosen[1]}")
    print(f"original context:   {original_answer}")
    print(f"compressed context: {compressed_answer}")
    for name, answer in (("original", original_answer), ("compressed", compressed_answer)):
        print(f"{name}: mentions E_POOL_EXHAUSTED: {'E_POOL_EXHAUSTED' in answer}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
