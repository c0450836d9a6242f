"""Headroom as a LiteLLM callback: compress tool outputs on every path LiteLLM lets a
callback change, answer ``headroom_retrieve`` inside LiteLLM's agentic loop.

    import litellm
    from headroom.integrations.litellm_callback import HeadroomCallback

    callback = HeadroomCallback()                 # or HeadroomCallback(min_tokens=500, ...)
    litellm.callbacks = [callback]
    await litellm.acompletion(model=..., messages=...)
    callback.total_tokens_saved

LiteLLM proxy (``litellm_config.yaml``)::

    litellm_settings:
      callbacks: ["headroom.integrations.litellm_callback.headroom_callback"]

Where each path stands (LiteLLM 1.110.x):

- ``acompletion``, the Router, the proxy's chat route: compressed in
  ``async_pre_call_deployment_hook``. Non-streamed requests are offered
  ``headroom_retrieve``, and its calls are answered inside LiteLLM's chat-completion
  agentic loop: the caller sees only the final answer. Streamed requests are
  compressed losslessly and get no tool (LiteLLM's agentic loop does not run on streams).
- ``/v1/messages`` (``litellm.anthropic_messages`` and the proxy route): the same, with
  LiteLLM's messages agentic loop.
- ``aresponses``: compressed losslessly, no tool (no agentic loop there).
- synchronous ``completion()``: no hook can change its messages. The callback logs one
  warning the first time it sees one; compress before the call instead, with
  ``headroom.compress(messages)`` or ``completion_with_headroom`` below.

LiteLLM's own ``compression_interception`` callback compresses ``/v1/messages``
requests with its ``litellm_content_retrieve`` tool. When it is registered and enabled,
Headroom leaves ``/v1/messages`` requests to it, and it never touches the others: one
request is never compressed twice.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from typing import Any

from headroom._extras import require
from headroom.config import HeadroomConfig
from headroom.engine import DEFAULT_CONFIG
from headroom.ledger import SavingsLedger
from headroom.retrieval import RETRIEVE_TOOL_NAME
from headroom.retrieval_policy import Action, RetrievalPolicy, retrieval_mode
from headroom.wire import RequestCompression, answer_and_count, compress_request
from headroom.wire.formats import ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, WireFormat

require("litellm", "litellm")

import litellm  # noqa: E402
from litellm.integrations.custom_logger import CustomLogger  # noqa: E402
from litellm.types.integrations.custom_logger import (  # noqa: E402
    AgenticLoopPlan,
    AgenticLoopRequestPatch,
)

log = logging.getLogger("headroom.litellm")

_CHAT_CALLS = {"acompletion", "completion"}
_MESSAGES_CALLS = {"anthropic_messages"}
_RESPONSES_CALLS = {"aresponses", "responses"}
_KEEP_CALLS = 4096  # per-call numbers kept for the retrieval ledger


def _call_type(call_type: Any) -> str:
    return str(getattr(call_type, "value", call_type) or "")


def _as_dict(response: Any) -> dict[str, Any] | None:
    if isinstance(response, dict):
        return response
    dump = getattr(response, "model_dump", None)
    if callable(dump):
        try:
            out = dump()
        except Exception:
            return None
        return out if isinstance(out, dict) else None
    return None


def _interception_active() -> bool:
    """Whether LiteLLM's own ``compression_interception`` callback is registered."""
    try:
        from litellm.integrations.compression_interception.handler import (
            CompressionInterceptionLogger,
        )
    except ImportError:
        return False
    registered = [*litellm.callbacks, *getattr(litellm, "_async_success_callback", [])]
    return any(
        isinstance(cb, CompressionInterceptionLogger) and getattr(cb, "enabled", True)
        for cb in registered
    )


