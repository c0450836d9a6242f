"""Starting the proxy: flags, the startup banner, uvicorn."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._extras import require
from .backends import BACKENDS, check_backend
from .config import ANTHROPIC_API, OPENAI_API, ProxyConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = ProxyConfig()
    parser.add_argument("--host", default=d.host, help="address to listen on (default: loopback)")
    parser.add_argument("--port", type=int, default=d.port)
    parser.add_argument("--anthropic-url", default=ANTHROPIC_API, help="Anthropic base, no /v1")
    parser.add_argument("--openai-url", default=OPENAI_API, help="OpenAI base, no /v1")
    parser.add_argument(
        "--timeout", type=float, default=d.timeout, help="upstream read timeout (s)"
    )
    parser.add_argument("--connect-timeout", type=float, default=d.connect_timeout)
    parser.add_argument(
        "--max-body-mb", type=float, default=d.max_body_bytes / 1024 / 1024, help="413 above this"
    )
    parser.add_argument(
        "--retrieval", choices=("auto", "tool", "off"), default=d.retrieval,
        help="auto: answer headroom_retrieve inside; tool: lossy, no tool added; off: lossless",
    )  # fmt: skip
    parser.add_argument("--max-retrieval-rounds", type=int, default=d.max_retrieval_rounds)
    parser.add_argument("--min-tokens", type=int, default=d.min_tokens_to_compress)
    parser.add_argument("--store", default=None, help="memory, sqlite:///path or redis://…")
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--workers", type=int, default=d.workers, help="uvicorn worker processes (default 1)"
    )
    parser.add_argument(
        "--redis",
        default=os.environ.get("HEADROOM_REDIS_URL") or None,
        help="redis://… shared by workers and replicas: originals and rate limits "
        "(default: $HEADROOM_REDIS_URL)",
    )
    parser.add_argument(
        "--memory", action="store_true",
        help="cross-conversation memory per API key and x-headroom-user header",
    )  # fmt: skip
    parser.add_argument("--memory-path", default=None, help="memory SQLite file")
    parser.add_argument("--rpm", type=int, default=0, help="requests per minute per client")
    parser.add_argument(
        "--tpm", type=int, default=0, help="billed tokens per minute per client (input+output)"
    )
    parser.add_argument("--global-rpm", type=int, default=0, help="requests per minute, all")
    parser.add_argument(
        "--limit-window",
        choices=("second", "minute", "hour"),
        default=d.limit_window,
        help="the window --rpm/--tpm/--global-rpm count over (default: minute)",
    )
    parser.add_argument(
        "--budget", type=float, default=0.0, help="spend limit in USD per --budget-period"
    )
    parser.add_argument(
        "--budget-period", choices=("hourly", "daily", "monthly"), default=d.budget_period
    )
    parser.add_argument(
        "--budget-scope",
        choices=("client", "global"),
        default=d.budget_scope,
        help="client: one budget per API key; global: one for everyone",
    )
    parser.add_argument(
        "--cache", action=argparse.BooleanOptionalAction, default=False,
        help="replay answers to identical requests (same key, same body): off by default",
    )  # fmt: skip
    parser.add_argument("--cache-ttl", type=float, default=d.cache_ttl, help="seconds")
    parser.add_argument("--cache-max-entries", type=int, default=d.cache_max_entries)
    parser.add_argument(
        "--cache-max-mb", type=float, default=d.cache_max_bytes / 1024 / 1024,
        help="answers larger than this are not cached",
    )  # fmt: skip
    parser.add_argument(
        "--log-file", default=None,
        help="JSONL request log (per worker: name.<pid>.jsonl when --workers > 1)",
    )  # fmt: skip
    parser.add_argument(
        "--log-messages", action="store_true", help="also log the requests' messages"
    )
    parser.add_argument("--log-max-mb", type=float, default=d.log_max_bytes / 1024 / 1024)
    parser.add_argument("--log-backups", type=int, default=d.log_backups)
    parser.add_argument(
        "--no-costs", dest="costs", action="store_false",
        help="do not price answers (spend and savings in dollars are then absent)",
    )  # fmt: skip
    parser.add_argument(
        "--no-metrics", dest="metrics", action="store_false", help="no Prometheus /metrics"
    )
    env = os.environ.get
    parser.add_argument(
        "--backend", choices=BACKENDS, default=env("HEADROOM_BACKEND") or d.backend,
        help="auto: route by path; else send every LLM request there, translating through "
        "LiteLLM where the formats differ (bedrock and vertex_ai: extra litellm)",
    )  # fmt: skip
    parser.add_argument("--openrouter-url", default=d.openrouter_url, help="no /v1")
    parser.add_argument(
        "--azure-url", default=env("AZURE_OPENAI_ENDPOINT") or d.azure_url,
        help="https://NAME.openai.azure.com (default: $AZURE_OPENAI_ENDPOINT)",
    )  # fmt: skip
    parser.add_argument(
        "--azure-deployment", default=env("AZURE_OPENAI_DEPLOYMENT") or d.azure_deployment
    )
    parser.add_argument(
        "--azure-api-version", default=env("OPENAI_API_VERSION") or d.azure_api_version
    )
    parser.add_argument(
        "--backend-model", default=env("HEADROOM_BACKEND_MODEL") or "",
        help="model for translated requests, e.g. bedrock/us.anthropic.claude-sonnet-4-5-… "
        "(default: the request's model under the backend's prefix)",
    )  # fmt: skip
    parser.add_argument(
        "--backend-api-base", default=env("HEADROOM_BACKEND_API_BASE") or "",
        help="endpoint override for translated requests (Bedrock runtime, Vertex base)",
    )  # fmt: skip
    parser.add_argument(
        "--vertex-project", default=env("VERTEXAI_PROJECT") or "",
        help="Google Cloud project for vertex_ai (default: $VERTEXAI_PROJECT)",
    )  # fmt: skip
    parser.add_argument(
        "--vertex-location", default=env("VERTEXAI_LOCATION") or "",
        help="Vertex AI region, e.g. us-east5 (default: $VERTEXAI_LOCATION)",
    )  # fmt: skip
    parser.add_argument(
        "--vertex-credentials", default=env("GOOGLE_APPLICATION_CREDENTIALS") or "",
        help="service-account JSON file (default: $GOOGLE_APPLICATION_CREDENTIALS, "
        "else Application Default Credentials)",
    )  # fmt: skip


def config_from(args: argparse.Namespace) -> ProxyConfig:
    return ProxyConfig(
        host=args.host,
        port=args.port,
        anthropic_url=args.anthropic_url,
        openai_url=args.openai_url,
        timeout=args.timeout,
        connect_timeout=args.connect_timeout,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        retrieval=args.retrieval,
        max_retrieval_rounds=args.max_retrieval_rounds,
        min_tokens_to_compress=args.min_tokens,
        store=args.store,
        workers=max(1, args.workers),
        redis_url=args.redis,
        rpm=max(0, args.rpm),
        tpm=max(0, args.tpm),
        global_rpm=max(0, args.global_rpm),
        limit_window=args.limit_window,
        metrics=args.metrics,
        memory=args.memory,
        memory_path=args.memory_path,
        costs=args.costs,
        budget=max(0.0, args.budget),
        budget_period=args.budget_period,
        budget_scope=args.budget_scope,
        cache=args.cache,
        cache_ttl=max(1.0, args.cache_ttl),
        cache_max_entries=max(1, args.cache_max_entries),
        cache_max_bytes=int(args.cache_max_mb * 1024 * 1024),
        log_file=args.log_file,
        log_messages=args.log_messages,
        log_max_bytes=max(1024, int(args.log_max_mb * 1024 * 1024)),
        log_backups=max(0, args.log_backups),
        backend=args.backend,
        openrouter_url=args.openrouter_url,
        azure_url=args.azure_url,
        azure_deployment=args.azure_deployment,
        azure_api_version=args.azure_api_version,
        backend_model=args.backend_model,
        backend_api_base=args.backend_api_base,
        vertex_project=args.vertex_project,
        vertex_location=args.vertex_location,
        vertex_credentials=args.vertex_credentials,
    )


def banner(config: ProxyConfig) -> str:
    host = "localhost" if config.host in ("127.0.0.1", "::1", "localhost") else config.host
    url = f"http://{host}:{config.port}"
    return (
        f"Headroom proxy listening on {url}\n"
        f"  export ANTHROPIC_BASE_URL={url}\n"
        f"  export OPENAI_BASE_URL={url}/v1\n"
    )


def warnings_for(config: ProxyConfig) -> list[str]:
    """Startup warnings about the deployment's shape."""
    out: list[str] = []
    if config.workers > 1 and not config.redis_url:
        out.append(
            f"warning: {config.workers} workers without --redis: rate limits and the "
            "retrieval store are per worker process (a limit of N lets up to "
            f"{config.workers}×N through). Give every worker one Redis with --redis."
        )
    return out


