"""BinaryCompressor: output that is not text (``head -c`` of an executable, a gzip
stream, a mis-decoded file), recognised by its control or replacement characters.

A model can use little of it. The output keeps the first line when it is short,
verbatim, and one marker that counts the rest, names the retrieval key of the whole
original, and shows how the output starts with every character that is not printable
ASCII escaped (``\\x7fELF\\x02…``), so the file's signature stays visible.
"""

from __future__ import annotations

from ..markers import TEXT_MARKER_PREFIX, is_text_marker, omitted_note
from .base import Compressed, CompressorContext

_FIRST_LINE_CHARS = 256
_PREVIEW_CHARS = 16


def _preview(text: str) -> str:
    head = text[:_PREVIEW_CHARS]
    escaped = "".join(c if " " <= c <= "~" and c not in '\\"]' else ascii(c)[1:-1] for c in head)
    return escaped + ("…" if len(text) > _PREVIEW_CHARS else "")


class BinaryCompressor:
    name = "binary"

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None:
        lines = text.split("\n")
        first = lines[0]
        kept = [first] if len(first) <= _FIRST_LINE_CHARS and not is_text_marker(first) else []
        key = ctx.remember(text)
        note = omitted_note(len(lines) - len(kept), len(lines), "lines", key)
        marker = f'{TEXT_MARKER_PREFIX} binary-looking output starting "{_preview(text)}"; {note}]'
        return Compressed("\n".join([*kept, marker]), key=key)