class HeadroomCallback(CustomLogger):  # type: ignore[misc]
    """Compresses tool outputs in LiteLLM requests; answers retrieval calls inside.

    ``min_tokens``: smallest tool output worth compressing. ``model_limit``: context
    window to fit into (the engine drops the least valuable content first).
    ``config``: a full ``HeadroomConfig``. ``hooks``: ``CompressionHooks``. ``store``:
    where originals are kept for retrieval. ``retrieval``: ``"auto"`` (default),
    ``"tool"`` or ``"off"``, as everywhere in Headroom. ``ledger``: a shared
    ``SavingsLedger`` (one is made when not given).
    """

    def __init__(
        self,
        min_tokens: int | None = None,
        model_limit: int | None = None,
        config: HeadroomConfig | None = None,
        hooks: Any = None,
        store: Any = None,
        retrieval: str | bool | None = "auto",
        max_rounds: int = 3,
        ledger: SavingsLedger | None = None,
    ) -> None:
        super().__init__()
        cfg = config or DEFAULT_CONFIG
        changes: dict[str, Any] = {}
        if min_tokens is not None:
            changes["min_tokens_to_compress"] = min_tokens
        if model_limit is not None:
            changes["model_limit"] = model_limit
        self.config = cfg.with_options(**changes) if changes else cfg
        self.hooks = hooks
        self.store = store
        self.policy = RetrievalPolicy(retrieval_mode(retrieval), max_rounds)
        self.ledger = ledger or SavingsLedger()
        self._after: OrderedDict[str, int] = OrderedDict()  # call id -> tokens sent
        self._lock = threading.Lock()
        self._warned_sync = False

    # ------------------------------------------------------------------ savings
    @property
    def total_tokens_saved(self) -> int:
        return self.ledger.total_tokens_saved

    def get_savings_summary(self) -> dict[str, Any]:
        return self.ledger.summary().as_dict()

    # ------------------------------------------------------------------ compression
    def _format(self, call_type: str) -> tuple[WireFormat, str] | None:
        if call_type in _CHAT_CALLS:
            return OPENAI_CHAT, "messages"
        if call_type in _MESSAGES_CALLS:
            return ANTHROPIC, "messages"
        if call_type in _RESPONSES_CALLS:
            return OPENAI_RESPONSES, "input"
        return None

    def _policy_for(self, call_type: str, stream: bool) -> RetrievalPolicy:
        """The retrieval tool is offered only where LiteLLM's agentic loop answers it:
        non-streamed chat and ``/v1/messages``. Elsewhere ``"auto"`` becomes lossless."""
        answerable = not stream and call_type not in _RESPONSES_CALLS
        if self.policy.mode == "auto" and not answerable:
            return RetrievalPolicy("off", self.policy.max_rounds)
        return self.policy

    async def async_pre_call_deployment_hook(
        self, kwargs: dict[str, Any], call_type: Any
    ) -> dict[str, Any] | None:
        kind = _call_type(call_type)
        try:
            if int(kwargs.get("_agentic_loop_depth") or 0) > 0:
                return None  # a hidden round re-entering: its messages are ours already
            found = self._format(kind)
            if found is None:
                return None
            fmt, field = found
            if fmt is ANTHROPIC and _interception_active():
                return None  # LiteLLM's compression_interception owns /v1/messages
            items = kwargs.get(field)
            if not isinstance(items, list) or not items:
                return None
            body: dict[str, Any] = {field: items, "model": kwargs.get("model") or ""}
            tools = kwargs.get("tools")
            if isinstance(tools, list):
                body["tools"] = tools
            for key in ("previous_response_id", "store"):
                if key in kwargs:
                    body[key] = kwargs[key]
            policy = self._policy_for(kind, bool(kwargs.get("stream")))
            outcome = await asyncio.to_thread(self._compress, fmt, body, policy)
        except Exception as exc:  # any failure: LiteLLM sends the original
            log.warning("headroom: compression failed, sending the original: %r", exc)
            return None
        if outcome is None or not outcome.changed:
            return None
        kwargs[field] = outcome.body[field]
        if outcome.tool_offered or "tools" in outcome.body:
            kwargs["tools"] = outcome.body.get("tools")
        call_id = kwargs.get("litellm_call_id")
        if isinstance(call_id, str):
            with self._lock:
                self._after[call_id] = outcome.tokens_after
                while len(self._after) > _KEEP_CALLS:
                    self._after.popitem(last=False)
        return kwargs

    def _compress(
        self, fmt: WireFormat, body: dict[str, Any], policy: RetrievalPolicy
    ) -> RequestCompression:
        outcome = compress_request(
            fmt, body, config=self.config, policy=policy, store=self.store, hooks=self.hooks
        )
        if outcome.result is not None:
            self.ledger.record(
                outcome.tokens_before,
                outcome.tokens_after,
                model=outcome.result.model,
                source="litellm",
            )
        return outcome

    # ------------------------------------------------------------------ sync calls
    def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
        """Runs for sync and async calls alike; a sync one is the only way we see a
        ``completion()`` we could not change."""
        if self._warned_sync or not isinstance(kwargs, dict):
            return
        params = kwargs.get("litellm_params") or {}
        is_async = kwargs.get("acompletion") or (
            isinstance(params, dict) and params.get("acompletion")
        )
        if is_async or kwargs.get("call_type") not in (None, "completion"):
            return
        if not _holds_tool_output(messages):
            return
        self._warned_sync = True
        log.warning(
            "headroom: litellm.completion() is synchronous and no LiteLLM hook can change "
            "its messages, so this call was sent uncompressed. Use litellm.acompletion(), "
            "or compress first: headroom.integrations.litellm_callback.completion_with_headroom"
            "(...) or messages = headroom.compress(messages).messages."
        )

    # ------------------------------------------------------------------ retrieval
    def _gate(
        self, response: Any, tools: Any, stream: bool, kwargs: Any
    ) -> tuple[bool, dict[str, Any]]:
        if stream or self.policy.mode != "auto":
            return False, {}
        names = {
            (t.get("function") or {}).get("name") or t.get("name")
            for t in tools or ()
            if isinstance(t, dict)
        }
        if RETRIEVE_TOOL_NAME not in names:
            return False, {}
        data = _as_dict(response)
        if data is None:
            return False, {}
        fmt = OPENAI_CHAT if "choices" in data else ANTHROPIC
        calls = fmt.calls(data)
        ours = [c for c in calls if c.is_retrieval]
        if not ours:
            return False, {}
        depth = int((kwargs or {}).get("_agentic_loop_depth") or 0)
        action = self.policy.decide(depth, len(ours), len(calls) - len(ours))
        return True, {
            "tool_type": "headroom_retrieve",
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in ours],
            "action": action.value,
            "format": fmt.name,
            "response": data,
        }

    async def _plan(
        self,
        tools: dict[str, Any],
        model: str,
        messages: list[dict[str, Any]],
        kwargs: Any,
        logging_obj: Any,
        max_tokens: Any = None,
        optional_params: dict[str, Any] | None = None,
    ) -> AgenticLoopPlan:
        fmt = OPENAI_CHAT if tools.get("format") == OPENAI_CHAT.name else ANTHROPIC
        data: dict[str, Any] = tools["response"]
        action = Action(tools.get("action", "answer"))
        if action is not Action.ANSWER:  # mixed with the caller's calls, or over the limit
            stripped = fmt.strip(data)
            if fmt is OPENAI_CHAT:
                stripped = litellm.ModelResponse(**stripped)
            return AgenticLoopPlan(response_override=stripped)
        calls = fmt.calls(data)

        answers, tokens = await asyncio.to_thread(answer_and_count, calls, self.store, model)
        follow = fmt.follow_up({"model": model, "messages": list(messages)}, data, answers)
        call_id = getattr(logging_obj, "litellm_call_id", None) or (kwargs or {}).get(
            "litellm_call_id"
        )
        with self._lock:
            sent = self._after.get(call_id, 0) if isinstance(call_id, str) else 0
        self.ledger.add_retrieval(1, sent + tokens)
        patch = AgenticLoopRequestPatch(
            model=None,
            messages=follow["messages"],
            max_tokens=max_tokens,
            optional_params=optional_params or {},
        )
        return AgenticLoopPlan(
            run_agentic_loop=True, request_patch=patch, metadata={"tool_type": "headroom"}
        )

    async def async_should_run_chat_completion_agentic_loop(
        self,
        response: Any,
        model: str,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]] | None,
        stream: bool,
        custom_llm_provider: str,
        kwargs: dict[str, Any],
    ) -> tuple[bool, dict[str, Any]]:
        try:
            return self._gate(response, tools, stream, kwargs)
        except Exception as exc:
            log.warning("headroom: could not read the response for retrieval calls: %r", exc)
            return False, {}

    async def async_build_chat_completion_agentic_loop_plan(
        self,
        tools: dict[str, Any],
        model: str,
        messages: list[dict[str, Any]],
        response: Any,
        optional_params: dict[str, Any],
        logging_obj: Any,
        stream: bool,
        kwargs: dict[str, Any],
    ) -> AgenticLoopPlan:
        return await self._plan(tools, model, messages, kwargs, logging_obj)

    # The Anthropic-messages surface asks the same question with the same parameters;
    # LiteLLM only checks that the attribute differs from CustomLogger's, so one function serves.
    async_should_run_agentic_loop = async_should_run_chat_completion_agentic_loop

    async def async_build_agentic_loop_plan(
        self,
        tools: dict[str, Any],
        model: str,
        messages: list[dict[str, Any]],
        response: Any,
        anthropic_messages_provider_config: Any,
        anthropic_messages_optional_request_params: dict[str, Any],
        logging_obj: Any,
        stream: bool,
        kwargs: dict[str, Any],
    ) -> AgenticLoopPlan:
        params = dict(anthropic_messages_optional_request_params or {})
        max_tokens = params.pop("max_tokens", None) or (kwargs or {}).get("max_tokens")
        if tools.get("format") == OPENAI_CHAT.name:
            return await self._plan(tools, model, messages, kwargs, logging_obj)
        return await self._plan(tools, model, messages, kwargs, logging_obj, max_tokens, params)


