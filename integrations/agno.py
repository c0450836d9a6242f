"""Agno integration: a model wrapper that compresses tool outputs inside Agno's tool loop.

    from agno.agent import Agent
    from agno.models.openai import OpenAIChat
    from headroom.integrations.agno import HeadroomAgnoModel

    model = HeadroomAgnoModel(OpenAIChat(id="gpt-4o"))
    agent = Agent(model=model, tools=[search_github, query_db])
    agent.run("Investigate the memory leak and recommend a fix")
    print(model.total_tokens_saved)

Agno runs its tool loop in ``Model.response()`` and friends and calls ``invoke`` (or one
of its async / streaming siblings) once per provider request. The wrapper inherits that
loop and intercepts only those four calls: it turns Agno ``Message`` objects into the
engine's OpenAI-format dicts, asks :func:`headroom.compress` which tool outputs to
shorten, and hands the wrapped model shallow copies carrying the shorter text. Agno's own
message list, and so the run output and the session, keep the original tool output.

Everything the wrapper does not define is read from (and written to) the wrapped model,
so ``id``, ``provider``, ``temperature``, ``thinking`` and the like behave as before.
This module sends nothing anywhere: no telemetry, no network.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

from headroom._extras import require

require("agno", "agno")

from agno.models.base import Model  # noqa: E402
from agno.models.message import Message  # noqa: E402
from agno.models.response import ModelResponse  # noqa: E402
from agno.tools.function import Function  # noqa: E402
from agno.tools.toolkit import Toolkit  # noqa: E402

from headroom.config import HeadroomConfig  # noqa: E402
from headroom.hooks import CompressionHooks  # noqa: E402
from headroom.memory.client import MemoryInjector  # noqa: E402
from headroom.memory.inline import StreamStripper, extract  # noqa: E402
from headroom.messages import function_name  # noqa: E402
from headroom.pipeline import RequestLifecycle  # noqa: E402
from headroom.result import CompressResult  # noqa: E402
from headroom.retrieval import (  # noqa: E402
    RETRIEVE_TOOL_DESCRIPTION,
    RETRIEVE_TOOL_NAME,
    answer_tool_call,
    retrieve_tool,
)
from headroom.retrieval_policy import Action, RetrievalPolicy  # noqa: E402
from headroom.tokens import count_tokens  # noqa: E402
from headroom.wrapper import (  # noqa: E402
    WrapperStats,
    add_usage,
    answer_retrieval,
    arun_rounds,
    astream_rounds,
    compress_converted,
    counting_model,
    is_retrieval,
    openai_tool_call,
    run_rounds,
    split_retrieval,
    stream_rounds,
)

__all__ = [
    "AgnoCallMetrics",
    "HeadroomAgnoModel",
    "HeadroomPreHook",
    "HeadroomRetrieveTools",
    "headroom_retrieve_function",
    "token_model_for",
]

log = logging.getLogger("headroom.agno")

# Attributes that live on the wrapper itself; every other attribute belongs to the
# wrapped model.
_OWN = frozenset(
    {
        "_inner",
        "_config",
        "_hooks",
        "_extensions",
        "_store",
        "_retrieval",
        "_max_retrieval_rounds",
        "_token_model_override",
        "_stats",
        "_policy",
    }
)


# --------------------------------------------------------------------------- helpers


def token_model_for(model: Any) -> str:
    """The model name the engine counts tokens with, picked from an Agno model.

    OpenAI ids are used as they are (exact counts). Anthropic/Claude and Gemini models
    map to a ``claude-…`` / ``gemini-…`` name (approximate counts). Anything else passes
    its id through, which the engine counts approximately.
    """
    hints = (getattr(model, "provider", None), getattr(model, "name", None), type(model))
    return counting_model(str(getattr(model, "id", "") or ""), hints)


def _call_arguments(call: dict[str, Any]) -> Any:
    fn = call.get("function")
    return fn.get("arguments") if isinstance(fn, dict) else call.get("arguments")


def _uses_compressed(msg: Message, compress_tool_results: bool) -> bool:
    """Agno's own tool-result compression sends ``compressed_content`` instead."""
    return bool(compress_tool_results and msg.role == "tool" and msg.compressed_content)


