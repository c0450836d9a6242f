"""Decoding, resizing and re-encoding images with Pillow, deterministically.

Pillow is imported lazily (the ``image`` extra). Nothing here raises for bad input:
``inspect`` returns a reason instead of an image, and every caller keeps the original.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass
from typing import Any

from .._extras import require

# Images are billed and kept in these formats by every provider.
SUPPORTED = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
MAX_PIXELS = 40_000_000  # larger images are counted from their header, never decoded
MAX_BASE64_CHARS = 64 * 1024 * 1024


@dataclass(frozen=True)
class Probe:
    """What an image's header says, or why it cannot be used (``reason``)."""

    width: int = 0
    height: int = 0
    format: str = ""
    raw: bytes = b""
    reason: str | None = None


def pillow() -> Any:
    """The PIL.Image module, or MissingExtraError naming the ``image`` extra."""
    return require("PIL.Image", "image")


def available() -> bool:
    try:
        pillow()
    except ImportError:
        return False
    return True


def decode_base64(data: str) -> bytes | None:
    """The bytes of a base64 string (whitespace tolerated), or None when it is not base64."""
    if len(data) > MAX_BASE64_CHARS:
        return None
    try:
        return base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def probe(raw: bytes) -> Probe:
    """Reads the header only: size and format, or why the image is left alone."""
    try:
        image_mod = pillow()
    except ImportError:
        return Probe(raw=raw, reason='Pillow is not installed (pip install ".[image]")')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with image_mod.open(io.BytesIO(raw)) as im:
                width, height = im.size
                fmt = im.format or ""
                frames = getattr(im, "n_frames", 1)
    except Exception as exc:  # Pillow raises many types for corrupt data
        return Probe(raw=raw, reason=f"not a readable image ({type(exc).__name__})")
    if fmt not in SUPPORTED:
        return Probe(width, height, fmt, raw, f"unsupported format {fmt or 'unknown'}")
    if width < 1 or height < 1:
        return Probe(width, height, fmt, raw, "empty image")
    if frames != 1:
        return Probe(width, height, fmt, raw, "animated image")
    if width * height > MAX_PIXELS:
        return Probe(
            width, height, fmt, raw, f"{width}x{height} is above the {MAX_PIXELS:,}-pixel limit"
        )
    return Probe(width, height, fmt, raw)


def load(raw: bytes) -> Any:
    """The decoded image, upright (EXIF orientation applied), in RGB/RGBA/L mode.
    Raises on a truncated or corrupt file; callers catch."""
    image_mod = pillow()
    ops = require("PIL.ImageOps", "image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im = image_mod.open(io.BytesIO(raw))
        im.load()
    im = ops.exif_transpose(im) or im
    if im.mode not in ("RGB", "RGBA", "L"):
        has_alpha = im.mode in ("LA", "PA", "RGBa") or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
    return im


def resize(im: Any, width: int, height: int) -> Any:
    if im.size == (width, height):
        return im
    resampling = pillow().Resampling.LANCZOS
    return im.resize((width, height), resampling)


def encode(im: Any, fmt: str) -> tuple[bytes, str]:
    """Bytes and media type, metadata stripped. PNG and GIF become optimized PNG
    (lossless, best for text); JPEG stays JPEG at quality 90; WebP stays lossless WebP
    if it had alpha, else quality 90. The same pixels always give the same bytes."""
    im = im.copy()
    im.info = {}
    buf = io.BytesIO()
    if fmt == "JPEG":
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        im.save(buf, "JPEG", quality=90, optimize=True, progressive=False, subsampling=0)
        return buf.getvalue(), "image/jpeg"
    if fmt == "WEBP":
        im.save(buf, "WEBP", quality=90, method=4, lossless=im.mode == "RGBA", exact=False)
        return buf.getvalue(), "image/webp"
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue(), "image/png"
