"""BinaryCompressor: output that is not text (``head -c`` of an executable, a gzip
stream, a mis-decoded file), recognised by its control or replacement characters.

A model can use little of it: the output keeps the first line when it is short (where
a file's signature sits, ``\\x7fELF``), verbatim, and a marker that counts the rest and
names the retrieval key of the whole original.
"""

from __future__ import annotations

from ..markers import is_text_marker, text_marker
from .base import Compressed, CompressorContext

_FIRST_LINE_CHARS = 256


class BinaryCompressor:
    name = "binary"

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None:
        lines = text.split("\n")
        first = lines[0]
        keep = len(first) <= _FIRST_LINE_CHARS and not is_text_marker(first)
        key = ctx.remember(text)
        kept = [first] if keep else []
        omitted = len(lines) - len(kept)
        marker = text_marker(omitted, len(lines), key)
        return Compressed("\n".join([*kept, marker]), key=key)