def to_engine_messages(
    messages: list[Message], compress_tool_results: bool = False
) -> list[dict[str, Any]]:
    """Agno messages as the engine's OpenAI-format dicts (roles, text, tool calls, ids, names)."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        content: Any = (
            msg.compressed_content if _uses_compressed(msg, compress_tool_results) else msg.content
        )
        item: dict[str, Any] = {"role": msg.role, "content": content}
        if msg.tool_calls:
            item["tool_calls"] = [
                openai_tool_call(
                    c.get("id"), function_name(c), _call_arguments(c), c.get("type", "function")
                )
                for c in msg.tool_calls
                if isinstance(c, dict)
            ]
        if msg.tool_call_id is not None:
            item["tool_call_id"] = msg.tool_call_id
        name = msg.tool_name or msg.name
        if msg.role == "tool" and name:
            item["name"] = name
        out.append(item)
    return out


def _back(original: Message | None, sent: Any, d: Any, flag: bool) -> Message | None:
    """The Agno message for one of the engine's outputs: the original when unchanged, a
    shallow copy with the new text when compressed (the original is never modified), a
    new message for one a ``pre_compress`` hook added."""
    if original is not None and d is sent:
        return original
    if not isinstance(d, dict):
        return None
    if original is not None:
        return _with_content(original, d.get("content"), flag)
    if not isinstance(d.get("role"), str):
        return None
    return Message(
        role=d["role"],
        content=d.get("content"),
        tool_call_id=d.get("tool_call_id"),
        tool_calls=d.get("tool_calls"),
        tool_name=d.get("name"),
    )


def _with_content(msg: Message, content: Any, compress_tool_results: bool) -> Message:
    if _uses_compressed(msg, compress_tool_results):
        return msg.model_copy(update={"compressed_content": content})
    return msg.model_copy(update={"content": content})


class _ParsedCall(dict):  # type: ignore[type-arg]
    """A tool call the wrapper already assembled from stream deltas."""


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class AgnoCallMetrics:
    """One provider call made through the wrapper.

    ``tokens_without`` is what the call would have sent without Headroom;
    ``tokens_sent`` is what it sent, including any retrieval round trips the wrapper
    answered (re-sent messages, retrieved text and the tool definition).
    """

    timestamp: float
    model: str
    tokens_without: int
    tokens_sent: int
    tokens_exact: bool
    transforms_applied: tuple[str, ...] = ()
    retrieval_keys: tuple[str, ...] = ()
    retrievals_answered: int = 0
    streamed: bool = False
    duration_ms: float = 0.0
    error: str | None = None

    @property
    def tokens_saved(self) -> int:
        return self.tokens_without - self.tokens_sent

    @property
    def compression_ratio(self) -> float:
        return self.tokens_saved / self.tokens_without if self.tokens_without else 0.0


@dataclass
class _Call:
    """Per-call state: never stored on the model, so concurrent runs stay separate."""

    messages: list[Message]
    tools: Any
    intercept: bool
    retrieve_def_tokens: int
    result: CompressResult | None
    error: str | None
    streamed: bool
    model: str
    life: RequestLifecycle
    started: float = field(default_factory=time.perf_counter)
    rounds: int = 0
    extra_tokens: int = 0
    follow_tokens: int = 0
    answered: int = 0


# --------------------------------------------------------------------------- retrieval tool


def headroom_retrieve_function(store: Any = None) -> Function:
    """An Agno ``Function`` named ``headroom_retrieve`` that answers from the Headroom store."""

    def headroom_retrieve(key: str, query: str | None = None) -> str:
        args: dict[str, Any] = {"key": key}
        if query is not None:
            args["query"] = query
        return answer_tool_call(args, store=store).content

    return Function(
        name=RETRIEVE_TOOL_NAME,
        description=RETRIEVE_TOOL_DESCRIPTION,
        parameters=retrieve_tool("openai")["function"]["parameters"],
        entrypoint=headroom_retrieve,
        skip_entrypoint_processing=True,
    )


class HeadroomRetrieveTools(Toolkit):
    """A toolkit with ``headroom_retrieve``, for agents that should see retrieval calls.

    ``Agent(model=HeadroomAgnoModel(m, retrieval=False), tools=[HeadroomRetrieveTools()])``
    lets Agno run the tool itself, so the calls appear in the run's history.
    """

    def __init__(self, store: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("name", "headroom_retrieve_tools")
        super().__init__(tools=[headroom_retrieve_function(store)], **kwargs)


# --------------------------------------------------------------------------- pre-hook


class HeadroomPreHook:
    """An Agno pre-hook that only observes: counts runs and their input tokens.

    ``Agent(..., pre_hooks=[HeadroomPreHook()])``. It never changes the input and never
    raises into the run.
    """

    def __init__(self, model: str = "gpt-4o") -> None:
        self.model = model
        self._lock = threading.Lock()
        self.runs = 0
        self.input_tokens = 0

    def __call__(self, run_input: Any = None, agent: Any = None) -> None:
        try:
            text = run_input.input_content_string() if run_input is not None else ""
            model = token_model_for(agent.model) if getattr(agent, "model", None) else self.model
            tokens = count_tokens(text or "", model)
        except Exception:
            log.debug("headroom: pre-hook could not measure the input", exc_info=True)
            tokens = 0
        with self._lock:
            self.runs += 1
            self.input_tokens += tokens

    def summary(self) -> dict[str, int]:
        with self._lock:
            return {"runs": self.runs, "input_tokens": self.input_tokens}


# --------------------------------------------------------------------------- the wrapper


class HeadroomAgnoModel(Model):
    """Wrap any Agno model so tool outputs reach it compressed.

    Args:
        wrapped_model: the Agno model that talks to the provider.
        config: a :class:`HeadroomConfig` passed to the engine unchanged.
        hooks: :class:`CompressionHooks` passed to the engine unchanged.
        store: where originals are kept for ``headroom_retrieve`` (engine default if None).
        retrieval: when compression leaves retrieval keys, offer ``headroom_retrieve`` to
            the wrapped model and answer its calls inside the wrapper (default True).
        max_retrieval_rounds: how many answered retrieval rounds one provider call may take.
        token_model: override the model name used for token counting.
        history_size: how many per-call metrics records to keep.
        extensions: pipeline extensions; they see every stage of each request (see
            ``headroom.pipeline``).
        memory: a ``headroom.memory.Memory``: relevant facts go into each new user
            message, and ``<memory>`` blocks in replies are learned and stripped.
        **options: engine options (``min_tokens_to_compress=…`` and so on).
    """

    def __init__(
        self,
        wrapped_model: Model | None = None,
        *,
        config: HeadroomConfig | None = None,
        hooks: CompressionHooks | None = None,
        store: Any = None,
        retrieval: bool = True,
        max_retrieval_rounds: int = 3,
        token_model: str | None = None,
        history_size: int = 1000,
        extensions: list[Any] | None = None,
        memory: Any = None,
        **options: Any,
    ) -> None:
        if wrapped_model is None:
            raise TypeError("HeadroomAgnoModel needs the Agno model to wrap")
        if not isinstance(wrapped_model, Model):
            raise TypeError(
                f"HeadroomAgnoModel wraps an agno Model, got {type(wrapped_model).__name__}"
            )
        if config is not None and not isinstance(config, HeadroomConfig):
            raise TypeError("config must be a HeadroomConfig")
        if options:
            config = (config or HeadroomConfig()).with_options(**options)
        own = object.__setattr__
        own(self, "_inner", wrapped_model)
        own(self, "_config", config)
        own(self, "_hooks", hooks)
        own(self, "_extensions", list(extensions or ()))
        own(self, "_memory", MemoryInjector(memory) if memory is not None else None)
        # The store given here, else the config's: compression and the wrapper's own
        # retrieval answers must use the same one (a spec string opens once per process).
        own(self, "_store", store if store is not None else (config.store if config else None))
        own(self, "_retrieval", bool(retrieval))
        own(self, "_max_retrieval_rounds", max(0, int(max_retrieval_rounds)))
        own(self, "_token_model_override", token_model)
        # Savings live in the shared ledger; retrieval calls answered and errors are
        # this wrapper's own counts. ``retrieval=False`` is the shared "tool" mode.
        own(self, "_stats", WrapperStats(history_size, ("retrievals", "errors")))
        own(
            self,
            "_policy",
            RetrievalPolicy("auto" if retrieval else "tool", max(0, int(max_retrieval_rounds))),
        )

    # ----------------------------------------------------------- delegation

    @property
    def wrapped_model(self) -> Model:
        return self._inner  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in _OWN:
            raise AttributeError(name)
        try:
            inner = object.__getattribute__(self, "_inner")
        except AttributeError:
            raise AttributeError(name) from None
        return getattr(inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _OWN:
            object.__setattr__(self, name, value)
        elif isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)  # goes through the property setter
        else:
            setattr(self._inner, name, value)

    def __repr__(self) -> str:
        return f"HeadroomAgnoModel({self._inner!r})"

    def __deepcopy__(self, memo: dict[int, Any]) -> HeadroomAgnoModel:
        clone = HeadroomAgnoModel(
            copy.deepcopy(self._inner, memo),
            config=self._config,
            hooks=self._hooks,
            store=self._store,
            retrieval=self._retrieval,
            max_retrieval_rounds=self._max_retrieval_rounds,
            token_model=self._token_model_override,
            history_size=self._stats.history_limit,
        )
        memo[id(self)] = clone
        return clone

    # Methods Agno's loop calls on the model and providers override: use the inner's.
    def _parse_provider_response(self, response: Any, **kwargs: Any) -> ModelResponse:
        return self._inner._parse_provider_response(response, **kwargs)  # type: ignore[no-any-return]

    def _parse_provider_response_delta(self, response: Any) -> ModelResponse:
        return self._inner._parse_provider_response_delta(response)  # type: ignore[no-any-return]

    def parse_tool_calls(self, tool_calls_data: list[Any]) -> list[dict[str, Any]]:
        if tool_calls_data and all(isinstance(c, _ParsedCall) for c in tool_calls_data):
            return [dict(c) for c in tool_calls_data]
        return self._inner.parse_tool_calls(tool_calls_data)  # type: ignore[no-any-return]

    def format_function_call_results(self, *args: Any, **kwargs: Any) -> None:
        self._inner.format_function_call_results(*args, **kwargs)

    def _format_tools(self, tools: Any) -> list[dict[str, Any]]:
        return self._inner._format_tools(tools)  # type: ignore[no-any-return]

    def get_system_message_for_model(self, tools: Any = None) -> str | None:
        return self._inner.get_system_message_for_model(tools)  # type: ignore[no-any-return]

    def get_instructions_for_model(self, tools: Any = None) -> list[str] | None:
        return self._inner.get_instructions_for_model(tools)  # type: ignore[no-any-return]

    def get_provider(self) -> str:
        return self._inner.get_provider()  # type: ignore[no-any-return]

    def to_dict(self) -> dict[str, Any]:
        return self._inner.to_dict()  # type: ignore[no-any-return]

    def count_tokens(self, *args: Any, **kwargs: Any) -> int:
        return self._inner.count_tokens(*args, **kwargs)  # type: ignore[no-any-return]

    async def acount_tokens(self, *args: Any, **kwargs: Any) -> int:
        return await self._inner.acount_tokens(*args, **kwargs)  # type: ignore[no-any-return]

    # ----------------------------------------------------------- counters

    @property
    def token_model(self) -> str:
        """The model name the engine counts tokens with."""
        return self._token_model_override or token_model_for(self._inner)

    @property
    def total_tokens_saved(self) -> int:
        """Tokens saved net of what retrieval rounds re-sent (the ledger's
        ``net_tokens_saved``)."""
        return self._stats.ledger.summary().net_tokens_saved

    @property
    def metrics_history(self) -> list[AgnoCallMetrics]:
        """The most recent per-call records, oldest first (bounded by ``history_size``)."""
        return self._stats.history()

    def get_savings_summary(self) -> dict[str, Any]:
        """The ledger's schema, with this wrapper's documented keys on top:
        ``tokens_without_headroom`` (the ledger's ``tokens_before``), ``tokens_sent``
        (``tokens_after`` plus ``retrieval_tokens``), ``total_tokens_saved``
        (``net_tokens_saved``) and ``compression_ratio``, which here is net as documented."""
        ledger, totals = self._stats.ledger.summary(), self._stats.counts()
        exact = all(m.tokens_exact for m in self._stats.history())
        without = ledger.tokens_before
        sent = ledger.tokens_after + ledger.retrieval_tokens
        return {
            **ledger.as_dict(),
            "tokens_without_headroom": without,
            "tokens_sent": sent,
            "total_tokens_saved": without - sent,
            "compression_ratio": (without - sent) / without if without else 0.0,
            "retrievals_answered": int(totals["retrievals"]),
            "compression_errors": int(totals["errors"]),
            "token_model": self.token_model,
            "tokens_exact": exact,
        }

    def reset(self) -> None:
        self._stats.reset()

    def _record(self, call: _Call) -> None:
        result = call.result
        rounds = max(1, call.rounds)
        if result is None:
            without = sent = 0
            exact = True
        else:
            without = result.tokens_before
            sent = rounds * result.tokens_after + call.extra_tokens
            exact = result.tokens_exact
        entry = AgnoCallMetrics(
            timestamp=time.time(),
            model=call.model,
            tokens_without=without,
            tokens_sent=sent,
            tokens_exact=exact,
            transforms_applied=tuple(result.transforms_applied) if result else (),
            retrieval_keys=tuple(result.retrieval_keys) if result else (),
            retrievals_answered=call.answered,
            streamed=call.streamed,
            duration_ms=(time.perf_counter() - call.started) * 1000.0,
            error=call.error,
        )
        after = result.tokens_after if result is not None else 0
        self._stats.ledger.record(without, after, model=call.model, source="agno")
        if sent > after:  # the tool definition and every re-sent retrieval exchange
            self._stats.ledger.add_retrieval(max(0, call.rounds - 1), sent - after)
        self._stats.add(entry, retrievals=call.answered, errors=1 if call.error else 0)

    # ----------------------------------------------------------- one provider call

    def _prepare(
        self, messages: Any, tools: Any, compress_tool_results: bool, streamed: bool
    ) -> _Call:
        model = self.token_model
        life = RequestLifecycle(self._extensions, "agno", model)
        call = _Call(list(messages or []), tools, False, 0, None, None, streamed, model, life)
        flag = compress_tool_results
        call.messages, result, call.error = compress_converted(
            call.messages,
            lambda msgs: to_engine_messages(msgs, flag),
            lambda original, sent, d: _back(original, sent, d, flag),
            life=life,
            model=model,
            config=self._config,
            hooks=self._hooks,
            store=self._store,
        )
        call.result = result
        if result is None:  # bad input never breaks the agent: the originals go
            return call
        has_own_tool = any(is_retrieval(t) for t in (tools or ()))
        if self._policy.offers_tool(bool(result.retrieval_keys), has_own_tool) and isinstance(
            tools, list
        ):
            try:
                extra = self._inner._format_tools([headroom_retrieve_function(self._store)])
                call.tools = [*tools, *extra]
                call.intercept = True
                call.retrieve_def_tokens = count_tokens(json.dumps(extra, sort_keys=True), model)
            except Exception:
                log.warning("headroom: could not offer headroom_retrieve", exc_info=True)
        return call

    def _round_started(self, call: _Call) -> None:
        # Each round sends the tool definition and re-sends every retrieval exchange so far.
        call.extra_tokens += call.retrieve_def_tokens + call.follow_tokens
        call.rounds += 1
        call.life.pre_send(call.messages)

    def _handle_calls(
        self, call: _Call, calls: list[dict[str, Any]], response: ModelResponse | None
    ) -> tuple[bool, list[dict[str, Any]] | None]:
        """Answer the round's ``headroom_retrieve`` calls, if the wrapper offered the tool.

        Returns ``(reinvoke, calls)``: ``reinvoke`` is True when the round asked only for
        retrievals and they are answered; ``calls`` is what Agno should see (None: leave the
        response as it is). A round mixing retrievals with the agent's own tools hands Agno
        only its own calls, so the agent's toolset and history stay clean; the model can
        ask again on the next round.
        """
        if not call.intercept or not calls:
            return False, None
        ours, others = split_retrieval(calls)
        if not ours:
            return False, None
        # call.rounds counts the round in flight: call.rounds - 1 rounds were answered.
        if self._policy.decide(call.rounds - 1, len(ours), len(others)) is not Action.ANSWER:
            return False, others
        assistant = Message(
            role=self._inner.assistant_message_role,
            content=response.content if response is not None else None,
            tool_calls=[dict(c) for c in ours],
            provider_data=response.provider_data if response is not None else None,
            reasoning_content=response.reasoning_content if response is not None else None,
            redacted_reasoning_content=(
                response.redacted_reasoning_content if response is not None else None
            ),
        )
        follow: list[Message] = [assistant]
        added = sum(count_tokens(json.dumps(c, sort_keys=True), call.model) for c in ours)
        for c in ours:
            answer, tokens = answer_retrieval(_call_arguments(c) or {}, self._store, call.model)
            follow.append(
                Message(
                    role=self._inner.tool_message_role,
                    content=answer.content,
                    tool_call_id=c.get("id"),
                    tool_name=RETRIEVE_TOOL_NAME,
                    tool_args=_call_arguments(c),
                    tool_call_error=answer.is_error,
                )
            )
            added += tokens
        call.messages = [*call.messages, *follow]
        call.follow_tokens += added
        call.answered += len(ours)
        return True, []

    def _settle(self, call: _Call, response: Any, usage: Any) -> ModelResponse | None:
        """The response to hand Agno after one non-streamed round, or None to call the
        model again (its retrievals were answered)."""
        call.life.post_send()
        again, calls = self._handle_calls(call, list(response.tool_calls or []), response)
        if again:
            return None
        if calls is not None:
            response.tool_calls = calls
        response.response_usage = usage
        call.life.response_received(response)
        return response  # type: ignore[no-any-return]

    def _kwargs(self, call: _Call, kwargs: dict[str, Any]) -> dict[str, Any]:
        out = dict(kwargs)
        out["messages"] = call.messages
        if "tools" in kwargs or call.tools is not None:
            out["tools"] = call.tools
        return out

    def _rounds(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], streamed: bool
    ) -> Generator[tuple[tuple[Any, ...], dict[str, Any]], Any, Any]:
        """One provider call, for all four variants (the drivers in ``headroom.wrapper``
        call the inner model): compress, offer the tool, answer retrieval rounds, and
        return the response for Agno (for a stream: what is left to yield)."""
        messages, args = _take_messages(args, kwargs)
        messages = _memory_in(self._memory, messages)
        flag = bool(kwargs.get("compress_tool_results"))
        call = self._prepare(messages, kwargs.get("tools"), flag, streamed)
        usage = None
        try:
            while True:
                self._round_started(call)
                answer = yield args, self._kwargs(call, kwargs)
                if streamed:
                    again, last = self._end_stream_round(call, answer.held, answer.last)
                    if not again:
                        return [] if last is None else [last]
                    continue
                usage = add_usage(usage, answer.response_usage)
                final = self._settle(call, answer, usage)
                if final is not None:
                    return final
        except BaseException as exc:
            call.life.failed(exc)
            raise
        finally:
            self._record(call)

    # ----------------------------------------------------------- the four provider calls

    def invoke(self, *args: Any, **kwargs: Any) -> ModelResponse:
        return _memory_out(  # type: ignore[no-any-return]
            self._memory,
            run_rounds(
                self._rounds(args, kwargs, False), lambda r: self._inner.invoke(*r[0], **r[1])
            ),
        )

    async def ainvoke(self, *args: Any, **kwargs: Any) -> ModelResponse:
        # Compression (and answering retrievals) is CPU and store work: off the loop.
        result = await arun_rounds(
            self._rounds(args, kwargs, False), lambda r: self._inner.ainvoke(*r[0], **r[1])
        )
        return _memory_out(self._memory, result)  # type: ignore[no-any-return]

    def invoke_stream(self, *args: Any, **kwargs: Any) -> Iterator[ModelResponse]:
        strip = _MemoryStream(self._memory)
        for out in stream_rounds(
            self._rounds(args, kwargs, True),
            lambda r: self._inner.invoke_stream(*r[0], **r[1]),
            _StreamRound,
        ):
            yield strip.feed(out)
        yield from strip.finish()

    async def ainvoke_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[ModelResponse]:
        strip = _MemoryStream(self._memory)
        async for out in astream_rounds(
            self._rounds(args, kwargs, True),
            lambda r: self._inner.ainvoke_stream(*r[0], **r[1]),
            _StreamRound,
        ):
            yield strip.feed(out)
        for out in strip.finish():
            yield out

    # ----------------------------------------------------------- streaming helpers

    def _end_stream_round(
        self, call: _Call, held: list[Any], last: ModelResponse | None
    ) -> tuple[bool, ModelResponse | None]:
        """Assemble the held tool-call fragments with the inner model's own parser.

        Returns ``(reinvoke, final)``: reinvoke after answered retrievals, else ``final``
        carries the whole tool calls for Agno (None when there are none).
        """
        call.life.post_send()
        if not held:
            call.life.response_received(last)
            return False, None
        parsed = list(self._inner.parse_tool_calls(held))
        again, calls = self._handle_calls(call, parsed, last)
        if again:
            return True, None
        calls = parsed if calls is None else calls
        final = ModelResponse(tool_calls=[_ParsedCall(c) for c in calls]) if calls else None
        call.life.response_received(final if final is not None else last)
        return False, final


def _memory_in(injector: MemoryInjector | None, messages: Any) -> Any:
    if injector is None or not isinstance(messages, list):
        return messages
    return injector.inject(
        messages,
        lambda m: isinstance(m, Message) and m.role == "user",
        lambda m: m.content,
        lambda m, c: m.model_copy(update={"content": c}),
    )


def _memory_out(injector: MemoryInjector | None, response: Any) -> Any:
    if injector is not None and isinstance(getattr(response, "content", None), str):
        response.content, facts = extract(response.content)
        injector.learn(facts)
    return response


class _MemoryStream:
    """Holds ``<memory>`` blocks back from streamed text deltas (see ``StreamStripper``)."""

    def __init__(self, injector: MemoryInjector | None) -> None:
        self._injector = injector
        self._stripper = StreamStripper()

    def feed(self, delta: Any) -> Any:
        if self._injector is None or not isinstance(delta, ModelResponse):
            return delta
        if isinstance(delta.content, str) and delta.content:
            delta = copy.copy(delta)
            delta.content = self._stripper.feed(delta.content)
        return delta

    def finish(self) -> list[Any]:
        if self._injector is None:
            return []
        rest = self._stripper.finish()
        self._injector.learn(self._stripper.facts)
        return [ModelResponse(content=rest)] if rest else []


class _StreamRound:
    """One streamed round: a delta's tool-call fragments are held back, everything else
    passes through at once. The fragments are assembled when the round ends, so the
    wrapper sees whole calls (and answers ``headroom_retrieve`` itself) before Agno."""

    def __init__(self, _request: Any) -> None:
        self.held: list[Any] = []
        self.last: ModelResponse | None = None

    def feed(self, delta: Any) -> list[Any]:
        self.last = _merge_last(self.last, delta)
        if not isinstance(delta, ModelResponse) or not delta.tool_calls:
            return [delta]
        self.held.extend(delta.tool_calls)
        rest = copy.copy(delta)
        rest.tool_calls = None  # type: ignore[assignment]
        return [rest]

    def end(self) -> _StreamRound:
        return self


def _merge_last(last: ModelResponse | None, delta: Any) -> ModelResponse | None:
    """Collect what a follow-up assistant message needs (content, provider data)."""
    if not isinstance(delta, ModelResponse):
        return last
    merged = last or ModelResponse()
    if delta.content:
        merged.content = (merged.content or "") + str(delta.content)
    if delta.reasoning_content:
        merged.reasoning_content = (merged.reasoning_content or "") + delta.reasoning_content
    if delta.provider_data:
        merged.provider_data = {**(merged.provider_data or {}), **delta.provider_data}
    return merged


def _take_messages(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, tuple[Any, ...]]:
    if "messages" in kwargs:
        return kwargs.pop("messages"), args
    if args:
        return args[0], args[1:]
    return [], args


def _model_fields() -> list[str]:
    return [f.name for f in dataclasses.fields(Model)]


def _forwarding_property(name: str) -> property:
    def fget(self: HeadroomAgnoModel) -> Any:
        return getattr(self._inner, name)

    def fset(self: HeadroomAgnoModel, value: Any) -> None:
        setattr(self._inner, name, value)

    return property(fget, fset, doc=f"``{name}`` of the wrapped model.")


# Model's dataclass fields have class-level defaults, which would hide them from
# __getattr__; make each one read and write the wrapped model instead.
for _name in _model_fields():
    setattr(HeadroomAgnoModel, _name, _forwarding_property(_name))
del _name
