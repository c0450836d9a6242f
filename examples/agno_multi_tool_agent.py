"""An Agno agent with four tools investigating a memory leak, with Headroom in the loop.

Offline (the default) a scripted model plays the provider: it calls all four tools in
one turn, reads what it was sent, and writes its findings. With OPENAI_API_KEY (or
ANTHROPIC_API_KEY) set, the same agent runs against the real provider instead
(needs ``pip install openai`` or ``pip install anthropic``).

Either way it prints the tokens the model was sent with Headroom and what it would have
been sent without it.

    python examples/agno_multi_tool_agent.py
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("AGNO_TELEMETRY", "false")  # this example sends nothing anywhere

from agno.agent import Agent
from agno.models.base import Model
from agno.models.message import Message
from agno.models.response import ModelResponse

from headroom import MemoryStore
from headroom.integrations.agno import HeadroomAgnoModel

TASK = "Investigate the memory leak in session-api and recommend a fix"


# --------------------------------------------------------------------------- the tools


def search_github_issues(query: str) -> str:
    """Search the session-api repository's issues."""
    issues = [
        {
            "number": 4100 + i,
            "title": f"Flaky test in module {i % 9}",
            "state": "closed",
            "labels": ["test"],
            "comments": i % 5,
        }
        for i in range(70)
    ]
    issues[52] = {
        "number": 4152,
        "title": "Memory grows without bound after 0.9.3 (SessionCache never evicts)",
        "state": "open",
        "labels": ["bug", "memory", "error"],
        "comments": 31,
    }
    return json.dumps(issues)


def query_db(sql: str) -> str:
    """Run a read-only SQL query against the metrics database."""
    rows = [
        {
            "hour": f"2024-05-01T{h:02d}:00Z",
            "service": "session-api",
            "rss_mb": 900 + 140 * h,
            "sessions": 1200 + 5 * h,
        }
        for h in range(24)
    ]
    rows += [
        {
            "hour": f"2024-05-01T{h:02d}:00Z",
            "service": "billing",
            "rss_mb": 410 + (h % 3),
            "sessions": 80,
        }
        for h in range(24)
    ]
    return json.dumps(rows)


def fetch_service_logs(service: str) -> str:
    """Fetch the last 100 log records of a service."""
    records = [
        {
            "ts": f"2024-05-01T12:{i // 60:02d}:{i % 60:02d}Z",
            "level": "INFO",
            "service": service,
            "message": f"GET /v1/sessions/{1000 + i} 200 in {20 + (i * 37) % 90} ms",
            "heap_mb": 512 + 9 * i,
        }
        for i in range(100)
    ]
    records[67]["level"] = "FATAL"
    records[67]["message"] = (
        "OutOfMemoryError: Java heap space at SessionCache.put (cache size 9.8M entries)"
    )
    return json.dumps(records, indent=1)


def heap_histogram(service: str) -> str:
    """Class histogram from the service's latest heap dump."""
    rows = [
        {"class": f"com.acme.session.Obj{i}", "instances": 120 + i, "retained_kb": 8 * i}
        for i in range(80)
    ]
    rows[41] = {
        "class": "com.acme.session.SessionCache$Entry",
        "instances": 9_800_000,
        "retained_kb": 7_340_032,
    }
    return json.dumps(rows)


TOOLS = [search_github_issues, query_db, fetch_service_logs, heap_histogram]


# --------------------------------------------------------------------------- offline provider