_CONFIG_ENV = "HEADROOM_PROXY_CONFIG"


def worker_app() -> Any:
    """The app for one uvicorn worker process: the config travels in the environment."""
    from .app import create_app

    fields = json.loads(os.environ[_CONFIG_ENV])
    return create_app(ProxyConfig(**fields))


def serve(config: ProxyConfig, log_level: str = "warning") -> None:
    """Run the proxy until interrupted: in this process, or in ``config.workers``
    uvicorn worker processes."""
    uvicorn = require("uvicorn", "proxy")
    from .app import create_app

    print(banner(config), flush=True)
    for line in warnings_for(config):
        print(line, file=sys.stderr, flush=True)
    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_level": log_level,
        "access_log": False,  # request lines carry nothing we need; headers never get logged
        "lifespan": "on",
    }
    if config.workers > 1:
        if config.store is not None and not isinstance(config.store, str):
            raise SystemExit("headroom proxy: --workers needs the store as a spec string")
        os.environ[_CONFIG_ENV] = json.dumps(dataclasses.asdict(config))
        if config.metrics:
            # Every worker writes its values here and /metrics sums them; values left
            # by an earlier run would be summed too, so the folder starts empty.
            folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
            if not folder:
                folder = tempfile.mkdtemp(prefix="headroom-prom-")
                os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
            Path(folder).mkdir(parents=True, exist_ok=True)
            for old in Path(folder).glob("*.db"):
                old.unlink(missing_ok=True)
        uvicorn.run(
            "headroom.proxy.server:worker_app", factory=True, workers=config.workers, **options
        )
        return
    uvicorn.run(create_app(config), **options)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="headroom proxy", description="HTTP proxy that compresses agent tool outputs."
    )
    add_arguments(parser)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    config = config_from(args)
    try:
        check_backend(config)
    except (ValueError, ImportError) as exc:
        parser.error(str(exc))
    serve(config, log_level=args.log_level)
    return 0
