"""The three wire formats: where tool outputs live in a request, where tool calls live
in a response, and how to answer, strip and sum them.

All functions take and return plain JSON-shaped dicts and never mutate their input:
containers that change are copied, everything else is shared.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from ..retrieval import RETRIEVE_TOOL_DESCRIPTION, RETRIEVE_TOOL_NAME, ToolAnswer, retrieve_tool


@dataclass(frozen=True)
class ToolCall:
    """One tool call in a model response: ``arguments`` is the parsed object, or the raw
    string when it is not valid JSON."""

    id: str
    name: str
    arguments: Any

    @property
    def is_retrieval(self) -> bool:
        return self.name == RETRIEVE_TOOL_NAME


def _num_sum(a: Any, b: Any) -> Any:
    """Adds two usage objects field by field (nested objects too); non-numbers keep a's
    value, or b's when a lacks it."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = _num_sum(a[k], v) if k in a else v
        return out
    if (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return a + b
    return a if a is not None else b


def sum_usage(usages: list[Any]) -> Any:
    """The usage billed over several rounds: every numeric field summed."""
    total: Any = None
    for u in usages:
        if not isinstance(u, dict):
            continue
        total = copy.deepcopy(u) if total is None else _num_sum(total, u)
    return total


def _parse_args(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw) if raw.strip() else {}
        except ValueError:
            return raw
    return raw


class WireFormat:
    """Base class: one provider API's request and response shapes."""

    name = ""
    tool_format = "openai"
    stop_calls = ""  # the stop/finish reason that means "the model called tools"

    # ---- requests
    def messages(self, body: dict[str, Any]) -> list[Any] | None:
        """The message list ``compress()`` sees (None: nothing to compress)."""
        raise NotImplementedError

    def with_messages(
        self, body: dict[str, Any], original: list[Any], new: list[Any]
    ) -> dict[str, Any]:
        """``body`` with the compressed messages written back."""
        raise NotImplementedError

    def tool_names(self, body: dict[str, Any]) -> set[str]:
        names: set[str] = set()
        for tool in body.get("tools") or ():
            if isinstance(tool, dict):
                fn = tool.get("function")
                name = fn.get("name") if isinstance(fn, dict) else tool.get("name")
                if isinstance(name, str):
                    names.add(name)
        return names

    def can_answer(self, body: dict[str, Any]) -> bool:
        """Whether a hidden round is possible for this request at all."""
        return True

    def add_retrieve_tool(self, body: dict[str, Any]) -> dict[str, Any]:
        tools = body.get("tools")
        out = dict(body)
        out["tools"] = [*(tools if isinstance(tools, list) else ()), self.tool_definition()]
        return out

    def tool_definition(self) -> dict[str, Any]:
        return retrieve_tool(self.tool_format)

    # ---- responses
    def calls(self, response: dict[str, Any]) -> list[ToolCall]:
        raise NotImplementedError

    def strip(self, response: dict[str, Any]) -> dict[str, Any]:
        """``response`` without Headroom's retrieval calls."""
        raise NotImplementedError

    def follow_up(
        self,
        body: dict[str, Any],
        response: dict[str, Any],
        answers: list[tuple[ToolCall, ToolAnswer]],
    ) -> dict[str, Any]:
        """The next request: ``body`` plus the model's turn and the answers."""
        raise NotImplementedError

    def keep_opening(self, first: dict[str, Any], final: dict[str, Any]) -> dict[str, Any]:
        """The final response of a hidden-round exchange as the caller sees it, given the
        first round's response (formats without such rules: ``final`` unchanged)."""
        return final

    def usage(self, response: dict[str, Any]) -> Any:
        return response.get("usage")

    def with_usage(self, response: dict[str, Any], usage: Any) -> dict[str, Any]:
        if usage is None:
            return response
        return {**response, "usage": usage}

    def error_body(self, kind: str, message: str) -> dict[str, Any]:
        """An error in this provider's shape (what its SDK parses)."""
        return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


class _MessagesField(WireFormat):
    """Formats whose request carries the conversation as a plain ``messages`` list."""

    def messages(self, body: dict[str, Any]) -> list[Any] | None:
        msgs = body.get("messages")
        return msgs if isinstance(msgs, list) else None

    def with_messages(
        self, body: dict[str, Any], original: list[Any], new: list[Any]
    ) -> dict[str, Any]:
        return {**body, "messages": new}


_THINKING = ("thinking", "redacted_thinking")


class AnthropicMessages(_MessagesField):
    """``POST /v1/messages``: tool results are ``tool_result`` blocks in user turns."""

    name = "anthropic"
    tool_format = "anthropic"
    stop_calls = "tool_use"

    def calls(self, response: dict[str, Any]) -> list[ToolCall]:
        out: list[ToolCall] = []
        for block in response.get("content") or ():
            if (
                isinstance(block, dict)
                and block.get("type") == "tool_use"
                and isinstance(block.get("name"), str)
            ):
                out.append(ToolCall(str(block.get("id", "")), block["name"], block.get("input")))
        return out

    def strip(self, response: dict[str, Any]) -> dict[str, Any]:
        content = [
            b
            for b in response.get("content") or ()
            if not (
                isinstance(b, dict)
                and b.get("type") == "tool_use"
                and b.get("name") == RETRIEVE_TOOL_NAME
            )
        ]
        out = {**response, "content": content}
        if out.get("stop_reason") == "tool_use" and not any(
            isinstance(b, dict) and b.get("type") == "tool_use" for b in content
        ):
            out["stop_reason"] = "end_turn"
        return out

    def follow_up(
        self,
        body: dict[str, Any],
        response: dict[str, Any],
        answers: list[tuple[ToolCall, ToolAnswer]],
    ) -> dict[str, Any]:
        results: list[dict[str, Any]] = []
        for call, answer in answers:
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": call.id,
                "content": answer.content,
            }
            if answer.is_error:
                block["is_error"] = True
            results.append(block)
        turn = {"role": "assistant", "content": list(response.get("content") or ())}
        messages = [*(body.get("messages") or ()), turn, {"role": "user", "content": results}]
        return {**body, "messages": messages}

    def keep_opening(self, first: dict[str, Any], final: dict[str, Any]) -> dict[str, Any]:
        """With extended thinking, an assistant turn must start with its thinking block
        (Anthropic rejects a later request whose tool-use turn does not), and a turn
        continued after a tool result does not think again. So the thinking blocks that
        opened the first round, signed as they were, open what the caller sees; the
        hidden tool call and its result never appear."""
        opening = []
        for block in first.get("content") or ():
            if not isinstance(block, dict) or block.get("type") not in _THINKING:
                break
            opening.append(block)
        content = list(final.get("content") or ())
        if not opening or content[: len(opening)] == opening:
            return final
        return {**final, "content": [*opening, *content]}

    def error_body(self, kind: str, message: str) -> dict[str, Any]:
        return {"type": "error", "error": {"type": kind, "message": message}}


