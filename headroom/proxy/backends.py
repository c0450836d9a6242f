"""Where LLM requests go under ``--backend``, and the LiteLLM bridge for the backends
that do not speak the client's format over plain HTTP.

``auto`` routes by path (Anthropic paths to ``--anthropic-url``, the rest to
``--openai-url``). Any other backend receives every LLM request:

- same format, plain HTTP: an Anthropic request to ``anthropic``; an OpenAI request to
  ``openai``, ``openrouter`` (OpenAI-compatible) or ``azure`` (deployment URL,
  ``api-version`` query, ``api-key`` header);
- anything else goes through LiteLLM (extra ``litellm``): an Anthropic request through
  its Anthropic-messages adapter, an OpenAI chat request through ``acompletion``. LiteLLM
  translates the request, the answer and the stream, and signs for Bedrock (SigV4,
  from the usual AWS environment variables or profile) and Vertex AI (an OAuth token
  from a service-account file or Application Default Credentials, through
  ``google-auth``). The proxy sees a response in the client's own format,
  so compression and the hidden retrieval rounds run unchanged above it.

A request bound for LiteLLM carries a ``litellm:<client format>`` URL through the proxy;
``BackendClient.send`` turns it into a LiteLLM call.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from .._extras import require
from .config import ProxyConfig
from .upstream import Headers, UpstreamClient, UpstreamError, UpstreamResponse

BACKENDS = ("auto", "anthropic", "openai", "openrouter", "azure", "bedrock", "vertex_ai")
LITELLM_SCHEME = "litellm:"
# LiteLLM's provider prefix for each backend a request may be translated to.
_PREFIX = {
    "anthropic": "anthropic",
    "openai": "openai",
    "openrouter": "openrouter",
    "azure": "azure",
    "bedrock": "bedrock",
    "vertex_ai": "vertex_ai",
}
_TRANSLATED_PATHS = ("/v1/messages", "/v1/chat/completions", "/chat/completions")


def _import_litellm() -> Any:
    """LiteLLM, told to use its bundled price map (it would otherwise fetch one)."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    return require("litellm", "litellm")


def check_backend(config: ProxyConfig) -> None:
    """Refuses a configuration that cannot work, with the reason (at startup)."""
    if config.backend not in BACKENDS:
        raise ValueError(f"unknown backend {config.backend!r}; one of {', '.join(BACKENDS)}")
    if config.backend == "azure" and not (config.azure_url and config.azure_deployment):
        raise ValueError(
            "--backend azure needs --azure-url (https://NAME.openai.azure.com) and "
            "--azure-deployment (or AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_DEPLOYMENT)"
        )
    if config.backend in ("bedrock", "vertex_ai"):
        _import_litellm()
    if config.backend == "vertex_ai":
        require("google.auth", "litellm")
        creds = config.vertex_credentials
        if creds and not os.path.isfile(creds):
            raise ValueError(f"--vertex-credentials: no such file {creds!r}")


def native(config: ProxyConfig, provider: str) -> bool:
    """Whether a request in ``provider``'s format goes to the backend over plain HTTP."""
    b = config.backend
    if b == "auto":
        return True
    if provider == "anthropic":
        return b == "anthropic"
    return b in ("openai", "openrouter", "azure")


def upstream_url(config: ProxyConfig, provider: str, path: str, query: str) -> str:
    """The URL for a request in ``provider``'s format (``path`` as received)."""
    if path == "/chat/completions":
        path = "/v1/chat/completions"
    b = config.backend
    if not native(config, provider):
        if path.startswith(_TRANSLATED_PATHS):
            return LITELLM_SCHEME + provider
        # /v1/responses and the other routes have no translation: the backend of the
        # client's own format (the same as auto), which answers or refuses them.
        b = "auto"
    if b == "azure" and path.startswith("/v1/"):
        deployment = quote(config.azure_deployment or "", safe="")
        url = f"{config.azure_url.rstrip('/')}/openai/deployments/{deployment}{path[3:]}"
        version = f"api-version={quote(config.azure_api_version, safe='')}"
        query = f"{query}&{version}" if query else version
        return f"{url}?{query}"
    if b == "openrouter":
        base = config.openrouter_url
    elif b == "anthropic" or (b == "auto" and provider == "anthropic"):
        base = config.anthropic_url
    else:
        base = config.openai_url
    url = base.rstrip("/") + path
    return f"{url}?{query}" if query else url


def backend_headers(config: ProxyConfig, headers: Headers) -> Headers:
    """Azure takes the key in ``api-key``: a client's ``Bearer`` key moves there."""
    if config.backend != "azure" or any(k == b"api-key" for k, _ in headers):
        return headers
    out: Headers = []
    for k, v in headers:
        if k == b"authorization" and v[:7].lower() == b"bearer ":
            out.append((b"api-key", v[7:].strip()))
        else:
            out.append((k, v))
    return out


