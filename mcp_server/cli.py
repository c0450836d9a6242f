"""``headroom mcp serve | install | uninstall``.

``main(argv)`` is what ``headroom mcp …`` dispatches to; ``serve_main(argv)`` is what
``python -m headroom.mcp_server`` runs. Only ``serve`` imports the MCP SDK.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import os
import sys
from typing import Any

TOKEN_ENV = "HEADROOM_MCP_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8788
# The streamable-HTTP request body limit (--max-body-mb). A request that declares a
# larger body gets a 413 before any of it is read; one that streams more is cut off
# at the limit. 32 MB carries the tool's 16 M-character content limit in ASCII.
DEFAULT_MAX_BODY_MB = 32
MAX_HTTP_BODY = DEFAULT_MAX_BODY_MB * 1024 * 1024

log = logging.getLogger("headroom.mcp")


def _add_serve_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--transport",
        choices=("stdio", "http", "streamable-http"),
        default="stdio",
        help="stdio (default, for Claude Code/Desktop) or streamable HTTP served at /mcp",
    )
    p.add_argument("--host", default=DEFAULT_HOST, help="HTTP bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port (default 8788)")
    p.add_argument(
        "--token",
        default=None,
        help=f"HTTP bearer token clients must send (default: ${TOKEN_ENV}; unset = no auth)",
    )
    p.add_argument(
        "--max-body-mb",
        type=float,
        default=DEFAULT_MAX_BODY_MB,
        help=f"largest HTTP request body in MB (default {DEFAULT_MAX_BODY_MB}); larger ones "
        "get HTTP 413 before they are read",
    )
    p.add_argument(
        "--allow-remote-without-auth",
        action="store_true",
        help="serve HTTP on a non-loopback address without a bearer token (refused otherwise)",
    )
    p.add_argument(
        "--store",
        default=None,
        help="store spec: memory, sqlite:///path, redis://host:port/db "
        "(default: $HEADROOM_STORE, else the shared SQLite file in the data dir)",
    )
    p.add_argument(
        "--model", default=None, help="model whose tokenizer counts tokens (default gpt-4o)"
    )
    p.add_argument(
        "--log-level",
        default=os.environ.get("HEADROOM_LOG_LEVEL", "WARNING"),
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        help="stderr log level (default WARNING); stdout is reserved for the protocol",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headroom mcp", description="Headroom's MCP server and its Claude registration."
    )
    sub = parser.add_subparsers(dest="command", metavar="{serve,install,uninstall}")
    serve = sub.add_parser("serve", help="run the MCP server (stdio by default)")
    _add_serve_args(serve)
    helps = {
        "install": "register the server with Claude Code (or Claude Desktop with --desktop)",
        "uninstall": "remove the server from Claude Code (or Claude Desktop with --desktop)",
    }
    for name, text in helps.items():
        p = sub.add_parser(name, help=text)
        p.add_argument(
            "--desktop",
            action="store_true",
            help="edit Claude Desktop's claude_desktop_config.json instead of using `claude mcp`",
        )
        p.add_argument(
            "--config", default=None, help="path of claude_desktop_config.json (implies --desktop)"
        )
        p.add_argument(
            "--claude", default=None, help="the claude executable (default: found on PATH)"
        )
        p.add_argument(
            "--scope", default="user", choices=("user", "local", "project"), help="claude mcp scope"
        )
        p.add_argument("--name", default="headroom", help="server name (default headroom)")
        if name == "install":
            p.add_argument(
                "--print",
                dest="print_only",
                action="store_true",
                help="print the JSON entry and change nothing",
            )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``headroom mcp``."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(args)
    from . import install as inst

    desktop = args.desktop or args.config is not None
    try:
        if args.command == "install":
            if args.print_only:
                print(inst.snippet(args.name))
                return 0
            if desktop:
                return inst.install_desktop(args.name, args.config)
            return inst.install_claude_code(args.name, args.scope, args.claude)
        if desktop:
            return inst.uninstall_desktop(args.name, args.config)
        return inst.uninstall_claude_code(args.name, args.scope, args.claude)
    except inst.InstallError as exc:
        print(f"headroom mcp {args.command}: {exc}", file=sys.stderr)
        return 1


def serve_main(argv: list[str] | None = None) -> int:
    """``python -m headroom.mcp_server [serve] [flags]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve":
        argv = argv[1:]
    p = argparse.ArgumentParser(
        prog="python -m headroom.mcp_server", description="Serve Headroom over MCP."
    )
    _add_serve_args(p)
    return _serve(p.parse_args(argv))


