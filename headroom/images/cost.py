"""What each provider bills for an image, as pure arithmetic on its pixel size.

Every function here takes and returns plain integers: no image is decoded. The rules
follow each provider's published description (checked against their vision guides):

- OpenAI tile models (gpt-4o, gpt-4.1, gpt-4.5, o1, o3, gpt-5, …): at ``detail: "high"``
  the image is scaled down to fit a 2048×2048 square, then scaled down so its short side
  is at most 768 px; it costs ``base + per_tile × (512-px tiles covering it)``. At
  ``detail: "low"`` it costs ``base``. gpt-4o-mini bills 2,833 + 5,667 per tile.
- OpenAI patch models (gpt-4.1-mini, gpt-4.1-nano, o4-mini, gpt-5-mini, gpt-5-nano): the
  32×32-px patches covering the image, capped at 1,536 by scaling the image down,
  times a per-model multiplier. ``detail`` does not change this count.
- Anthropic: ``width × height / 750`` after scaling down to at most 1,568 px on the
  long edge and at most about 1,600 tokens (1.2 MP).
- Gemini 2.x: 258 tokens when both sides are at most 384 px, else 258 per 768×768 tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# A URL image we cannot see is estimated as if it were this size.
NOMINAL_SIZE = (1024, 1024)
# The tile-boundary rule shrinks an image by at most this factor (linear) ...
SNAP_MIN_SCALE = 0.85
# ... and never below this many pixels on its short side.
SNAP_MIN_SIDE = 200


@dataclass(frozen=True)
class ImageRules:
    """How one model bills images. ``scheme`` is "tiles", "patches", "area" or "gemini"."""

    provider: str
    scheme: str
    base: int = 0
    per_tile: int = 0
    multiplier: float = 1.0
    supports_low_detail: bool = False


_TILES_4O = ImageRules("openai", "tiles", 85, 170, supports_low_detail=True)
_TILES_4O_MINI = ImageRules("openai", "tiles", 2833, 5667, supports_low_detail=True)
_TILES_O1 = ImageRules("openai", "tiles", 75, 150, supports_low_detail=True)
_TILES_5 = ImageRules("openai", "tiles", 70, 140, supports_low_detail=True)
_ANTHROPIC = ImageRules("anthropic", "area")
_GEMINI = ImageRules("gemini", "gemini")

# Longest prefix wins; names are matched case-insensitively after any "provider/" part.
_PATCH_MULTIPLIERS = {
    "gpt-4.1-mini": 1.62,
    "gpt-4.1-nano": 2.46,
    "o4-mini": 1.72,
    "gpt-5-mini": 1.62,
    "gpt-5-nano": 2.46,
    "codex-mini": 1.72,
}
_TILE_MODELS = {
    "gpt-4o-mini": _TILES_4O_MINI,
    "gpt-4o": _TILES_4O,
    "chatgpt-4o": _TILES_4O,
    "gpt-4.1": _TILES_4O,
    "gpt-4.5": _TILES_4O,
    "gpt-4": _TILES_4O,
    "o1": _TILES_O1,
    "o3": _TILES_O1,
    "gpt-5": _TILES_5,
}


def rules_for(model: str) -> ImageRules:
    """The billing rules for ``model``; unknown models are billed like gpt-4o."""
    name = (model or "").lower().rsplit("/", 1)[-1]
    if "claude" in name or name.startswith("anthropic"):
        return _ANTHROPIC
    if "gemini" in name:
        return _GEMINI
    for prefix in sorted(_PATCH_MULTIPLIERS, key=len, reverse=True):
        if name.startswith(prefix):
            return ImageRules("openai", "patches", multiplier=_PATCH_MULTIPLIERS[prefix])
    for prefix in sorted(_TILE_MODELS, key=len, reverse=True):
        if name.startswith(prefix):
            return _TILE_MODELS[prefix]
    return _TILES_4O


def _scale_to(width: int, height: int, factor: float) -> tuple[int, int]:
    return max(1, int(width * factor)), max(1, int(height * factor))


def kept_size(width: int, height: int, rules: ImageRules) -> tuple[int, int]:
    """The size the provider scales the image down to before billing (and seeing) it."""
    w, h = max(1, width), max(1, height)
    if rules.scheme == "tiles":
        if max(w, h) > 2048:
            w, h = _scale_to(w, h, 2048 / max(w, h))
        if min(w, h) > 768:
            w, h = _scale_to(w, h, 768 / min(w, h))
        return w, h
    if rules.scheme == "patches":
        if _patches(w, h) <= 1536:
            return w, h
        # OpenAI's published steps: shrink by sqrt(budget·32²/area), then shrink a little
        # more so the width is a whole number of patches.
        shrink = math.sqrt(1536 * 32 * 32 / (w * h))
        sw, sh = w * shrink, h * shrink
        cols = sw / 32
        shrink2 = math.floor(cols) / cols if cols >= 1 else 1.0
        return max(1, int(sw * shrink2)), max(1, int(sh * shrink2))
    if rules.scheme == "area":
        if max(w, h) > 1568:
            w, h = _scale_to(w, h, 1568 / max(w, h))
        if w * h > 1_200_000:
            w, h = _scale_to(w, h, math.sqrt(1_200_000 / (w * h)))
        return w, h
    return w, h  # Gemini tiles what it gets


def _patches(width: int, height: int) -> int:
    return math.ceil(width / 32) * math.ceil(height / 32)


def image_tokens(width: int, height: int, rules: ImageRules, detail: str | None = None) -> int:
    """Tokens billed for an image of ``width``×``height`` pixels."""
    if rules.scheme == "tiles" and detail == "low":
        return rules.base
    w, h = kept_size(width, height, rules)
    if rules.scheme == "tiles":
        tiles = math.ceil(w / 512) * math.ceil(h / 512)
        return rules.base + rules.per_tile * tiles
    if rules.scheme == "patches":
        return math.ceil(min(_patches(w, h), 1536) * rules.multiplier)
    if rules.scheme == "area":
        return max(1, math.ceil(w * h / 750))
    if w <= 384 and h <= 384:
        return 258
    return 258 * math.ceil(w / 768) * math.ceil(h / 768)


def nominal_tokens(rules: ImageRules, detail: str | None = None) -> int:
    """The estimate for an image whose size we cannot know (a URL)."""
    return image_tokens(*NOMINAL_SIZE, rules, detail)


def _tile_size(rules: ImageRules) -> int:
    return {"tiles": 512, "patches": 32, "gemini": 768}.get(rules.scheme, 0)


def snap_to_tiles(width: int, height: int, rules: ImageRules) -> tuple[int, int]:
    """The tile-boundary rule: ``(width, height)`` already within the provider's caps,
    shrunk to the largest size just below a tile boundary when that bills fewer tokens,
    shrinks each side by at most ``SNAP_MIN_SCALE`` and keeps the short side at least
    ``SNAP_MIN_SIDE`` pixels. Unchanged when no such size exists (and always for
    Anthropic, which bills by area, not tiles)."""
    tile = _tile_size(rules)
    if not tile:
        return width, height
    current = image_tokens(width, height, rules)
    candidates: list[tuple[float, int, int]] = []
    for side, other, flip in ((width, height, False), (height, width, True)):
        boundary = (math.ceil(side / tile) - 1) * tile
        if boundary <= 0:
            continue
        scaled = max(1, other * boundary // side)
        w, h = (scaled, boundary) if flip else (boundary, scaled)
        candidates.append((boundary / side, w, h))
    long_side = max(width, height)
    if rules.scheme == "gemini" and long_side > 384:
        w, h = max(1, width * 384 // long_side), max(1, height * 384 // long_side)
        candidates.append((384 / long_side, w, h))
    best: tuple[float, int, int] = (0.0, width, height)
    for scale, w, h in candidates:
        if scale < SNAP_MIN_SCALE or min(w, h) < min(SNAP_MIN_SIDE, width, height):
            continue
        if image_tokens(w, h, rules) < current and scale > best[0]:
            best = (scale, w, h)
    return best[1], best[2]


def target_size(width: int, height: int, rules: ImageRules) -> tuple[int, int]:
    """What to resize an image to: the provider's kept size, then the tile-boundary rule."""
    w, h = kept_size(width, height, rules)
    return snap_to_tiles(w, h, rules)
