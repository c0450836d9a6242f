"""Provider formulas against the examples the providers publish, and the tile rule."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from headroom.images.cost import (
    SNAP_MIN_SCALE,
    image_tokens,
    kept_size,
    nominal_tokens,
    rules_for,
    snap_to_tiles,
    target_size,
)

GPT4O = rules_for("gpt-4o")
MINI = rules_for("gpt-4o-mini")
PATCH = rules_for("gpt-4.1-mini")
CLAUDE = rules_for("claude-sonnet-4-5-20250929")
GEMINI = rules_for("gemini-2.0-flash")


def test_openai_tile_examples():
    assert image_tokens(1024, 1024, GPT4O) == 765  # 768x768: 4 tiles
    assert image_tokens(2048, 4096, GPT4O) == 1105  # 768x1536: 6 tiles
    assert image_tokens(4096, 8192, GPT4O, "low") == 85
    assert image_tokens(500, 500, GPT4O) == 255  # never scaled up
    assert kept_size(2400, 1600, GPT4O) == (1152, 768)
    assert image_tokens(1024, 1024, MINI) == 2833 + 4 * 5667


def test_openai_model_families():
    assert rules_for("gpt-4.1").per_tile == 170 and rules_for("gpt-4.1").scheme == "tiles"
    assert rules_for("o4-mini").scheme == "patches" and rules_for("o4-mini").multiplier == 1.72
    assert rules_for("gpt-4.1-nano").multiplier == 2.46
    assert rules_for("openai/gpt-4o-mini") is MINI
    assert rules_for("some-unknown-model") == GPT4O


def test_patch_examples():
    # The published walk-through: 1800x2400 shrinks to 1056x1408, 33x44 = 1452 patches.
    assert kept_size(1800, 2400, PATCH) == (1056, 1408)
    assert image_tokens(1800, 2400, PATCH) == 2353  # ceil(1452 * 1.62)
    assert image_tokens(1024, 1024, PATCH) == 1659  # ceil(1024 * 1.62)


def test_anthropic_area_and_caps():
    assert image_tokens(1000, 1000, CLAUDE) == 1334
    assert image_tokens(200, 200, CLAUDE) == 54
    assert image_tokens(1092, 1092, CLAUDE) == 1590
    w, h = kept_size(2400, 1600, CLAUDE)
    assert max(w, h) <= 1568 and w * h <= 1_200_000
    assert image_tokens(2400, 1600, CLAUDE) <= 1600


def test_gemini_tiles():
    assert image_tokens(384, 384, GEMINI) == 258
    assert image_tokens(600, 400, GEMINI) == 258
    assert image_tokens(1600, 800, GEMINI) == 258 * 6


def test_url_images_are_estimated_at_a_nominal_size():
    assert nominal_tokens(GPT4O) == 765 and nominal_tokens(GPT4O, "low") == 85


def test_tile_rule_examples():
    # 1152x768 (what gpt-4o keeps of 2400x1600) is 3x2 tiles; 1024x682 is 2x2.
    assert target_size(2400, 1600, GPT4O) == (1024, 682)
    assert snap_to_tiles(2400, 1600, GEMINI) == (2304, 1536)
    # Anthropic bills by area: no tile boundary to snap to.
    assert snap_to_tiles(1000, 700, CLAUDE) == (1000, 700)
    # Too far below the boundary (1300 -> 1024 would shrink by 21%): unchanged.
    assert snap_to_tiles(1300, 700, GPT4O) == (1300, 700)


@given(st.integers(1, 9000), st.integers(1, 9000), st.sampled_from([GPT4O, PATCH, CLAUDE, GEMINI]))
def test_target_never_costs_more_nor_exceeds_what_the_provider_keeps(w, h, rules):
    kw, kh = kept_size(w, h, rules)
    tw, th = target_size(w, h, rules)
    assert tw <= kw and th <= kh
    assert image_tokens(tw, th, rules) <= image_tokens(w, h, rules)
    if (tw, th) != (kw, kh):
        assert tw / kw >= SNAP_MIN_SCALE - 0.01 and th / kh >= SNAP_MIN_SCALE - 0.01
        assert image_tokens(tw, th, rules) < image_tokens(kw, kh, rules)
