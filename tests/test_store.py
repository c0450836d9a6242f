import subprocess
import sys
import time

import pytest

from headroom import MemoryStore, SQLiteStore, open_store
from headroom.errors import ConfigError
from headroom.store import key_for
from headroom.store.base import COMPRESS_ABOVE, decode, encode
from tests.helpers import in_threads

ODD = "tab\t, emoji 🧪, lone surrogate \udc80, NUL \x00 and CRLF\r\n"


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    s = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "s.sqlite3")
    yield s
    s.close()


def test_roundtrip_is_byte_exact(store):
    for value in (ODD, "x" * (COMPRESS_ABOVE * 4), ""):
        key = key_for(value)
        store.put(key, value)
        assert store.get(key) == value
        assert store.exists(key)


def test_missing_delete_and_stats(store):
    assert store.get("hr_0000000000000000") is None
    store.put("k1", "abc")
    assert store.stats().entries == 1
    assert store.delete("k1") and not store.delete("k1")
    assert store.stats().entries == 0


def test_ttl_expiry(store):
    store.put("short", "gone soon", ttl=0.05)
    store.put("long", "stays", ttl=60)
    time.sleep(0.1)
    assert store.get("short") is None and not store.exists("short")
    assert store.get("long") == "stays"


def test_equal_content_equal_key():
    assert key_for("same") == key_for("same") != key_for("other")
    assert key_for("x").startswith("hr_") and len(key_for("x")) == 19


def test_codec_compresses_large_values():
    big = "line of a repetitive log\n" * 10_000
    assert len(encode(big)) < len(big) // 10
    assert decode(encode(big)) == big


def test_memory_store_is_bounded_by_bytes():
    s = MemoryStore(max_bytes=1000)
    for i in range(50):
        s.put(f"k{i}", f"{i:04d}" * 40)
    assert s.stats().bytes <= 1000
    assert s.get("k49") is not None and s.get("k0") is None


def test_sqlite_survives_reopen_and_threads(tmp_path):
    path = tmp_path / "db.sqlite3"
    first = SQLiteStore(path)

    def writer(n):
        for i in range(20):
            first.put(f"t{n}-{i}", f"value {n} {i}")

    assert not in_threads(writer, 4)
    first.close()
    again = SQLiteStore(path)
    assert again.stats().entries == 80 and again.get("t3-19") == "value 3 19"


def test_sqlite_shared_across_processes(tmp_path):
    path = tmp_path / "shared.sqlite3"
    code = (
        "import sys; from headroom import SQLiteStore; "
        "SQLiteStore(sys.argv[1]).put('hr_cross', 'written by a child \\udc80')"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)
    assert SQLiteStore(path).get("hr_cross") == "written by a child \udc80"


def test_open_store_specs(tmp_path):
    assert isinstance(open_store("memory"), MemoryStore)
    s = open_store(f"sqlite://{tmp_path}/a.sqlite3")
    assert isinstance(s, SQLiteStore) and s.path == tmp_path / "a.sqlite3"
    assert isinstance(open_store(str(tmp_path / "b.sqlite3")), SQLiteStore)
    with pytest.raises(ConfigError):
        open_store("ftp://nope")
    with pytest.raises(ConfigError):
        open_store(42)


def test_a_spec_string_names_one_store_per_process():
    """compress(store="memory") and retrieve(store="memory") must meet the same originals."""
    from headroom import compress, retrieve, shared_store

    from .helpers import openai_turn, records

    original = records(200)
    result = compress(openai_turn(original), store="memory")
    assert result.retrieval_keys, "200 records should be crushed"
    key = result.retrieval_keys[0]
    assert retrieve(key, store="memory").content == original
    assert shared_store("memory") is shared_store(" memory ")
    assert open_store("memory") is not shared_store("memory")  # explicit opens stay fresh
    assert retrieve(key, store=MemoryStore()).found is False


def test_the_default_store_is_the_shared_store_of_its_spec(monkeypatch):
    """With HEADROOM_STORE=memory, the default store and store="memory" are one store."""
    from headroom import compress, retrieve, set_default_store, shared_store
    from headroom.store import default_store

    from .helpers import openai_turn, records

    monkeypatch.setenv("HEADROOM_STORE", "memory")
    set_default_store(None)
    try:
        assert default_store() is shared_store("memory")
        original = records(200)
        key = compress(openai_turn(original)).retrieval_keys[0]
        assert retrieve(key, store="memory").content == original
        set_default_store(None)  # reopens from the environment: a fresh memory store
        assert retrieve(key).found is False
    finally:
        monkeypatch.undo()
        set_default_store(None)
