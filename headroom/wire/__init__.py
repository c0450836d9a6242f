"""Wire formats shared by every entry point (proxy, ASGI middleware, LiteLLM, client).

- ``formats``: OpenAI chat completions, Anthropic messages, OpenAI responses: tool
  outputs in requests, tool calls in responses, follow-up requests, stripping, usage.
- ``request``: ``compress_request`` compresses a whole body and offers the tool.
- ``sse`` and ``stream``: server-sent events and splicing hidden rounds into a stream.
- ``rounds``: answering ``headroom_retrieve`` calls.
- ``asgi``: the ASGI types and body-sending helper of the proxy app and the middleware.
"""

from __future__ import annotations

from .formats import (
    ANTHROPIC,
    FORMATS,
    OPENAI_CHAT,
    OPENAI_RESPONSES,
    ToolCall,
    WireFormat,
    format_for_path,
    sum_usage,
)
from .request import RequestCompression, compress_request, dumps_body, may_hold_tool_output
from .rounds import answer_and_count, answer_calls, final_response, read_round
from .sse import SSEEvent, SSEParser, encode_event
from .stream import (
    AnthropicSplicer,
    OpenAIChatSplicer,
    ResponsesSplicer,
    RoundEnd,
    Splicer,
    splicer_for,
)

__all__ = [
    "ANTHROPIC",
    "FORMATS",
    "OPENAI_CHAT",
    "OPENAI_RESPONSES",
    "AnthropicSplicer",
    "OpenAIChatSplicer",
    "RequestCompression",
    "ResponsesSplicer",
    "RoundEnd",
    "SSEEvent",
    "SSEParser",
    "Splicer",
    "ToolCall",
    "WireFormat",
    "answer_and_count",
    "answer_calls",
    "compress_request",
    "dumps_body",
    "encode_event",
    "final_response",
    "format_for_path",
    "may_hold_tool_output",
    "read_round",
    "splicer_for",
    "sum_usage",
]
