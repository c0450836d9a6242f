"""Message builders shared by the engine tests."""

from __future__ import annotations

import json
from typing import Any


def openai_turn(
    output: str, tool: str = "search_logs", question: str = "What failed?"
) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": tool, "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": output},
    ]


def anthropic_turn(
    output: Any, tool: str = "search_logs", question: str = "What failed?"
) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "toolu_1", "name": tool, "input": {"q": "x"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": output}],
        },
    ]


def records(n: int, **extra: Any) -> str:
    return json.dumps(
        [{"id": i, "status": "ok", "message": f"processed batch {i}", **extra} for i in range(n)],
        indent=2,
    )


def stop_process(proc: Any) -> None:
    """Terminate a child process the tests started, killing it if it lingers."""
    import subprocess

    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def in_threads(work: Any, n: int) -> list[BaseException]:
    """Run ``work(i)`` for i in range(n), each in its own thread; return what they raised."""
    import threading

    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # reported to the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


class DictStore:
    """A ``remember`` callable backed by a dict, for testing compressors directly."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        from headroom.store.base import key_for

        key = key_for(text)
        self.items[key] = text
        return key


def compressor_context(query: str | None = None, bias: float = 1.0, **options: Any):
    """A CompressorContext for calling one compressor directly; returns (ctx, store)."""
    from headroom.compressors.base import CompressorContext
    from headroom.config import HeadroomConfig
    from headroom.tokens import counter_for

    store = DictStore()
    ctx = CompressorContext(
        HeadroomConfig(**options), counter_for("gpt-4o"), store, query=query, bias=bias
    )
    return ctx, store


def verbatim_or_marker(original: str, output: str) -> list[str]:
    """Output lines that are neither lines of ``original`` nor marker lines."""
    from headroom.markers import is_text_marker

    known = set(original.split("\n"))
    return [line for line in output.split("\n") if line not in known and not is_text_marker(line)]
