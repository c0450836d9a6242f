"""Loading the committed image fixtures (rendered by benchmarks/render_image_fixtures.py)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
NEEDLES: dict[str, str] = json.loads((FIXTURES / "needles.json").read_text())
MEDIA = {".png": "image/png", ".jpg": "image/jpeg", ".bmp": "image/bmp"}


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def b64(name: str) -> str:
    return base64.b64encode(raw(name)).decode("ascii")


def anthropic_block(name: str) -> dict[str, Any]:
    media = MEDIA[Path(name).suffix]
    return {"type": "image", "source": {"type": "base64", "media_type": media, "data": b64(name)}}


def openai_block(name: str, detail: str | None = None) -> dict[str, Any]:
    inner: dict[str, Any] = {"url": f"data:{MEDIA[Path(name).suffix]};base64,{b64(name)}"}
    if detail:
        inner["detail"] = detail
    return {"type": "image_url", "image_url": inner}


def decoded_size(block: dict[str, Any]) -> tuple[int, int]:
    from PIL import Image

    if block["type"] == "image":
        data = block["source"]["data"]
    else:
        data = block["image_url"]["url"].split(",", 1)[1]
    with Image.open(io.BytesIO(base64.b64decode(data))) as im:
        return im.size


def anthropic_tool_turn(
    block: dict[str, Any], question: str, tool: str = "screenshot"
) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": question},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "tu_1", "name": tool, "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "tu_1",
                    "content": [{"type": "text", "text": "screenshot taken"}, block],
                }
            ],
        },
    ]


def openai_tool_turn(
    block: dict[str, Any], question: str, tool: str = "browser"
) -> list[dict[str, Any]]:
    call = {"id": "call_1", "type": "function", "function": {"name": tool, "arguments": "{}"}}
    return [
        {"role": "user", "content": question},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": [{"type": "text", "text": "page"}, block],
        },
    ]
