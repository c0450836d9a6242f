"""Renders the committed image fixtures under tests/fixtures/images/ (run once, by hand).

    .venv/bin/python benchmarks/render_image_fixtures.py

Every image is made locally: terminal and UI screenshots drawn with Pillow in the
DejaVu fonts that matplotlib bundles, charts drawn with matplotlib, and matplotlib's
bundled sample photo (grace_hopper.jpg). Each text image carries a "needle": a word
or number that the benchmark checks is still readable (by OCR) after compression.
CI never runs this script; it reads the committed PNGs.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib import cbook
from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "images"
FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS / name), size)


def terminal(path: Path, size: tuple[int, int], lines: list[str], px: int) -> None:
    im = Image.new("RGB", size, (18, 18, 24))
    draw = ImageDraw.Draw(im)
    mono = font("DejaVuSansMono.ttf", px)
    y = 12
    for line in lines:
        colour = (255, 95, 95) if "ERROR" in line else (210, 210, 210)
        draw.text((16, y), line, font=mono, fill=colour)
        y += int(px * 1.45)
    im.save(path, optimize=True)


def build_log(n: int) -> list[str]:
    lines = []
    for i in range(n):
        lines.append(
            f"2026-03-14 09:{i // 60:02d}:{i % 60:02d} INFO  worker-{i % 7} processed batch {1000 + i} in {37 + (i * 13) % 90} ms"
        )
    lines[n // 2] = "2026-03-14 09:00:31 ERROR payment-svc charge failed: code ERR_QUOTA_7421"
    return lines


def ui(path: Path) -> None:
    im = Image.new("RGB", (1920, 1080), (246, 247, 249))
    draw = ImageDraw.Draw(im)
    sans, bold = font("DejaVuSans.ttf", 22), font("DejaVuSans-Bold.ttf", 30)
    draw.rectangle((0, 0, 1920, 64), fill=(36, 41, 56))
    draw.text((24, 16), "Billing console", font=bold, fill=(255, 255, 255))
    draw.rectangle((0, 64, 280, 1080), fill=(232, 235, 240))
    for i, item in enumerate(["Overview", "Invoices", "Customers", "Payments", "Settings"]):
        draw.text((32, 100 + 56 * i), item, font=sans, fill=(40, 40, 40))
    draw.text((330, 100), "Invoices", font=bold, fill=(20, 20, 20))
    headers = ["Invoice", "Customer", "Status", "Amount"]
    rows = [
        ("INV-88210", "Acme Corp", "Paid", "$1,200.00"),
        ("INV-88211", "Globex", "Paid", "$310.50"),
        ("INV-88212", "Initech", "Overdue", "$4,999.99"),
        ("INV-88213", "Umbrella", "Refunded", "$77.25"),
        ("INV-88214", "Hooli", "Paid", "$12.00"),
    ]
    xs = [330, 640, 980, 1300]
    for x, h in zip(xs, headers, strict=True):
        draw.text((x, 180), h, font=bold, fill=(60, 60, 60))
    for r, row in enumerate(rows):
        y = 240 + 60 * r
        draw.line((330, y - 12, 1800, y - 12), fill=(210, 210, 215), width=1)
        for x, value in zip(xs, row, strict=True):
            draw.text((x, y), value, font=sans, fill=(30, 30, 30))
    draw.rounded_rectangle((330, 620, 560, 680), radius=10, fill=(37, 99, 235))
    draw.text((358, 636), "New invoice", font=sans, fill=(255, 255, 255))
    im.save(path, optimize=True)


def chart(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(10, 6), dpi=200)
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun"]
    values = [412, 388, 455, 9017, 430, 401]
    ax.bar(months, values, color="#4C72B0")
    ax.set_title("Requests per month (peak 9017)")
    ax.set_ylabel("requests")
    for m, v in zip(months, values, strict=True):
        ax.annotate(str(v), (m, v), ha="center", va="bottom")
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def huge(path: Path) -> None:
    """A valid 8000x6250 (50 MP) bilevel PNG: tiny on disk, too big to decode."""
    Image.new("1", (8000, 6250), 1).save(path, optimize=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    terminal(OUT / "terminal_2400x1600.png", (2400, 1600), build_log(40), 30)
    terminal(
        OUT / "terminal_small_900x260.png",
        (900, 260),
        ["$ make test", "ERROR build failed: code ERR_QUOTA_7421", "1 failed, 41 passed"],
        26,
    )
    ui(OUT / "ui_1920x1080.png")
    chart(OUT / "chart_2000x1200.png")
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        (OUT / "photo_grace_hopper.jpg").write_bytes(f.read())
    huge(OUT / "huge_8000x6250.png")
    raw = (OUT / "ui_1920x1080.png").read_bytes()
    (OUT / "truncated.png").write_bytes(raw[: len(raw) // 3])
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, "BMP")
    (OUT / "unsupported.bmp").write_bytes(buf.getvalue())
    needles = {
        "terminal_2400x1600.png": "ERR_QUOTA_7421",
        "terminal_small_900x260.png": "ERR_QUOTA_7421",
        "ui_1920x1080.png": "INV-88213",
        "chart_2000x1200.png": "9017",
    }
    (OUT / "needles.json").write_text(json.dumps(needles, indent=2) + "\n")
    for p in sorted(OUT.iterdir()):
        print(f"{p.name:32} {p.stat().st_size:>9,} bytes")


if __name__ == "__main__":
    main()
