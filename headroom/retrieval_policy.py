"""One rule book for ``headroom_retrieve`` rounds, shared by every entry point.

Modes (``retrieval=``):
    ``"auto"`` (default): compress lossily, offer ``headroom_retrieve`` when a marker
        is present, and answer the model's calls inside Headroom; the caller never
        sees them.
    ``"tool"``: compress lossily; the caller's agent holds the retrieve tool itself
        and sees the calls. Headroom adds and answers nothing.
    ``"off"``: lossless compression only; nothing to retrieve, no tool.

After each model turn, ``RetrievalPolicy.decide`` says what to do with it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .errors import ConfigError

RETRIEVAL_MODES = ("auto", "tool", "off")


class Action(enum.Enum):
    PASS = "pass"  # no retrieval call: hand the turn to the caller as is
    ANSWER = "answer"  # only retrieval calls, rounds left: answer them, call again
    STRIP = "strip"  # retrieval calls mixed with the caller's: drop ours, pass the rest
    OVER_LIMIT = "over_limit"  # only retrieval calls, no rounds left: drop them, end the turn


def retrieval_mode(value: str | bool | None) -> str:
    """Maps the settings of every entry point onto one mode. ``True``/``None`` are
    ``"auto"``; ``False`` (``enable_retrieval=False``, Agno's ``retrieval=False``) is
    ``"tool"``: lossy compression, the caller handles retrieval if it wants to."""
    if value is None or value is True:
        return "auto"
    if value is False:
        return "tool"
    if isinstance(value, str) and value in RETRIEVAL_MODES:
        return value
    raise ConfigError(f"retrieval must be one of {', '.join(RETRIEVAL_MODES)}, got {value!r}")


@dataclass(frozen=True)
class RetrievalPolicy:
    """``max_rounds`` answered rounds per caller request (0 disables answering)."""

    mode: str = "auto"
    max_rounds: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", retrieval_mode(self.mode))
        if (
            not isinstance(self.max_rounds, int)
            or isinstance(self.max_rounds, bool)
            or self.max_rounds < 0
        ):
            raise ConfigError(f"max_rounds must be a non-negative integer, got {self.max_rounds!r}")

    @property
    def lossy(self) -> bool:
        """Whether compression may drop content (it then stores the original)."""
        return self.mode != "off"

    def offers_tool(self, has_markers: bool, caller_has_tool: bool = False) -> bool:
        """Whether to add ``headroom_retrieve`` to a request: only in ``"auto"`` mode,
        only when the request holds a retrievable marker, never when the caller brings
        its own tool of that name. It depends on the request alone, so it is stable."""
        return self.mode == "auto" and self.max_rounds > 0 and has_markers and not caller_has_tool

    def decide(self, rounds_done: int, retrieval_calls: int, other_calls: int) -> Action:
        """What to do with a model turn holding ``retrieval_calls`` of ours and
        ``other_calls`` of the caller's, after ``rounds_done`` answered rounds."""
        if retrieval_calls <= 0:
            return Action.PASS
        if other_calls > 0:
            return Action.STRIP
        if rounds_done >= self.max_rounds:
            return Action.OVER_LIMIT
        return Action.ANSWER