@dataclass
class ScriptedInvestigator(Model):
    """Plays the provider offline: calls the four tools, then reports what it was sent."""

    id: str = "gpt-4o"
    name: str = "ScriptedInvestigator"
    provider: str = "offline script"

    def _reply(self, messages: list[Message]) -> ModelResponse:
        results = [m for m in messages if m.role == "tool"]
        if not results:
            calls = [
                ("search_github_issues", {"query": "memory leak"}),
                ("query_db", {"sql": "SELECT hour, service, rss_mb FROM usage"}),
                ("fetch_service_logs", {"service": "session-api"}),
                ("heap_histogram", {"service": "session-api"}),
            ]
            return ModelResponse(
                role="assistant",
                tool_calls=[
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": n, "arguments": json.dumps(a)},
                    }
                    for i, (n, a) in enumerate(calls)
                ],
            )
        seen = "\n".join(str(m.content) for m in results)
        findings = [
            text
            for needle, text in [
                ("OutOfMemoryError", "the logs show an OutOfMemoryError in SessionCache.put"),
                (
                    "SessionCache$Entry",
                    "the heap is dominated by SessionCache$Entry (9.8M instances)",
                ),
                ("#4152", "issue #4152 reports the cache never evicts"),
                ("4152", "issue #4152 reports the cache never evicts"),
            ]
            if needle in seen
        ]
        findings = list(dict.fromkeys(findings))
        answer = (
            "Findings: "
            + "; ".join(findings)
            + ". Fix: bound SessionCache (LRU with max size and TTL)."
        )
        return ModelResponse(role="assistant", content=answer)

    def invoke(self, *args: Any, **kwargs: Any) -> ModelResponse:
        return self._reply(kwargs["messages"])

    async def ainvoke(self, *args: Any, **kwargs: Any) -> ModelResponse:
        return self._reply(kwargs["messages"])

    def invoke_stream(self, *args: Any, **kwargs: Any) -> Iterator[ModelResponse]:
        yield self._reply(kwargs["messages"])

    async def ainvoke_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ModelResponse]:  # type: ignore[override]
        yield self._reply(kwargs["messages"])

    def _parse_provider_response(self, response: Any, **kwargs: Any) -> ModelResponse:
        return response  # type: ignore[no-any-return]

    def _parse_provider_response_delta(self, response: Any) -> ModelResponse:
        return response  # type: ignore[no-any-return]


def pick_model() -> Model:
    if os.environ.get("OPENAI_API_KEY"):
        from agno.models.openai import OpenAIChat

        return OpenAIChat(id=os.environ.get("HEADROOM_EXAMPLE_MODEL", "gpt-4o"))
    if os.environ.get("ANTHROPIC_API_KEY"):
        from agno.models.anthropic import Claude

        return Claude(id=os.environ.get("HEADROOM_EXAMPLE_MODEL", "claude-sonnet-4-5"))
    return ScriptedInvestigator()


def main() -> int:
    inner = pick_model()
    model = HeadroomAgnoModel(inner, store=MemoryStore())
    agent = Agent(model=model, tools=TOOLS, instructions=["Use every tool before concluding."])
    output = agent.run(TASK)

    summary = model.get_savings_summary()
    label = "" if summary["tokens_exact"] else " (approximate)"
    print(f"model: {inner.id} via {inner.get_provider()}")
    print(f"tools run: {', '.join(t.tool_name or '?' for t in output.tools or [])}")
    print(f"answer: {output.content}")
    print()
    print(f"provider calls:           {summary['calls']}")
    print(f"tokens without Headroom:  {summary['tokens_without_headroom']:,}{label}")
    print(f"tokens with Headroom:     {summary['tokens_sent']:,}{label}")
    print(
        f"tokens saved:             {model.total_tokens_saved:,} ({summary['compression_ratio']:.1%})"
    )
    print(f"retrievals answered:      {summary['retrievals_answered']}")

    stored = {m.tool_name: m.content for m in output.messages or [] if m.role == "tool"}
    intact = stored.get("fetch_service_logs") == fetch_service_logs("session-api")
    print(f"agent history keeps the original tool output: {intact}")
    ok = model.total_tokens_saved > 0 and intact and "OutOfMemoryError" in str(output.content)
    if isinstance(inner, ScriptedInvestigator):
        return 0 if ok else 1
    return 0 if intact else 1


if __name__ == "__main__":
    sys.exit(main())
