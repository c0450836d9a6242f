"""In-process MCP client tests: tool listing, schemas, calls and every bad-argument case."""

from __future__ import annotations

import json
import sys

import pytest
from mcp import Client

from headroom import retrieve

from .conftest import BIG_JSON


def text(result) -> str:
    return result.content[0].text


async def test_lists_three_tools_with_typed_schemas(server):
    async with Client(server) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert set(tools) == {"headroom_compress", "headroom_retrieve", "headroom_stats"}

    comp = tools["headroom_compress"].input_schema
    assert comp["required"] == ["content"]
    assert comp["properties"]["content"]["type"] == "string"
    assert comp["properties"]["query"]["type"] == "string"
    assert comp["properties"]["kind"]["enum"] == ["auto", "json", "text"]
    assert comp["additionalProperties"] is False
    out = tools["headroom_compress"].output_schema
    assert set(out["properties"]) >= {
        "compressed",
        "key",
        "tokens_before",
        "tokens_after",
        "transforms",
    }

    ret = tools["headroom_retrieve"].input_schema
    assert ret["required"] == ["key"]
    assert set(ret["properties"]) == {"key", "query"}
    assert tools["headroom_stats"].input_schema["properties"] == {}

    for tool in tools.values():
        assert len(tool.description) > 80, f"{tool.name} needs a real description"
        for name, prop in tool.input_schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    assert (
        "headroom_retrieve" in tools["headroom_compress"].description
        or "key" in tools["headroom_compress"].description
    )
    assert tools["headroom_retrieve"].annotations.read_only_hint is True


async def test_compress_then_retrieve_byte_exact(server):
    async with Client(server) as client:
        res = await client.call_tool("headroom_compress", {"content": BIG_JSON, "query": "error"})
        assert not res.is_error
        sc = res.structured_content
        assert sc["tokens_after"] < sc["tokens_before"] / 2
        assert sc["tokens_saved"] == sc["tokens_before"] - sc["tokens_after"]
        assert sc["transforms"] and all(t.startswith("router:") for t in sc["transforms"])
        assert text(res) == sc["compressed"] and len(sc["compressed"]) < len(BIG_JSON)
        assert sc["key"] in res.content[1].text  # the summary block names the key

        back = await client.call_tool("headroom_retrieve", {"key": sc["key"]})
        assert not back.is_error
        assert text(back) == BIG_JSON  # byte-exact, whitespace and all


async def test_query_retrieval_returns_only_matches(server):
    async with Client(server) as client:
        key = (
            await client.call_tool("headroom_compress", {"content": BIG_JSON})
        ).structured_content["key"]
        res = await client.call_tool("headroom_retrieve", {"key": key, "query": "error"})
    assert not res.is_error
    items = json.loads(text(res))
    assert 0 < len(items) < 400
    assert {r["id"] for r in items} >= {i for i in range(400) if i % 17 == 0}


async def test_query_on_text_returns_matching_lines(server):
    log = "\n".join(
        f"2024-01-01 12:00:{i % 60:02d} {'ERROR disk full' if i == 123 else 'INFO ok'} req={i}"
        for i in range(300)
    )
    async with Client(server) as client:
        key = (await client.call_tool("headroom_compress", {"content": log})).structured_content[
            "key"
        ]
        full = await client.call_tool("headroom_retrieve", {"key": key})
        part = await client.call_tool("headroom_retrieve", {"key": key, "query": "disk full"})
    assert text(full) == log
    assert "req=123" in text(part) and len(text(part)) < len(log) / 10


async def test_passthrough_content_is_still_retrievable(server):
    small = "just a short note"
    async with Client(server) as client:
        res = await client.call_tool("headroom_compress", {"content": small})
        sc = res.structured_content
        assert sc["compressed"] == small and sc["transforms"] == []
        assert sc["tokens_before"] == sc["tokens_after"] > 0
        back = await client.call_tool("headroom_retrieve", {"key": sc["key"]})
        as_text = await client.call_tool("headroom_compress", {"content": BIG_JSON, "kind": "text"})
    assert text(back) == small
    assert as_text.structured_content["compressed"] == BIG_JSON  # 'text' passes through
    assert retrieve(as_text.structured_content["key"]).content == BIG_JSON


async def test_the_library_sees_what_the_server_stored(server):
    async with Client(server) as client:
        key = (
            await client.call_tool("headroom_compress", {"content": BIG_JSON})
        ).structured_content["key"]
    assert retrieve(key).content == BIG_JSON  # same default (SQLite) store


async def test_stats_counts_session_and_overall(server, data_dir):
    from headroom.mcp_server.server import build_server

    async with Client(server) as client:
        await client.call_tool("headroom_compress", {"content": BIG_JSON})
        key = (await client.call_tool("headroom_compress", {"content": "tiny"})).structured_content[
            "key"
        ]
        await client.call_tool("headroom_retrieve", {"key": key})
        stats = json.loads(text(await client.call_tool("headroom_stats", {})))
    s = stats["session"]
    assert s["compress_calls"] == 2 and s["retrieve_calls"] == 1 and s["stats_calls"] == 1
    assert s["tokens_saved"] > 0 and s["tokens_saved"] == s["tokens_before"] - s["tokens_after"]
    assert stats["overall"] == s  # first server on this data dir
    assert stats["store"]["backend"] == "sqlite" and stats["store"]["entries"] == 2
    assert stats["store"]["bytes"] > 0
    assert (data_dir / "mcp_stats.sqlite3").exists()

    # A fresh server (a restart): its session starts at zero, overall carries on.
    async with Client(build_server()) as client:
        again = json.loads(text(await client.call_tool("headroom_stats", {})))
    assert again["session"]["compress_calls"] == 0
    assert again["overall"]["compress_calls"] == 2
    assert again["overall"]["tokens_saved"] == s["tokens_saved"]
    assert again["overall"]["stats_calls"] == 2


