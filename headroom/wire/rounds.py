"""Answering ``headroom_retrieve`` calls and assembling what the caller finally sees."""

from __future__ import annotations

import json
from typing import Any

from ..retrieval import ToolAnswer, answer_tool_call
from ..retrieval_policy import Action, RetrievalPolicy
from ..tokens import counter_for
from .formats import ToolCall, WireFormat, sum_usage


def answer_calls(calls: list[ToolCall], store: Any = None) -> list[tuple[ToolCall, ToolAnswer]]:
    """An answer for every call of the model's turn, in order. Only ``headroom_retrieve``
    calls are answered; ``Action.ANSWER`` guarantees there are no others."""
    return [(c, answer_tool_call(c.arguments, store)) for c in calls if c.is_retrieval]


def answer_and_count(
    calls: list[ToolCall], store: Any, model: Any
) -> tuple[list[tuple[ToolCall, ToolAnswer]], int]:
    """``answer_calls`` plus the tokens the answers add to the next round, counted for
    ``model`` (a model that is not a string gets the default counter)."""
    answers = answer_calls(calls, store)
    counter = counter_for(model if isinstance(model, str) else None)
    return answers, sum(counter.count(a.content) for _, a in answers)


def read_round(
    fmt: WireFormat,
    policy: RetrievalPolicy,
    status: int,
    payload: bytes,
    rounds: int,
    usages: list[Any],
) -> tuple[dict[str, Any] | None, list[ToolCall], Action]:
    """One non-streamed round's answer judged: (the parsed response, or None when it is not
    a 200 JSON object and goes back as it is; the model's tool calls; what the policy does
    after ``rounds`` hidden rounds). A parsed response's usage is appended to ``usages``."""
    try:
        parsed = json.loads(payload) if status == 200 else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        return None, [], Action.PASS
    usages.append(fmt.usage(parsed))
    calls = fmt.calls(parsed)
    ours = sum(1 for c in calls if c.is_retrieval)
    return parsed, calls, policy.decide(rounds, ours, len(calls) - ours)


def final_response(
    fmt: WireFormat,
    response: dict[str, Any],
    action: Action,
    usages: list[Any],
    first: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole (non-streamed) response the caller sees: the last round's, without our
    calls, with usage summed over every round; ``first`` (the first round's response,
    when there were hidden rounds) lends it the blocks that must open the turn."""
    out = fmt.strip(response) if action in (Action.STRIP, Action.OVER_LIMIT) else response
    if first is not None and first is not response:
        out = fmt.keep_opening(first, out)
    if len(usages) > 1:
        out = fmt.with_usage(out, sum_usage(usages))
    return out
