"""The decoded-vocabulary cache: exact, verified, and safe to share between processes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from headroom import tokens
from headroom.samples import log_entries
from headroom.tokens import CL100K, O200K, _parse_bundled, _vocab_path, cache_dir, load_ranks


def _bundled(encoding: str) -> dict[bytes, int]:
    with open(_vocab_path(encoding), "rb") as fh:
        return _parse_bundled(fh.read())


def _cache_files(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def _encoding(encoding: str, ranks: dict[bytes, int]) -> tiktoken.Encoding:
    return tiktoken.Encoding(
        name=encoding,
        pat_str=tokens._PATTERNS[encoding],
        mergeable_ranks=ranks,
        special_tokens=tokens._SPECIAL[encoding],
    )


@pytest.fixture(scope="module")
def o200k_pair(tmp_path_factory):
    """An encoder built from the cache and one built from the bundled file."""
    directory = tmp_path_factory.mktemp("bpe")
    load_ranks(O200K, str(directory))
    cached, source = load_ranks(O200K, str(directory))
    assert source == "cache"
    return _encoding(O200K, cached), _encoding(O200K, _bundled(O200K))


@pytest.mark.parametrize("encoding", [O200K, CL100K])
def test_cache_round_trip_is_identical_to_the_bundled_file(tmp_path, encoding):
    first, source = load_ranks(encoding, str(tmp_path))
    assert source == "bundled"
    [name] = _cache_files(tmp_path)
    assert name.startswith(encoding) and name.endswith(".bpe")
    second, source = load_ranks(encoding, str(tmp_path))
    assert source == "cache"
    assert second == first == _bundled(encoding)
    assert list(second.items()) == list(first.items())  # same order, same ranks


SAMPLES = [
    "Hello world",
    json.dumps(log_entries(200), indent=2),
    "naïve café — 🧪 tests\r\n\tindent   trailing   \n\n",
    "<|endoftext|> is plain text here",
    "def f(x):\n    return x ** 2  # comment\n" * 50,
]


@pytest.mark.parametrize("text", SAMPLES)
def test_encoder_from_the_cache_counts_exactly(o200k_pair, text):
    cached, bundled = o200k_pair
    assert cached.encode_ordinary(text) == bundled.encode_ordinary(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_encoder_from_the_cache_matches_on_any_text(o200k_pair, text):
    cached, bundled = o200k_pair
    assert cached.encode_ordinary(text) == bundled.encode_ordinary(text)


def _only_cache_file(directory) -> str:
    [name] = _cache_files(directory)
    return os.path.join(directory, name)


@pytest.mark.parametrize(
    "damage",
    ["flip a payload byte", "truncate", "empty", "wrong magic", "other source", "garbage"],
)
def test_a_damaged_cache_falls_back_and_is_rewritten(tmp_path, damage):
    expected, _ = load_ranks(O200K, str(tmp_path))
    path = _only_cache_file(tmp_path)
    with open(path, "rb") as fh:
        data = bytearray(fh.read())
    if damage == "flip a payload byte":
        data[len(data) // 2] ^= 0x01
    elif damage == "truncate":
        del data[len(data) // 3 :]
    elif damage == "empty":
        data = bytearray()
    elif damage == "wrong magic":
        data[:4] = b"XXXX"
    elif damage == "other source":
        start = 16 + 8  # magic, n, flags
        data[start : start + 32] = hashlib.sha256(b"another vocabulary").digest()
    else:
        data = bytearray(os.urandom(5000))
    with open(path, "wb") as fh:
        fh.write(data)
    ranks, source = load_ranks(O200K, str(tmp_path))
    assert source == "bundled" and ranks == expected
    again, source = load_ranks(O200K, str(tmp_path))  # rewritten whole
    assert source == "cache" and again == expected


def test_a_consistent_but_forged_length_is_refused(tmp_path):
    """A payload whose digest matches but whose offsets disagree with its length."""
    load_ranks(O200K, str(tmp_path))
    path = _only_cache_file(tmp_path)
    with open(path, "rb") as fh:
        data = fh.read()
    header, payload = data[: tokens._CACHE_HEADER.size], data[tokens._CACHE_HEADER.size :]
    magic, n, flags, source, _ = tokens._CACHE_HEADER.unpack(header)
    payload = payload[:-1]  # one byte short of the last offset
    digest = hashlib.blake2b(payload, digest_size=32).digest()
    forged = tokens._CACHE_HEADER.pack(magic, n, flags, source, digest) + payload
    assert tokens._decode_cache(forged, source) is None


def test_an_unwritable_cache_location_still_counts(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    directory = str(blocker / "cache")  # can never be created
    ranks, source = load_ranks(O200K, directory)
    assert source == "bundled" and ranks == _bundled(O200K)
    assert load_ranks(O200K, directory)[1] == "bundled"


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions"
)
def test_a_read_only_cache_directory_still_counts(tmp_path):
    tmp_path.chmod(0o500)
    try:
        ranks, source = load_ranks(O200K, str(tmp_path))
        assert source == "bundled" and ranks == _bundled(O200K)
        assert _cache_files(tmp_path) == []
    finally:
        tmp_path.chmod(0o700)


def test_a_cache_being_written_is_not_read(tmp_path):
    """Another process's unfinished temporary file is invisible to readers."""
    load_ranks(O200K, str(tmp_path))
    path = _only_cache_file(tmp_path)
    os.unlink(path)
    with open(path + ".abc123.tmp", "wb") as fh:
        fh.write(b"headroom-bpe-v2\n partial")
    ranks, source = load_ranks(O200K, str(tmp_path))
    assert source == "bundled" and ranks == _bundled(O200K)
    assert load_ranks(O200K, str(tmp_path))[1] == "cache"


