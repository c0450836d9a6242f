"""Image blocks in the message formats Headroom reads.

- OpenAI chat: ``{"type": "image_url", "image_url": {"url": "data:image/png;base64,…",
  "detail": "high"}}`` (``image_url`` may also be the URL string itself).
- OpenAI responses: ``{"type": "input_image", "image_url": "data:…", "detail": …}``.
- Anthropic: ``{"type": "image", "source": {"type": "base64", "media_type": …,
  "data": …}}``, or a ``url`` / ``file`` source.

Images given as data URLs or base64 are "seen"; URLs and file ids are not.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

_DATA_URL = re.compile(r"data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?:;[^,;]*)*;base64,", re.I)
IMAGE_BLOCK_TYPES = ("image_url", "input_image", "image")
RECORD_KEY = "__headroom_image__"


@dataclass(frozen=True)
class ImageBlock:
    """One image block: ``data`` is its base64 text when the image travels inline."""

    style: str  # "openai", "responses" or "anthropic"
    data: str | None
    media_type: str | None
    detail: str | None
    url: str | None  # set for images we cannot see


def is_image_block(block: Any) -> bool:
    return isinstance(block, dict) and block.get("type") in IMAGE_BLOCK_TYPES


def _from_url(style: str, url: Any, detail: Any) -> ImageBlock | None:
    if not isinstance(url, str):
        return None
    det = detail if isinstance(detail, str) else None
    match = _DATA_URL.match(url)
    if match:
        return ImageBlock(style, url[match.end() :], match.group("mime"), det, None)
    return ImageBlock(style, None, None, det, url)


def parse(block: Any) -> ImageBlock | None:
    """The image in ``block``, or None when it is not an image block we understand."""
    if not is_image_block(block):
        return None
    kind = block.get("type")
    if kind == "image_url":
        inner = block.get("image_url")
        if isinstance(inner, dict):
            return _from_url("openai", inner.get("url"), inner.get("detail"))
        return _from_url("openai", inner, block.get("detail"))
    if kind == "input_image":
        if isinstance(block.get("file_id"), str) and not block.get("image_url"):
            return ImageBlock("responses", None, None, None, "file:" + block["file_id"])
        return _from_url("responses", block.get("image_url"), block.get("detail"))
    source = block.get("source")
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        media = source.get("media_type")
        return ImageBlock("anthropic", source["data"], media if isinstance(media, str) else None,
                          None, None)  # fmt: skip
    ref = source.get("url") or source.get("file_id")
    return ImageBlock("anthropic", None, None, None, ref if isinstance(ref, str) else "unknown")


def rebuilt(
    block: dict[str, Any], raw: bytes, media_type: str, detail: str | None
) -> dict[str, Any]:
    """A copy of ``block`` carrying ``raw`` instead of its image (every other field kept);
    ``detail`` is set on OpenAI blocks when given."""
    data = base64.b64encode(raw).decode("ascii")
    new = dict(block)
    kind = block.get("type")
    if kind == "image":
        source = dict(block["source"])
        source.update(type="base64", media_type=media_type, data=data)
        new["source"] = source
        return new
    url = f"data:{media_type};base64,{data}"
    if kind == "image_url":
        inner = block.get("image_url")
        inner = dict(inner) if isinstance(inner, dict) else {}
        inner["url"] = url
        if detail is not None:
            inner["detail"] = detail
        new["image_url"] = inner
        return new
    new["image_url"] = url
    if detail is not None:
        new["detail"] = detail
    return new


def text_block(block: dict[str, Any], text: str) -> dict[str, Any]:
    """A text block in the same format as ``block``."""
    return {"type": "input_text" if block.get("type") == "input_image" else "text", "text": text}


def record(block: dict[str, Any], description: str) -> str:
    """The stored form of an original image block: a JSON object, canonical, so equal
    blocks give equal retrieval keys."""
    return json.dumps({RECORD_KEY: description, "block": block}, sort_keys=True, ensure_ascii=False)


def parse_record(text: str) -> tuple[str, dict[str, Any]] | None:
    """(description, original block) when ``text`` is a stored image, else None."""
    if not text.startswith('{"') or RECORD_KEY not in text[:200]:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if (
        isinstance(doc, dict)
        and isinstance(doc.get(RECORD_KEY), str)
        and is_image_block(doc.get("block"))
    ):
        return doc[RECORD_KEY], doc["block"]
    return None


def as_anthropic(block: dict[str, Any]) -> dict[str, Any] | None:
    """``block`` as an Anthropic image block (it may already be one); None when its
    image is a reference that has no Anthropic form."""
    if block.get("type") == "image":
        return block
    image = parse(block)
    if image is None:
        return None
    if image.data is not None:
        source = {
            "type": "base64",
            "media_type": image.media_type or "image/png",
            "data": image.data,
        }
        return {"type": "image", "source": source}
    if image.url and image.url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    return None


def describe_stored(
    text: str, key: str, format: str
) -> tuple[str, list[dict[str, Any]] | None] | None:
    """For a stored image: the answer text and, in Anthropic format, the blocks that carry
    the original image. None when ``text`` is not a stored image."""
    parsed = parse_record(text)
    if parsed is None:
        return None
    description, block = parsed
    if format == "anthropic":
        original = as_anthropic(block)
        if original is not None:
            note = f"Original image for key {key}: {description}."
            return note, [{"type": "text", "text": note}, original]
    note = (
        f"The original for key {key} is an image ({description}). This tool result can carry "
        "only text, so the image is not repeated here; it stays stored under this key."
    )
    return note, None