class OpenAIChat(_MessagesField):
    """``POST /v1/chat/completions``: tool outputs are ``role: tool`` messages."""

    name = "openai_chat"
    stop_calls = "tool_calls"

    def can_answer(self, body: dict[str, Any]) -> bool:
        n = body.get("n")
        return n is None or n == 1

    def _message(self, response: dict[str, Any]) -> dict[str, Any]:
        choices = response.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            msg = choices[0].get("message")
            if isinstance(msg, dict):
                return msg
        return {}

    def calls(self, response: dict[str, Any]) -> list[ToolCall]:
        out: list[ToolCall] = []
        for call in self._message(response).get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                out.append(
                    ToolCall(str(call.get("id", "")), fn["name"], _parse_args(fn.get("arguments")))
                )
        return out

    def strip(self, response: dict[str, Any]) -> dict[str, Any]:
        choices = response.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return response
        msg = dict(self._message(response))
        kept = [
            c
            for c in msg.get("tool_calls") or ()
            if not (
                isinstance(c, dict)
                and isinstance(c.get("function"), dict)
                and c["function"].get("name") == RETRIEVE_TOOL_NAME
            )
        ]
        choice = dict(choices[0])
        if kept:
            msg["tool_calls"] = kept
        else:
            msg.pop("tool_calls", None)
            if choice.get("finish_reason") == "tool_calls":
                choice["finish_reason"] = "stop"
        choice["message"] = msg
        return {**response, "choices": [choice, *choices[1:]]}

    def follow_up(
        self,
        body: dict[str, Any],
        response: dict[str, Any],
        answers: list[tuple[ToolCall, ToolAnswer]],
    ) -> dict[str, Any]:
        msg = self._message(response)
        turn: dict[str, Any] = {"role": "assistant", "content": msg.get("content")}
        if msg.get("tool_calls"):
            turn["tool_calls"] = msg["tool_calls"]
        results = [
            {"role": "tool", "tool_call_id": call.id, "content": answer.content}
            for call, answer in answers
        ]
        return {**body, "messages": [*(body.get("messages") or ()), turn, *results]}


