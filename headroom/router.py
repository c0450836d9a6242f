"""ContentRouter: gives each tool output a content kind and picks its compressor."""

from __future__ import annotations

from collections.abc import Mapping

from . import jsonutil
from .compressors.base import Compressor
from .compressors.json_crusher import SmartCrusher
from .compressors.passthrough import Passthrough

JSON = "json"
TEXT = "text"


class ContentRouter:
    """Cheap heuristics decide the kind; each kind maps to one compressor."""

    def __init__(self, compressors: Mapping[str, Compressor] | None = None) -> None:
        self.compressors: dict[str, Compressor] = {JSON: SmartCrusher(), TEXT: Passthrough()}
        if compressors:
            self.compressors.update(compressors)

    def detect(self, text: str) -> str:
        return JSON if jsonutil.looks_like_json(text) else TEXT

    def route(self, text: str) -> tuple[str, Compressor]:
        kind = self.detect(text)
        return kind, self.compressors.get(kind) or self.compressors[TEXT]
