"""What the question needs from an image: two documented word rules.

- **About the text** (OCR may replace a text screenshot by its text): the question uses
  a word from ``TEXT_WORDS`` (read, says, error, message, log, output, line, number,
  value, version, …).
- **Coarse** (OpenAI ``detail: "low"`` is enough): the question uses a word from
  ``COARSE_WORDS`` (colour, layout, shape, theme, style, photo, scene, describe, …) and
  none from ``TEXT_WORDS`` or ``FINE_WORDS`` (detail, small, zoom, count, exact, …).

No question, or a question matching neither rule, keeps full detail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

TEXT_WORDS = frozenset(
    [
        "text",
        "texts",
        "read",
        "reads",
        "reading",
        "say",
        "says",
        "said",
        "written",
        "write",
        "wording",
        "word",
        "words",
        "message",
        "messages",
        "error",
        "errors",
        "warning",
        "warnings",
        "log",
        "logs",
        "output",
        "line",
        "lines",
        "command",
        "commands",
        "code",
        "number",
        "numbers",
        "value",
        "values",
        "version",
        "name",
        "names",
        "label",
        "labels",
        "title",
        "titles",
        "caption",
        "transcribe",
        "transcript",
        "copy",
        "quote",
        "spell",
        "string",
        "path",
        "url",
        "id",
        "ids",
        "status",
        "stack",
        "traceback",
        "exception",
        "exceptions",
        "terminal",
        "console",
        "prompt",
        "typed",
        "print",
        "printed",
        "digit",
        "digits",
        "figure",
        "figures",
        "amount",
        "price",
        "total",
    ]
)
COARSE_WORDS = frozenset(
    [
        "color",
        "colour",
        "colors",
        "colours",
        "layout",
        "shape",
        "shapes",
        "theme",
        "style",
        "styling",
        "overall",
        "general",
        "kind",
        "type",
        "photo",
        "photograph",
        "picture",
        "scene",
        "describe",
        "description",
        "depict",
        "depicts",
        "looks",
        "look",
        "appearance",
        "background",
        "mood",
        "dominant",
        "dark",
        "light",
        "bright",
        "landscape",
        "animal",
        "animals",
        "person",
        "people",
        "object",
        "objects",
    ]
)
FINE_WORDS = frozenset(
    [
        "detail",
        "details",
        "detailed",
        "small",
        "tiny",
        "fine",
        "zoom",
        "pixel",
        "pixels",
        "count",
        "exact",
        "exactly",
        "precise",
        "precisely",
        "small",
        "legible",
        "sharp",
        "blurry",
    ]
)
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Intent:
    about_text: bool
    coarse_only: bool


def intent_of(query: str | None) -> Intent:
    if not query:
        return Intent(False, False)
    words = set(_WORD.findall(query.lower()))
    about_text = bool(words & TEXT_WORDS)
    coarse = bool(words & COARSE_WORDS) and not about_text and not words & FINE_WORDS
    return Intent(about_text, coarse)