class OpenAIResponses(WireFormat):
    """``POST /v1/responses``: tool outputs are ``function_call_output`` input items.

    With ``previous_response_id`` or ``store`` (on unless ``store: false``) the
    conversation lives on OpenAI's servers, so a hidden round would leave turns the
    caller never saw there: no retrieval tool is offered, compression is lossless only.
    """

    name = "openai_responses"
    stop_calls = ""

    def stateful(self, body: dict[str, Any]) -> bool:
        return bool(body.get("previous_response_id")) or body.get("store") is not False

    def can_answer(self, body: dict[str, Any]) -> bool:
        return not self.stateful(body)

    def tool_definition(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": RETRIEVE_TOOL_NAME,
            "description": RETRIEVE_TOOL_DESCRIPTION,
            "parameters": retrieve_tool("openai")["function"]["parameters"],
        }

    def messages(self, body: dict[str, Any]) -> list[Any] | None:
        """Input items as chat messages, index for index: ``function_call_output`` ->
        ``role: tool``; ``function_call`` -> an assistant tool call; messages keep role
        and text; anything else becomes an empty assistant turn (never compressed)."""
        items = body.get("input")
        if not isinstance(items, list):
            return None
        out: list[Any] = []
        for item in items:
            if not isinstance(item, dict):
                out.append({"role": "assistant", "content": ""})
                continue
            kind = item.get("type")
            if kind == "function_call_output":
                output = item.get("output")
                if isinstance(output, list):
                    output = [
                        {"type": "text", "text": p["text"]}
                        if isinstance(p, dict)
                        and p.get("type") in ("input_text", "output_text", "text")
                        and isinstance(p.get("text"), str)
                        else {"type": "other"}
                        for p in output
                    ]
                out.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": output})
            elif kind == "function_call":
                call = {
                    "id": item.get("call_id"),
                    "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments")},
                }
                out.append({"role": "assistant", "content": None, "tool_calls": [call]})
            elif item.get("role") in ("user", "system", "developer", "assistant"):
                content = item.get("content")
                if isinstance(content, list):
                    content = [
                        {"type": "text", "text": p["text"]}
                        if isinstance(p, dict) and isinstance(p.get("text"), str)
                        else {"type": "other"}
                        for p in content
                    ]
                out.append({"role": item["role"], "content": content})
            else:
                out.append({"role": "assistant", "content": ""})
        return out

    def with_messages(
        self, body: dict[str, Any], original: list[Any], new: list[Any]
    ) -> dict[str, Any]:
        items = list(body["input"])
        for i, (old, msg) in enumerate(zip(original, new, strict=True)):
            if old is msg or not isinstance(msg, dict) or msg.get("role") != "tool":
                continue
            item = dict(items[i])
            content = msg.get("content")
            if isinstance(content, str):
                item["output"] = content
            elif isinstance(content, list) and isinstance(item.get("output"), list):
                parts = list(item["output"])
                for j, part in enumerate(content):
                    if isinstance(part, dict) and part.get("type") == "text":
                        parts[j] = {**parts[j], "text": part["text"]}
                item["output"] = parts
            items[i] = item
        return {**body, "input": items}

    def calls(self, response: dict[str, Any]) -> list[ToolCall]:
        out: list[ToolCall] = []
        for item in response.get("output") or ():
            if (
                isinstance(item, dict)
                and item.get("type") == "function_call"
                and isinstance(item.get("name"), str)
            ):
                out.append(
                    ToolCall(
                        str(item.get("call_id", "")),
                        item["name"],
                        _parse_args(item.get("arguments")),
                    )
                )
        return out

    def strip(self, response: dict[str, Any]) -> dict[str, Any]:
        output = [
            i
            for i in response.get("output") or ()
            if not (
                isinstance(i, dict)
                and i.get("type") == "function_call"
                and i.get("name") == RETRIEVE_TOOL_NAME
            )
        ]
        return {**response, "output": output}

    def follow_up(
        self,
        body: dict[str, Any],
        response: dict[str, Any],
        answers: list[tuple[ToolCall, ToolAnswer]],
    ) -> dict[str, Any]:
        items = body.get("input")
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        results = [
            {"type": "function_call_output", "call_id": call.id, "output": answer.content}
            for call, answer in answers
        ]
        turn = [i for i in response.get("output") or () if isinstance(i, dict)]
        return {**body, "input": [*(items or ()), *turn, *results]}


ANTHROPIC = AnthropicMessages()
OPENAI_CHAT = OpenAIChat()
OPENAI_RESPONSES = OpenAIResponses()
FORMATS: dict[str, WireFormat] = {f.name: f for f in (ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES)}


def format_for_path(path: str) -> WireFormat | None:
    """The format of a request path that Headroom compresses (None: pass it through)."""
    if path in ("/v1/messages", "/messages"):
        return ANTHROPIC
    if path in ("/v1/chat/completions", "/chat/completions"):
        return OPENAI_CHAT
    if path in ("/v1/responses", "/responses"):
        return OPENAI_RESPONSES
    return None