def _client_key(headers: Headers) -> str | None:
    for k, v in headers:
        if k == b"x-api-key":
            return v.decode("latin-1")
        if k == b"authorization" and v[:7].lower() == b"bearer ":
            return v[7:].strip().decode("latin-1")
    return None


class _LiteLLMResponse:
    """LiteLLM's answer in the shape of an ``UpstreamResponse``."""

    def __init__(
        self, status: int, body: bytes | None, stream: AsyncIterator[bytes] | None
    ) -> None:
        self.status = status
        self._body = body
        self._stream = stream
        ctype = b"text/event-stream" if stream is not None else b"application/json"
        self.headers: Headers = [(b"content-type", ctype)]
        if body is not None:
            self.headers.append((b"content-length", str(len(body)).encode()))

    @property
    def content_type(self) -> str:
        return "text/event-stream" if self._stream is not None else "application/json"

    async def chunks(self) -> AsyncIterator[bytes]:
        if self._stream is None:
            yield self._body or b""
            return
        async for chunk in self._stream:
            yield chunk

    async def read(self) -> bytes:
        if self._stream is None:
            return self._body or b""
        return b"".join([c async for c in self._stream])

    def close(self) -> None:
        """Drops the stream: an unfinished one is closed by the event loop's async
        generator finalizer, which closes LiteLLM's upstream connection."""
        self._stream = None


def _dump(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(exclude_none=True)
    return obj


def _error_body(provider: str, status: int, message: str) -> bytes:
    from ..wire.formats import ANTHROPIC, OPENAI_CHAT

    fmt = ANTHROPIC if provider == "anthropic" else OPENAI_CHAT
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
    }.get(status, "api_error")
    text = f"headroom proxy ({provider} via LiteLLM): {message}"
    return json.dumps(fmt.error_body(kind, text)).encode()


class BackendClient:
    """The upstream client for every backend: plain HTTP through ``UpstreamClient``,
    and LiteLLM for ``litellm:`` URLs."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.http = UpstreamClient(config)

    def session(self) -> Any:
        return self.http.session()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(
        self, method: str, url: str, headers: Headers, body: Any
    ) -> UpstreamResponse | _LiteLLMResponse:
        if not url.startswith(LITELLM_SCHEME):
            return await self.http.send(method, url, backend_headers(self.config, headers), body)
        provider = url[len(LITELLM_SCHEME) :]
        if not isinstance(body, bytes | bytearray):
            body = b"".join([c async for c in body])
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("model"), str):
            msg = "the request body must be a JSON object with a model"
            return _LiteLLMResponse(400, _error_body(provider, 400, msg), None)
        return await self._litellm(provider, request, headers)

    def _options(self, headers: Headers) -> dict[str, Any]:
        cfg = self.config
        options: dict[str, Any] = {"timeout": cfg.timeout, "num_retries": 0}
        if cfg.backend_api_base:
            options["api_base"] = cfg.backend_api_base
        if cfg.backend in ("anthropic", "openai", "openrouter"):
            key = _client_key(headers)
            if key:
                options["api_key"] = key
            if not cfg.backend_api_base:
                base = {"anthropic": cfg.anthropic_url, "openai": cfg.openai_url + "/v1",
                        "openrouter": cfg.openrouter_url + "/v1"}[cfg.backend]  # fmt: skip
                options["api_base"] = base
        elif cfg.backend == "azure":
            key = _client_key(headers)
            if key:
                options["api_key"] = key
            options["api_base"] = cfg.backend_api_base or cfg.azure_url
            options["api_version"] = cfg.azure_api_version
        if cfg.backend == "bedrock" and cfg.backend_api_base:
            options["aws_bedrock_runtime_endpoint"] = options.pop("api_base")
        if cfg.backend == "vertex_ai":
            for key, value in (("vertex_project", cfg.vertex_project),
                               ("vertex_location", cfg.vertex_location),
                               ("vertex_credentials", cfg.vertex_credentials)):  # fmt: skip
                if value:
                    options[key] = value
        return options

    def _model(self, model: str) -> str:
        cfg = self.config
        if cfg.backend_model:
            model = cfg.backend_model
        elif cfg.backend == "azure" and cfg.azure_deployment:
            model = cfg.azure_deployment
        prefix = _PREFIX[cfg.backend] + "/"
        return model if model.startswith(prefix) else prefix + model

    async def _litellm(
        self, provider: str, request: dict[str, Any], headers: Headers
    ) -> _LiteLLMResponse:
        litellm = _import_litellm()
        # LiteLLM sends Anthropic-format requests for OpenAI models to the Responses
        # API, whose stream adapter imports LiteLLM's proxy server (fastapi, not in the
        # extra): Chat Completions is what every OpenAI-compatible backend speaks.
        setattr(litellm, "use_chat_completions_url_for_anthropic_messages", True)  # noqa: B010
        options = self._options(headers)
        args = {k: v for k, v in request.items() if k != "model"}
        args.update(options)
        model = self._model(request["model"])
        stream = bool(request.get("stream"))
        whole = False
        # Claude on Bedrock and Vertex AI answers in Anthropic's format.
        native_anthropic = self.config.backend in ("bedrock", "vertex_ai")
        if stream and provider == "anthropic" and native_anthropic and not _native_streams():
            args["stream"] = False  # asked whole, sent as one burst of events
            whole = True
        try:
            if provider == "anthropic":
                from litellm.anthropic_interface import messages as anthropic_messages

                result: Any = await anthropic_messages.acreate(model=model, **args)
            else:
                result = await litellm.acompletion(model=model, **args)
        except Exception as exc:
            status = getattr(exc, "status_code", None)
            status = status if isinstance(status, int) and 400 <= status < 600 else 502
            message = str(getattr(exc, "message", "") or exc)[:2000]
            name = type(exc).__name__
            if "timeout" in name.lower():
                raise UpstreamError("upstream timed out", timeout=True) from exc
            if _connection_failed(exc):
                raise UpstreamError(f"upstream unreachable ({name})") from exc
            return _LiteLLMResponse(status, _error_body(provider, status, message), None)
        if whole:
            return _LiteLLMResponse(200, None, _message_events(_dump(result)))
        if not stream:
            return _LiteLLMResponse(200, json.dumps(_dump(result)).encode(), None)
        if provider == "anthropic":
            return _LiteLLMResponse(200, None, _anthropic_events(result))
        return _LiteLLMResponse(200, None, _chat_events(result))


_CONNECT_ERRORS = ("APIConnectionError", "ConnectError", "ConnectTimeout", "ClientConnectorError")


def _connection_failed(exc: BaseException) -> bool:
    """Whether the backend could not be reached (LiteLLM reports that as a 500)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if type(cur).__name__ in _CONNECT_ERRORS or isinstance(cur, ConnectionError):
            return True
        cur = cur.__cause__ or cur.__context__
    return False


