"""Claude Code's CLI through the proxy, against the fake upstream (one ``claude -p`` run).

The fake asks for a Bash command that prints a 480-line service log with one ERROR line.
Claude Code runs it and sends the output back through the proxy, which compresses it.
The fake then asks for ``headroom_retrieve`` (offered by the proxy); the proxy answers it
in a hidden round, and Claude Code finishes with the fake's final answer without ever
seeing that call. Claude Code is found in $HEADROOM_NPM_TOOLS or on PATH, else skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from headroom.markers import keys_in
from headroom.retrieval import RETRIEVE_TOOL_NAME
from tests.mcp.test_real_clients import QUIET, npm_tool
from tests.proxy.fake_upstream import FakeUpstream

ERROR_LINE = "2026-03-01T10:05:11Z ERROR payments charge failed: card_declined ord_00311"


def short_log() -> str:
    """480 lines, about 29 KB: under Claude Code's inline limit for a Bash output."""
    lines = [
        f"2026-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z INFO payments ok /charge ms={20 + i % 37} ord_{i:05d}"
        for i in range(480)
    ]
    lines[311] = ERROR_LINE
    return "\n".join(lines) + "\n"


def _tool_uses(message: dict[str, Any]) -> dict[str, str]:
    content = message.get("content")
    return {
        b["id"]: b["name"]
        for b in content if isinstance(content, list)
        for b in ([b] if isinstance(b, dict) and b.get("type") == "tool_use" else [])
    } if isinstance(content, list) else {}  # fmt: skip


def _results(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if message.get("role") != "user" or not isinstance(content, list):
        return []
    return [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]


def _text(result: dict[str, Any]) -> str:
    c = result.get("content")
    if isinstance(c, str):
        return c
    return "".join(p.get("text", "") for p in c or () if isinstance(p, dict))


def scripted_model(log_path: Path) -> Any:
    def script(body: dict[str, Any]) -> dict[str, Any]:
        tools = {t.get("name") for t in body.get("tools") or () if isinstance(t, dict)}
        messages = body.get("messages") or []
        if "Bash" not in tools or not messages:
            return {"text": "ok"}
        last = messages[-1]
        results = _results(last)
        if not results:
            return {
                "text": "I'll print the log.",
                "tools": [
                    {
                        "name": "Bash",
                        "input": {
                            "command": f"cat {log_path}",
                            "description": "Print the service log",
                        },
                    }
                ],
            }
        asked = _tool_uses(messages[-2]) if len(messages) > 1 else {}
        if any(asked.get(r.get("tool_use_id")) == RETRIEVE_TOOL_NAME for r in results):
            found = [line for r in results for line in _text(r).splitlines() if "ERROR" in line]
            return {"text": "FINAL: " + (found[0] if found else "nothing found")}
        keys = [k for r in results for k in keys_in(_text(r))]
        if keys and RETRIEVE_TOOL_NAME in tools:
            return {
                "text": "Fetching the errors.",
                "tools": [
                    {"name": RETRIEVE_TOOL_NAME, "input": {"key": keys[0], "query": "ERROR"}}
                ],
            }
        return {"text": "FINAL: the output was not compressed"}

    return script


def test_claude_code_through_the_proxy(fake: FakeUpstream, proxy: Any, tmp_path: Path) -> None:
    claude = npm_tool("claude")
    log_path = tmp_path / "service.log"
    log = short_log()
    log_path.write_text(log)
    fake.script = scripted_model(log_path)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))},
        **QUIET,
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": proxy.url,
        "ANTHROPIC_API_KEY": "sk-ant-dummy",
    }
    done = subprocess.run(
        [claude, "-p", "Find the error in the service log.", "--allowedTools", "Bash",
         "--output-format", "stream-json", "--verbose"],
        capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:] + done.stdout[-2000:]
    transcript = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    final = [m for m in transcript if m.get("type") == "result"]
    assert final and final[-1]["result"].startswith("FINAL: " + ERROR_LINE)
    # Claude Code never saw the retrieval call, nor the tool.
    assert RETRIEVE_TOOL_NAME not in done.stdout

    main = [r.json() for r in fake.received if r.path == "/v1/messages" and r.json().get("tools")]
    with_output = [b for b in main if any(_results(m) for m in b["messages"][-1:])]
    sent = _text(_results(with_output[0]["messages"][-1])[0])
    assert ERROR_LINE in sent and len(sent) < len(log) / 10  # compressed, the error kept
    assert with_output[0]["tools"][-1]["name"] == RETRIEVE_TOOL_NAME
    hidden = _text(_results(with_output[-1]["messages"][-1])[0])
    assert hidden.strip() == ERROR_LINE  # the hidden round's answer: the matching line
    stats = proxy.app.ledger.summary()
    assert stats.retrieval_rounds == 1 and stats.tokens_saved > 0
    print(f"\nClaude Code: {len(log)} chars of output sent upstream as {len(sent)} chars")
