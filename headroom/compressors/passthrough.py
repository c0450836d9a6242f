"""A compressor that keeps the text as it is.

The router no longer sends text here by default (unclaimed text goes to the generic
line compressor); it stays for callers who map a kind to it on purpose, for example
``ContentRouter({"text": Passthrough()})``.
"""

from __future__ import annotations

from .base import Compressed, CompressorContext


class Passthrough:
    name = "passthrough"

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None:
        return None
