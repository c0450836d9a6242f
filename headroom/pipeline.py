"""One request lifecycle across every entry point, and the extension seam around it.

``compress()`` emits the input stages, in order: ``INPUT_RECEIVED`` (an extension may
return a new message list here), ``INPUT_CACHED`` (the frozen prefix is known),
``INPUT_ROUTED`` (a compressor is assigned per output), ``INPUT_COMPRESSED`` and
``INPUT_REMEMBERED`` (originals stored). The integrations emit ``PRE_SEND``,
``POST_SEND`` and ``RESPONSE_RECEIVED`` around their provider calls; long-lived
entry points (the MCP server, the wrappers) emit ``PRE_START`` and ``POST_START``.
``SETUP`` reaches each extension once, when a pipeline takes it on.

Extensions are passed directly (``extensions=[...]``) or installed as entry points in
the ``headroom.pipeline_extension`` group. A failing extension is logged and skipped:
it never breaks a request. ``CompressionHooks`` remains the finer-grained seam for
steering compression itself.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger("headroom")

ENTRY_POINT_GROUP = "headroom.pipeline_extension"


class PipelineStage(Enum):
    """The stages of a request, in the order they happen."""

    SETUP = "setup"
    PRE_START = "pre_start"
    POST_START = "post_start"
    INPUT_RECEIVED = "input_received"
    INPUT_CACHED = "input_cached"
    INPUT_ROUTED = "input_routed"
    INPUT_COMPRESSED = "input_compressed"
    INPUT_REMEMBERED = "input_remembered"
    PRE_SEND = "pre_send"
    POST_SEND = "post_send"
    RESPONSE_RECEIVED = "response_received"


@dataclass(frozen=True)
class PipelineEvent:
    """What an extension is told at one stage.

    ``request_id`` is the same for every stage of one request. ``details`` carries
    what the stage knows: the system prompt's volatile values and any moved date at
    ``INPUT_CACHED``, the routes at ``INPUT_ROUTED``, the retrieval keys at
    ``INPUT_REMEMBERED`` (whose ``result`` carries ``prefix_stability``), the error
    of a failed provider call at ``RESPONSE_RECEIVED``.
    """

    stage: PipelineStage
    request_id: str
    source: str
    model: str | None = None
    messages: list[dict[str, Any]] | None = None
    result: Any = None
    response: Any = None
    details: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class PipelineExtension(Protocol):
    """Anything with ``on_pipeline_event``. At ``INPUT_RECEIVED`` it may return a new
    message list, which replaces the messages; other return values are ignored."""

    def on_pipeline_event(self, event: PipelineEvent) -> Any: ...


_ids = itertools.count(1)
_ids_lock = threading.Lock()


def new_request_id() -> str:
    with _ids_lock:
        return f"req-{next(_ids)}"


def _may_declare(group: str) -> bool:
    """Whether an installed distribution may declare entry points of ``group``: a scan
    of the metadata folders on ``sys.path`` for an ``entry_points.txt`` naming it. This
    is a few milliseconds where importing ``importlib.metadata`` is about 30. What the
    scan cannot read (a zip archive on the path) counts as a maybe."""
    header = f"[{group}]"
    for entry in sys.path:
        folder = entry or "."
        try:
            with os.scandir(folder) as found:
                names = [e.name for e in found if e.name.endswith((".dist-info", ".egg-info"))]
        except NotADirectoryError:
            return True  # a zip archive: only importlib.metadata reads those
        except OSError:
            continue  # missing or unreadable: importlib.metadata finds nothing there either
        for name in names:
            try:
                with open(os.path.join(folder, name, "entry_points.txt"), "rb") as fh:
                    if header.encode() in fh.read():
                        return True
            except OSError:
                continue
    return False


def entry_points(group: str) -> Any:
    """The installed entry points of ``group``. ``importlib.metadata`` is slow to
    import, so it is loaded only when a distribution on the path declares the group."""
    if not _may_declare(group):
        return ()
    from importlib.metadata import entry_points as installed

    return installed(group=group)


_discovered: list[PipelineExtension] | None = None
_discover_lock = threading.Lock()


def discovered_extensions() -> list[PipelineExtension]:
    """The extensions installed under the entry-point group (loaded once per process).

    An entry point may name an object with ``on_pipeline_event`` or a class (or factory)
    that builds one without arguments. One that fails to load is logged and left out.
    """
    global _discovered
    with _discover_lock:
        if _discovered is None:
            found: list[PipelineExtension] = []
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                try:
                    obj = ep.load()
                    if isinstance(obj, type) or (
                        not isinstance(obj, PipelineExtension) and callable(obj)
                    ):
                        obj = obj()
                    if isinstance(obj, PipelineExtension):
                        found.append(obj)
                    else:
                        log.warning("headroom: extension %s has no on_pipeline_event", ep.name)
                except Exception:
                    log.exception("headroom: could not load pipeline extension %s", ep.name)
            _discovered = found
        return list(_discovered)


def reset_discovery() -> None:
    """Forget discovered extensions (for tests and after installing a plugin)."""
    global _discovered
    with _discover_lock:
        _discovered = None


# Extensions that have had their SETUP event (weakly held where possible).
_set_up: weakref.WeakSet[Any] = weakref.WeakSet()
_set_up_strong: dict[int, Any] = {}
_set_up_lock = threading.Lock()


def _first_meeting(ext: PipelineExtension) -> bool:
    with _set_up_lock:
        try:
            if ext in _set_up:
                return False
            _set_up.add(ext)
        except TypeError:  # not weak-referenceable or not hashable
            if id(ext) in _set_up_strong:
                return False
            _set_up_strong[id(ext)] = ext
        return True


class Pipeline:
    """Delivers lifecycle events to a list of extensions."""

    def __init__(self, extensions: Iterable[PipelineExtension] = (), source: str = "compress"):
        self.extensions: Sequence[PipelineExtension] = tuple(extensions)
        self.source = source
        for ext in self.extensions:
            if _first_meeting(ext):
                self._deliver(ext, PipelineEvent(PipelineStage.SETUP, "setup", source))

    def __bool__(self) -> bool:
        return bool(self.extensions)

    @staticmethod
    def _deliver(ext: PipelineExtension, event: PipelineEvent) -> Any:
        try:
            return ext.on_pipeline_event(event)
        except Exception:
            log.exception(
                "headroom: pipeline extension %s failed at %s; ignoring it",
                type(ext).__name__,
                event.stage.name,
            )
            return None

    def emit(self, stage: PipelineStage, request_id: str, **fields: Any) -> PipelineEvent:
        """Tell every extension; returns the event (with the messages an extension
        returned at ``INPUT_RECEIVED``, if one did)."""
        event = PipelineEvent(stage, request_id, self.source, **fields)
        for ext in self.extensions:
            answer = self._deliver(ext, event)
            if stage is PipelineStage.INPUT_RECEIVED and isinstance(answer, list):
                event = PipelineEvent(
                    stage, request_id, self.source, **{**fields, "messages": answer}
                )
        return event


def pipeline_for(
    extensions: Iterable[PipelineExtension] | None, source: str = "compress"
) -> Pipeline:
    """A pipeline over the given extensions plus the installed ones."""
    given = list(extensions or ())
    return Pipeline([*given, *(e for e in discovered_extensions() if e not in given)], source)


class RequestLifecycle:
    """The stages of one request as an integration sees them: ``compress()`` gets this
    object's ``request_id`` and emits the input stages; the integration calls
    :meth:`pre_send`, :meth:`post_send` and :meth:`response_received` around each
    provider call. Costs nothing when no extension is listening."""

    def __init__(
        self,
        extensions: Iterable[PipelineExtension] | None,
        source: str,
        model: str | None = None,
    ) -> None:
        self.extensions = list(extensions or ())
        self.pipe = pipeline_for(self.extensions, source)
        self.request_id = new_request_id() if self.pipe else ""
        self.model = model
        self._awaiting = False  # PRE_SEND emitted, POST_SEND not yet

    def _emit(self, stage: PipelineStage, **fields: Any) -> None:
        if self.pipe:
            self.pipe.emit(stage, self.request_id, model=self.model, **fields)

    def pre_send(self, messages: Any) -> None:
        self._awaiting = True
        self._emit(
            PipelineStage.PRE_SEND, messages=messages if isinstance(messages, list) else None
        )

    def post_send(self) -> None:
        """The provider answered (or its stream started). Only the first call after each
        ``pre_send`` emits, so a stream may call it on every chunk."""
        if self._awaiting:
            self._awaiting = False
            self._emit(PipelineStage.POST_SEND)

    def response_received(self, response: Any) -> None:
        self.post_send()
        self._emit(PipelineStage.RESPONSE_RECEIVED, response=response)

    def failed(self, error: BaseException) -> None:
        """The call ended without a response (an error, or a stream closed early)."""
        self.post_send()
        self._emit(
            PipelineStage.RESPONSE_RECEIVED,
            details={"error": f"{type(error).__name__}: {error}"},
        )

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Around an integration's provider calls: a failure still ends the request's
        lifecycle (POST_SEND, then RESPONSE_RECEIVED with ``details["error"]``)."""
        try:
            yield
        except BaseException as exc:
            self.failed(exc)
            raise


def emit_start(
    extensions: Iterable[PipelineExtension] | None,
    source: str,
    stage: PipelineStage,
    **details: Any,
) -> None:
    """PRE_START or POST_START of a long-lived entry point (a server, a wrapper)."""
    pipe = pipeline_for(extensions, source)
    if pipe:
        pipe.emit(stage, "start", details=details)
