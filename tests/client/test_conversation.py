"""A 10-turn conversation through HeadroomClient: earlier turns go out byte-identical every
turn (the provider's prompt cache keeps hitting), and the plans and records say so."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from headroom import HeadroomClient
from headroom.wire import dumps_body
from tests.client.helpers import BASH, sdk_client
from tests.proxy.fake_upstream import FakeUpstream, service_log


def _messages_bytes(raw: bytes) -> bytes:
    """The request's serialized messages array, as the client sent it."""
    start = raw.index(b'"messages":') + len(b'"messages":')
    return raw[start:]


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_ten_turns_keep_the_sent_prefix_byte_stable(kind: str, fake: FakeUpstream) -> None:
    fake.script = [{"tools": [{"name": "Bash", "input": {"c": f"cat log{i}"}}]} for i in range(10)]
    client = HeadroomClient(original_client=sdk_client(kind, fake))
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Check every service log."}]
    plans = []
    for turn in range(10):
        log = service_log(error_at=100 + 30 * turn)
        if kind == "anthropic":
            msg = client.messages.create(
                model="claude-sonnet-4-5", max_tokens=512, tools=[BASH], messages=messages
            )
            use = msg.content[-1]
            messages.append({"role": "assistant", "content": [b.model_dump() for b in msg.content]})
            messages.append(
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": use.id, "content": log}],
                }
            )
        else:
            tools = [{"type": "function", "function": {"name": "Bash", "parameters": {}}}]
            resp = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
            call = resp.choices[0].message.tool_calls[0]
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": "Bash", "arguments": call.function.arguments},
                        }
                    ],
                }
            )
            messages.append({"role": "tool", "tool_call_id": call.id, "content": log})
        if kind == "anthropic":
            plans.append(
                client.messages.simulate(
                    model="claude-sonnet-4-5", max_tokens=512, tools=[BASH], messages=messages
                )
            )
    bodies = [r.body for r in fake.received]
    assert len(bodies) == 10
    for prev, cur in itertools.pairwise(bodies):
        before = dumps_body(json.loads(prev)["messages"])
        assert before in prev
        # The previous request's messages open the next one's, byte for byte.
        assert _messages_bytes(cur).startswith(before[:-1])
    records = client.get_metrics()
    assert len(records) == 10
    # Turn 1 carries no tool output yet; from turn 2 on every output is compressed and the
    # retrieval tool is offered every time, so the prefix (tools included) stays stable
    # from turn 3 on. Turn 2 adds the tool: one cache miss, and the record says so.
    assert [r.cache_prefix_stable for r in records[2:]] == [True] * 8
    assert records[1].cache_prefix_stable is False
    assert all(r.tokens_saved > 0 for r in records[1:])
    if plans:
        # A simulated next turn would also keep the prefix; its price estimate counts the
        # earlier turns' savings at the cached-input rate, so it is below the fresh rate.
        assert all(p.cache_prefix_stable for p in plans[1:])
        last = plans[-1]
        assert last.estimated_savings_usd is not None
        fresh_only = 3e-6 * last.tokens_saved  # claude-sonnet-4-5 input: $3 per million
        assert last.estimated_savings_usd < fresh_only * 0.5
    total_in = sum(len(json.dumps(m)) for m in messages)
    assert len(bodies[-1]) < total_in / 5
