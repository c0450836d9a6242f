"""Image tokens before and after compression, per provider, on the committed fixtures.

    .venv/bin/python benchmarks/image_bench.py [--runs 3] [--no-ocr]

For every fixture image and model it compresses the image as a tool result three times:
with no question, with a coarse question (colour/layout) and with a question about its
text. It prints tokens before → after, the action taken, the time per image (minimum
of ``--runs`` cold runs; OCR runs once) and whether the needle (a word or number in
the image) is still readable: by OCR of the compressed image for resized images, or in
the text itself when the image became OCR text. "norm" compares after folding the
look-alikes OCR confuses (O/0, l/I/1, underscores and spaces).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageStat

from headroom.images import clear_memo, compress_block, ocr
from headroom.store import MemoryStore, key_for
from headroom.tokens import counter_for
from tests.images.helpers import NEEDLES, openai_block

IMAGES = [
    "terminal_2400x1600.png",
    "ui_1920x1080.png",
    "chart_2000x1200.png",
    "photo_grace_hopper.jpg",
    "terminal_small_900x260.png",
]
MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "claude-sonnet-4-5", "gemini-2.0-flash"]
QUESTIONS = {
    "none": None,
    "coarse": "what colour is the background?",
    "text": "what does the error message say?",
}
_ocr_cache: dict[str, str] = {}


def fold(text: str) -> str:
    text = text.upper().replace("O", "0").replace("I", "1").replace("L", "1")
    return re.sub(r"[\s_]+", "", text)


def ocr_text(data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    if digest not in _ocr_cache:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("RGB")
            gray = im.convert("L")
            if ImageStat.Stat(gray).mean[0] < 128:  # terminals: invert
                from PIL import ImageOps

                im = ImageOps.invert(gray)
            lines = ocr.read_lines(im) or []
        _ocr_cache[digest] = "\n".join(line.text for line in lines)
    return _ocr_cache[digest]


def needle_state(name: str, outcome, block) -> str:
    needle = NEEDLES.get(name)
    if needle is None or not ocr.available():
        return "-"
    if outcome.action == "ocr":
        text = outcome.replacement[0]["text"]
    elif outcome.action == "low_detail":
        return "n/a"
    else:
        blk = outcome.replacement[0] if outcome.replacement else block
        data = base64.b64decode(blk["image_url"]["url"].split(",", 1)[1])
        text = ocr_text(data)
    if needle in text:
        return "exact"
    return "norm" if fold(needle) in fold(text) else "LOST"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-ocr", action="store_true")
    args = parser.parse_args()
    use_ocr = not args.no_ocr and ocr.available()
    store = MemoryStore()

    def remember(text: str) -> str:
        key = key_for(text)
        store.put(key, text)
        return key

    print(
        f"OCR: {'rapidocr-onnxruntime' if use_ocr else 'off'}; times are min of {args.runs} cold runs"
    )
    header = f"{'image':28} {'model':18} {'question':8} {'before':>7} {'after':>7} {'saved':>6} {'action':11} {'ms':>7} needle"
    print(header)
    print("-" * len(header))
    totals: dict[tuple[str, str, str], list[int]] = {}
    for name in IMAGES:
        block = openai_block(name)
        for model in MODELS:
            count = counter_for(model).count
            for label, question in QUESTIONS.items():
                runs = 1 if (label == "text" and use_ocr) else args.runs
                best = float("inf")
                outcome = None
                for _ in range(runs):
                    clear_memo()
                    started = time.perf_counter()
                    outcome = compress_block(block, model, question, remember, count, use_ocr)
                    best = min(best, time.perf_counter() - started)
                assert outcome is not None
                saved = 1 - outcome.tokens_after / outcome.tokens_before
                state = needle_state(name, outcome, block)
                action = outcome.action if outcome.replacement else "kept"
                print(
                    f"{name:28} {model:18} {label:8} {outcome.tokens_before:7} "
                    f"{outcome.tokens_after:7} {saved:6.0%} {action:11} {best * 1000:7.0f} {state}"
                )
                kind = "photo" if "photo" in name else "screens+charts"
                t = totals.setdefault((kind, model, label), [0, 0])
                t[0] += outcome.tokens_before
                t[1] += outcome.tokens_after
    print()
    print(f"{'images':15} {'model':18} {'question':8} {'before':>7} {'after':>7} {'saved':>6}")
    for (kind, model, label), (before, after) in sorted(totals.items()):
        print(f"{kind:15} {model:18} {label:8} {before:7} {after:7} {1 - after / before:6.0%}")


if __name__ == "__main__":
    main()
