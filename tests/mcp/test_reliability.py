"""Issue 12 on the MCP server: body limit before reading, remote binds, bearer scheme,
private stats file."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest


class _Recorder:
    """A downstream ASGI app that answers 200 and records that it was reached."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _call(app: Any, headers: list[tuple[bytes, bytes]], body_chunks: list[bytes]):
    """Drive ``app`` with one POST; returns (status, how many body chunks it read)."""
    chunks = list(body_chunks)
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if chunks:
            read += 1
            chunk = chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8788),
    }
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, read


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        (b"Bearer s3cret", True),
        (b"bearer s3cret", True),
        (b"BEARER  s3cret ", True),
        (b"Basic s3cret", False),
        (b"Bearer wrong", False),
        (b"s3cret", False),
        (b"", False),
    ],
)
async def test_bearer_scheme_is_case_insensitive(header: bytes, allowed: bool):
    from headroom.mcp_server.cli import BearerAuth

    inner = _Recorder()
    app = BearerAuth(inner, "s3cret")
    headers = [(b"authorization", header)] if header else []
    status, read = await _call(app, headers, [b"{}"])
    assert (status == 200) is allowed and inner.called is allowed
    if not allowed:
        assert read == 0  # a refused request's body is never read


async def test_oversized_body_is_refused_before_it_is_read(data_dir: Path):
    from headroom.mcp_server.cli import MAX_HTTP_BODY, http_app
    from headroom.mcp_server.server import build_server

    assert MAX_HTTP_BODY == 32 * 1024 * 1024
    app = http_app(build_server(), token="s3cret", max_body=1024)
    headers = [
        (b"authorization", b"Bearer s3cret"),
        (b"content-type", b"application/json"),
        (b"accept", b"application/json, text/event-stream"),
        (b"content-length", str(200 * 1024 * 1024).encode()),
    ]
    status, read = await _call(app, headers, [b"x" * 1024] * 5)
    assert status == 413 and read == 0
    # Without a declared length, reading stops at the limit.
    status, read = await _call(app, headers[:3], [b"x" * 600] * 50)
    assert status == 413 and read <= 2


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.7", "example.com"])
def test_remote_bind_without_a_token_is_refused(host: str, data_dir: Path, capsys, monkeypatch):
    from headroom.mcp_server import cli

    monkeypatch.delenv(cli.TOKEN_ENV, raising=False)
    started: list[Any] = []
    monkeypatch.setattr(cli, "run_http", lambda *a, **k: started.append(a))
    assert cli.main(["serve", "--transport", "http", "--host", host]) == 2
    assert "--allow-remote-without-auth" in capsys.readouterr().err and not started
    # With a token, or when explicitly allowed, it serves.
    assert cli.main(["serve", "--transport", "http", "--host", host, "--token", "t"]) == 0
    assert cli.main(["serve", "--transport", "http", "--host", host,
                     "--allow-remote-without-auth"]) == 0  # fmt: skip
    assert len(started) == 2


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "localhost"])
def test_loopback_needs_no_token(host: str, data_dir: Path, monkeypatch):
    from headroom.mcp_server import cli

    monkeypatch.delenv(cli.TOKEN_ENV, raising=False)
    started: list[Any] = []
    monkeypatch.setattr(cli, "run_http", lambda *a, **k: started.append(k))
    assert cli.main(["serve", "--transport", "http", "--host", host, "--max-body-mb", "2"]) == 0
    assert started == [{"max_body": 2 * 1024 * 1024}]


@pytest.mark.skipif(os.name == "nt", reason="POSIX permissions")
def test_stats_file_is_private(data_dir: Path):
    from headroom.mcp_server.server import UsageStats, stats_path

    os.chmod(data_dir, 0o755)
    stats = UsageStats()
    stats.add(compress_calls=1)
    stats.close()
    assert stats.path == stats_path()
    assert stat.S_IMODE(os.stat(stats.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700
    # An existing file made readable is tightened again on open.
    os.chmod(stats.path, 0o644)
    again = UsageStats()
    again.add(compress_calls=1)
    again.close()
    assert stat.S_IMODE(os.stat(stats.path).st_mode) == 0o600
