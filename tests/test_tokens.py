import gzip
import hashlib
import json
import os
import socket

import pytest

from headroom.samples import log_entries
from headroom.tokens import (
    CL100K,
    O200K,
    TokenCounter,
    _vocab_path,
    count_tokens,
    get_encoding,
    resolve_model,
)

# The sha256 tiktoken itself pins for the vocabulary files it would download.
TIKTOKEN_HASHES = {
    O200K: "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    CL100K: "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}


@pytest.mark.parametrize("encoding", [O200K, CL100K])
def test_bundled_vocabulary_is_tiktokens_own(encoding):
    with gzip.open(_vocab_path(encoding), "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == TIKTOKEN_HASHES[encoding]


def test_known_token_ids():
    assert get_encoding(O200K).encode_ordinary("Hello world") == [13225, 2375]
    assert get_encoding(CL100K).encode_ordinary("Hello world") == [9906, 1917]


@pytest.mark.parametrize(
    ("model", "encoding", "exact"),
    [
        ("gpt-4o", O200K, True),
        ("gpt-4o-mini-2024-07-18", O200K, True),
        ("gpt-4.1", O200K, True),
        ("o3-mini", O200K, True),
        ("gpt-5", O200K, True),
        ("openai/gpt-4o", O200K, True),
        ("gpt-4-turbo", CL100K, True),
        ("gpt-4", CL100K, True),
        ("gpt-3.5-turbo", CL100K, True),
        ("claude-sonnet-4-5-20250929", O200K, False),
        ("gemini-2.5-pro", O200K, False),
        ("some-local-model", O200K, False),
        ("", O200K, False),
    ],
)
def test_model_mapping(model, encoding, exact):
    info = resolve_model(model)
    assert (info.encoding, info.exact) == (encoding, exact)


def test_counting_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    text = "offline " * 500
    assert count_tokens(text, "gpt-3.5-turbo") == len(get_encoding(CL100K).encode_ordinary(text))
    assert os.environ.get("TIKTOKEN_CACHE_DIR") is None


def test_memo_and_special_tokens_as_text():
    counter = TokenCounter("gpt-4o")
    text = "<|endoftext|> is counted as plain text " * 20
    first = counter.count(text)
    assert counter.count(text) == first == len(get_encoding(O200K).encode_ordinary(text))
    assert counter.count("") == 0


def test_lone_surrogates_are_counted_not_raised():
    assert count_tokens("bad \udc80 byte " * 30) > 0


def test_chunked_counting_is_exact_on_long_text():
    import random

    from headroom.tokens import _chunks

    rng = random.Random(1)
    words = ["alpha", "beta", " ", "\n", "\n\n", "  ", "12345", "{}", "é", "🧪", "\t", "x"]
    text = "".join(rng.choice(words) for _ in range(400_000))
    assert "".join(_chunks(text)) == text and len(_chunks(text)) > 3
    pretty = json.dumps(log_entries(3000), indent=2)  # every inner line starts with spaces
    minified = json.dumps(log_entries(3000), separators=(",", ":"))  # one long line
    code = "x = a;\n// comment\nfoo(bar) / 2 \n" * 20_000  # lines that start with "/"
    for sample in (text, pretty, minified, code):
        assert len(sample) > 300_000
        for encoding, model in ((O200K, "gpt-4o"), (CL100K, "gpt-4")):
            expected = len(get_encoding(encoding).encode_ordinary(sample))
            assert TokenCounter(model).count(sample) == expected
