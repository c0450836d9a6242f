"""Finding tool outputs in OpenAI- and Anthropic-format message lists, and writing them back.

OpenAI: ``{"role": "tool", "tool_call_id": …, "content": str | [text parts]}``,
named by the assistant's ``tool_calls[].function.name``.
Anthropic: ``{"role": "user", "content": [{"type": "tool_result", "tool_use_id": …,
"content": str | [blocks]}]}``, named by the assistant's ``tool_use`` blocks.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# A path from a message to one string inside it: ("content",), ("content", 2, "text"), …
Path = tuple[Any, ...]


@dataclass(frozen=True)
class TextSlot:
    """One compressible string in a message list."""

    message_index: int
    path: Path
    text: str
    role: str
    tool_name: str | None
    tool_call_id: str | None


def function_name(obj: Any) -> str | None:
    """The name of a tool or tool call: ``{"function": {"name": …}}`` (OpenAI),
    ``{"name": …}`` (flat), or an object's ``name`` attribute."""
    if isinstance(obj, dict):
        fn = obj.get("function")
        name = fn.get("name") if isinstance(fn, dict) else obj.get("name")
    else:
        name = getattr(obj, "name", None)
    return name if isinstance(name, str) else None


SYSTEM_ROLES = ("system", "developer")


def is_system(msg: Any) -> bool:
    """A system (or OpenAI developer) message; odd roles (lists, None) are not."""
    return (
        isinstance(msg, dict) and isinstance(msg.get("role"), str) and msg["role"] in SYSTEM_ROLES
    )


def tool_names(messages: list[Any]) -> dict[str, str]:
    """tool call id -> tool name, from assistant tool calls in either format."""
    names: dict[str, str] = {}
    for msg in messages:
        if not isinstance(msg, dict) or msg.get("role") != "assistant":
            continue
        for call in msg.get("tool_calls") or ():
            name = function_name(call) if isinstance(call, dict) else None
            if name is not None and isinstance(call.get("id"), str):
                names[call["id"]] = name
        content = msg.get("content")
        if isinstance(content, list):
            for block in content:
                if (
                    isinstance(block, dict)
                    and block.get("type") == "tool_use"
                    and isinstance(block.get("id"), str)
                    and isinstance(block.get("name"), str)
                ):
                    names[block["id"]] = block["name"]
    return names


def _tool_message_ids(msg: dict[str, Any], names: dict[str, str]) -> tuple[str | None, str | None]:
    """(tool name, tool call id) of a ``role: tool`` message; the name from the message
    itself, else from the assistant call it answers."""
    call_id = msg.get("tool_call_id")
    call_id = call_id if isinstance(call_id, str) else None
    name = msg.get("name") if isinstance(msg.get("name"), str) else None
    name = name or (names.get(call_id) if call_id else None)
    return name, call_id