BAD_CALLS = [
    ("headroom_compress", {}, "content"),
    ("headroom_compress", {"content": ""}, "empty"),
    ("headroom_compress", {"content": "   \n\t"}, "empty"),
    ("headroom_compress", {"content": 42}, "valid string"),
    ("headroom_compress", {"content": ["a", "b"]}, "valid string"),
    ("headroom_compress", {"content": None}, "valid string"),
    ("headroom_compress", {"content": "x", "query": 7}, "valid string"),
    ("headroom_compress", {"content": "x", "kind": "xml"}, "'auto', 'json' or 'text'"),
    ("headroom_compress", {"content": "not json {", "kind": "json"}, "not valid JSON"),
    ("headroom_compress", {"content": "x", "bogus": 1}, "Extra inputs are not permitted"),
    ("headroom_compress", {"content": "x", "query": "q" * 5000}, "too long"),
    ("headroom_retrieve", {}, "key"),
    ("headroom_retrieve", {"key": ""}, "required"),
    ("headroom_retrieve", {"key": 123}, "valid string"),
    ("headroom_retrieve", {"key": "hr_0000000000000000"}, "No stored original"),
    ("headroom_retrieve", {"key": "no such key with spaces"}, "not a Headroom retrieval key"),
    ("headroom_retrieve", {"key": "hr_0000000000000000", "query": ["x"]}, "valid string"),
    (
        "headroom_retrieve",
        {"key": "hr_0000000000000000", "keys": "x"},
        "Extra inputs are not permitted",
    ),
    ("headroom_stats", {"verbose": True}, "Extra inputs are not permitted"),
]


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    BAD_CALLS,
    ids=[f"{t}-{i}" for i, (t, _, _) in enumerate(BAD_CALLS)],
)
async def test_bad_arguments_are_tool_errors(server, tool, args, message):
    async with Client(server) as client:
        res = await client.call_tool(tool, args)
        assert res.is_error
        assert message in text(res)
        # ...and the server keeps serving.
        ok = await client.call_tool("headroom_compress", {"content": "still alive"})
        assert not ok.is_error


async def test_fifty_megabytes_is_refused_with_a_message(server):
    huge = "a" * (50 * 1024 * 1024)
    async with Client(server) as client:
        res = await client.call_tool("headroom_compress", {"content": huge})
        assert res.is_error
        assert "too large" in text(res) and "limit" in text(res)
        assert not (await client.call_tool("headroom_stats", {})).is_error


async def test_expired_key_is_a_tool_error(data_dir):
    import time

    from headroom import MemoryStore
    from headroom.mcp_server.server import build_server

    store = MemoryStore(ttl=0.2)
    async with Client(build_server(store=store)) as client:
        key = (
            await client.call_tool("headroom_compress", {"content": "soon gone"})
        ).structured_content["key"]
        assert not (await client.call_tool("headroom_retrieve", {"key": key})).is_error
        time.sleep(0.4)
        res = await client.call_tool("headroom_retrieve", {"key": key})
    assert res.is_error and "expired" in text(res)


async def test_an_unreachable_store_is_a_readable_tool_error(data_dir):
    from headroom.mcp_server.server import build_server

    pytest.importorskip("redis")
    async with Client(build_server(store="redis://127.0.0.1:1/0")) as client:
        for name, args in (
            ("headroom_compress", {"content": BIG_JSON}),
            ("headroom_retrieve", {"key": "hr_0123456789abcdef"}),
            ("headroom_stats", {}),
        ):
            res = await client.call_tool(name, args)
            assert res.is_error, name
            assert "127.0.0.1:1" in text(res) or "unavailable" in text(res), (name, text(res))


def test_serve_refuses_an_unreachable_store(data_dir, capsys):
    from headroom.mcp_server.cli import main

    pytest.importorskip("redis")
    assert main(["serve", "--store", "redis://127.0.0.1:1/0"]) == 1
    assert "Redis" in capsys.readouterr().err


async def test_unknown_tool_is_reported(server):
    async with Client(server) as client:
        try:
            res = await client.call_tool("headroom_nope", {})
        except Exception as exc:  # a protocol error is also an acceptable answer
            assert "headroom_nope" in str(exc) or "Unknown tool" in str(exc)
        else:
            assert res.is_error and "headroom_nope" in text(res)


def test_missing_mcp_names_the_extra(monkeypatch):
    from headroom.errors import MissingExtraError
    from headroom.mcp_server.server import build_server

    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(MissingExtraError, match=r"\.\[mcp\]"):
        build_server()


def test_importing_the_package_does_not_import_mcp():
    import subprocess

    code = (
        "import sys, headroom.mcp_server, headroom.mcp_server.cli, headroom.mcp_server.install;"
        "import headroom.mcp_server.server;"
        "print(sorted(m for m in ('mcp', 'tiktoken', 'uvicorn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
