"""The proxy's settings: one frozen dataclass the CLI fills in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..retrieval_policy import RetrievalPolicy

ANTHROPIC_API = "https://api.anthropic.com"
OPENAI_API = "https://api.openai.com"


@dataclass(frozen=True)
class ProxyConfig:
    """Attributes:
    host, port: where to listen (loopback by default).
    anthropic_url, openai_url: upstream bases without ``/v1``; request paths are
        appended as received.
    timeout: seconds to wait for upstream reads and writes (a stream may take longer
        in total; this bounds the silence between chunks). ``connect_timeout``: to connect.
    max_body_bytes: larger request bodies on the compressing routes get a 413 in the
        provider's error shape.
    retrieval: ``"auto"`` (answer ``headroom_retrieve`` inside), ``"tool"`` or ``"off"``.
    max_retrieval_rounds: hidden rounds per client request.
    min_tokens_to_compress: tool outputs below this many tokens are left alone.
    store: where originals go (see ``HeadroomConfig.store``); None: the default store.
    thread_above: bodies above this many bytes are compressed in a worker thread so the
        event loop keeps serving other requests.
    workers: uvicorn worker processes (``--workers``).
    redis_url: Redis shared by every worker and replica: the retrieval store (unless
        ``store`` names another) and the rate-limit windows. None: per-process state.
    rpm, tpm: requests and billed tokens (input after compression plus output) per
        client per window; ``global_rpm``: requests per window over all clients. 0: none.
    limit_window: ``"minute"`` (what the flags mean), or ``"second"``/``"hour"``.
    metrics: serve Prometheus ``/metrics`` (needs ``prometheus-client``).
    costs: price answers from their usage (needs ``genai-prices``); ``budget`` in USD
        per ``budget_period`` (hourly, daily, monthly) and ``budget_scope`` (client or
        global); 0: no budget.
    cache: replay identical requests' answers (off by default); entries live
        ``cache_ttl`` seconds, at most ``cache_max_entries`` in memory, none above
        ``cache_max_bytes``.
    log_file: JSONL request log (one file per worker process under several workers),
        rotated at ``log_max_bytes`` keeping ``log_backups`` old files; message content
        only with ``log_messages``.
    backend: ``"auto"`` (route by path) or where every LLM request goes: ``anthropic``,
        ``openai``, ``openrouter``, ``azure``, ``bedrock``, ``vertex_ai`` (see
        ``headroom.proxy.backends``). ``openrouter_url``: OpenRouter's base, no ``/v1``.
        ``azure_url``, ``azure_deployment``, ``azure_api_version``: the Azure OpenAI
        resource. ``backend_model``: the model for translated requests (default: the
        request's own, with the backend's LiteLLM prefix). ``backend_api_base``: LiteLLM's
        endpoint override for translated requests (a Bedrock runtime endpoint, a Vertex
        or private gateway base). ``vertex_project``, ``vertex_location``,
        ``vertex_credentials``: the Google Cloud project, region and service-account JSON
        file for ``vertex_ai`` (empty: LiteLLM's defaults, Application Default Credentials).
    memory: cross-conversation memory per API key and ``x-headroom-user`` header, in
        ``memory_path`` (SQLite), else in Redis when ``redis_url`` is set (shared by every
        replica), else in the data dir's ``memory.sqlite3``.
    """

    host: str = "127.0.0.1"
    port: int = 8787
    anthropic_url: str = ANTHROPIC_API
    openai_url: str = OPENAI_API
    timeout: float = 600.0
    connect_timeout: float = 10.0
    max_body_bytes: int = 32 * 1024 * 1024
    retrieval: str = "auto"
    max_retrieval_rounds: int = 3
    min_tokens_to_compress: int = 250
    store: Any = None
    thread_above: int = 32 * 1024
    workers: int = 1
    redis_url: str | None = None
    rpm: int = 0
    tpm: int = 0
    global_rpm: int = 0
    limit_window: str = "minute"
    metrics: bool = True
    costs: bool = True
    budget: float = 0.0
    budget_period: str = "daily"
    budget_scope: str = "global"
    cache: bool = False
    cache_ttl: float = 3600.0
    cache_max_entries: int = 1000
    cache_max_bytes: int = 4 * 1024 * 1024
    log_file: str | None = None
    log_messages: bool = False
    log_max_bytes: int = 100 * 1024 * 1024
    log_backups: int = 5
    backend: str = "auto"
    openrouter_url: str = "https://openrouter.ai/api"
    azure_url: str = ""
    azure_deployment: str = ""
    azure_api_version: str = "2024-10-21"
    backend_model: str = ""
    backend_api_base: str = ""
    vertex_project: str = ""
    vertex_location: str = ""
    vertex_credentials: str = ""
    memory: bool = False
    memory_path: str | None = None

    @property
    def policy(self) -> RetrievalPolicy:
        return RetrievalPolicy(self.retrieval, self.max_retrieval_rounds)