def _serve(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=args.log_level,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    from headroom.errors import HeadroomError
    from headroom.pipeline import PipelineStage, emit_start

    from .server import DEFAULT_MODEL, build_server

    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    if args.transport != "stdio":
        if not _is_loopback(args.host) and not token and not args.allow_remote_without_auth:
            print(
                f"headroom mcp serve: refusing to serve {args.host} without a bearer token: "
                f"anyone who can reach it could use it. Set --token or {TOKEN_ENV}, or pass "
                "--allow-remote-without-auth",
                file=sys.stderr,
            )
            return 2
        if not args.max_body_mb > 0:
            print("headroom mcp serve: --max-body-mb must be positive", file=sys.stderr)
            return 2
    emit_start(None, "mcp", PipelineStage.PRE_START, transport=args.transport)
    try:
        spec = args.store or os.environ.get("HEADROOM_STORE")
        if spec:  # a wrong or unreachable store fails here, not on every tool call
            from headroom.store import open_store

            probe = open_store(spec)
            probe.exists("hr_0000000000000000")
            probe.close()
        server = build_server(
            store=args.store, model=args.model or os.environ.get("HEADROOM_MODEL") or DEFAULT_MODEL
        )
    except HeadroomError as exc:
        print(f"headroom mcp serve: {exc}", file=sys.stderr)
        return 1
    emit_start(None, "mcp", PipelineStage.POST_START, transport=args.transport)
    if args.transport == "stdio":
        server.run("stdio")
        return 0
    if not _is_loopback(args.host) and not token:
        log.warning(
            "headroom: serving on %s without a bearer token (--allow-remote-without-auth); "
            "anyone who can reach it can use it",
            args.host,
        )
    max_body = int(args.max_body_mb * 1024 * 1024)
    run_http(server, args.host, args.port, token, args.log_level, max_body=max_body)
    return 0


def _is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``; every other address counts as remote."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_app(
    server: Any,
    host: str = DEFAULT_HOST,
    token: str | None = None,
    max_body: int = MAX_HTTP_BODY,
) -> Any:
    """The streamable-HTTP ASGI app (endpoint ``/mcp``), behind a bearer check if ``token``.

    The bearer check runs first, so an unauthenticated body is never read; then a body
    over ``max_body`` bytes is refused (413) from its declared length, before reading."""
    app = server.streamable_http_app(host=host, max_request_body_size=max_body)
    return app if not token else BearerAuth(app, token)


def run_http(
    server: Any,
    host: str,
    port: int,
    token: str | None,
    log_level: str = "WARNING",
    max_body: int = MAX_HTTP_BODY,
) -> None:
    import uvicorn

    config = uvicorn.Config(
        http_app(server, host, token, max_body),
        host=host,
        port=port,
        log_level=log_level.lower(),
        access_log=False,
    )
    uvicorn.Server(config).run()


class BearerAuth:
    """ASGI middleware: HTTP requests need ``Authorization: Bearer <token>`` (the scheme
    in any case, as HTTP allows); lifespan passes."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self._expected = token.encode()

    def _authorized(self, headers: Any) -> bool:
        supplied = b""
        for name, value in headers:
            if name == b"authorization":
                supplied = value
                break
        scheme, _, credentials = supplied.strip().partition(b" ")
        # compare_digest runs whatever the scheme, so timing tells nothing either way.
        match = hmac.compare_digest(credentials.strip(), self._expected)
        return scheme.lower() == b"bearer" and match

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and not self._authorized(scope.get("headers", ())):
            body = b'{"error":"unauthorized","message":"missing or wrong bearer token"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"www-authenticate", b'Bearer realm="headroom"'),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)
