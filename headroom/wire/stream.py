"""Streaming responses: pass events through as they come, spot a ``headroom_retrieve``
call, hold back from that point, and splice the next round onto the caller's stream
so it reads as one well-formed message.

A splicer is fed the upstream bytes of one round at a time::

    splicer = splicer_for(fmt, policy)
    for each round:
        for chunk in upstream: send(splicer.feed(chunk))
        end = splicer.end_round()
        if end.action is Action.ANSWER:   # answer end.calls, then
            body = fmt.follow_up(body, end.response, answers); splicer.next_round()
        else:
            send(splicer.finish()); break

Anthropic: ``message_start`` is the first round's; later rounds' content blocks are
renumbered after the ones already sent; the final ``message_delta`` carries the usage
summed over all rounds. Blocks before the retrieval call (the thinking that opens the
turn, any text) have already reached the caller and stay: Anthropic requires an
assistant turn to start with its thinking block when thinking is enabled.
OpenAI chat: later rounds' chunks take the first round's id; the usage chunk (when
``stream_options.include_usage`` asked for one) is summed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..retrieval import RETRIEVE_TOOL_NAME
from ..retrieval_policy import Action, RetrievalPolicy
from .formats import ToolCall, WireFormat, sum_usage
from .sse import SSEEvent, SSEParser, dumps_compact, encode_event


@dataclass
class RoundEnd:
    """How a streamed round ended: the action, every tool call, and the round's turn in
    the shape of a whole response (what ``WireFormat.follow_up`` takes)."""

    action: Action
    calls: list[ToolCall] = field(default_factory=list)
    response: dict[str, Any] = field(default_factory=dict)


class Splicer:
    """Base class of the per-format splicers."""

    def __init__(self, policy: RetrievalPolicy | None = None) -> None:
        self.policy = policy or RetrievalPolicy()
        self.parser = SSEParser()
        self.rounds = 0  # answered rounds so far
        self.usages: list[Any] = []

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._event(e) for e in self.parser.feed(chunk))

    def _event(self, ev: SSEEvent) -> bytes:
        raise NotImplementedError

    def end_round(self) -> RoundEnd:
        raise NotImplementedError

    def next_round(self) -> None:
        self.rounds += 1
        self.parser = SSEParser()

    def finish(self) -> bytes:
        raise NotImplementedError

    def total_usage(self) -> Any:
        return sum_usage(self.usages)


class AnthropicSplicer(Splicer):
    def __init__(self, policy: RetrievalPolicy | None = None) -> None:
        super().__init__(policy)
        self.sent = 0  # content blocks the caller has seen
        self.tail: list[bytes] = []  # what ends the caller's stream
        self._new_round()

    def _new_round(self) -> None:
        self.blocks: dict[int, dict[str, Any]] = {}
        self.partial: dict[int, str] = {}
        self.client_index: dict[int, int] = {}
        self.retrieval: set[int] = set()
        self.held: list[SSEEvent] = []
        self.holding = False
        self.start_usage: Any = None
        self.delta: dict[str, Any] | None = None
        self.delta_raw: bytes = b""
        self.stop_raw: bytes = b""
        self.error = False

    def next_round(self) -> None:
        super().next_round()
        self._new_round()

    # -- forwarding
    def _forward(self, ev: SSEEvent, data: dict[str, Any]) -> bytes:
        index = data.get("index")
        if not isinstance(index, int):
            return ev.raw
        if data.get("type") == "content_block_start":
            self.client_index[index] = self.sent
            self.sent += 1
        target = self.client_index.get(index, index)
        if target == index:
            return ev.raw
        return encode_event({**data, "index": target}, ev.event or data.get("type"))

    def _track(self, data: dict[str, Any]) -> None:
        kind = data.get("type")
        index = data.get("index")
        if not isinstance(index, int):
            return
        if kind == "content_block_start" and isinstance(data.get("content_block"), dict):
            self.blocks[index] = dict(data["content_block"])
        block = self.blocks.get(index)
        if block is None:
            return
        if kind == "content_block_delta" and isinstance(data.get("delta"), dict):
            d = data["delta"]
            dt = d.get("type")
            if dt == "text_delta":
                block["text"] = block.get("text", "") + str(d.get("text", ""))
            elif dt == "thinking_delta":
                block["thinking"] = block.get("thinking", "") + str(d.get("thinking", ""))
            elif dt == "signature_delta":
                block["signature"] = d.get("signature", "")
            elif dt == "input_json_delta":
                self.partial[index] = self.partial.get(index, "") + str(d.get("partial_json", ""))
            elif dt == "citations_delta":
                block["citations"] = [*block.get("citations", ()), d.get("citation")]
        elif kind == "content_block_stop" and index in self.partial:
            try:
                block["input"] = json.loads(self.partial[index] or "{}")
            except ValueError:
                block["input"] = {}

    def _event(self, ev: SSEEvent) -> bytes:
        data = ev.json()
        if not isinstance(data, dict):
            return b"" if self.holding else ev.raw
        kind = data.get("type", ev.event)
        if kind == "message_start":
            msg = data.get("message")
            self.start_usage = msg.get("usage") if isinstance(msg, dict) else None
            return ev.raw if self.rounds == 0 else b""
        if kind == "message_delta":
            self.delta, self.delta_raw = data, ev.raw
            return b""
        if kind == "message_stop":
            self.stop_raw = ev.raw
            return b""
        if kind == "error":
            self.error = True
            self.tail.append(ev.raw)
            return b""
        self._track(data)
        index = data.get("index")
        if kind == "content_block_start" and isinstance(index, int):
            block = data.get("content_block")
            btype = block.get("type") if isinstance(block, dict) else None
            if btype == "tool_use" and block.get("name") == RETRIEVE_TOOL_NAME:  # type: ignore[union-attr]
                self.retrieval.add(index)
                self.holding = True
            if self.holding:
                self.held.append(ev)
                return b""
            return self._forward(ev, data)
        if self.holding:
            self.held.append(ev)
            return b""
        return self._forward(ev, data)

    def _round_usage(self) -> Any:
        usage = dict(self.start_usage) if isinstance(self.start_usage, dict) else {}
        if self.delta is not None and isinstance(self.delta.get("usage"), dict):
            usage.update(self.delta["usage"])
        return usage or None

    def end_round(self) -> RoundEnd:
        for ev in self.parser.close():
            tail = self._event(ev)
            if tail:
                self.tail.append(tail)
        self.usages.append(self._round_usage())
        ordered = [self.blocks[i] for i in sorted(self.blocks)]
        calls = [
            ToolCall(str(b.get("id", "")), str(b.get("name", "")), b.get("input"))
            for b in ordered
            if b.get("type") == "tool_use"
        ]
        n_ours = sum(1 for c in calls if c.is_retrieval)
        if self.error:
            action = Action.PASS
        else:
            action = self.policy.decide(self.rounds, n_ours, len(calls) - n_ours)
        return RoundEnd(action, calls, {"content": ordered})

    def finish(self) -> bytes:
        """The rest of the caller's stream: held blocks (minus ours), the final
        ``message_delta`` with summed usage, and ``message_stop``."""
        out: list[bytes] = []
        visible_calls = sum(
            1
            for i, b in self.blocks.items()
            if b.get("type") == "tool_use" and i not in self.retrieval
        )
        for ev in self.held:
            data = ev.json()
            if isinstance(data, dict) and data.get("index") in self.retrieval:
                continue
            out.append(self._forward(ev, data) if isinstance(data, dict) else ev.raw)
        if self.delta is not None:
            delta = self.delta
            changed = False
            if self.retrieval and not visible_calls:
                d = dict(delta.get("delta") or {})
                if d.get("stop_reason") == "tool_use":
                    d["stop_reason"] = "end_turn"
                    delta, changed = {**delta, "delta": d}, True
            if self.rounds > 0:
                total = self.total_usage()
                if total is not None:
                    delta, changed = {**delta, "usage": total}, True
            out.append(encode_event(delta, "message_delta") if changed else self.delta_raw)
        out.extend(self.tail)
        out.append(self.stop_raw)
        return b"".join(out)


class OpenAIChatSplicer(Splicer):
    def __init__(self, policy: RetrievalPolicy | None = None) -> None:
        super().__init__(policy)
        self.id: str | None = None
        self._new_round()

    def _new_round(self) -> None:
        self.content = ""
        self.calls: dict[int, dict[str, Any]] = {}
        self.retrieval: set[int] = set()
        self.held: list[dict[str, Any]] = []
        self.tail: list[tuple[dict[str, Any], bytes]] = []  # finish and usage chunks
        self.holding = False
        self.round_usage: Any = None
        self.done = False
        self.other: list[bytes] = []

    def next_round(self) -> None:
        super().next_round()
        self._new_round()

    def _encode(self, chunk: dict[str, Any]) -> bytes:
        if self.id is not None and chunk.get("id") != self.id:
            chunk = {**chunk, "id": self.id}
        return f"data: {dumps_compact(chunk)}\n\n".encode()

    def _event(self, ev: SSEEvent) -> bytes:
        if ev.data.strip() == "[DONE]":
            self.done = True
            return b""
        chunk = ev.json()
        if not isinstance(chunk, dict):
            if self.holding:
                return b""
            return ev.raw
        if self.id is None and isinstance(chunk.get("id"), str):
            self.id = chunk["id"]
        if isinstance(chunk.get("usage"), dict):
            self.round_usage = chunk["usage"]
        choices = chunk.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            if isinstance(chunk.get("usage"), dict) or "error" in chunk:
                self.tail.append((chunk, ev.raw))
                return b""
            return b"" if self.holding else self._out(ev, chunk)
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        assert isinstance(delta, dict)
        if isinstance(delta.get("content"), str):
            self.content += delta["content"]
        for tc in delta.get("tool_calls") or ():
            if not isinstance(tc, dict) or not isinstance(tc.get("index"), int):
                continue
            call = self.calls.setdefault(tc["index"], {"id": "", "name": "", "arguments": ""})
            fn = tc.get("function") if isinstance(tc.get("function"), dict) else {}
            assert isinstance(fn, dict)
            if isinstance(tc.get("id"), str):
                call["id"] = tc["id"]
            if isinstance(fn.get("name"), str):
                call["name"] += fn["name"]
            if isinstance(fn.get("arguments"), str):
                call["arguments"] += fn["arguments"]
            if call["name"] == RETRIEVE_TOOL_NAME and tc["index"] not in self.retrieval:
                self.retrieval.add(tc["index"])
                self.holding = True
        if choice.get("finish_reason") is not None:
            self.tail.insert(0, (chunk, ev.raw))
            return b""
        if self.holding:
            self.held.append(chunk)
            return b""
        return self._out(ev, chunk)

    def _out(self, ev: SSEEvent, chunk: dict[str, Any]) -> bytes:
        return ev.raw if self.rounds == 0 else self._encode(chunk)

    def end_round(self) -> RoundEnd:
        for ev in self.parser.close():
            rest = self._event(ev)
            if rest:
                self.other.append(rest)
        self.usages.append(self.round_usage)
        calls = [self.calls[i] for i in sorted(self.calls)]
        tool_calls = [
            {
                "id": c["id"],
                "type": "function",
                "function": {"name": c["name"], "arguments": c["arguments"]},
            }
            for c in calls
        ]
        parsed = [ToolCall(c["id"], c["name"], _args(c["arguments"])) for c in calls]
        n_ours = sum(1 for c in parsed if c.is_retrieval)
        errored = any("error" in c for c, _ in self.tail)
        action = (
            Action.PASS
            if errored
            else self.policy.decide(self.rounds, n_ours, len(parsed) - n_ours)
        )
        message: dict[str, Any] = {"role": "assistant", "content": self.content or None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return RoundEnd(action, parsed, {"choices": [{"index": 0, "message": message}]})

    def _strip(self, chunk: dict[str, Any], remap: dict[int, int]) -> dict[str, Any] | None:
        choices = chunk.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return chunk
        choice = dict(choices[0])
        delta = choice.get("delta")
        if not isinstance(delta, dict) or not delta.get("tool_calls"):
            return chunk
        kept = [
            {**tc, "index": remap.get(tc["index"], tc["index"])}
            for tc in delta["tool_calls"]
            if isinstance(tc, dict) and tc.get("index") not in self.retrieval
        ]
        new_delta = dict(delta)
        if kept:
            new_delta["tool_calls"] = kept
        else:
            new_delta.pop("tool_calls")
            if not any(v not in (None, "") for v in new_delta.values()) and (
                choice.get("finish_reason") is None
            ):
                return None
        choice["delta"] = new_delta
        return {**chunk, "choices": [choice, *choices[1:]]}

    def finish(self) -> bytes:
        visible = [i for i in sorted(self.calls) if i not in self.retrieval]
        remap = {old: new for new, old in enumerate(visible)}
        out: list[bytes] = list(self.other)
        for chunk in self.held:
            stripped = self._strip(chunk, remap)
            if stripped is not None:
                out.append(self._encode(stripped))
        for chunk, raw in self.tail:
            if self.rounds == 0 and not self.retrieval:
                out.append(raw)
                continue
            c = self._strip(chunk, remap) or chunk
            choices = c.get("choices")
            if (
                self.retrieval
                and not visible
                and isinstance(choices, list)
                and choices
                and isinstance(choices[0], dict)
                and choices[0].get("finish_reason") == "tool_calls"
            ):
                c = {**c, "choices": [{**choices[0], "finish_reason": "stop"}, *choices[1:]]}
            if self.rounds > 0 and isinstance(c.get("usage"), dict):
                c = {**c, "usage": self.total_usage()}
            out.append(self._encode(c))
        if self.done:
            out.append(b"data: [DONE]\n\n")
        return b"".join(out)


def _args(raw: str) -> Any:
    try:
        return json.loads(raw) if raw.strip() else {}
    except ValueError:
        return raw


class ResponsesSplicer(Splicer):
    """OpenAI Responses streams: ``response.*`` events with ``sequence_number`` and
    ``output_index``. Later rounds skip ``response.created``/``in_progress``, continue the
    sequence numbers and output indexes, and one ``response.completed`` ends the stream
    with the first round's id, every item the caller saw, and the summed usage."""

    _FINAL = ("response.completed", "response.incomplete", "response.failed")

    def __init__(self, policy: RetrievalPolicy | None = None) -> None:
        super().__init__(policy)
        self.response_id: str | None = None
        self.next_seq: int | None = None  # the next sequence number the caller expects
        self.shown: dict[int, dict[str, Any]] = {}  # caller's output index -> finished item
        self.announced = 0  # output items the caller has been told about
        self._new_round()

    def _new_round(self) -> None:
        self.items: dict[int, dict[str, Any]] = {}
        self.retrieval: set[int] = set()
        self.client_index: dict[int, int] = {}
        self.held: list[tuple[SSEEvent, dict[str, Any]]] = []
        self.holding = False
        self.final: tuple[SSEEvent, dict[str, Any]] | None = None
        self.tail: list[bytes] = []

    def next_round(self) -> None:
        super().next_round()
        self._new_round()

    def _emit(self, ev: SSEEvent, data: dict[str, Any], force: bool = False) -> bytes:
        """The event for the caller: output index and sequence number continued."""
        changes: dict[str, Any] = {}
        kind = data.get("type")
        index = data.get("output_index")
        if isinstance(index, int):
            if kind == "response.output_item.added" and index not in self.client_index:
                self.client_index[index] = self.announced
                self.announced += 1
            target = self.client_index.get(index, index)
            if kind == "response.output_item.done" and isinstance(data.get("item"), dict):
                self.shown[target] = data["item"]
            if target != index:
                changes["output_index"] = target
        seq = data.get("sequence_number")
        if isinstance(seq, int):
            if self.next_seq is not None and seq != self.next_seq:
                changes["sequence_number"] = self.next_seq
            self.next_seq = (self.next_seq if self.next_seq is not None else seq) + 1
        if not changes and not force:
            return ev.raw
        return encode_event(
            {**data, **changes}, ev.event or (kind if isinstance(kind, str) else None)
        )

    def _event(self, ev: SSEEvent) -> bytes:
        data = ev.json()
        if not isinstance(data, dict):
            return b"" if self.holding else ev.raw
        kind = data.get("type", ev.event)
        if kind in ("response.created", "response.in_progress"):
            resp = data.get("response")
            if self.response_id is None and isinstance(resp, dict):
                self.response_id = resp.get("id")
            return self._emit(ev, data) if self.rounds == 0 else b""
        if kind in self._FINAL:
            self.final = (ev, data)
            return b""
        if kind == "error":
            self.tail.append(ev.raw)
            return b""
        index = data.get("output_index")
        item = data.get("item")
        if (
            kind == "response.output_item.added"
            and isinstance(index, int)
            and (
                isinstance(item, dict)
                and item.get("type") == "function_call"
                and item.get("name") == RETRIEVE_TOOL_NAME
            )
        ):
            self.retrieval.add(index)
            self.holding = True
        if (
            kind == "response.output_item.done"
            and isinstance(index, int)
            and isinstance(item, dict)
        ):
            self.items[index] = item
        if self.holding:
            self.held.append((ev, data))
            return b""
        return self._emit(ev, data)

    def end_round(self) -> RoundEnd:
        for ev in self.parser.close():
            rest = self._event(ev)
            if rest:
                self.tail.append(rest)
        resp = self.final[1].get("response") if self.final is not None else None
        resp = resp if isinstance(resp, dict) else {}
        self.usages.append(resp.get("usage"))
        output = resp.get("output")
        if not isinstance(output, list):
            output = [self.items[i] for i in sorted(self.items)]
        calls = [
            ToolCall(
                str(i.get("call_id", "")),
                str(i.get("name", "")),
                _args(str(i.get("arguments") or "")),
            )
            for i in output
            if isinstance(i, dict) and i.get("type") == "function_call"
        ]
        n_ours = sum(1 for c in calls if c.is_retrieval)
        completed = self.final is not None and self.final[1].get("type") == "response.completed"
        if not completed or self.tail:
            action = Action.OVER_LIMIT if n_ours else Action.PASS
        else:
            action = self.policy.decide(self.rounds, n_ours, len(calls) - n_ours)
        return RoundEnd(action, calls, {"output": output})

    def finish(self) -> bytes:
        out: list[bytes] = []
        for ev, data in self.held:
            if data.get("output_index") not in self.retrieval:
                out.append(self._emit(ev, data))
        out.extend(self.tail)
        if self.final is not None:
            ev, data = self.final
            resp = data.get("response")
            if isinstance(resp, dict) and (self.rounds > 0 or self.retrieval):
                resp = dict(resp)
                if self.response_id:
                    resp["id"] = self.response_id
                resp["output"] = [self.shown[i] for i in sorted(self.shown)]
                total = self.total_usage()
                if total is not None:
                    resp["usage"] = total
                out.append(self._emit(ev, {**data, "response": resp}, force=True))
            else:
                out.append(self._emit(ev, data))
        return b"".join(out)


def splicer_for(fmt: WireFormat, policy: RetrievalPolicy | None = None) -> Splicer | None:
    """The splicer for a format's streams (None: the format's streams pass through)."""
    if fmt.name == "anthropic":
        return AnthropicSplicer(policy)
    if fmt.name == "openai_chat":
        return OpenAIChatSplicer(policy)
    if fmt.name == "openai_responses":
        return ResponsesSplicer(policy)
    return None


def stream_error(fmt: WireFormat, payload: bytes) -> bytes:
    """An error event that ends a stream already under way, as the provider sends one:
    ``payload`` itself when it is a provider error body, else an ``api_error`` quoting it."""
    try:
        error = json.loads(payload)
    except ValueError:
        error = None
    if not isinstance(error, dict) or "error" not in error:
        error = fmt.error_body("api_error", payload.decode("utf-8", "replace"))
    return encode_event(error, "error" if fmt.name == "anthropic" else None)
