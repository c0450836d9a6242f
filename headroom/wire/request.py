"""Compressing a whole request body in any wire format, and serializing it back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..config import HeadroomConfig
from ..engine import DEFAULT_CONFIG, compress
from ..messages import slots
from ..result import CompressResult
from ..retrieval import RETRIEVE_TOOL_NAME
from ..retrieval_policy import RetrievalPolicy
from .formats import WireFormat

# Substrings without which a body holds no tool output in any format: a body lacking
# all of them is forwarded without being parsed.
TOOL_OUTPUT_HINTS = (b"tool_result", b'"tool"', b"function_call_output")


def may_hold_tool_output(raw: bytes) -> bool:
    return any(hint in raw for hint in TOOL_OUTPUT_HINTS)


def dumps_body(body: Any) -> bytes:
    """Compact JSON bytes; lone surrogates (which UTF-8 cannot carry) are escaped."""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(body, separators=(",", ":")).encode("ascii")


@dataclass(frozen=True)
class RequestCompression:
    """What to send upstream. ``changed`` False means: send the caller's bytes as is."""

    body: dict[str, Any]
    changed: bool = False
    tool_offered: bool = False
    tokens_before: int = 0
    tokens_after: int = 0
    retrieval_keys: tuple[str, ...] = ()
    lossless_only: bool = False
    result: CompressResult | None = field(default=None, compare=False)
    reason: str = ""  # why nothing changed, when nothing did

    @property
    def tokens_saved(self) -> int:
        return self.tokens_before - self.tokens_after

    def info_headers(self) -> list[tuple[bytes, bytes]]:
        """The ``x-headroom-*`` response headers that report this compression."""
        return [
            (b"x-headroom-compressed", b"true"),
            (b"x-headroom-tokens-before", str(self.tokens_before).encode()),
            (b"x-headroom-tokens-after", str(self.tokens_after).encode()),
            (b"x-headroom-tokens-saved", str(self.tokens_saved).encode()),
        ]


def _worth_a_look(messages: list[Any], min_tokens: int) -> bool:
    """Cheap test: does any tool output possibly reach ``min_tokens``? (A token is at
    least one byte, so an output with fewer UTF-8 bytes than that cannot.)"""
    for slot in slots(messages):
        text = slot.text
        if len(text) >= min_tokens or (
            not text.isascii() and len(text.encode("utf-8", "surrogatepass")) >= min_tokens
        ):
            return True
    return False


def _lossless(
    original: list[Any], result: CompressResult
) -> tuple[list[Any], int, tuple[str, ...]]:
    """The result with every message that took a lossy change put back as it was."""
    lossy = {r.message_index for r in result.outputs if r.transform is not None and not r.lossless}
    out = [original[i] if i in lossy else m for i, m in enumerate(result.messages)]
    after = result.tokens_before - sum(
        r.tokens_saved
        for r in result.outputs
        if r.transform is not None and r.message_index not in lossy
    )
    keys = tuple(
        dict.fromkeys(
            r.key
            for r in result.outputs
            if r.key and r.transform is not None and r.message_index not in lossy
        )
    )
    return out, after, keys


def compress_request(
    fmt: WireFormat,
    body: Any,
    *,
    config: HeadroomConfig | None = None,
    policy: RetrievalPolicy | None = None,
    store: Any = None,
    hooks: Any = None,
) -> RequestCompression:
    """Compress the tool outputs of one request body and, when the policy says so, add
    ``headroom_retrieve``. Never raises for odd bodies: they come back unchanged.
    ``hooks`` (``CompressionHooks``) go to the engine as they are."""
    cfg = config or DEFAULT_CONFIG
    pol = policy or RetrievalPolicy()
    if not isinstance(body, dict):
        return RequestCompression({}, reason="body is not a JSON object")
    messages = fmt.messages(body)
    if not messages:
        return RequestCompression(body, reason="no messages")
    if not _worth_a_look(messages, cfg.min_tokens_any):
        return RequestCompression(body, reason="no tool output above the threshold")
    model = body.get("model")
    result = compress(
        messages,
        model=model if isinstance(model, str) else "",
        config=cfg,
        store=store,
        hooks=hooks,
    )
    caller_tools = fmt.tool_names(body)
    answerable = fmt.can_answer(body) and RETRIEVE_TOOL_NAME not in caller_tools
    lossless_only = not pol.lossy or (pol.mode == "auto" and not fmt.can_answer(body))
    if lossless_only:
        new, after, keys = _lossless(messages, result)
    else:
        new, after, keys = result.messages, result.tokens_after, tuple(result.retrieval_keys)
    if after >= result.tokens_before or all(a is b for a, b in zip(new, messages, strict=True)):
        return RequestCompression(
            body,
            tokens_before=result.tokens_before,
            tokens_after=result.tokens_before,
            lossless_only=lossless_only,
            result=result,
            reason="no savings",
        )
    out = fmt.with_messages(body, messages, new)
    offered = answerable and pol.offers_tool(bool(keys), RETRIEVE_TOOL_NAME in caller_tools)
    if offered:
        out = fmt.add_retrieve_tool(out)
    return RequestCompression(
        out,
        changed=True,
        tool_offered=offered,
        tokens_before=result.tokens_before,
        tokens_after=after,
        retrieval_keys=keys,
        lossless_only=lossless_only,
        result=result,
    )
