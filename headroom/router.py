"""ContentRouter: gives each tool output a content kind and picks its compressor.

Cheap heuristics decide first, in this order: JSON, diff, search results
(``path:line:``), source code (with its language), log or build output, prose.
Text none of them claims is shown to Magika's ONNX model when the ``ml`` extra is
installed (and ``use_ml`` is on); without it, it stays plain text.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from . import jsonutil
from .compressors.base import Compressor
from .config import HeadroomConfig

log = logging.getLogger("headroom")

JSON = "json"
DIFF = "diff"
SEARCH = "search"
CODE = "code"
LOG = "log"
PROSE = "prose"
TEXT = "text"
KINDS = (JSON, DIFF, SEARCH, CODE, LOG, PROSE, TEXT)

_SAMPLE_LINES = 200
_DIFF = re.compile(r"^(?:diff --git |--- \S|\+\+\+ \S|@@ -\d)", re.MULTILINE)
# A line that looks like log or build output: a leading timestamp, a level word, a
# progress counter, a tool's status verb, a test runner's verdict, a shell prompt.
_LOG_LINE = re.compile(
    r"\s*(?:\[?\d{4}-\d\d-\d\d[T ]\d|\[?\d\d:\d\d:\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d"
    r"|\[\s*\d+%\]|\$ |\+ |>>> |npm (?:WARN|ERR!|notice|http|info|verb|timing)"
    r"|(?:\[[^\]]{1,24}\] )?(?i:compiling|downloading|building|running|finished|installing|collecting|checking"
    r"|fresh|resolving|linking|testing)\b"
    r"|test \S+ \.\.\. |(?:error|warning)(?:\[\w+\])?: |E  |={3,}|-{3,}|_{3,})"
    r"|.*(?:\b(?:INFO|DEBUG|TRACE|WARN|WARNING|ERROR|FATAL|CRITICAL|NOTICE)\b|\b(?:PASSED"
    r"|FAILED|SKIPPED|XFAIL)\b|::\S+ (?:PASSED|FAILED)|\d+ passed|\bexit code\b"
    r"|\[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d)"
)
_DIAGNOSTIC = re.compile(
    r"\S+?:\d+(?::\d+)?:? (?:-? ?)(?:error|warning|note|info|E\d+|W\d+|F\d+)\b", re.IGNORECASE
)
# A table header: capitalised column names separated by runs of blanks.
_TABLE_HEADER = re.compile(r"[A-Z][A-Z0-9 %_-]*\S {2,}[A-Z]")
_LETTERS_AND_SPACES = re.compile(r"[^\W\d_ ]+| +")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?:\s|$)")
_MAGIKA_CODE = {"python", "javascript", "typescript", "go", "rust", "java"}
# Magika's generic "txt" says nothing about the shape of the text, so only these count.
_MAGIKA_PROSE = {"markdown", "rst", "latex", "rtf"}


def _sample(text: str) -> list[str]:
    lines = text.split("\n", _SAMPLE_LINES)[:_SAMPLE_LINES]
    return [line for line in lines if line.strip()]


def looks_like_diff(text: str) -> bool:
    head = text[:4096]
    return (
        head.startswith(("diff --git ", "--- ", "Index: ")) and len(_DIFF.findall(head)) >= 3
    ) or ("\n+++ " in head and "\n@@ " in head and head.count("\n--- ") >= 1)


def looks_like_jsonl(text: str) -> bool:
    """Two or more lines that each hold a whole JSON object."""
    head = [line for line in text.split("\n", 3)[:3] if line.strip()]
    if len(head) < 2:
        return False
    try:
        return all(isinstance(json.loads(line), dict) for line in head[:2])
    except (ValueError, RecursionError):  # a line nested deeper than the parser goes
        return False


def looks_like_diagnostics(lines: list[str]) -> bool:
    """Compiler and linter output (``src/app.py:12: error: …``): every line matters, so
    it goes to the log compressor, which keeps every error and warning."""
    hits = sum(1 for line in lines if _DIAGNOSTIC.match(line))
    return hits >= 3 and hits >= 0.3 * len(lines)


def looks_like_log(lines: list[str]) -> bool:
    """Log, build or test output, or a status table under a capitalised header
    (``kubectl get``, ``docker ps``)."""
    if len(lines) < 5:
        return False
    hits = sum(1 for line in lines if _LOG_LINE.match(line))
    if hits >= 0.3 * len(lines):
        return True
    if not _TABLE_HEADER.match(lines[0]):
        return False
    columns = sum(1 for line in lines if line.strip().count("  ") >= 2)
    return columns >= 0.6 * len(lines)


def looks_like_prose(text: str, lines: list[str]) -> bool:
    sample = text[:8192]
    if len(sample) < 400:
        return False
    others = len(_LETTERS_AND_SPACES.sub("", sample))
    if others > 0.2 * len(sample):
        return False
    # Prose ends a sentence every 100-200 characters; logs and listings rarely do.
    sentences = len(_SENTENCE_END.findall(sample))
    words = sample.count(" ") + 1
    return sentences >= max(5, len(sample) // 300) and words / sentences >= 6


class _Magika:
    """Magika's model, loaded on first use; None when the ``ml`` extra is absent."""

    _lock = threading.Lock()
    _model: Any = None
    _failed = False

    @classmethod
    def label(cls, text: str) -> str | None:
        if cls._failed or importlib.util.find_spec("magika") is None:
            return None
        with cls._lock:
            if cls._model is None and not cls._failed:
                try:
                    from magika import Magika

                    cls._model = Magika()
                except Exception:  # a broken install must not break compression
                    log.exception("headroom: Magika failed to load; using heuristics only")
                    cls._failed = True
                    return None
            model = cls._model
        try:
            result = model.identify_bytes(text[:16384].encode("utf-8", "surrogatepass"))
            return str(result.output.label)
        except Exception:
            log.exception("headroom: Magika failed on an output; using heuristics only")
            return None


