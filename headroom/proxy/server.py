"""Starting the proxy: flags, the startup banner, uvicorn."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._extras import require
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
    )


def banner(config: ProxyConfig) -> str:
    host = "localhost" if config.host in ("127.0.0.1", "::1", "localhost") else config.host
    url = f"http://{host}:{config.port}"
    return (
        f"Headroom proxy listening on {url}\n"
        f"  export ANTHROPIC_BASE_URL={url}\n"
        f"  export OPENAI_BASE_URL={url}/v1\n"
    )


def serve(config: ProxyConfig, log_level: str = "warning") -> None:
    """Run the proxy in this process until interrupted."""
    uvicorn = require("uvicorn", "proxy")
    from .app import create_app

    app = create_app(config)
    print(banner(config), flush=True)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=False,  # request lines carry nothing we need; headers never get logged
        lifespan="on",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="headroom proxy", description="HTTP proxy that compresses agent tool outputs."
    )
    add_arguments(parser)
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    serve(config_from(args), log_level=args.log_level)
    return 0