def test_headroom_cache_dir_moves_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HEADROOM_CACHE_DIR", str(tmp_path / "moved"))
    assert cache_dir() == str(tmp_path / "moved")
    load_ranks(CL100K)
    assert [p.name[: len(CL100K)] for p in (tmp_path / "moved").iterdir()] == [CL100K]


def test_processes_creating_the_cache_at_once_all_count_exactly(tmp_path):
    """Several processes start together on an empty cache directory: each gets the exact
    vocabulary, the one file left behind is whole, and no temporary file is left."""
    script = textwrap.dedent(
        """
        import hashlib, os, sys, time
        from headroom.tokens import O200K, load_ranks
        go = float(sys.argv[2])
        while time.time() < go:
            time.sleep(0.001)
        ranks, source = load_ranks(O200K, sys.argv[1])
        digest = hashlib.sha256(repr(sorted(ranks.items())).encode()).hexdigest()
        print(source, digest)
        """
    )
    import time

    go = str(time.time() + 1.5)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), go],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    expected = hashlib.sha256(repr(sorted(_bundled(O200K).items())).encode()).hexdigest()
    assert {digest for _, digest in outputs} == {expected}
    names = _cache_files(tmp_path)
    assert len(names) == 1 and names[0].endswith(".bpe")
    ranks, source = load_ranks(O200K, str(tmp_path))
    assert source == "cache" and ranks == _bundled(O200K)


def test_huge_texts_count_the_same_on_several_threads():
    text = json.dumps(log_entries(12_000), indent=2)
    assert len(text) > tokens._PARALLEL_MIN
    enc = tokens.get_encoding(O200K)
    chunks = tokens._chunks(text)
    expected = len(enc.encode_ordinary(text))
    for workers in (1, 2, 3, 4):
        assert tokens._count_chunks(enc, chunks, workers) == expected
    assert tokens.TokenCounter("gpt-4o").count(text) == expected
    assert 1 <= tokens._spare_workers() <= 4


def test_preload_builds_the_encoder_in_the_background():
    thread = tokens.preload("gpt-4")
    thread.join(120)
    assert not thread.is_alive()
    assert tokens._encodings[CL100K] is tokens.get_encoding(CL100K)
    assert tokens.count_tokens("Hello world", "gpt-4") == 2
