"""Optional OCR of text screenshots with rapidocr-onnxruntime (Apache-2.0).

Its detection and recognition ONNX models ship inside the PyPI wheel, so nothing is
downloaded. ONNX Runtime runs with one thread, which keeps the recognised text
byte-stable from run to run. Without the package, ``available()`` is False and images
are resized instead.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

_engine: Any = None
_lock = threading.Lock()
_missing = False


@dataclass(frozen=True)
class OcrLine:
    text: str
    score: float
    box: tuple[int, int, int, int]  # left, top, right, bottom


def _load() -> Any:
    global _engine, _missing
    if _engine is not None or _missing:
        return _engine
    with _lock:
        if _engine is None and not _missing:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except Exception:  # ImportError, or a broken OpenCV/ONNX install
                _missing = True
                return None
            _engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1, print_verbose=False)
    return _engine


def available() -> bool:
    return _load() is not None


def read_lines(image: Any) -> list[OcrLine] | None:
    """The text lines in a Pillow image, top to bottom, or None when OCR is unavailable
    or fails."""
    engine = _load()
    if engine is None:
        return None
    try:
        import numpy as np

        rgb = image.convert("RGB")
        array = np.asarray(rgb)[:, :, ::-1].copy()  # RapidOCR expects BGR, like OpenCV
        with _lock:  # one session, one thread: calls are serialised
            found, _ = engine(array)
    except Exception:
        return None
    lines: list[OcrLine] = []
    for box, text, score in found or ():
        xs = [int(p[0]) for p in box]
        ys = [int(p[1]) for p in box]
        lines.append(OcrLine(str(text), float(score), (min(xs), min(ys), max(xs), max(ys))))
    return lines
