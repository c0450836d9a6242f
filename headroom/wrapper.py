"""Framework-free pieces for in-process wrappers (LangChain, Agno, the SDK client, LiteLLM).

A wrapper converts its framework's messages to the engine's OpenAI-style dicts, calls
``compress()``, converts back, calls the wrapped model, and runs hidden
``headroom_retrieve`` rounds. What is the same for every framework lives here:

- ``WrapperStats``: the shared ``SavingsLedger`` plus a bounded history of per-call
  records and named counters (retrievals answered, failures, ...).
- ``compress_converted`` (on ``match_outputs``): compress a framework's own messages;
  each output is matched to the input it came from, so the wrapper can copy its own
  message object with the new content.
- ``openai_tool_call``: one tool call in the engine's (OpenAI chat) shape.
- ``split_retrieval`` / ``answer_retrieval`` / ``without_retrieval``: our calls in a
  model turn, their answers, and what is left for the caller; ``add_usage`` over rounds.
- ``run_rounds`` / ``arun_rounds`` / ``stream_rounds`` / ``astream_rounds``: drive one
  round loop, written once as a generator, with a sync or async model call, whole or
  streamed. The generator yields each request and receives the model's answer; its
  return value is the final result (for streams: the last items to emit).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
)
from typing import Any, Generic, Protocol, TypeVar

from .engine import compress
from .ledger import SavingsLedger
from .messages import function_name
from .pipeline import RequestLifecycle
from .result import CompressResult
from .retrieval import RETRIEVE_TOOL_NAME, ToolAnswer, answer_tool_call
from .tokens import count_tokens, resolve_model

R = TypeVar("R")  # a history record
S = TypeVar("S")  # what a round sends
A = TypeVar("A")  # what the model answers
T = TypeVar("T")  # the loop's result
C = TypeVar("C")  # a streamed chunk
O = TypeVar("O")  # an item the caller sees  # noqa: E741
C_in = TypeVar("C_in", contravariant=True)
O_out = TypeVar("O_out", covariant=True)
_log = logging.getLogger("headroom")
A_out = TypeVar("A_out", covariant=True)


class WrapperStats(Generic[R]):
    """One wrapper's savings (in ``ledger``), its last ``history_limit`` records and its
    own counters. Thread-safe; one object may be shared by a wrapper and its copies."""

    def __init__(self, history_limit: int = 1000, counters: Iterable[str] = ()) -> None:
        self.ledger = SavingsLedger(keep=0)
        self._lock = threading.Lock()
        self._history: deque[R] = deque(maxlen=max(1, int(history_limit)))
        self._names = tuple(counters)
        self._counts: dict[str, float] = dict.fromkeys(self._names, 0)

    def add(self, record: R | None = None, **counts: float) -> None:
        """Keep ``record`` (if any) and add ``counts`` to the named counters."""
        with self._lock:
            if record is not None:
                self._history.append(record)
            for name, value in counts.items():
                self._counts[name] = self._counts.get(name, 0) + value

    @property
    def history_limit(self) -> int:
        return self._history.maxlen or 1

    def history(self) -> list[R]:
        with self._lock:
            return list(self._history)

    def counts(self) -> dict[str, float]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        self.ledger.reset()
        with self._lock:
            self._history.clear()
            self._counts = dict.fromkeys(self._names, 0)


def _rest(d: Any) -> Any:
    return {k: v for k, v in d.items() if k != "content"} if isinstance(d, dict) else d


def match_outputs(inputs: list[Any], outputs: list[Any]) -> list[int | None]:
    """For each of ``compress()``'s output messages, the index of the input it stands
    for: the same object, or the same fields but the content. A ``pre_compress`` hook may
    drop, reorder or add messages; matching goes forward in order, and an output no
    input explains (an added message) gets None. Unchanged lengths match by position."""
    if len(outputs) == len(inputs):
        return list(range(len(inputs)))
    found: list[int | None] = []
    start = 0
    for out in outputs:
        match = next(
            (
                j
                for j in range(start, len(inputs))
                if inputs[j] is out or _rest(inputs[j]) == _rest(out)
            ),
            None,
        )
        found.append(match)
        if match is not None:
            start = match + 1
    return found


M = TypeVar("M")  # a framework's message


def compress_converted(
    items: Iterable[M],
    to_dicts: Callable[[list[M]], list[dict[str, Any]]],
    back: Callable[[M | None, dict[str, Any] | None, Any], M | None],
    *,
    life: RequestLifecycle | None = None,
    **options: Any,
) -> tuple[list[M], CompressResult | None, str | None]:
    """``compress()`` for a framework's own messages. ``to_dicts`` makes the engine's
    dicts, one per item; ``back(original, sent, out)`` turns each output into a framework message
    (``out is sent`` when unchanged; ``original`` and ``sent`` are None for a message a
    hook added; None leaves it out). ``life`` lends its extensions and request id.
    Returns the messages, the result and no error; on any failure (bad input never
    breaks the caller's agent) the items unchanged, None and the error's text."""
    originals = list(items)
    try:
        sent = to_dicts(originals)
        if life is not None:
            options = {**options, "extensions": life.extensions, "request_id": life.request_id}
        result = compress(sent, **options)
        out = []
        for d, j in zip(result.messages, match_outputs(sent, result.messages), strict=True):
            m = back(None, None, d) if j is None else back(originals[j], sent[j], d)
            if m is not None:
                out.append(m)
        return out, result, None
    except Exception as exc:
        _log.warning("headroom: compression failed; sending the original messages", exc_info=True)
        return originals, None, f"{type(exc).__name__}: {exc}"


def openai_tool_call(
    call_id: Any, name: Any, arguments: Any, kind: Any = "function"
) -> dict[str, Any]:
    """A tool call as the engine reads it (OpenAI chat); non-string arguments as JSON."""
    if not isinstance(arguments, str) and arguments is not None:
        arguments = json.dumps(arguments, default=str)
    return {"id": call_id, "type": kind, "function": {"name": name, "arguments": arguments}}


def model_name_of(*sources: Any, keys: Iterable[str] = ("model_name", "model", "model_id")) -> str:
    """The first non-empty ``keys`` attribute (or dict key) of ``sources``; "" if none."""
    for source in sources:
        for key in keys:
            value = source.get(key) if isinstance(source, dict) else getattr(source, key, None)
            if isinstance(value, str) and value:
                return value
    return ""


def counting_model(model_id: str, hints: Iterable[Any] = ()) -> str:
    """The model name to count a provider model's tokens with. Ids with an exact
    tokenizer pass as they are; Claude/Anthropic and Gemini models (by id, or by
    ``hints`` such as a provider name or the model's class) map to a ``claude-…`` /
    ``gemini-…`` name (approximate counts); anything else passes through."""
    lowered = model_id.lower()
    if resolve_model(model_id).exact:
        return model_id
    marks = " ".join(
        f"{h.__name__} {h.__module__}".lower() if isinstance(h, type) else str(h or "").lower()
        for h in hints
    )
    if any(w in lowered or w in marks for w in ("claude", "anthropic")):
        bare = lowered.rsplit("/", 1)[-1].split(".", 1)[-1] if "claude" in lowered else ""
        return bare if bare.startswith("claude") else "claude"
    if "gemini" in lowered or any(w in marks for w in ("gemini", "google", "vertex")):
        bare = lowered.rsplit("/", 1)[-1]
        return bare if bare.startswith("gemini") else "gemini"
    return model_id or "unknown"


def is_retrieval(item: Any) -> bool:
    """Whether a tool or tool call, in any shape (OpenAI ``{"function": {"name"}}``,
    Anthropic ``tool_use`` and Responses ``function_call`` blocks, framework dicts with a
    ``name``, objects with a ``name``), is ``headroom_retrieve``."""
    return function_name(item) == RETRIEVE_TOOL_NAME


def without_retrieval(items: Iterable[T]) -> list[T]:
    """``items`` (tool calls, tools or content blocks) without ``headroom_retrieve``."""
    return [item for item in items if not is_retrieval(item)]


def add_usage(total: Any, more: Any) -> Any:
    """Usage summed over hidden rounds: dicts field by field (as
    ``headroom.wire.sum_usage``), objects with ``+`` by it; None adds nothing; anything
    else is replaced by the latest."""
    if more is None:
        return total
    if total is None:
        return more
    if isinstance(total, dict) and isinstance(more, dict):
        from .wire.formats import sum_usage

        return sum_usage([total, more])
    try:
        return total + more
    except Exception:
        return more


def split_retrieval(
    calls: Iterable[T], name_of: Callable[[T], Any] = function_name
) -> tuple[list[T], list[T]]:
    """A model turn's tool calls: ``headroom_retrieve`` ones, then the caller's own."""
    ours: list[T] = []
    others: list[T] = []
    for call in calls:
        (ours if name_of(call) == RETRIEVE_TOOL_NAME else others).append(call)
    return ours, others


def answer_retrieval(arguments: Any, store: Any, model: str) -> tuple[ToolAnswer, int]:
    """The answer to one ``headroom_retrieve`` call and its token count. A failing store
    gives an error answer, never an exception into the caller's agent."""
    try:
        answer = answer_tool_call(arguments if arguments is not None else {}, store=store)
    except Exception as exc:
        answer = ToolAnswer(f"headroom_retrieve failed: {exc}", True)
    return answer, count_tokens(answer.content, model)


# --------------------------------------------------------------------------- round drivers


class _Done(Exception):
    """The loop returned (a StopIteration cannot cross a thread's future)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _resume(steps: Generator[Any, Any, Any], value: Any) -> Any:
    try:
        return steps.send(value)
    except StopIteration as stop:
        raise _Done(stop.value) from None


async def _step(steps: Generator[Any, Any, Any], value: Any, offload: bool) -> Any:
    if offload:
        return await asyncio.to_thread(_resume, steps, value)
    return _resume(steps, value)


def run_rounds(steps: Generator[S, A, T], send: Callable[[S], A]) -> T:
    """Run a round loop with a blocking model call. Errors of ``send`` are thrown into
    the loop (so it can close its lifecycle) and come out of here."""
    try:
        request = next(steps)
        while True:
            try:
                answer = send(request)
            except BaseException as exc:
                request = steps.throw(exc)
                continue
            request = steps.send(answer)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    finally:
        steps.close()


async def arun_rounds(
    steps: Generator[S, A, T], send: Callable[[S], Awaitable[A]], offload: bool = True
) -> T:
    """``run_rounds`` with an async model call. With ``offload`` the loop's own steps
    (compression, answering retrievals: CPU and store work) run in a worker thread."""

    try:
        request = await _step(steps, None, offload)
        while True:
            try:
                answer = await send(request)
            except BaseException as exc:
                request = steps.throw(exc)
                continue
            request = await _step(steps, answer, offload)
    except _Done as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        steps.close()


class RoundRelay(Protocol[C_in, O_out, A_out]):
    """Per streamed round: what to show the caller of each chunk now, and, at the end,
    the round's whole answer for the loop."""

    def feed(self, chunk: C_in) -> Iterable[O_out]: ...

    def end(self) -> A_out: ...


def stream_rounds(
    steps: Generator[S, A, Iterable[O]],
    open_stream: Callable[[S], Iterable[C]],
    relay: Callable[[S], RoundRelay[C, O, A]],
) -> Iterator[O]:
    """Run a round loop over a streaming model call, relaying chunks as they come.
    ``relay(request)`` makes the round's relay."""
    try:
        request = next(steps)
        while True:
            current = relay(request)
            try:
                for chunk in open_stream(request):
                    yield from current.feed(chunk)
                answer = current.end()
            except BaseException as exc:
                request = steps.throw(exc)
                continue
            request = steps.send(answer)
    except StopIteration as stop:
        yield from stop.value or ()
    finally:
        steps.close()


async def astream_rounds(
    steps: Generator[S, A, Iterable[O]],
    open_stream: Callable[[S], AsyncIterable[C]],
    relay: Callable[[S], RoundRelay[C, O, A]],
    offload: bool = True,
) -> AsyncIterator[O]:
    """``stream_rounds`` over an async stream; ``offload`` as in ``arun_rounds``."""

    try:
        request = await _step(steps, None, offload)
        while True:
            current = relay(request)
            try:
                async for chunk in open_stream(request):
                    for item in current.feed(chunk):
                        yield item
                answer = current.end()
            except BaseException as exc:
                request = steps.throw(exc)
                continue
            request = await _step(steps, answer, offload)
    except _Done as done:
        for item in done.value or ():
            yield item
    finally:
        steps.close()