def _holds_tool_output(messages: Any) -> bool:
    return isinstance(messages, list) and any(
        isinstance(m, dict) and (m.get("role") == "tool" or isinstance(m.get("content"), list))
        for m in messages
    )


def completion_with_headroom(*args: Any, **kwargs: Any) -> Any:
    """``litellm.completion()`` with the tool outputs compressed first (losslessly
    unless ``retrieval="tool"`` is passed: nothing answers retrieval calls on this path).
    Savings go to ``headroom_callback``'s ledger."""
    mode = retrieval_mode(kwargs.pop("retrieval", "off"))
    messages = kwargs.get("messages")
    if isinstance(messages, list) and messages:
        model = kwargs.get("model") or (args[0] if args else "")
        cb = headroom_callback
        try:
            body: dict[str, Any] = {"model": model, "messages": messages}
            outcome = cb._compress(
                OPENAI_CHAT, body, RetrievalPolicy("off" if mode == "auto" else mode)
            )
            if outcome.changed:
                kwargs["messages"] = outcome.body["messages"]
        except Exception as exc:
            log.warning("headroom: compression failed, sending the original: %r", exc)
    return litellm.completion(*args, **kwargs)


#: The instance LiteLLM's proxy loads from YAML:
#: ``callbacks: ["headroom.integrations.litellm_callback.headroom_callback"]``.
headroom_callback = HeadroomCallback()

__all__ = ["HeadroomCallback", "completion_with_headroom", "headroom_callback"]
