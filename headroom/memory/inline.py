"""The in-band protocol: memories go into the new user message, facts come back in a
``<memory>{...}</memory>`` block that is parsed and stripped before the caller sees it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .store import SCOPES, Fact

OPEN = "<memory>"
CLOSE = "</memory>"
BLOCK_START = "[headroom: memory]"
BLOCK_END = "[/headroom: memory]"
MAX_FACTS_PER_BLOCK = 20
_BLOCK = re.compile(r"\s*<memory>(.*?)</memory>", re.DOTALL)

INSTRUCTION = (
    "If you learn a durable fact about the user or their work, append at the very end of "
    'your reply: <memory>{"facts": [{"subject": "short topic", "fact": "the fact", '
    '"scope": "user"}]}</memory> (scope is user, session or agent; a new fact on the same '
    "subject replaces the old one). Do not mention this block."
)


def memory_block(facts: Sequence[Fact]) -> str:
    """The marked block added to the new user message: known facts plus the instruction."""
    lines = [BLOCK_START]
    if facts:
        lines.append("Known facts from earlier conversations:")
        lines.extend(f"- {f.subject}: {f.fact}" for f in facts)
    lines.append(INSTRUCTION)
    lines.append(BLOCK_END)
    return "\n".join(lines)


def add_block(content: Any, block: str) -> Any:
    """``content`` (a string or a list of content parts) with ``block`` appended."""
    if isinstance(content, str):
        return f"{content}\n\n{block}"
    if isinstance(content, list):
        return [*content, {"type": "text", "text": block}]
    return content


def message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


@dataclass(frozen=True)
class ParsedFact:
    subject: str
    fact: str
    scope: str = "user"


def _facts(payload: str) -> list[ParsedFact]:
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return []
    items = data.get("facts") if isinstance(data, dict) else None
    out: list[ParsedFact] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        fact, subject, scope = item.get("fact"), item.get("subject"), item.get("scope", "user")
        if not isinstance(fact, str) or not fact.strip():
            continue
        subject = subject if isinstance(subject, str) and subject.strip() else fact
        out.append(ParsedFact(subject, fact, scope if scope in SCOPES else "user"))
        if len(out) >= MAX_FACTS_PER_BLOCK:
            break
    return out


def extract(text: str) -> tuple[str, list[ParsedFact]]:
    """``text`` without its closed ``<memory>`` blocks (and the whitespace before each),
    plus the facts in them. A block that is not valid JSON is stripped and ignored; an
    unclosed block is left in place."""
    facts: list[ParsedFact] = []

    def take(match: re.Match[str]) -> str:
        facts.extend(_facts(match.group(1)))
        return ""

    return _BLOCK.sub(take, text), facts


@dataclass
class StreamStripper:
    """Feed text deltas; get back only what may be shown. Text that could begin a
    ``<memory>`` block (and whitespace before it) is held until it is known not to."""

    _held: str = ""
    _inside: bool = False
    facts: list[ParsedFact] = field(default_factory=list)

    def feed(self, delta: str) -> str:
        self._held += delta
        out: list[str] = []
        while True:
            if self._inside:
                end = self._held.find(CLOSE)
                if end < 0:
                    return "".join(out)
                self.facts.extend(_facts(self._held[:end]))
                self._held = self._held[end + len(CLOSE) :]
                self._inside = False
                continue
            start = self._held.find(OPEN)
            if start >= 0:
                out.append(self._held[:start].rstrip())
                self._held = self._held[start + len(OPEN) :]
                self._inside = True
                continue
            keep = self._holdback(self._held)
            out.append(self._held[: len(self._held) - keep])
            self._held = self._held[len(self._held) - keep :]
            return "".join(out)

    @staticmethod
    def _holdback(text: str) -> int:
        """How many trailing characters might be whitespace plus the start of OPEN."""
        body = text.rstrip()
        partial = 0
        for n in range(min(len(OPEN) - 1, len(body)), 0, -1):
            if OPEN.startswith(body[-n:]):
                partial = n
                break
        if partial:
            cut = len(body) - partial
            return len(text) - len(body[:cut].rstrip())
        return len(text) - len(body)

    def finish(self) -> str:
        """The rest at the end of the stream: held text that turned out not to be a
        block, or an unclosed block (given back as it was)."""
        rest = (OPEN + self._held) if self._inside else self._held
        self._held, self._inside = "", False
        return rest