def text_parts(content: Any, base: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every text in a message's content (a string, or text parts/blocks), with its path."""
    if isinstance(content, str):
        yield base, content
    elif isinstance(content, list):
        for i, part in enumerate(content):
            if (
                isinstance(part, dict)
                and part.get("type") == "text"
                and isinstance(part.get("text"), str)
            ):
                yield (*base, i, "text"), part["text"]


def user_text(msg: Any) -> str:
    """The typed text of a user message (tool results excluded)."""
    if not isinstance(msg, dict) or msg.get("role") != "user":
        return ""
    return "\n".join(text for _, text in text_parts(msg.get("content"), ("content",)))


def slots(messages: list[Any], include_user: bool = False) -> Iterator[TextSlot]:
    """Every tool output (and, if asked, user text) as a replaceable string slot."""
    names = tool_names(messages)
    for index, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        role = msg.get("role")
        content = msg.get("content")
        if role == "tool":
            name, call_id = _tool_message_ids(msg, names)
            for path, text in text_parts(content, ("content",)):
                yield TextSlot(index, path, text, "tool", name, call_id)
        elif role == "user":
            if isinstance(content, list):
                for i, block in enumerate(content):
                    if not isinstance(block, dict) or block.get("type") != "tool_result":
                        continue
                    use_id = block.get("tool_use_id")
                    use_id = use_id if isinstance(use_id, str) else None
                    name = names.get(use_id) if use_id else None
                    for path, text in text_parts(block.get("content"), ("content", i, "content")):
                        yield TextSlot(index, path, text, "tool", name, use_id)
            if include_user:
                for path, text in text_parts(content, ("content",)):
                    yield TextSlot(index, path, text, "user", None, None)


@dataclass(frozen=True)
class ImageSlot:
    """One image block: ``path`` leads from the message to the block in its list."""

    message_index: int
    path: Path
    block: dict[str, Any]
    role: str  # "tool" inside a tool output, else the message's role
    tool_name: str | None
    tool_call_id: str | None


_IMAGE_TYPES = ("image_url", "input_image", "image")


def _images_in(content: Any, base: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    if isinstance(content, list):
        for i, part in enumerate(content):
            if isinstance(part, dict) and part.get("type") in _IMAGE_TYPES:
                yield (*base, i), part


def image_slots(messages: list[Any]) -> Iterator[ImageSlot]:
    """Every image block in either format: in user, assistant and system content, in
    OpenAI tool messages and inside Anthropic ``tool_result`` blocks."""
    names = tool_names(messages)
    for index, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        raw_role = msg.get("role")
        role = raw_role if isinstance(raw_role, str) else ""
        content = msg.get("content")
        if role == "tool":
            name, call_id = _tool_message_ids(msg, names)
            for path, block in _images_in(content, ("content",)):
                yield ImageSlot(index, path, block, "tool", name, call_id)
            continue
        for path, block in _images_in(content, ("content",)):
            yield ImageSlot(index, path, block, role, None, None)
        if isinstance(content, list):
            for i, block in enumerate(content):
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    use_id = block.get("tool_use_id")
                    use_id = use_id if isinstance(use_id, str) else None
                    name = names.get(use_id) if use_id else None
                    inner = block.get("content")
                    for path, image in _images_in(inner, ("content", i, "content")):
                        yield ImageSlot(index, path, image, "tool", name, use_id)


def replace_block(message: dict[str, Any], path: Path, blocks: list[Any]) -> dict[str, Any]:
    """A copy of ``message`` with the list item at ``path`` replaced by ``blocks``
    (containers along the path are copied; everything else is shared)."""
    root: dict[str, Any] = dict(message)
    node: Any = root
    for step in path[:-1]:
        child = node[step]
        child = dict(child) if isinstance(child, dict) else list(child)
        node[step] = child
        node = child
    index = path[-1]
    node[index : index + 1] = blocks
    return root


def set_text(message: dict[str, Any], path: Path, text: str) -> dict[str, Any]:
    """A copy of ``message`` with the string at ``path`` replaced; containers along the
    path are copied, everything else is shared with the original."""
    root: dict[str, Any] = dict(message)
    node: Any = root
    for step, _nxt in itertools.pairwise(path):
        child = node[step]
        child = dict(child) if isinstance(child, dict) else list(child)
        node[step] = child
        node = child
    node[path[-1]] = text
    return root


def countable_strings(msg: Any) -> Iterator[str]:
    """Every string in a message that reaches the model: content, tool call names and
    arguments. Per-message framing tokens are not included (they do not change)."""
    if not isinstance(msg, dict):
        return
    content = msg.get("content")
    if isinstance(content, str):
        yield content
    elif isinstance(content, list):
        for block in content:
            yield from _block_strings(block)
    for call in msg.get("tool_calls") or ():
        if isinstance(call, dict):
            fn: dict[str, Any] = (
                call["function"] if isinstance(call.get("function"), dict) else call
            )
            for field in ("name", "arguments"):
                value = fn.get(field)
                if isinstance(value, str):
                    yield value
                elif value is not None:
                    yield safe_json(value)


_MAX_DEPTH = 100


def _bounded(value: Any, depth: int, seen: set[int]) -> Any:
    """``value`` as plain JSON data, with a cycle or nesting deeper than _MAX_DEPTH
    written as a short marker string instead."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if depth >= _MAX_DEPTH:
        return "[headroom: nested too deeply]"
    if id(value) in seen:
        return "[headroom: circular reference]"
    if isinstance(value, dict):
        seen.add(id(value))
        out: Any = {str(k): _bounded(v, depth + 1, seen) for k, v in value.items()}
    elif isinstance(value, (list, tuple)):
        seen.add(id(value))
        out = [_bounded(v, depth + 1, seen) for v in value]
    else:
        return str(value)
    seen.discard(id(value))
    return out


def safe_json(value: Any) -> str:
    """``value`` as JSON text for counting its tokens (sorted keys, non-ASCII as is).

    Never raises: circular or absurdly deep data (tool-call arguments built by code)
    is written with a marker where the cycle or the excess depth starts."""
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (ValueError, TypeError, RecursionError):
        pass
    try:
        return json.dumps(
            _bounded(value, 0, set()), ensure_ascii=False, sort_keys=True, default=str
        )
    except (ValueError, TypeError, RecursionError):
        return "null"


def _block_strings(block: Any) -> Iterator[str]:
    if isinstance(block, str):
        yield block
    elif isinstance(block, dict):
        kind = block.get("type")
        if isinstance(block.get("text"), str):
            yield block["text"]
        if kind == "tool_use":
            if isinstance(block.get("name"), str):
                yield block["name"]
            yield safe_json(block.get("input"))
        elif kind == "tool_result":
            inner = block.get("content")
            if isinstance(inner, str):
                yield inner
            elif isinstance(inner, list):
                for part in inner:
                    yield from _block_strings(part)


def tool_exchange(
    output: str,
    tool: str = "tool",
    call_id: str = "call_1",
    arguments: str = "{}",
    question: str | None = None,
) -> list[dict[str, Any]]:
    """One OpenAI-format tool round: the user's question (if any), the assistant's call
    of ``tool``, and the tool's ``output``."""
    call = {"id": call_id, "type": "function", "function": {"name": tool, "arguments": arguments}}
    turn: list[dict[str, Any]] = [] if question is None else [{"role": "user", "content": question}]
    turn.append({"role": "assistant", "content": None, "tool_calls": [call]})
    turn.append({"role": "tool", "tool_call_id": call_id, "content": output})
    return turn
