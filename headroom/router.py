"""ContentRouter: gives each tool output a content kind and picks its compressor.

Cheap heuristics decide first, from the text's structure rather than from any one
program's signature, in this order: binary-looking text, JSON, diff (a
hunk header under ``---``/``+++`` lines), compiler and linter diagnostics, search
results (``path:line:``), source code (with its language), tables (aligned columns
under a header, or CSV/TSV), log-like text (lines that mostly repeat a few templates),
prose. Text none of them claims is shown to Magika's ONNX model when the ``ml`` extra
is installed (and ``use_ml`` is on); what is still unclaimed is plain text, which the
generic line compressor handles. The heuristics look at a sample of lines, each cut
to a bounded length, so routing costs the same for a 5 MB line as for a short one.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Mapping
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
TABLE = "table"
TEXT = "text"
BINARY = "binary"
KINDS = (JSON, DIFF, SEARCH, CODE, TABLE, LOG, PROSE, TEXT, BINARY)

_SAMPLE_LINES = 150  # lines from the start of the text
_SAMPLE_MIDDLE = 50  # and from its middle, when it is longer
_SAMPLE_CHARS = 1000  # of each sampled line
_LOG_SCAN_CHARS = 240  # of each line, for the log-line patterns
_DIFF_SCAN = 65536
# A unified diff's hunk header, at a line start.
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@", re.MULTILINE)
# Control characters that text output rarely holds (tab, newlines, form feed,
# backspace and ESC are common in terminal output), and the replacement character.
_ODD_CHARS = {c: None for c in [*range(0, 8), 11, *range(14, 27), *range(28, 32), 0xFFFD]}
_BINARY_SHARE = 0.1
_TEMPLATE_MIN_LINES = 10  # fewer sampled lines say nothing about templates
_TEMPLATE_REPEATS = 3  # a line template seen this often in the sample counts as repeated
_TEMPLATE_SHARE = 0.5  # log-like: this share of sampled lines has a repeated template
_ANSI = re.compile(r"\x1b\[[0-9;?]{0,32}[ -/]{0,4}[@-~]")
_VARIABLE = re.compile(r"[\d/\\]")
# A compiler's source excerpt, caret or pointer line (gcc, clang, rustc, tsc).
_EXCERPT = re.compile(r"\s*(?:\d+\s*)?\||\s*-->|\s*= (?:note|help)")
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
_LETTERS_AND_SPACES = re.compile(r"[^\W\d_ ]+| +")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?(?:\s|$)")
_MAGIKA_CODE = {"python", "javascript", "typescript", "go", "rust", "java"}
# Magika's generic "txt" says nothing about the shape of the text, so only these count.
_MAGIKA_PROSE = {"markdown", "rst", "latex", "rtf"}


def _sample(text: str) -> list[str]:
    """Non-blank lines from the start (and the middle, for a long text), each cut to
    ``_SAMPLE_CHARS``."""
    lines = text.split("\n", _SAMPLE_LINES)[:_SAMPLE_LINES]
    if len(lines) == _SAMPLE_LINES:
        middle = text.find("\n", len(text) // 2)
        if middle > 0 and middle > sum(len(line) + 1 for line in lines):
            lines += text[middle + 1 :].split("\n", _SAMPLE_MIDDLE)[:_SAMPLE_MIDDLE]
    return [line[:_SAMPLE_CHARS] for line in lines if line.strip()]


def looks_binary(text: str) -> bool:
    """Control bytes or replacement characters in more than a tenth of the first 8 KB:
    a binary file or a decoding gone wrong, not text a model can use."""
    head = text[:8192]
    if not head:
        return False
    odd = len(head) - len(head.translate(_ODD_CHARS))
    return "\x00" in head or odd > _BINARY_SHARE * len(head)


def looks_like_diff(text: str) -> bool:
    """A unified diff (``git diff``, ``git log -p``, ``diff -u``): a hunk header with a
    ``--- `` and a ``+++ `` line before it. A commit log with stats has no hunk, even
    when a commit message holds a ``---`` line."""
    head = text[:_DIFF_SCAN]
    if "@@ -" not in head:  # a C-speed scan rules out almost every other text
        return False
    hunk = _HUNK.search(head)
    if hunk is None:
        return False
    before = "\n" + head[: hunk.start()]
    return "\n--- " in before and "\n+++ " in before


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


def _head_template(line: str) -> str:
    """The first two words of a line, with words holding a digit or a slash masked."""
    words = line.split(None, 2)[:2]
    return " ".join("#" if _VARIABLE.search(w) else w for w in words)


def repeats_templates(lines: list[str]) -> bool:
    """Most lines start like several others once numbers, ids and paths are masked
    (``npm silly …``, ``  Found link …``, ``src/a.c:3:5: warning: …``, ``12 |``): the
    shape of a log whatever its prefixes. Indented excerpts and caret lines count as
    lines of their own template, so compiler output stays log-like."""
    if len(lines) < _TEMPLATE_MIN_LINES:
        return False
    heads = Counter(_head_template(line) for line in lines)
    repeated = sum(c for c in heads.values() if c >= _TEMPLATE_REPEATS)
    return repeated >= _TEMPLATE_SHARE * len(lines)


def _is_excerpt(line: str) -> bool:
    """A source excerpt line, or a caret line (``    ^~~~``) of only marks."""
    if _EXCERPT.match(line):
        return True
    marks = line.strip(" \t|")
    return "^" in marks and not marks.strip("~^-")


def looks_like_log(lines: list[str], prose: Callable[[], bool] = lambda: False) -> bool:
    """Log, build or test output: typical log lines (timestamps, levels, a tool's
    status verbs) or lines that mostly repeat a few templates. A compiler's source
    excerpts and caret lines (``5 |     x = y;``, ``  |     ^~~``, `` --> a.rs:5:20``)
    count for neither side: what is around them decides. Repeated templates don't
    count for text that reads as prose (``prose()``, asked only then): paragraphs may
    open alike."""
    lines = [line for line in lines if not _is_excerpt(line)] if len(lines) >= 5 else []
    if len(lines) < 5:
        return False
    if repeats_templates(lines) and not prose():
        return True
    hits = sum(1 for line in lines if _LOG_LINE.match(line[:_LOG_SCAN_CHARS]))
    return hits >= 0.3 * len(lines)


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
    TABLE: ("table", "TableCompressor"),
    TEXT: ("lines", "LinesCompressor"),
    BINARY: ("binary", "BinaryCompressor"),
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
        if looks_binary(text):
            return BINARY, None
        if jsonutil.looks_like_json(text):
            # JSON Lines (one record per line) is a log, not one document.
            return (LOG if looks_like_jsonl(text) else JSON), None
        if looks_like_diff(text):
            return DIFF, None
        lines = _sample(text)
        if any("\x1b" in line for line in lines):  # colour codes say nothing of the kind
            lines = [_ANSI.sub("", line) for line in lines]
        if looks_like_diagnostics(lines):
            return LOG, None
        if _compressor_module("search").parse(lines) is not None:
            return SEARCH, None
        language = _compressor_module("code").detect_language(text)
        if language is not None:
            return CODE, language
        if _compressor_module("table").detect(lines) is not None:
            return TABLE, None
        found: list[bool] = []

        def prose() -> bool:  # judged once, and only when asked
            if not found:
                found.append(looks_like_prose(text, lines))
            return found[0]

        if looks_like_log(lines, prose):
            return LOG, None
        if prose():
            return PROSE, None
        if use_ml:
            label = _Magika.label(text)
            if label in _MAGIKA_CODE:
                return CODE, label
            if label in ("json", "jsonl"):
                return JSON, None
            if label in _MAGIKA_PROSE and len(text) >= 400:
                return PROSE, None
        return TEXT, None

    @staticmethod
    def skip_reason(kind: str) -> str:
        """Why an output of ``kind`` that ``route`` gives no compressor is left as is."""
        return f"{kind} is left as is (compress_code=True compresses code)"

    def route(
        self, text: str, config: HeadroomConfig | None = None
    ) -> tuple[str, Compressor | None]:
        """The kind (``code:python`` for code) and its compressor. The compressor is
        None for code unless ``compress_code`` (``skip_reason`` says why)."""
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
