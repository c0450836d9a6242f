"""The compressor for content no other compressor claims: it keeps the text as it is."""

from __future__ import annotations

from .base import Compressed, CompressorContext


class Passthrough:
    name = "passthrough"

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None:
        return None
