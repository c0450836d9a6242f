"""The ``headroom`` command: demo, compress, retrieve, and the mcp / evals families."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import Any

from .messages import tool_exchange

# Command families implemented in their own packages, imported only when used.
_DELEGATES = {
    "mcp": (
        "headroom.mcp_server.cli",
        "MCP server for Claude Code / Desktop (serve, install, uninstall)",
    ),
    "evals": ("headroom.evals.cli", "evaluate what compression keeps (quick, benchmark)"),
    "proxy": ("headroom.proxy.server", "HTTP proxy for Claude Code and OpenAI/Anthropic clients"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headroom", description="Reversible, offline compression of LLM tool outputs."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser("demo", help="compress a bundled agent transcript and show what was kept")
    demo.add_argument("--model", default="gpt-4o")
    comp = sub.add_parser(
        "compress", help="compress a messages JSON file or a raw tool-output file"
    )
    comp.add_argument("file", help="path, or - for standard input")
    comp.add_argument("--model", default="gpt-4o")
    comp.add_argument("--query", default=None, help="what the model is looking for")
    comp.add_argument("--min-tokens", type=int, default=None, help="min_tokens_to_compress")
    comp.add_argument("--json", action="store_true", help="machine-readable output")
    ret = sub.add_parser("retrieve", help="print the original stored under a retrieval key")
    ret.add_argument("key")
    ret.add_argument("--query", default=None, help="only the matching items or lines")
    for name, (_, help_text) in _DELEGATES.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _read(path: str) -> str:
    """The file's text, byte-exact: read as bytes (so CRLF stays CRLF), and bytes that
    aren't UTF-8 survive as surrogate escapes."""
    if path == "-":
        return sys.stdin.buffer.read().decode("utf-8", "surrogateescape")
    with open(path, "rb") as fh:
        return fh.read().decode("utf-8", "surrogateescape")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _out(text: str, end: str = "\n") -> None:
    """Write to stdout byte-exact: bytes read as surrogate escapes go back out as the
    same bytes, and no locale or odd character can make printing fail."""
    data = text + end
    try:
        raw = data.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # lone surrogates that did not come from raw bytes
        raw = data.encode("utf-8", "surrogatepass")
    sys.stdout.flush()
    sys.stdout.buffer.write(raw)
    sys.stdout.buffer.flush()


def _as_messages(text: str) -> tuple[list[dict[str, Any]], bool]:
    """A messages list if the file is one; otherwise the text as a single tool output."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse
        data = None
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        data = data["messages"]
    if isinstance(data, list) and data and all(isinstance(m, dict) and "role" in m for m in data):
        return data, True
    return tool_exchange(text, tool="file", call_id="cli"), False


def _cmd_compress(args: argparse.Namespace) -> int:
    from . import compress

    try:
        text = _read(args.file)
    except OSError as exc:
        print(f"headroom: cannot read {args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if args.json and not _is_utf8(text):
        print(
            f"headroom: {args.file} is not UTF-8 text, which JSON output cannot carry "
            "byte-exact; run without --json to compress it as it is",
            file=sys.stderr,
        )
        return 2
    messages, is_messages = _as_messages(text)
    options: dict[str, Any] = {}
    if args.min_tokens is not None:
        options["min_tokens_to_compress"] = args.min_tokens
    result = compress(messages, model=args.model, query=args.query, **options)
    if args.json:
        payload = {
            "messages" if is_messages else "content": (
                result.messages if is_messages else result.messages[-1]["content"]
            ),
            "tokens_before": result.tokens_before,
            "tokens_after": result.tokens_after,
            "tokens_saved": result.tokens_saved,
            "compression_ratio": round(result.compression_ratio, 4),
            "transforms_applied": result.transforms_applied,
            "retrieval_keys": result.retrieval_keys,
            "tokens_exact": result.tokens_exact,
            "encoding": result.encoding,
            "warnings": result.warnings,
        }
        _out(json.dumps(payload, ensure_ascii=False, indent=2))
        return 0
    if is_messages:
        _out(json.dumps(result.messages, ensure_ascii=False, indent=2))
    else:
        _out(result.messages[-1]["content"])
    exact = "exact" if result.tokens_exact else f"approximate ({result.encoding} stand-in)"
    print(
        f"\n# tokens {result.tokens_before} -> {result.tokens_after} "
        f"(saved {result.tokens_saved}, {result.compression_ratio:.1%}; {exact})",
        file=sys.stderr,
    )
    for key in result.retrieval_keys:
        print(f"# original stored: headroom retrieve {key}", file=sys.stderr)
    return 0


def _cmd_retrieve(args: argparse.Namespace) -> int:
    from . import retrieve

    result = retrieve(args.key, query=args.query)
    if not result.found:
        print(result.message, file=sys.stderr)
        return 1
    _out(result.content, end="")
    if result.message:
        print(result.message, file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATES:
        module = importlib.import_module(_DELEGATES[argv[0]][0])
        return int(module.main(argv[1:]) or 0)
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(model=args.model)
    if args.command == "compress":
        return _cmd_compress(args)
    if args.command == "retrieve":
        return _cmd_retrieve(args)
    _parser().print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
