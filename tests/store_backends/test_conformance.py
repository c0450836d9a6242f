"""One behavioural suite for every store backend: memory, SQLite and Redis alike."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from headroom import compress, retrieve
from headroom.store import Store, StoreStats, key_for
from headroom.store.base import COMPRESS_ABOVE
from tests.helpers import in_threads

PERSISTENT = ("sqlite", "redis")


def test_implements_the_protocol(store):
    assert isinstance(store, Store)


def test_round_trip_is_byte_exact(store):
    samples = {
        "plain": "hello world",
        "empty": "",
        "unicode": "naïve café ✓ 日本語 🚀\r\n\ttabs and CRLF\x00nul",
        "surrogate": "broken \ud800 surrogate",
        "json": json.dumps({"a": [1, 2, 3], "b": None}),
    }
    for name, text in samples.items():
        store.put(f"hr_{name}", text)
    for name, text in samples.items():
        assert store.get(f"hr_{name}") == text, name


def test_missing_key(store):
    assert store.get("hr_does_not_exist") is None
    assert store.exists("hr_does_not_exist") is False
    assert store.delete("hr_does_not_exist") is False


def test_overwrite_replaces(store):
    store.put("hr_k", "first")
    store.put("hr_k", "second")
    assert store.get("hr_k") == "second"
    assert store.stats().entries == 1


def test_exists_and_delete(store):
    store.put("hr_k", "v")
    assert store.exists("hr_k")
    assert store.delete("hr_k") is True
    assert not store.exists("hr_k")
    assert store.get("hr_k") is None


def test_large_values_are_stored_compressed(store):
    big = json.dumps([{"id": i, "status": "ok", "message": "all good here"} for i in range(5000)])
    assert len(big) > 10 * COMPRESS_ABOVE
    store.put("hr_big", big)
    assert store.get("hr_big") == big
    stats = store.stats()
    assert stats.entries == 1
    assert 0 < stats.bytes < len(big) // 4  # zlib'd, not raw


def test_small_values_are_stored_raw(store):
    store.put("hr_small", "x" * 100)
    assert store.stats().bytes == 101  # one tag byte + the text


def test_stats(store, make_store):
    assert store.stats().entries == 0
    store.put("hr_a", "aaa")
    store.put("hr_b", "bbbb")
    stats = store.stats()
    assert isinstance(stats, StoreStats)
    assert stats.backend == make_store.backend
    assert stats.entries == 2
    assert stats.bytes == (1 + 3) + (1 + 4)


def test_per_key_ttl_expires(store):
    store.put("hr_short", "gone soon", ttl=0.3)
    store.put("hr_long", "stays", ttl=60)
    assert store.get("hr_short") == "gone soon"
    time.sleep(0.5)
    assert store.get("hr_short") is None
    assert not store.exists("hr_short")
    assert store.get("hr_long") == "stays"
    assert store.stats().entries == 1


def test_default_ttl_expires(make_store):
    store = make_store(ttl=0.3)
    store.put("hr_k", "value")
    assert store.exists("hr_k")
    time.sleep(0.5)
    assert store.get("hr_k") is None


def test_threads_share_one_store(store):
    def work(n: int) -> None:
        for i in range(25):
            key = f"hr_{n}_{i}"
            store.put(key, f"value {n} {i}")
            assert store.get(key) == f"value {n} {i}"

    assert in_threads(work, 4) == []
    assert store.stats().entries == 100


def test_engine_compress_then_retrieve(store):
    rows = [
        {"id": i, "level": "error" if i % 9 == 0 else "info", "text": f"event number {i}"}
        for i in range(300)
    ]
    original = json.dumps(rows, indent=1)
    messages = [
        {"role": "user", "content": "find the errors"},
        {
            "role": "assistant",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "logs", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": original},
    ]
    result = compress(messages, store=store)
    assert result.retrieval_keys, "300 rows should have been compressed"
    key = result.retrieval_keys[0]
    assert retrieve(key, store=store).content == original
    matched = retrieve(key, query="error", store=store)
    assert matched.found and 0 < matched.matched < 300
    assert {r["id"] for r in json.loads(matched.content)} >= {0, 9, 297}


@pytest.mark.parametrize("backend", PERSISTENT, indirect=True)
def test_survives_close_and_reopen(make_store):
    first = make_store()
    first.put("hr_keep", "kept across restarts")
    first.close()
    second = make_store()
    assert second.get("hr_keep") == "kept across restarts"


_CHILD = """
import sys
from headroom.store import open_store
from headroom.store.redis import RedisStore
spec, prefix, key, value = sys.argv[1:5]
store = RedisStore(spec, prefix=prefix) if spec.startswith("redis://") else open_store(spec)
store.put(key, value)
store.close()
"""


@pytest.mark.parametrize("backend", PERSISTENT, indirect=True)
def test_one_process_stores_another_retrieves(make_store, tmp_path):
    value = "stored by a child process ✓ " + key_for("x")
    spec = make_store.url if make_store.backend == "redis" else str(tmp_path / "store.sqlite3")
    subprocess.run(
        [sys.executable, "-c", _CHILD, spec, make_store.prefix, "hr_child", value],
        check=True,
        timeout=60,
        env={**os.environ},
    )
    assert make_store().get("hr_child") == value


def test_open_store_maps_redis_urls(redis_server):
    from headroom.store import open_store
    from headroom.store.redis import RedisStore

    store = open_store(redis_server.url, ttl=5)
    try:
        assert isinstance(store, RedisStore)
        store.put("hr_spec", "via open_store")
        assert store.get("hr_spec") == "via open_store"
        assert store.default_ttl == 5
        ttl_ms = store._client.pttl(store.prefix + "hr_spec")
        assert 0 < ttl_ms <= 5000
        store.delete("hr_spec")
    finally:
        store.close()


def test_redis_ttl_zero_means_no_expiry(redis_server):
    from headroom.store.redis import RedisStore

    store = RedisStore(redis_server.url, ttl=0, prefix="headroom-ttl0:")
    try:
        store.put("hr_forever", "v")
        assert store._client.pttl(store.prefix + "hr_forever") == -1  # no expiry set
        store.put("hr_default", "v", ttl=None)
        assert store._client.pttl(store.prefix + "hr_default") == -1
    finally:
        store.close()


def test_redis_prefixes_isolate_stores(redis_server):
    from headroom.store.redis import RedisStore

    a = RedisStore(redis_server.url, prefix="headroom-a:")
    b = RedisStore(redis_server.url, prefix="headroom-b:")
    try:
        a.put("hr_same", "from a")
        assert b.get("hr_same") is None
        assert b.stats().entries == 0
        assert a.stats().entries == 1
    finally:
        a.delete("hr_same")
        a.close()
        b.close()


def test_redis_unreachable_is_a_store_error():
    pytest.importorskip("redis")
    from headroom.errors import StoreError
    from headroom.store import open_store

    from .conftest import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with pytest.raises(StoreError, match=r"Redis store at redis://127\.0\.0\.1"):
        open_store(url)


def test_redis_url_password_is_not_echoed():
    pytest.importorskip("redis")
    from headroom.errors import StoreError
    from headroom.store.redis import RedisStore

    from .conftest import free_port

    with pytest.raises(StoreError) as info:
        RedisStore(f"redis://user:s3cret@127.0.0.1:{free_port()}/0", socket_timeout=1)
    assert "s3cret" not in str(info.value)


def test_missing_redis_package_names_the_extra(monkeypatch):
    from headroom.errors import MissingExtraError
    from headroom.store.redis import RedisStore

    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.exceptions", None)
    with pytest.raises(MissingExtraError, match=r"\.\[redis\]"):
        RedisStore("redis://127.0.0.1:1/0")