# kind -> (module under headroom.compressors, class). Modules load on first use, so
# ``import headroom`` stays fast.
_DEFAULTS = {
    JSON: ("json_crusher", "SmartCrusher"),
    SEARCH: ("search", "SearchCompressor"),
    CODE: ("code", "CodeAwareCompressor"),
    LOG: ("log", "LogCompressor"),
    PROSE: ("prose", "ProseCompressor"),
    DIFF: ("diff", "DiffCompressor"),
    TEXT: ("passthrough", "Passthrough"),
}


def _compressor_module(name: str) -> Any:
    return importlib.import_module(f"{__package__}.compressors.{name}")


class ContentRouter:
    """Decides the kind of a text and maps each kind to one compressor."""

    def __init__(self, compressors: Mapping[str, Compressor] | None = None) -> None:
        self.compressors: dict[str, Compressor] = dict(compressors or {})
        self._lock = threading.Lock()

    def compressor(self, kind: str) -> Compressor:
        """The compressor for ``kind`` (the built-in one unless another was given)."""
        found = self.compressors.get(kind)
        if found is None:
            module, cls = _DEFAULTS.get(kind, _DEFAULTS[TEXT])
            with self._lock:
                found = self.compressors.setdefault(
                    kind, getattr(_compressor_module(module), cls)()
                )
        return found

    def detect(self, text: str, use_ml: bool = True) -> tuple[str, str | None]:
        """The kind of ``text`` and, for source code, its language."""
        if jsonutil.looks_like_json(text):
            # JSON Lines (one record per line) is a log, not one document.
            return (LOG if looks_like_jsonl(text) else JSON), None
        if looks_like_diff(text):
            return DIFF, None
        lines = _sample(text)
        if looks_like_diagnostics(lines):
            return LOG, None
        if _compressor_module("search").parse(lines) is not None:
            return SEARCH, None
        language = _compressor_module("code").detect_language(text)
        if language is not None:
            return CODE, language
        if looks_like_log(lines):
            return LOG, None
        if looks_like_prose(text, lines):
            return PROSE, None
        if use_ml:
            label = _Magika.label(text)
            if label in _MAGIKA_CODE:
                return CODE, label
            if label in ("json", "jsonl"):
                return JSON, None
            if label == "diff":
                return DIFF, None
            if label in _MAGIKA_PROSE and len(text) >= 400:
                return PROSE, None
        return TEXT, None

    def route(
        self, text: str, config: HeadroomConfig | None = None
    ) -> tuple[str, Compressor | None]:
        """The kind (``code:python`` for code) and its compressor. The compressor is
        None when the options leave this kind alone (code, unless ``compress_code``)."""
        cfg = config or HeadroomConfig()
        kind, language = self.detect(text, use_ml=cfg.use_ml)
        if kind == CODE:
            if not cfg.compress_code:
                return f"{CODE}:{language}", None
            if CODE in self.compressors:
                return f"{CODE}:{language}", self.compressors[CODE]
            # The language is known now: the compressor needn't detect it again.
            return f"{CODE}:{language}", _compressor_module("code").CodeAwareCompressor(language)
        return kind, self.compressor(kind)
