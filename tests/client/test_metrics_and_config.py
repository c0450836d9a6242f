"""Metrics records (memory and SQLite), SmartCrusherConfig, offline counting, import cost."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from headroom import ConfigError, HeadroomClient, SmartCrusherConfig, compress
from tests.client.helpers import request_args, sdk_client
from tests.proxy.fake_upstream import FakeUpstream


def test_sqlite_metrics_persist_with_mode_0600(tmp_path: Path, fake: FakeUpstream) -> None:
    path = tmp_path / "metrics.db"
    url = f"sqlite:///{path}"
    client = HeadroomClient(original_client=sdk_client("openai", fake), metrics_url=url)
    start = time.time()
    client.chat.completions.create(**request_args("openai"))
    client.chat.completions.create(**request_args("openai"), headroom_mode="audit")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # A second client (another process, say) reads the same records.
    again = HeadroomClient(original_client=sdk_client("openai", fake), metrics_url=url)
    records = again.get_metrics()
    assert [r.mode for r in records] == ["optimize", "audit"]
    assert records == client.get_metrics()
    assert again.get_metrics(mode="audit") == records[1:]
    assert again.get_metrics(model="gpt-4o") == records
    assert again.get_metrics(model="gpt-4.1") == []
    assert again.get_metrics(since=start - 1) == records
    assert again.get_metrics(since=datetime.now(timezone.utc).replace(year=2100)) == []
    # No message content unless asked.
    assert all(r.content is None for r in records)
    assert b"card_declined" not in path.read_bytes()
    with pytest.raises(ConfigError, match="since"):
        again.get_metrics(since="yesterday")


def test_content_is_stored_only_when_asked(fake: FakeUpstream) -> None:
    client = HeadroomClient(original_client=sdk_client("openai", fake), store_content=True)
    client.chat.completions.create(**request_args("openai"))
    [record] = client.get_metrics()
    assert record.content is not None and "card_declined" in record.content
    sent = fake.received[0].json()["messages"]
    assert json.loads(record.content) == sent


def test_bad_metrics_url_and_mode_are_clear_errors(fake: FakeUpstream) -> None:
    with pytest.raises(ConfigError, match="sqlite:///"):
        HeadroomClient(original_client=sdk_client("openai", fake), metrics_url="postgres://x")
    with pytest.raises(ConfigError, match="headroom_mode"):
        HeadroomClient(original_client=sdk_client("openai", fake), default_mode="dry-run")


def test_smart_crusher_config_validation() -> None:
    with pytest.raises(ConfigError, match="keep_first"):
        SmartCrusherConfig(keep_first=-1)
    with pytest.raises(ConfigError, match="relevance_threshold"):
        SmartCrusherConfig(relevance_threshold=1.5)
    with pytest.raises(ConfigError, match="max_items_after_crush"):
        SmartCrusherConfig(max_items_after_crush=0)
    with pytest.raises(ConfigError, match="exceeds max_items_after_crush"):
        SmartCrusherConfig(max_items_after_crush=4, keep_first=3, keep_last=2)
    with pytest.raises(ConfigError, match="min_tokens_to_crush"):
        SmartCrusherConfig(min_tokens_to_crush=True)  # type: ignore[arg-type]


def _json_turn(items: list[Any], question: str = "list users") -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "q", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c", "content": json.dumps(items)},
    ]


def test_smart_crusher_config_in_compress() -> None:
    items = [{"id": i, "name": f"user{i}", "status": "active", "score": i % 7} for i in range(100)]
    cfg = SmartCrusherConfig(
        min_tokens_to_crush=50, max_items_after_crush=10, keep_first=2, keep_last=1
    )
    out = json.loads(compress(_json_turn(items), smart_crusher_config=cfg).messages[2]["content"])
    kept = [x["id"] for x in out if "id" in x]
    assert kept[:2] == [0, 1] and kept[-1] == 99 and len(kept) <= 10
    # min_tokens_to_crush is the JSON threshold only: a small JSON output is crushed...
    small = [{"id": i, "name": f"user{i}"} for i in range(12)]
    cfg = SmartCrusherConfig(
        min_tokens_to_crush=50, max_items_after_crush=5, keep_first=1, keep_last=1
    )
    [report] = compress(_json_turn(small), smart_crusher_config=cfg).outputs
    assert report.kind == "json" and report.tokens_after < report.tokens_before
    # ... while text of the same size keeps the general threshold (250 tokens).
    text = "\n".join(
        f"line {i} of a small plain note about nothing in particular" for i in range(12)
    )
    note = [*_json_turn([])[:2], {"role": "tool", "tool_call_id": "c", "content": text}]
    [report] = compress(note, smart_crusher_config=cfg).outputs
    assert report.skipped == "below min_tokens_to_compress"


def test_relevance_threshold_keeps_the_items_the_query_is_about() -> None:
    items = [
        {"id": i, "city": "paris" if i % 10 == 3 else "lyon", "note": f"row {i}"}
        for i in range(120)
    ]
    turn = _json_turn(items, "which rows are in paris?")
    strict = SmartCrusherConfig(max_items_after_crush=20, keep_first=1, keep_last=1,
                                relevance_threshold=0.5)  # fmt: skip
    out = json.loads(compress(turn, smart_crusher_config=strict).messages[2]["content"])
    cities = [x["city"] for x in out if "city" in x]
    assert cities.count("paris") == 12  # every relevant item, within the cap


def test_counting_and_simulate_never_touch_the_network(
    fake: FakeUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = HeadroomClient(original_client=sdk_client("anthropic", fake))
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if isinstance(address, tuple) and address[0] not in ("127.0.0.1", "::1", "localhost"):
            raise AssertionError(f"network access to {address!r}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    args = request_args("anthropic")
    plan = client.messages.simulate(**{**args, "model": "claude-opus-4-1"})
    assert plan.tokens_saved > 0 and not plan.tokens_exact
    assert client.messages.count_tokens.simulate(**args).input_tokens > 0
    assert fake.received == []


def test_import_headroom_stays_light() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import headroom; "
        "d = time.perf_counter() - t; "
        "print(d, 'httpx2' in sys.modules, 'openai' in sys.modules, 'genai_prices' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[1:] == ["False", "False", "False"]
    assert "HeadroomClient" in __import__("headroom").__all__


def _crushed(doc: Any, question: str, cfg: SmartCrusherConfig) -> Any:
    return json.loads(
        compress(_json_turn(doc, question), smart_crusher_config=cfg).messages[2]["content"]
    )


def test_relevance_threshold_drops_low_scores_and_keeps_high_ones() -> None:
    # 8 items hold "full" and "alpha", 16 only "alpha" (about 0.4 of the best score), 30
    # only "disk", which most matching items hold: it does not count (score 0).
    def msg(i: int) -> str:
        if i % 15 == 7:
            return f"disk full on alpha, shard {i}"
        if i % 6 == 1:
            return f"alpha heartbeat {i}"
        if i % 4 == 2:
            return f"disk scan {i}"
        return f"ok {i}"

    items = [{"id": i, "msg": msg(i)} for i in range(120)]
    high = {i for i in range(120) if i % 15 == 7}
    low = {i for i in range(120) if i % 6 == 1} - high
    assert len(high) == 8 and len(low) == 16
    question = "disk full on alpha"
    cfg = SmartCrusherConfig(max_items_after_crush=20, keep_first=1, keep_last=1,
                             relevance_threshold=0.5)  # fmt: skip
    kept = {x["id"] for x in _crushed(items, question, cfg) if "id" in x}
    assert kept == high | {0, 119}  # every high scorer (above 0.5 of the best), no low one
    # At 0.3 the low ones are candidates to keep too: the best first, as the cap allows.
    cfg = SmartCrusherConfig(max_items_after_crush=20, keep_first=1, keep_last=1,
                             relevance_threshold=0.3)  # fmt: skip
    kept = {x["id"] for x in _crushed(items, question, cfg) if "id" in x}
    assert high | {0, 119} < kept <= high | low | {0, 119} and len(kept) == 20


def _kept(out: Any) -> list[Any]:
    if isinstance(out, dict):
        return [k for k in out if not k.startswith("__headroom__")]
    return [x for x in out if not (isinstance(x, dict) and "__headroom__" in x)
            and not (isinstance(x, str) and x.startswith("[headroom:"))]  # fmt: skip


def test_max_items_after_crush_is_a_hard_cap_on_every_container_kind() -> None:
    # The ends alone fill the cap; the lexical matches would push it over.
    cfg = SmartCrusherConfig(max_items_after_crush=5, keep_first=3, keep_last=2)
    question = "which entries mention nightly or beta"

    def text(i: int) -> str:
        return (
            f"entry {i} nightly"
            if i % 30 == 10
            else f"entry {i} beta"
            if i % 9 == 4
            else f"entry {i}"
        )

    records = [{"id": i, "note": text(i), "size": 100 + i % 3} for i in range(100)]
    scalars = [text(i) for i in range(100)]
    mapping = {f"pkg{i}": {"note": text(i), "deps": [i % 4]} for i in range(100)}
    for doc, first in ((records, records[0]), (scalars, scalars[0]), (mapping, "pkg0")):
        out = _crushed(doc, question, cfg)
        kept = _kept(out)
        assert len(kept) == 5, kept
        assert kept[0] == first  # the first items stay, as named
        marker = out["__headroom__"] if isinstance(out, dict) else json.dumps(out[-1])
        assert "95 of 100" in marker and "over the cap" not in marker


def test_errors_and_query_matches_survive_over_the_cap_and_the_marker_says_so() -> None:
    kinds = ["disk quota exceeded", "connection refused", "permission denied",
             "segmentation fault", "out of memory", "certificate expired"]  # fmt: skip
    items = [{"id": i, "user": f"user_{i}", "status": "ok", "msg": "fine"} for i in range(200)]
    for n, kind in enumerate(kinds):
        items[20 + 25 * n] = {"id": 20 + 25 * n, "user": "x", "status": "error", "msg": kind}
    cfg = SmartCrusherConfig(max_items_after_crush=5, keep_first=1, keep_last=1)
    out = _crushed(items, "what happened to user_42?", cfg)
    kept = _kept(out)
    assert {x["msg"] for x in kept if x["status"] == "error"} == set(kinds)
    assert any(x["user"] == "user_42" for x in kept)
    assert len(kept) == 7  # 6 errors + the named user: the ends gave way, the cap yielded
    assert "over the cap of 5 items" in out[-1]["__headroom__"]
    assert "193 of 200 items omitted" in out[-1]["__headroom__"]
    # Without the config the same input keeps more (max_items is only a budget there).
    default = json.loads(compress(_json_turn(items, "what happened to user_42?"),
                                  min_tokens_to_compress=50).messages[2]["content"])  # fmt: skip
    assert "over the cap" not in json.dumps(default)
