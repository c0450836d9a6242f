"""JSONL request logs: one whole line per request, no content unless asked, never a key,
rotation by size, one file per worker process."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.proxy.conftest import RunningProxy
from tests.proxy.fake_upstream import FakeUpstream, service_log
from tests.test_wire import anthropic_body, chat_body

SECRET = "sk-ant-api03-LOG-SECRET"


def lines(folder: Path, expect: int = 0) -> list[dict[str, object]]:
    """The logged records; waits (at most 10 s) until ``expect`` are there, since a line
    is written once its response has been sent, a moment after the client has it."""
    deadline = time.monotonic() + 10
    while True:
        got = _read(folder)
        if len(got) >= expect or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


def _read(folder: Path) -> list[dict[str, object]]:
    out = []
    for path in sorted(folder.glob("requests*")):
        text = path.read_text()
        assert SECRET not in text
        out += [json.loads(line) for line in text.splitlines()]
    return out


def test_one_line_per_request_without_content_or_key(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    proxy = start_proxy(log_file=str(tmp_path / "requests.jsonl"))
    headers = {"x-api-key": SECRET}
    r = httpx.post(proxy.url + "/v1/messages", json=anthropic_body(service_log()), headers=headers)
    saved = int(r.headers["x-headroom-tokens-saved"])
    httpx.post(proxy.url + "/v1/chat/completions", json=chat_body("hello there"), headers=headers)
    httpx.get(proxy.url + "/v1/models", headers=headers)
    got = lines(tmp_path, expect=3)
    assert len(got) == 3
    first = got[0]
    assert first["provider"] == "anthropic" and first["model"] == "claude-sonnet-4-5"
    assert first["status"] == 200 and first["tokens_saved"] == saved > 0
    assert first["input_tokens"] == 100 and first["output_tokens"] == 10
    assert str(first["client"]).startswith("k:") and first["cache_hit"] is False
    assert isinstance(first["overhead_ms"], float) and first["upstream_ms"] is not None
    assert first["transforms"] and "request" not in first
    assert got[1]["provider"] == "openai" and got[1]["model"] == "gpt-4o"
    assert got[2]["route"] == "other" and len({g["id"] for g in got}) == 3
    assert "hello there" not in (tmp_path / "requests.jsonl").read_text()


def test_messages_only_when_asked_and_rotation(
    fake: FakeUpstream, start_proxy: Callable[..., RunningProxy], tmp_path: Path
) -> None:
    proxy = start_proxy(
        log_file=str(tmp_path / "requests.jsonl"), log_messages=True,
        log_max_bytes=2000, log_backups=50,
    )  # fmt: skip
    for i in range(20):
        body = chat_body(f"question {i}")
        r = httpx.post(proxy.url + "/v1/chat/completions", json=body, headers={"api-key": SECRET})
        assert r.status_code == 200
    got = lines(tmp_path, expect=20)
    files = list(tmp_path.glob("requests*"))
    assert len(files) > 2 and all(f.stat().st_size <= 2000 + 1500 for f in files)
    assert len(got) == 20  # rotation loses no line
    asked = {json.dumps(g["request"]) for g in got}
    assert all(any(f"question {i}" in a for a in asked) for i in range(20))
