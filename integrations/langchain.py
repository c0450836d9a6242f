"""LangChain integration: compress tool outputs before they reach a chat model.

``HeadroomChatModel`` wraps any LangChain chat model. Before every call it converts the
messages to the engine's OpenAI-style dicts, lets ``headroom.compress()`` shrink the
tool outputs, and hands the inner model LangChain messages again. The caller's
messages (and so an agent's state) are never changed.

The other helpers:

- ``HeadroomRetrieveTool``: ``headroom_retrieve`` as a LangChain tool, for agents that
  want to give it to the model themselves.
- ``compress_tool_messages``: compress the ``ToolMessage``s of a message list or a
  LangGraph state (usable as a graph node or as a ``pre_model_hook``).
- ``HeadroomDocumentCompressor``: keeps the documents most relevant to a query, using
  the engine's lexical relevance scoring (BM25 plus exact identifier matches).
- ``HeadroomCallbackHandler`` / ``HeadroomOptimizer``: callbacks that *measure* what
  compression would save. A callback cannot change the messages a model receives;
  wrap the model in ``HeadroomChatModel`` to actually compress.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from headroom._extras import require

require("langchain_core", "langchain")

from langchain_core.callbacks import (  # noqa: E402
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    BaseCallbackHandler,
    CallbackManager,
    CallbackManagerForLLMRun,
    Callbacks,
)
from langchain_core.documents import BaseDocumentCompressor, Document  # noqa: E402
from langchain_core.language_models.chat_models import BaseChatModel  # noqa: E402
from langchain_core.messages import (  # noqa: E402
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    BaseMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_messages,
)
from langchain_core.messages.ai import add_usage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult  # noqa: E402
from langchain_core.runnables import Runnable, RunnableBinding, RunnableLambda  # noqa: E402
from langchain_core.tools import BaseTool, ToolException  # noqa: E402
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator  # noqa: E402

from headroom import (  # noqa: E402
    RETRIEVE_TOOL_NAME,
    CompressionHooks,
    CompressResult,
    HeadroomConfig,
    Store,
    answer_tool_call,
    compress,
    retrieve_tool,
    shared_store,
)
from headroom.memory.client import MemoryInjector  # noqa: E402
from headroom.memory.inline import StreamStripper, extract  # noqa: E402
from headroom.pipeline import RequestLifecycle  # noqa: E402
from headroom.relevance import ranked  # noqa: E402
from headroom.retrieval import RETRIEVE_TOOL_DESCRIPTION  # noqa: E402
from headroom.retrieval_policy import Action, RetrievalPolicy  # noqa: E402
from headroom.wrapper import (  # noqa: E402
    WrapperStats,
    answer_retrieval,
    arun_rounds,
    astream_rounds,
    compress_converted,
    is_retrieval,
    model_name_of,
    openai_tool_call,
    run_rounds,
    split_retrieval,
    stream_rounds,
    without_retrieval,
)

__all__ = [
    "CallRecord",
    "HeadroomCallbackHandler",
    "HeadroomChatModel",
    "HeadroomDocumentCompressor",
    "HeadroomOptimizer",
    "HeadroomRetrieveTool",
    "compress_tool_messages",
]

log = logging.getLogger("headroom.langchain")

DEFAULT_MODEL = "gpt-4o"
# LangGraph's "messages" stream mode skips runs tagged like this. The inner model's run
# carries it so streamed tokens reach the graph once (through the wrapper), not twice.
_INNER_TAGS = ["headroom:inner", "nostream"]


# --------------------------------------------------------------------------- metrics


@dataclass(frozen=True)
class CallRecord:
    """What compression did on one model call."""

    timestamp: float
    model: str
    tokens_before: int
    tokens_after: int
    tokens_saved: int
    transforms: list[str]
    retrieval_keys: list[str]
    duration_ms: float
    tokens_exact: bool


class _SavingsMixin:
    """Savings in the shared ledger, plus what only LangChain reports: per-call records
    with transforms and timings, retrieval calls answered, failures. One ``WrapperStats``
    is shared by a wrapper and every copy ``bind_tools`` / ``with_structured_output`` makes."""

    _stats: WrapperStats[CallRecord]

    @property
    def total_tokens_saved(self) -> int:
        """Tokens saved over every call so far (bound copies included)."""
        return self._stats.ledger.total_tokens_saved

    @property
    def metrics_history(self) -> list[CallRecord]:
        """The most recent per-call records (bounded by ``history_limit``)."""
        return self._stats.history()

    def get_savings_summary(self) -> dict[str, Any]:
        """The ledger's schema, plus this wrapper's documented keys (``savings_ratio`` is
        the ledger's ``compression_ratio``)."""
        totals, counts = self._stats.ledger.summary(), self._stats.counts()
        return {
            **totals.as_dict(),
            "savings_ratio": totals.compression_ratio,
            "retrieval_calls": int(counts["retrieval_calls"]),
            "compression_failures": int(counts["failures"]),
            "average_compress_ms": counts["duration_ms"] / totals.calls if totals.calls else 0.0,
        }

    def _record(self, result: CompressResult) -> CallRecord:
        rec = CallRecord(
            timestamp=time.time(),
            model=result.model,
            tokens_before=result.tokens_before,
            tokens_after=result.tokens_after,
            tokens_saved=result.tokens_saved,
            transforms=list(result.transforms_applied),
            retrieval_keys=list(result.retrieval_keys),
            duration_ms=result.duration_ms,
            tokens_exact=result.tokens_exact,
        )
        self._stats.ledger.record_result(result, source="langchain")
        self._stats.add(rec, duration_ms=rec.duration_ms)
        return rec


def _new_stats(history_limit: int) -> WrapperStats[CallRecord]:
    return WrapperStats(history_limit, ("retrieval_calls", "failures", "duration_ms"))


# --------------------------------------------------------------------------- conversion


def _engine_dict(msg: BaseMessage) -> dict[str, Any]:
    """One LangChain message as an OpenAI-style dict (only what the engine reads)."""
    content = msg.content
    if isinstance(msg, ToolMessage):
        out: dict[str, Any] = {"role": "tool", "tool_call_id": msg.tool_call_id, "content": content}
        if msg.name:
            out["name"] = msg.name
        return out
    if isinstance(msg, AIMessage):
        out = {"role": "assistant", "content": content}
        if msg.tool_calls:
            out["tool_calls"] = [
                openai_tool_call(c.get("id") or "", c["name"], c.get("args", {}))
                for c in msg.tool_calls
            ]
        return out
    if isinstance(msg, HumanMessage):
        return {"role": "user", "content": content}
    if isinstance(msg, SystemMessage):
        return {"role": "system", "content": content}
    if isinstance(msg, ChatMessage):
        return {"role": msg.role, "content": content}
    if isinstance(msg, FunctionMessage):
        return {"role": "function", "name": msg.name, "content": content}
    return {"role": msg.type, "content": content}


def _rest(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "content"}


def _back(original: BaseMessage, before: dict[str, Any], after: dict[str, Any]) -> BaseMessage:
    if after is before:
        return original
    if _rest(before) == _rest(after):
        # model_copy keeps every other field: ids, tool_call_id, name, artifact, status…
        return original.model_copy(update={"content": after.get("content")})
    return convert_to_messages([after])[0]


def _compress_messages(
    messages: Sequence[BaseMessage], life: RequestLifecycle | None = None, **options: Any
) -> tuple[list[BaseMessage], CompressResult | None]:
    """Compressed copies of ``messages`` and the engine's result; on any failure the
    original messages and None (bad input never breaks the user's agent)."""

    def back(original: Any, before: Any, after: Any) -> BaseMessage:
        if original is None:
            return convert_to_messages([after])[0]
        return _back(original, before, after)

    to_dicts = lambda msgs: [_engine_dict(m) for m in msgs]  # noqa: E731
    out, result, _ = compress_converted(messages, to_dicts, back, life=life, **options)
    return out, result


def _strip_retrieve_calls(msg: AIMessage) -> AIMessage:
    """The message without any headroom_retrieve calls, so the user's agent never sees them."""
    if not any(is_retrieval(c) for c in msg.tool_calls):
        return msg
    extra = dict(msg.additional_kwargs)
    if isinstance(extra.get("tool_calls"), list):
        extra["tool_calls"] = without_retrieval(extra["tool_calls"])
        if not extra["tool_calls"]:
            del extra["tool_calls"]
    content = msg.content  # Anthropic-style tool_use blocks
    update = {"tool_calls": without_retrieval(msg.tool_calls), "additional_kwargs": extra}
    if isinstance(content, list):
        update["content"] = without_retrieval(content)
    return msg.model_copy(update=update)


# --------------------------------------------------------------------------- chat model


class HeadroomChatModel(_SavingsMixin, BaseChatModel):
    """A chat model that compresses tool outputs before calling the model it wraps.

    ``HeadroomChatModel(ChatOpenAI(model="gpt-4o"))``. Options: ``config`` (a
    ``HeadroomConfig``), ``hooks`` (``CompressionHooks``), ``store`` (where originals
    go), ``model`` (the name used for token counting; by default the inner model's),
    ``enable_retrieval`` (answer the model's ``headroom_retrieve`` calls; default on),
    ``max_retrieval_rounds``, ``history_limit`` and ``extensions`` (pipeline
    extensions: they see every stage of each request, see ``headroom.pipeline``).
    """

    wrapped_model: BaseChatModel
    model: str = ""
    config: HeadroomConfig | None = None
    hooks: CompressionHooks | None = None
    store: Any = None
    enable_retrieval: bool = True
    max_retrieval_rounds: int = Field(default=3, ge=0)
    history_limit: int = Field(default=1000, ge=1)
    extensions: list[Any] | None = None
    streaming: bool = False
    """Use the inner model's streaming API even for ``invoke`` (LangChain convention)."""
    memory: Any = None
    """A ``headroom.memory.Memory``: relevant facts go into each new human message and
    ``<memory>`` blocks are learned from and stripped from replies (see the README)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _stats: WrapperStats[CallRecord] = PrivateAttr()
    _memory: MemoryInjector | None = PrivateAttr(default=None)

    def __init__(self, wrapped_model: BaseChatModel | None = None, /, **kwargs: Any) -> None:
        if wrapped_model is not None:
            kwargs["wrapped_model"] = wrapped_model
        super().__init__(**kwargs)

    @model_validator(mode="before")
    @classmethod
    def _forward_settings(cls, data: Any) -> Any:
        """Settings the wrapper doesn't have (``temperature=0``, ``max_tokens=…``) go to a
        copy of the inner model when it has them; anything else is reported, not dropped
        silently. The caller's inner model is never changed."""
        if not isinstance(data, dict):
            return data
        extra = [k for k in data if k not in cls.model_fields]
        if not extra:
            return data
        inner = data.get("wrapped_model")
        names: dict[str, str] = {}
        if isinstance(inner, BaseModel):
            for name, field in type(inner).model_fields.items():
                names[name] = name
                if field.alias:
                    names[field.alias] = name
        update = {names[k]: data[k] for k in extra if k in names}
        unknown = sorted(k for k in extra if k not in names)
        if unknown:
            log.warning(
                "HeadroomChatModel: neither it nor %s has %s; ignoring",
                type(inner).__name__,
                ", ".join(unknown),
            )
        data = {k: v for k, v in data.items() if k not in extra}
        if update and isinstance(inner, BaseModel):
            data["wrapped_model"] = inner.model_copy(update=update)
        return data

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if not self.model:
            self.model = model_name_of(self.wrapped_model) or DEFAULT_MODEL
        self._stats = _new_stats(self.history_limit)
        if self.memory is not None:
            self._memory = MemoryInjector(self.memory)

    # ----- identity

    @property
    def _llm_type(self) -> str:
        return f"headroom-{self.wrapped_model._llm_type}"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {
            "wrapper": "headroom",
            "headroom_model": self.model,
            "inner_llm_type": self.wrapped_model._llm_type,
            "inner": dict(self.wrapped_model._identifying_params),
        }

    def __repr__(self) -> str:
        inner = type(self.wrapped_model).__name__
        name = model_name_of(self.wrapped_model)
        inner_desc = f"{inner}(model={name!r})" if name else inner
        return f"HeadroomChatModel(inner={inner_desc}, model={self.model!r})"

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = dict(self.wrapped_model._get_ls_params(stop=stop, **kwargs))
        override = kwargs.get("model")
        if isinstance(override, str) and override:
            params["ls_model_name"] = override
        elif not params.get("ls_model_name"):
            params["ls_model_name"] = model_name_of(self.wrapped_model) or self.model
        params["ls_model_type"] = "chat"
        return params

    # ----- compression

    def _store(self) -> Any:
        spec = (
            self.store if self.store is not None else (self.config.store if self.config else None)
        )
        if spec is None or isinstance(spec, Store):
            return spec
        # One instance per spec string, so compress and retrieve agree.
        return shared_store(spec, ttl=self.config.store_ttl_seconds if self.config else None)

    def _lifecycle(self) -> RequestLifecycle:
        return RequestLifecycle(self.extensions, "langchain", self.model)

    def _compress(
        self, messages: list[BaseMessage], life: RequestLifecycle | None = None
    ) -> tuple[list[BaseMessage], list[str]]:
        try:
            store = self._store()
        except Exception:
            log.warning("headroom: store unavailable; sending the original messages", exc_info=True)
            self._stats.add(failures=1)
            return messages, []
        out, result = _compress_messages(
            messages,
            model=self.model,
            config=self.config,
            hooks=self.hooks,
            store=store,
            life=life,
        )
        if result is None:
            self._stats.add(failures=1)
            return out, []
        self._record(result)
        return out, list(result.retrieval_keys)

    def _with_retrieve_tool(self, keys: list[str], kwargs: dict[str, Any]) -> dict[str, Any]:
        """``kwargs`` with headroom_retrieve added to the bound tools, in the inner model's
        own tool format; unchanged when retrieval is off or impossible."""
        if not self._policy().offers_tool(bool(keys)):
            return kwargs
        try:
            binding = self.wrapped_model.bind_tools([retrieve_tool("openai")])
        except Exception:  # the inner model has no tool calling
            return kwargs
        extra = getattr(binding, "kwargs", {}).get("tools") if binding is not None else None
        if not extra:
            return kwargs
        existing = kwargs.get("tools") or []
        if any(is_retrieval(t) for t in existing):
            return kwargs
        return {**kwargs, "tools": [*existing, *extra]}

    def _policy(self) -> RetrievalPolicy:
        """``enable_retrieval=False`` is the shared ``"tool"`` mode: lossy, nothing added."""
        return RetrievalPolicy(
            "auto" if self.enable_retrieval else "tool", self.max_retrieval_rounds
        )

    def _answer(self, msg: AIMessage, round_no: int) -> list[BaseMessage] | None:
        """The follow-up messages answering the model's ``headroom_retrieve`` calls, or
        None when its answer goes to the user (no calls of ours, mixed with the user's
        tools, or over the limit: ours are then dropped from it)."""
        ours, others = split_retrieval(msg.tool_calls)
        if self._policy().decide(round_no, len(ours), len(others)) is not Action.ANSWER:
            if ours:
                log.info("headroom: dropping headroom_retrieve calls from the model's answer")
            return None
        replies: list[BaseMessage] = [msg]
        answered_tokens = 0
        for c in ours:
            answer, tokens = answer_retrieval(c.get("args"), self._store(), self.model)
            status = "error" if answer.is_error else "success"
            call_id = c.get("id") or ""
            replies.append(
                ToolMessage(
                    answer.content, tool_call_id=call_id, name=RETRIEVE_TOOL_NAME, status=status
                )
            )
            answered_tokens += tokens
        self._stats.ledger.add_retrieval(1, answered_tokens)
        self._stats.add(retrieval_calls=len(ours))
        return replies

    def _rounds(
        self, messages: list[BaseMessage], kwargs: dict[str, Any], streamed: bool
    ) -> Generator[_Round, Any, Any]:
        """One request, for all four variants (the drivers in ``headroom.wrapper`` make
        the model calls): compress, offer ``headroom_retrieve``, answer the model's
        retrieval rounds, and return the final result (for a stream: the held chunks)."""
        life = RequestLifecycle(self.extensions, "langchain", self.model)
        msgs, keys = self._compress(messages, life)
        with life.guard():
            call_kwargs = self._with_retrieve_tool(keys, kwargs)
            intercepting = call_kwargs is not kwargs
            results: list[Any] = []
            round_no = 0
            while True:
                life.pre_send(msgs)
                answer = yield _Round(msgs, call_kwargs, life, intercepting)
                life.post_send()
                if streamed:
                    msg = answer.message()
                else:
                    results.append(answer)
                    msg = answer.generations[0][0].message
                follow = self._answer(msg, round_no) if intercepting and msg is not None else None
                if follow is None:
                    final = answer.flush() if streamed else _final(answer, results, intercepting)
                    life.response_received(msg if streamed else final)
                    return final
                msgs = [*msgs, *follow]
                round_no += 1

    @staticmethod
    def _inner_config(run_manager: Any) -> dict[str, Any]:
        config: dict[str, Any] = {"tags": list(_INNER_TAGS)}
        if run_manager is not None:
            # LLM run managers have no get_child(); build the same child manager so the
            # inner model's run nests under the wrapper's run with inherited handlers.
            cls = (
                AsyncCallbackManager
                if isinstance(run_manager, AsyncCallbackManagerForLLMRun)
                else CallbackManager
            )
            child = cls(handlers=[], parent_run_id=run_manager.run_id)
            child.set_handlers(run_manager.inheritable_handlers)
            child.add_tags(run_manager.inheritable_tags)
            child.add_metadata(run_manager.inheritable_metadata)
            config["callbacks"] = child
        return config

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        config = self._inner_config(run_manager)
        messages = _memory_in(self._memory, messages)
        return _memory_out(
            self._memory,
            run_rounds(
                self._rounds(messages, kwargs, streamed=False),
                lambda r: self.wrapped_model.generate([r.msgs], stop=stop, **config, **r.kwargs),
            ),
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        config = self._inner_config(run_manager)
        messages = _memory_in(self._memory, messages)
        result = await arun_rounds(  # compression is CPU work: it runs off the event loop
            self._rounds(messages, kwargs, streamed=False),
            lambda r: self.wrapped_model.agenerate([r.msgs], stop=stop, **config, **r.kwargs),
        )
        return _memory_out(self._memory, result)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        config = self._inner_config(run_manager)
        messages = _memory_in(self._memory, messages)
        strip = _MemoryStream(self._memory)
        for chunk in stream_rounds(
            self._rounds(messages, kwargs, streamed=True),
            lambda r: self.wrapped_model.stream(r.msgs, config, stop=stop, **r.kwargs),
            _Relay,
        ):
            yield strip.feed(chunk)
        yield from strip.finish()

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        config = self._inner_config(run_manager)
        messages = _memory_in(self._memory, messages)
        strip = _MemoryStream(self._memory)
        async for chunk in astream_rounds(
            self._rounds(messages, kwargs, streamed=True),
            lambda r: self.wrapped_model.astream(r.msgs, config, stop=stop, **r.kwargs),
            _Relay,
        ):
            yield strip.feed(chunk)
        for chunk in strip.finish():
            yield chunk

    # ----- tools and structured output

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> Runnable[Any, AIMessage]:
        """Bind tools in the inner model's own format; the result still compresses."""
        if tool_choice is not None:
            kwargs["tool_choice"] = tool_choice
        binding = self.wrapped_model.bind_tools(tools, **kwargs)
        if not isinstance(binding, RunnableBinding):
            raise TypeError(
                f"{type(self.wrapped_model).__name__}.bind_tools returned "
                f"{type(binding).__name__}; HeadroomChatModel needs a RunnableBinding"
            )
        return self.bind(**binding.kwargs)

    def with_structured_output(
        self, schema: Any, *, include_raw: bool = False, **kwargs: Any
    ) -> Runnable[Any, Any]:
        """The inner model's structured output, fed compressed messages.

        The ``headroom_retrieve`` loop does not apply here: the output is parsed
        structured data, not a conversation turn."""
        structured = self.wrapped_model.with_structured_output(
            schema, include_raw=include_raw, **kwargs
        )

        def _sync(value: Any) -> list[BaseMessage]:
            return self._compress(self._convert_input(value).to_messages())[0]

        async def _async(value: Any) -> list[BaseMessage]:
            return (
                await asyncio.to_thread(self._compress, self._convert_input(value).to_messages())
            )[0]

        return RunnableLambda(_sync, afunc=_async, name="headroom_compress") | structured


def _memory_in(injector: MemoryInjector | None, messages: list[BaseMessage]) -> list[BaseMessage]:
    if injector is None:
        return messages
    return injector.inject(
        messages,
        lambda m: isinstance(m, HumanMessage),
        lambda m: m.content,
        lambda m, c: m.model_copy(update={"content": c}),
    )


def _memory_out(injector: MemoryInjector | None, result: ChatResult) -> ChatResult:
    if injector is None:
        return result
    generations = []
    for gen in result.generations:
        msg = gen.message
        if isinstance(msg.content, str):
            text, facts = extract(msg.content)
            injector.learn(facts)
            if text != msg.content:
                msg = msg.model_copy(update={"content": text})
        generations.append(ChatGeneration(message=msg, generation_info=gen.generation_info))
    return ChatResult(generations=generations, llm_output=result.llm_output)


class _MemoryStream:
    """Holds ``<memory>`` blocks back from streamed text chunks (see ``StreamStripper``)."""

    def __init__(self, injector: MemoryInjector | None) -> None:
        self._injector = injector
        self._stripper = StreamStripper()

    def feed(self, chunk: ChatGenerationChunk) -> ChatGenerationChunk:
        msg = chunk.message
        if self._injector is None or not isinstance(msg.content, str) or not msg.content:
            return chunk
        text = self._stripper.feed(msg.content)
        return ChatGenerationChunk(
            message=msg.model_copy(update={"content": text}),
            generation_info=chunk.generation_info,
        )

    def finish(self) -> list[ChatGenerationChunk]:
        if self._injector is None:
            return []
        rest = self._stripper.finish()
        self._injector.learn(self._stripper.facts)
        return [ChatGenerationChunk(message=AIMessageChunk(content=rest))] if rest else []


@dataclass(frozen=True)
class _Round:
    """One request to the inner model."""

    msgs: list[BaseMessage]
    kwargs: dict[str, Any]
    life: RequestLifecycle
    intercepting: bool


def _final(result: Any, results: list[Any], intercepting: bool) -> ChatResult:
    """The last round's result, without our calls and with usage summed over the rounds."""
    usage = None
    for r in results:
        more = getattr(r.generations[0][0].message, "usage_metadata", None)
        if more is not None:
            usage = more if usage is None else add_usage(usage, more)
    generations = []
    for gen in result.generations[0]:
        msg = gen.message
        if intercepting and isinstance(msg, AIMessage):
            msg = _strip_retrieve_calls(msg)
            if usage is not None and msg.usage_metadata is not None:
                msg = msg.model_copy(update={"usage_metadata": usage})
        generations.append(ChatGeneration(message=msg, generation_info=gen.generation_info))
    return ChatResult(generations=generations, llm_output=result.llm_output)


def _as_chunk(msg: Any) -> Any:
    """Inner models that do not stream answer ``stream()`` with one whole AIMessage."""
    if isinstance(msg, BaseMessageChunk) or not isinstance(msg, AIMessage):
        return msg
    return AIMessageChunk(
        content=msg.content,
        id=msg.id,
        additional_kwargs=msg.additional_kwargs,
        response_metadata=msg.response_metadata,
        usage_metadata=msg.usage_metadata,
        tool_call_chunks=[
            {
                "name": c["name"],
                "args": json.dumps(c.get("args", {})),
                "id": c.get("id"),
                "index": i,
                "type": "tool_call_chunk",
            }
            for i, c in enumerate(msg.tool_calls)
        ],
        chunk_position="last",
    )


class _Relay:
    """One streamed round. Intercepting, it holds tool-call chunks back until the round
    ends, so a round that only calls headroom_retrieve never shows them to the user;
    otherwise chunks pass straight through. POST_SEND is emitted at the first chunk."""

    def __init__(self, r: _Round) -> None:
        self._life = r.life
        self._hold = r.intercepting
        self._merge = r.intercepting or bool(r.life.pipe)
        self._merged: Any = None
        self._held: list[AIMessageChunk] = []

    def feed(self, chunk: Any) -> Iterator[ChatGenerationChunk]:
        self._life.post_send()
        chunk = _as_chunk(chunk)
        if self._merge and (not self._hold or isinstance(chunk, AIMessageChunk)):
            self._merged = chunk if self._merged is None else self._merged + chunk
        if not self._hold or not isinstance(chunk, AIMessageChunk):
            yield ChatGenerationChunk(message=chunk)
        elif chunk.tool_call_chunks or chunk.additional_kwargs.get("tool_calls"):
            self._held.append(chunk)
        else:  # the wrapper's own run ends the stream; an inner "last" could be premature
            yield ChatGenerationChunk(message=chunk.model_copy(update={"chunk_position": None}))

    def end(self) -> _Relay:
        return self

    def message(self) -> Any:
        if not self._hold or not isinstance(self._merged, AIMessageChunk):
            return self._merged
        done = self._merged.model_copy(update={"chunk_position": "last"})
        return AIMessage(
            content=done.content,
            tool_calls=done.tool_calls,
            id=done.id,
            additional_kwargs=done.additional_kwargs,
            response_metadata=done.response_metadata,
        )

    def flush(self) -> list[ChatGenerationChunk]:
        """The held tool-call chunks, without any headroom_retrieve call."""
        if self._merged is None or not self._held:
            return []
        done = self._merged.model_copy(update={"chunk_position": "last"})
        dropped = {c.get("index") for c in done.tool_call_chunks if is_retrieval(c)}
        out = []
        for chunk in self._held:
            kept = [c for c in chunk.tool_call_chunks if c.get("index") not in dropped]
            if not chunk.tool_call_chunks or kept:
                update = {"tool_call_chunks": kept, "chunk_position": None}
                out.append(ChatGenerationChunk(message=chunk.model_copy(update=update)))
        return out


# --------------------------------------------------------------------------- retrieve tool


class _RetrieveArgs(BaseModel):
    key: str = Field(description="The retrieval key from the marker, e.g. hr_0123abcd4567ef89.")
    query: str | None = Field(
        default=None,
        description="Optional: return only items or lines matching these words or ids.",
    )


class HeadroomRetrieveTool(BaseTool):
    """``headroom_retrieve`` as a LangChain tool: returns what compression left out."""

    name: str = RETRIEVE_TOOL_NAME
    description: str = RETRIEVE_TOOL_DESCRIPTION
    args_schema: type[BaseModel] = _RetrieveArgs
    handle_tool_error: bool = True
    store: Any = None
    """The store the originals were written to (default: the process-wide one)."""

    def _run(self, key: str, query: str | None = None, **_: Any) -> str:
        args: dict[str, Any] = {"key": key}
        if query:
            args["query"] = query
        answer = answer_tool_call(args, store=self.store)
        if answer.is_error:
            raise ToolException(answer.content)
        return answer.content

    async def _arun(self, key: str, query: str | None = None, **_: Any) -> str:
        return await asyncio.to_thread(self._run, key, query)


# --------------------------------------------------------------------------- LangGraph helper


def compress_tool_messages(
    state_or_messages: Any,
    *,
    model: str = DEFAULT_MODEL,
    config: HeadroomConfig | None = None,
    hooks: CompressionHooks | None = None,
    store: Any = None,
    messages_key: str = "messages",
    output_key: str | None = None,
) -> Any:
    """Compress the ``ToolMessage``s in a message list or a LangGraph state.

    - Given a list, returns a new list (the input is not changed).
    - Given a state (dict or object with ``messages_key``), returns a state update
      ``{output_key or messages_key: [...]}``. As a graph node this replaces the tool
      outputs in the state with their compressed form (same message ids, so the
      ``add_messages`` reducer updates them in place; originals stay retrievable).
      With ``output_key="llm_input_messages"`` it works as ``create_react_agent``'s
      ``pre_model_hook``: the model sees compressed messages, the state keeps originals.
    """
    if isinstance(state_or_messages, dict):
        raw = state_or_messages.get(messages_key, [])
    elif isinstance(state_or_messages, (list, tuple)):
        raw = state_or_messages
    else:
        raw = getattr(state_or_messages, messages_key, [])
    messages = convert_to_messages(list(raw))
    out, _ = _compress_messages(messages, model=model, config=config, hooks=hooks, store=store)
    if isinstance(state_or_messages, (list, tuple)):
        return out
    return {output_key or messages_key: out}


# --------------------------------------------------------------------------- documents


class HeadroomDocumentCompressor(BaseDocumentCompressor):
    """Keeps the ``top_n`` documents most relevant to the query.

    Relevance is the engine's lexical score (BM25 plus exact identifier matches), so it
    runs offline with no model. Documents come back best first, each copy carrying
    ``metadata["relevance_score"]``. When no document matches the query at all, the
    first ``top_n`` are returned in their original order.
    """

    top_n: int = Field(default=4, ge=1)

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        docs = list(documents)
        if not docs:
            return []
        order, scores = ranked([d.page_content for d in docs], query, limit=self.top_n)
        if not order:
            return docs[: self.top_n]
        return [
            Document(
                page_content=docs[i].page_content,
                metadata={**docs[i].metadata, "relevance_score": round(scores[i], 4)},
                id=docs[i].id,
            )
            for i in order
        ]

    async def acompress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        return await asyncio.to_thread(self.compress_documents, documents, query, callbacks)


# --------------------------------------------------------------------------- callbacks


class HeadroomCallbackHandler(_SavingsMixin, BaseCallbackHandler):
    """Measures what compression would save on every chat prompt it sees, and logs it.

    It does not change what the model receives (no callback can); use
    ``HeadroomChatModel`` for that. Measuring writes nothing to your store: the
    originals go to a private in-memory store.
    """

    raise_error = False

    def __init__(
        self,
        *,
        model: str | None = None,
        config: HeadroomConfig | None = None,
        hooks: CompressionHooks | None = None,
        history_limit: int = 1000,
        log_level: int = logging.INFO,
        on_record: Callable[[CallRecord], None] | None = None,
    ) -> None:
        from headroom import MemoryStore

        self.model = model
        self.config = config
        self.hooks = hooks
        self.log_level = log_level
        self.on_record = on_record
        self._stats = _new_stats(history_limit)
        self._store = MemoryStore()
        # Runs of HeadroomChatModel in flight: the calls it makes to its inner model are
        # already compressed and were measured at the wrapper, so they are not counted again.
        self._wrapper_runs: set[Any] = set()

    def _model_for(self, serialized: dict[str, Any] | None, kwargs: dict[str, Any]) -> str:
        params = kwargs.get("invocation_params") or {}
        inner = (serialized or {}).get("kwargs") or {}
        return self.model or model_name_of(params, inner) or DEFAULT_MODEL

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        **kwargs: Any,
    ) -> None:
        params = kwargs.get("invocation_params") or {}
        if str(params.get("_type", "")).startswith("headroom-"):
            self._wrapper_runs.add(kwargs.get("run_id"))
        elif kwargs.get("parent_run_id") in self._wrapper_runs:
            return
        try:
            model = self._model_for(serialized, kwargs)
            for batch in messages:
                inputs = [_engine_dict(m) for m in batch]
                result = compress(
                    inputs, model=model, config=self.config, hooks=self.hooks, store=self._store
                )
                rec = self._record(result)
                log.log(
                    self.log_level,
                    "headroom: compression would save %d of %d tokens (%.1f%%) on this %s call",
                    rec.tokens_saved,
                    rec.tokens_before,
                    100.0 * result.compression_ratio,
                    model,
                )
                if self.on_record is not None:
                    self.on_record(rec)
        except Exception:
            self._stats.add(failures=1)
            log.debug("headroom: could not measure this prompt", exc_info=True)

    def on_llm_end(self, response: Any, **kwargs: Any) -> None:
        self._wrapper_runs.discard(kwargs.get("run_id"))

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self._wrapper_runs.discard(kwargs.get("run_id"))


class HeadroomOptimizer(HeadroomCallbackHandler):
    """Kept for older docs (``ChatOpenAI(callbacks=[HeadroomOptimizer()])``).

    It only *reports* the savings compression would give: a callback cannot change the
    messages a model receives. To actually compress, wrap the model:
    ``HeadroomChatModel(ChatOpenAI(...))``.
    """
