"""Real MCP clients against the real server: the MCP Inspector CLI and Claude Code.

The npm tools are found in $HEADROOM_NPM_TOOLS (a node_modules/.bin directory) or on
PATH; without them these tests skip. CI installs them with:
    npm install --prefix .ci/tools @modelcontextprotocol/inspector @anthropic-ai/claude-code
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from headroom import retrieve
from headroom.mcp_server.cli import main

from .conftest import BIG_JSON, child_env

# Claude Code: no telemetry, no update checks, no other non-essential traffic.
QUIET = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
}


def npm_tool(name: str) -> str:
    tools_dir = os.environ.get("HEADROOM_NPM_TOOLS")
    if tools_dir:
        candidate = Path(tools_dir) / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.skip(
            f"{name} not installed (set HEADROOM_NPM_TOOLS to a node_modules/.bin holding it)"
        )
    return found


def inspector(*args: str, env: dict[str, str]) -> dict:
    exe = npm_tool("mcp-inspector")
    flags = [x for k, v in env.items() for x in ("-e", f"{k}={v}")]
    done = subprocess.run(
        [exe, "--cli", *flags, sys.executable, "-m", "headroom.mcp_server", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_env(),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_inspector_lists_and_calls_tools(data_dir):
    env = {"HEADROOM_DATA_DIR": str(data_dir), "HEADROOM_STORE": str(data_dir / "store.sqlite3")}
    listed = inspector("--method", "tools/list", env=env)
    names = {t["name"] for t in listed["tools"]}
    assert names == {"headroom_compress", "headroom_retrieve", "headroom_stats"}

    done = inspector(
        "--method",
        "tools/call",
        "--tool-name",
        "headroom_compress",
        "--tool-arg",
        f"content={BIG_JSON}",
        "--tool-arg",
        "query=error",
        env=env,
    )
    assert done.get("isError") is False
    sc = done["structuredContent"]
    assert sc["tokens_after"] < sc["tokens_before"]
    key = sc["key"]

    back = inspector(
        "--method",
        "tools/call",
        "--tool-name",
        "headroom_retrieve",
        "--tool-arg",
        f"key={key}",
        env=env,
    )
    assert back["content"][0]["text"] == BIG_JSON
    missing = inspector(
        "--method",
        "tools/call",
        "--tool-name",
        "headroom_retrieve",
        "--tool-arg",
        "key=hr_0000000000000000",
        env=env,
    )
    assert missing["isError"] is True
    assert retrieve(key).content == BIG_JSON  # and the library, in this process, sees it too


def test_claude_code_add_then_list_shows_connected(tmp_path, monkeypatch):
    claude = npm_tool("claude")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HEADROOM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("HEADROOM_STORE", raising=False)
    for k, v in QUIET.items():
        monkeypatch.setenv(k, v)

    assert main(["install", "--claude", claude]) == 0  # runs `claude mcp add headroom -s user -- …`
    config = json.loads((home / ".claude.json").read_text())
    assert config["mcpServers"]["headroom"]["args"][-2:] in (
        ["mcp", "serve"],
        ["-m", "headroom.mcp_server"],
    )

    listed = subprocess.run([claude, "mcp", "list"], capture_output=True, text=True, timeout=120)
    line = next((ln for ln in listed.stdout.splitlines() if ln.startswith("headroom:")), "")
    assert "Connected" in line, listed.stdout + listed.stderr

    assert main(["uninstall", "--claude", claude]) == 0
    listed = subprocess.run([claude, "mcp", "list"], capture_output=True, text=True, timeout=120)
    assert "headroom:" not in listed.stdout