@functools.cache
def _native_streams() -> bool:
    """Whether LiteLLM can stream Anthropic-format answers from backends that speak
    Anthropic's format themselves (Claude on Bedrock and Vertex AI). In litellm 1.110
    that stream wrapper imports LiteLLM's proxy server, whose dependencies (fastapi,
    soundfile, …) the ``litellm`` package does not install."""
    try:
        import litellm.llms.anthropic.messages.native.streaming_iterator  # noqa: F401
    except Exception:
        return False
    return True


async def _message_events(message: Any) -> AsyncIterator[bytes]:
    """A complete Anthropic message as the event sequence Anthropic streams: each block
    whole in one delta, then the stop reason and usage."""

    def event(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n".encode()

    if not isinstance(message, dict) or message.get("type") != "message":
        yield event("error", {"error": {"type": "api_error", "message": "unexpected answer"}})
        return
    blocks = message.get("content") or []
    usage = message.get("usage") or {}
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    yield event("message_start", {"message": start})
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind == "text":
            first: dict[str, Any] = {"type": "text", "text": ""}
            delta: dict[str, Any] | None = {"type": "text_delta", "text": block.get("text", "")}
        elif kind == "tool_use":
            first = {**block, "input": {}}
            partial = json.dumps(block.get("input", {}))
            delta = {"type": "input_json_delta", "partial_json": partial}
        elif kind == "thinking":
            first = {"type": "thinking", "thinking": ""}
            delta = {"type": "thinking_delta", "thinking": block.get("thinking", "")}
        else:
            first, delta = block, None
        yield event("content_block_start", {"index": i, "content_block": first})
        if delta is not None:
            yield event("content_block_delta", {"index": i, "delta": delta})
        if kind == "thinking" and block.get("signature"):
            sig = {"type": "signature_delta", "signature": block["signature"]}
            yield event("content_block_delta", {"index": i, "delta": sig})
        yield event("content_block_stop", {"index": i})
    stop = {
        "stop_reason": message.get("stop_reason"),
        "stop_sequence": message.get("stop_sequence"),
    }
    yield event("message_delta", {"delta": stop, "usage": usage})
    yield event("message_stop", {})


async def _anthropic_events(stream: Any) -> AsyncIterator[bytes]:
    """LiteLLM's Anthropic adapter yields SSE bytes, or event dicts from some paths."""
    async for item in stream:
        if isinstance(item, bytes | bytearray):
            yield bytes(item)
        elif isinstance(item, str):
            yield item.encode()
        else:
            event = _dump(item)
            name = event.get("type", "message") if isinstance(event, dict) else "message"
            yield f"event: {name}\ndata: {json.dumps(event)}\n\n".encode()


async def _chat_events(stream: Any) -> AsyncIterator[bytes]:
    """``acompletion`` chunks as OpenAI ``data:`` events, ending in ``[DONE]``."""
    async for chunk in stream:
        yield f"data: {json.dumps(_dump(chunk))}\n\n".encode()
    yield b"data: [DONE]\n\n"
