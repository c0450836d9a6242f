"""Clients pointed at the fake upstream, and conversations with one big tool output."""

from __future__ import annotations

from typing import Any

import anthropic
import openai

from tests.proxy.fake_upstream import FakeUpstream, service_log

LOG = service_log()
BASH = {"name": "Bash", "description": "Run a shell command", "input_schema": {"type": "object"}}
KINDS = ["openai", "async_openai", "anthropic", "async_anthropic"]


def sdk_client(kind: str, fake: FakeUpstream) -> Any:
    url: str = fake.url  # type: ignore[attr-defined]
    if kind == "openai":
        return openai.OpenAI(base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=30)
    if kind == "async_openai":
        return openai.AsyncOpenAI(
            base_url=url + "/v1", api_key="sk-test", max_retries=0, timeout=30
        )
    if kind == "anthropic":
        return anthropic.Anthropic(base_url=url, api_key="sk-ant-test", max_retries=0, timeout=30)
    return anthropic.AsyncAnthropic(base_url=url, api_key="sk-ant-test", max_retries=0, timeout=30)


def anthropic_turn(output: str = LOG, call_id: str = "toolu_a") -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Why did the payment fail?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": call_id, "name": "Bash", "input": {"c": "cat"}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call_id, "content": output}],
        },
    ]


def openai_turn(output: str = LOG, call_id: str = "call_a") -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Why did the payment fail?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": "Bash", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": output},
    ]


def request_args(kind: str, output: str = LOG) -> dict[str, Any]:
    """Keyword arguments of one create call on the client's main surface."""
    if "anthropic" in kind:
        return {
            "model": "claude-sonnet-4-5",
            "max_tokens": 256,
            "tools": [BASH],
            "messages": anthropic_turn(output),
        }
    return {"model": "gpt-4o", "messages": openai_turn(output)}


def surface(client: Any, kind: str) -> Any:
    return client.messages if "anthropic" in kind else client.chat.completions


def text_of(kind: str, response: Any) -> str:
    if "anthropic" in kind:
        return "".join(b.text for b in response.content if b.type == "text")
    return str(response.choices[0].message.content)


def sent_output(kind: str, body: dict[str, Any]) -> str:
    """The tool output as the fake received it."""
    if "anthropic" in kind:
        return str(body["messages"][2]["content"][0]["content"])
    return str(body["messages"][2]["content"])


async def maybe_await(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value
