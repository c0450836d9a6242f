"""Fixtures for the MCP server tests: an isolated data dir, servers in- and out-of-process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import stop_process

pytest.importorskip("mcp", reason="the mcp extra is not installed (pip install '.[mcp]')")

ROWS = [
    {
        "id": i,
        "user": f"user{i:03d}",
        "status": "error" if i % 17 == 0 else "ok",
        "latency_ms": 10 + i % 40,
    }
    for i in range(400)
]
BIG_JSON = json.dumps(ROWS, indent=2)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data dir and SQLite store, for this process and its children."""
    d = tmp_path / "data"
    d.mkdir()
    monkeypatch.setenv("HEADROOM_DATA_DIR", str(d))
    monkeypatch.setenv("HEADROOM_STORE", str(d / "store.sqlite3"))
    from headroom.store import set_default_store

    set_default_store(None)
    yield d
    set_default_store(None)


@pytest.fixture
def server(data_dir: Path):
    from headroom.mcp_server.server import build_server

    return build_server()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, **extra}
    env.pop("PYTHONSTARTUP", None)
    return env


def stdio_params(*args: str, **env: str):
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=sys.executable, args=["-m", "headroom.mcp_server", *args], env=child_env(**env)
    )


class HTTPServer:
    """``python -m headroom.mcp_server --transport http`` on a free loopback port."""

    def __init__(self, *extra: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "headroom.mcp_server",
                "--transport",
                "http",
                "--port",
                str(self.port),
                *extra,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(**(env or {})),
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("HTTP server did not start listening within 20 s")

    def stop(self) -> tuple[bytes, bytes]:
        stop_process(self.proc)
        return self.proc.stdout.read(), self.proc.stderr.read()
