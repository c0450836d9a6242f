"""``HeadroomClient``: the wrapper object, its surfaces and their ``.simulate`` twins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2

from ..config import HeadroomConfig
from ..errors import ConfigError
from ..retrieval_policy import RetrievalPolicy, retrieval_mode
from .core import MODE_HEADER, SURFACE_HEADER, AsyncHeadroomTransport, Core, HeadroomTransport
from .metrics import MetricsLog, MetricsRecord

MODES = ("audit", "optimize", "simulate")
PROVIDERS = ("openai", "anthropic")

# The compressing surfaces of each provider's client: attribute path -> surface.
_SPECS: dict[str, dict[str, Any]] = {
    "openai": {
        "chat": {"completions": {"create": "chat", "parse": "chat", "stream": "chat"}},
        "responses": {"create": "responses", "parse": "responses", "stream": "responses"},
    },
    "anthropic": {
        "messages": {"create": "messages", "stream": "messages", "count_tokens": "count_tokens"}
    },
}
_NOT_BODY = ("extra_headers", "extra_query", "extra_body", "timeout")
_VIEWS = ("with_raw_response", "with_streaming_response")


def _mode(value: Any) -> str:
    if value not in MODES:
        raise ConfigError(f"headroom_mode must be one of {', '.join(MODES)}, got {value!r}")
    return str(value)


def _detect(client: Any, provider: str | None) -> tuple[str, bool]:
    inner = getattr(client, "_client", None)
    if not isinstance(inner, (httpx2.Client, httpx2.AsyncClient)) or not hasattr(
        client, "with_options"
    ):
        raise ConfigError(
            "HeadroomClient wraps an OpenAI, AsyncOpenAI, Anthropic or AsyncAnthropic client "
            f"(openai 3.x, anthropic 2.x), got {type(client).__name__}"
        )
    if provider is None:
        modules = {cls.__module__.split(".")[0] for cls in type(client).__mro__}
        found = [p for p in PROVIDERS if p in modules]
        if len(found) != 1:
            raise ConfigError(
                f"cannot tell the provider of {type(client).__name__}: pass provider="
            )
        provider = found[0]
    if provider not in PROVIDERS:
        raise ConfigError(f"provider must be one of {', '.join(PROVIDERS)}, got {provider!r}")
    return provider, isinstance(inner, httpx2.AsyncClient)


def _jsonable(value: Any) -> Any:
    """SDK arguments as the JSON the SDK would send (sentinels dropped)."""
    if type(value).__name__ in ("NotGiven", "Omit"):
        return _DROP
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            j = _jsonable(v)
            if j is not _DROP:
                out[k] = j
        return out
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return value
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__"):
        return [j for j in (_jsonable(v) for v in value) if j is not _DROP]
    return value


_DROP = object()


def request_body(kwargs: dict[str, Any], stream: bool = False) -> dict[str, Any]:
    """The request body an SDK call with these arguments sends."""
    body = _jsonable({k: v for k, v in kwargs.items() if k not in _NOT_BODY})
    extra = kwargs.get("extra_body")
    if isinstance(extra, dict):
        body.update(_jsonable(extra))
    if stream:
        body["stream"] = True
    return dict(body)


class _Method:
    """One compressing SDK method; ``.simulate(...)`` takes the same arguments and makes
    no call."""

    def __init__(self, target: Callable[..., Any], core: Core, surface: str, name: str) -> None:
        self._target = target
        self._core = core
        self._surface = surface
        self._name = name
        self._async = core.is_async

    def __call__(self, *args: Any, headroom_mode: str | None = None, **kwargs: Any) -> Any:
        mode = _mode(headroom_mode if headroom_mode is not None else self._core.default_mode)
        if mode == "simulate":
            return self.simulate(*args, **kwargs)
        headers = dict(kwargs.get("extra_headers") or {})
        headers[SURFACE_HEADER] = self._surface
        headers[MODE_HEADER] = mode
        kwargs["extra_headers"] = headers
        return self._target(*args, **kwargs)

    def _simulate(self, kwargs: dict[str, Any]) -> Any:
        body = request_body(kwargs, stream=self._name == "stream")
        prep = self._core.prepare(self._surface, body, "simulate")
        if self._surface == "count_tokens":
            from anthropic.types import MessageTokensCount

            return MessageTokensCount(input_tokens=self._core.count_locally(prep.sent_body))
        return prep.plan

    def simulate(self, *args: Any, headroom_mode: str | None = None, **kwargs: Any) -> Any:
        """The plan for these arguments (for ``count_tokens``: the count, made locally).
        No API call. On an async client this is a coroutine, like the method it twins."""
        if args:
            raise TypeError("pass the request's arguments by keyword, as the SDK requires")
        if self._async:

            async def run() -> Any:
                return self._simulate(kwargs)

            return run()
        return self._simulate(kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class _View:
    """An SDK object with its compressing methods wrapped; anything else passes through."""

    def __init__(self, target: Any, core: Core, spec: dict[str, Any]) -> None:
        self._target = target
        self._core = core
        self._spec = spec

    def __getattr__(self, name: str) -> Any:
        spec = self._spec
        if name in spec:
            sub = spec[name]
            attr = getattr(self._target, name)
            if isinstance(sub, dict):
                return _View(attr, self._core, sub)
            return _Method(attr, self._core, sub, name)
        if name == "simulate" and isinstance(spec.get("create"), str):
            return _Method(self._target.create, self._core, spec["create"], "create").simulate
        attr = getattr(self._target, name)
        if name in _VIEWS:
            return _View(attr, self._core, spec)
        return attr

    def __dir__(self) -> list[str]:
        return sorted({*dir(self._target), *self._spec})


class HeadroomClient(_View):
    """Wraps an ``OpenAI``, ``AsyncOpenAI``, ``Anthropic`` or ``AsyncAnthropic`` client
    (Azure and any ``base_url`` alike); use it exactly like the original.

    Compressing surfaces: ``chat.completions.create`` (also ``stream=True``) and
    ``responses.create``; ``messages.create``, ``messages.stream(...)`` and
    ``messages.count_tokens``. Each has a ``.simulate(...)`` twin (the resource's
    ``simulate`` twins ``create``) that makes no API call and returns a ``Plan``.

    Modes (``default_mode``; per call ``headroom_mode=``):
        ``"optimize"`` (default): send the compressed request. When it holds a
            retrievable marker, ``headroom_retrieve`` is offered and answered inside;
            the caller never sees those rounds.
        ``"audit"``: send the original; record what compression would save.
        ``"simulate"``: no call at all; the method returns the ``Plan``.

    ``retrieval`` and ``max_retrieval_rounds`` follow the shared policy (``"auto"``,
    ``"tool"``, ``"off"``). ``metrics_url="sqlite:///path"`` keeps the metrics records
    in a file (mode 0600) instead of memory; message content is recorded only with
    ``store_content=True``. A failure inside Headroom sends the original request; the
    SDK's own errors reach the caller unchanged.
    """

    def __init__(
        self,
        original_client: Any,
        *,
        default_mode: str = "optimize",
        provider: str | None = None,
        config: HeadroomConfig | None = None,
        smart_crusher_config: Any = None,
        retrieval: str | bool = "auto",
        max_retrieval_rounds: int = 3,
        store: Any = None,
        metrics_url: str | None = None,
        store_content: bool = False,
        _core: Core | None = None,
    ) -> None:
        provider, is_async = _detect(original_client, provider)
        if _core is None:
            cfg = config or HeadroomConfig()
            if smart_crusher_config is not None:
                from ..crusher_config import SmartCrusherConfig

                if not isinstance(smart_crusher_config, SmartCrusherConfig):
                    raise ConfigError("smart_crusher_config must be a SmartCrusherConfig")
                cfg = cfg.with_options(**smart_crusher_config.config_options())
            _core = Core(
                provider,
                _mode(default_mode),
                cfg,
                RetrievalPolicy(mode=retrieval_mode(retrieval), max_rounds=max_retrieval_rounds),
                store,
                MetricsLog(metrics_url),
                bool(store_content),
            )
            _core.is_async = is_async
        inner = original_client._client
        http: Any
        if is_async:
            http = httpx2.AsyncClient(transport=AsyncHeadroomTransport(inner, _core))
        else:
            http = httpx2.Client(transport=HeadroomTransport(inner, _core))
        sdk = original_client.with_options(http_client=http)
        super().__init__(sdk, _core, _SPECS[provider])
        self.original_client = original_client
        self.is_async = is_async

    @classmethod
    def _rewrap(cls, sdk_copy: Any, core: Core) -> HeadroomClient:
        """A copy made by the SDK already holds our transport: wrap it as is."""
        obj = cls.__new__(cls)
        _View.__init__(obj, sdk_copy, core, _SPECS[core.provider])
        obj.original_client = sdk_copy
        obj.is_async = isinstance(sdk_copy._client, httpx2.AsyncClient)
        return obj

    def with_options(self, **options: Any) -> HeadroomClient:
        """The SDK's ``with_options``; the copy compresses too and shares the metrics."""
        if "http_client" in options:
            copy = self._target.with_options(**options)
            return HeadroomClient(copy, provider=self._core.provider, _core=self._core)
        return HeadroomClient._rewrap(self._target.with_options(**options), self._core)

    copy = with_options

    # Context managers are looked up on the type, so they are spelled out here; they
    # close the wrapper's copy of the client (the original client stays open).
    def __enter__(self) -> HeadroomClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._target.close()

    async def __aenter__(self) -> HeadroomClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._target.close()

    def __repr__(self) -> str:
        kind = type(self.original_client).__name__
        return f"<HeadroomClient {kind} mode={self._core.default_mode!r}>"

    @property
    def default_mode(self) -> str:
        return self._core.default_mode

    # ------------------------------------------------------------------ metrics
    @property
    def total_tokens_saved(self) -> int:
        """Tokens saved on requests actually sent compressed (audit mode saves none)."""
        return self._core.ledger.total_tokens_saved

    def get_summary(self) -> dict[str, Any]:
        """The shared ledger's summary, plus what audit-mode requests would have saved
        and the estimated USD saved (an estimate: bundled offline prices)."""
        records = self._core.metrics.query()
        audit = [r for r in records if r.mode == "audit"]
        usd = [r.estimated_savings_usd for r in records if r.estimated_savings_usd is not None]
        return {
            **self._core.ledger.summary().as_dict(),
            "audit_calls": len(audit),
            "audit_tokens_would_save": sum(r.tokens_saved for r in audit),
            "estimated_savings_usd": round(sum(usd), 8),
        }

    get_savings_summary = get_summary

    def get_metrics(
        self, since: Any = None, model: str | None = None, mode: str | None = None
    ) -> list[MetricsRecord]:
        """Frozen per-request records, oldest first; ``since`` is a ``datetime`` or
        epoch seconds."""
        return self._core.metrics.query(since=since, model=model, mode=mode)


AsyncHeadroomClient = HeadroomClient
