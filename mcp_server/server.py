"""The Headroom MCP server: three tools over the engine and the shared store.

The server converts MCP tool calls into engine calls and back. It owns no compression
logic: ``headroom_compress`` hands the content to :func:`headroom.compress` as a single
tool output, ``headroom_retrieve`` delegates to :func:`headroom.retrieve`, and
``headroom_stats`` reports counters plus the store's own statistics.

``mcp`` is imported only when a server is built, so ``import headroom.mcp_server``
stays cheap and the CLI's ``install``/``uninstall`` never pay for it.
"""

import contextlib
import json
import logging
import os
import re
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from headroom._extras import require
from headroom.errors import HeadroomError

if TYPE_CHECKING:
    from headroom.store import Store

log = logging.getLogger("headroom.mcp")

SERVER_NAME = "headroom"


@contextlib.contextmanager
def _sdk_logging_setup_skipped() -> Iterator[None]:
    """While the server is made: skip the SDK's logging setup if the process has set up
    logging already (as ``headroom mcp serve`` does). The SDK then calls
    ``logging.basicConfig``, which does nothing once the root logger has a handler, but
    first imports ``rich`` for a handler it throws away: about 40 ms of start-up."""
    module = sys.modules.get("mcp.server.mcpserver.server")
    original = getattr(module, "configure_logging", None)
    if module is None or original is None or not logging.getLogger().handlers:
        yield
        return
    module.configure_logging = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    try:
        yield
    finally:
        module.configure_logging = original  # type: ignore[attr-defined]


DEFAULT_MODEL = "gpt-4o"
# Content larger than this is refused with a tool error (override: HEADROOM_MCP_MAX_CHARS).
MAX_CONTENT_CHARS = 16 * 1024 * 1024
MAX_QUERY_CHARS = 4096
KINDS = ("auto", "json", "text")
_KEY_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")

INSTRUCTIONS = (
    "Headroom shrinks large tool outputs (today: JSON arrays of records) so they cost fewer "
    "tokens, and keeps every original so nothing is lost. Call headroom_compress on bulky "
    "content before reasoning over it. Compressed output contains markers such as "
    "'__headroom__' or '[headroom: … key=\"hr_…\"]' where items or lines were omitted; call "
    "headroom_retrieve with that key (optionally a query) whenever you need what was left out."
)

COMPRESS_DESCRIPTION = (
    "Compress a large tool output or document before you reason over it, to save context "
    "tokens. Works best on JSON arrays of records (API responses, search results, rows); "
    "other text is returned unchanged for now. Nothing is lost: the full original is stored "
    "under the returned 'key', and omitted parts are marked in the compressed text. Returns "
    "the compressed text, the key, token counts before and after, and the transforms applied. "
    "Pass 'query' (what you are looking for) so the most relevant items are kept."
)

RETRIEVE_DESCRIPTION = (
    "Get back content that Headroom omitted. Call it when compressed output carries a "
    "'__headroom__' or '[headroom: …]' marker and you need the items or lines it left out, "
    "or when a headroom_compress result's 'key' is all you have. Without 'query' it returns "
    "the original byte-for-byte; with 'query' (words, ids, error codes) it returns only the "
    "matching JSON items or text lines. Fails with an error if the key is unknown or expired."
)

STATS_DESCRIPTION = (
    "Report Headroom's savings: tokens saved in this session and overall (persisted across "
    "restarts), how many times each tool was called, and the size of the store of originals."
)


# --------------------------------------------------------------------------- usage counters


_COUNTERS = (
    "compress_calls",
    "retrieve_calls",
    "stats_calls",
    "tokens_before",
    "tokens_after",
    "tokens_saved",
)


def stats_path() -> Path:
    """Where the overall (cross-restart) counters live: next to the default store."""
    from headroom.store import default_data_dir

    return default_data_dir() / "mcp_stats.sqlite3"


class UsageStats:
    """Counters for this session (memory) and overall (a small SQLite table).

    The overall table is shared by every server process on the machine; increments are
    atomic ``UPSERT`` statements, so concurrent servers never lose counts. If the file
    cannot be written, overall counters are reported as unavailable and serving goes on.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else stats_path()
        self.session: dict[str, int] = dict.fromkeys(_COUNTERS, 0)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._failed = False

    def _db(self) -> sqlite3.Connection | None:
        if self._conn is None and not self._failed:
            try:
                from headroom.store.sqlite import make_private_dir, make_private_file

                ours = self.path == stats_path()  # tighten only Headroom's own file
                make_private_dir(self.path.parent, ours)
                make_private_file(self.path, ours)
                conn = sqlite3.connect(
                    str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False
                )
                conn.execute("PRAGMA busy_timeout=10000")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)"
                )
                self._conn = conn
            except (OSError, sqlite3.Error) as exc:
                log.warning("headroom: overall stats disabled (%s: %s)", self.path, exc)
                self._failed = True
        return self._conn

    def add(self, **deltas: int) -> None:
        with self._lock:
            for name, delta in deltas.items():
                self.session[name] += delta
            conn = self._db()
            if conn is None:
                return
            try:
                conn.executemany(
                    "INSERT INTO counters (name, value) VALUES (?, ?) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                    [(n, d) for n, d in deltas.items() if d],
                )
            except sqlite3.Error as exc:
                log.warning("headroom: could not update overall stats: %s", exc)

    def overall(self) -> dict[str, int] | None:
        with self._lock:
            conn = self._db()
            if conn is None:
                return None
            try:
                rows = dict(conn.execute("SELECT name, value FROM counters").fetchall())
            except sqlite3.Error as exc:
                log.warning("headroom: could not read overall stats: %s", exc)
                return None
        return {name: int(rows.get(name, 0)) for name in _COUNTERS}

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


# --------------------------------------------------------------------------- tool logic


class Headroom:
    """The tool implementations, free of MCP types so they are easy to reason about.

    Each method raises :class:`ValueError` (or :class:`LookupError`) with a message meant
    for the model; the MCP layer turns those into ``isError`` results.
    """

    def __init__(
        self,
        store: "Store | str | None" = None,
        model: str = DEFAULT_MODEL,
        stats: UsageStats | None = None,
        max_content_chars: int | None = None,
    ) -> None:
        self._store_spec = store
        self._store: Store | None = None
        self._store_lock = threading.Lock()
        self.model = model
        self.stats = stats if stats is not None else UsageStats()
        if max_content_chars is None:
            env = os.environ.get("HEADROOM_MCP_MAX_CHARS", "").strip()
            max_content_chars = int(env) if env.isdigit() else MAX_CONTENT_CHARS
        self.max_content_chars = max_content_chars

    @property
    def store(self) -> "Store":
        """The store, opened on first use (the library's default store unless one was given)."""
        if self._store is None:
            with self._store_lock:
                if self._store is None:
                    from headroom.store import default_store, open_store

                    spec = self._store_spec
                    self._store = default_store() if spec is None else open_store(spec)
        return self._store

    def compress(self, content: str, query: str = "", kind: str = "auto") -> dict[str, Any]:
        if not isinstance(content, str):
            raise ValueError("'content' must be a string")
        if not content.strip():
            raise ValueError("'content' is empty: pass the text or JSON to compress")
        if len(content) > self.max_content_chars:
            raise ValueError(
                f"'content' is too large ({len(content):,} characters; the limit is "
                f"{self.max_content_chars:,}). Split it and compress the parts separately."
            )
        _check_query(query)
        if kind not in KINDS:
            raise ValueError(f"'kind' must be one of {', '.join(KINDS)}; got {kind!r}")
        if kind == "json":
            try:
                json.loads(content)
            except (ValueError, RecursionError) as exc:
                raise ValueError(f"kind='json' but 'content' is not valid JSON: {exc}") from exc

        from headroom.engine import compress
        from headroom.messages import tool_exchange
        from headroom.store import key_for
        from headroom.tokens import count_tokens

        store = self.store
        compressed, transforms, key = content, [], None
        if kind == "text":
            # 'text' asks only for storage: the content comes back as it is, with a key.
            before = after = count_tokens(content, self.model)
        else:
            messages = tool_exchange(content, "headroom_compress", "headroom_mcp", question=query)
            result = compress(messages, model=self.model, store=store, query=query or None)
            report = next((r for r in result.outputs if r.message_index == 2), None)
            out = result.messages[2].get("content")
            if report is not None and report.transform is not None and isinstance(out, str):
                compressed, before, after = out, report.tokens_before, report.tokens_after
                transforms = [report.transform]
                key = report.key
            else:
                before = after = (
                    report.tokens_before
                    if report is not None
                    else count_tokens(content, self.model)
                )
        if key is None:
            # Nothing omitted: still keep the original so the returned key always works.
            key = key_for(content)
            store.put(key, content)
        self.stats.add(
            compress_calls=1,
            tokens_before=before,
            tokens_after=after,
            tokens_saved=before - after,
        )
        return {
            "compressed": compressed,
            "key": key,
            "tokens_before": before,
            "tokens_after": after,
            "tokens_saved": before - after,
            "transforms": transforms,
            "model": self.model,
        }

    def retrieve(self, key: str, query: str = "") -> str:
        if not isinstance(key, str) or not key.strip():
            raise ValueError(
                "'key' is required: pass the key from a headroom marker, e.g. hr_0123abcd4567ef89"
            )
        key = key.strip()
        if not _KEY_RE.match(key):
            raise ValueError(
                f"{key[:80]!r} is not a Headroom retrieval key (they look like hr_0123abcd4567ef89)"
            )
        _check_query(query)
        from headroom.retrieval import retrieve

        self.stats.add(retrieve_calls=1)
        result = retrieve(key, query or None, self.store)
        if not result.found:
            raise LookupError(result.message)
        if result.query and not result.matched:
            return result.message
        return result.content

    def report(self) -> dict[str, Any]:
        self.stats.add(stats_calls=1)
        session = dict(self.stats.session)
        overall = self.stats.overall()
        s = self.store.stats()
        return {
            "session": session,
            "overall": overall,
            "store": {
                "backend": s.backend,
                "entries": s.entries,
                "bytes": s.bytes,
                "location": s.location,
            },
            "model": self.model,
        }


def _check_query(query: Any) -> None:
    if not isinstance(query, str):
        raise ValueError("'query' must be a string")
    if len(query) > MAX_QUERY_CHARS:
        raise ValueError(
            f"'query' is too long ({len(query):,} characters; the limit is {MAX_QUERY_CHARS:,})"
        )


# --------------------------------------------------------------------------- MCP wiring


def build_server(
    store: "Store | str | None" = None,
    model: str = DEFAULT_MODEL,
    stats: UsageStats | None = None,
    max_content_chars: int | None = None,
) -> Any:
    """An ``MCPServer`` exposing ``headroom_compress``, ``headroom_retrieve`` and ``headroom_stats``.

    ``store`` is a Store, a spec string (``memory``, ``sqlite:///…``, ``redis://…``) or
    ``None`` for the library's default store (``HEADROOM_STORE``, else the shared SQLite file).
    """
    require("mcp", "mcp")
    mcpserver = require("mcp.server.mcpserver", "mcp")
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp.server.mcpserver.tools import Tool
    from mcp.types import CallToolResult, TextContent, ToolAnnotations
    from pydantic import BaseModel, ConfigDict, Field

    from headroom import __version__

    core = Headroom(store=store, model=model, stats=stats, max_content_chars=max_content_chars)

    class CompressOutput(BaseModel):
        compressed: str = Field(
            description="The compressed text (the original if nothing could be saved)."
        )
        key: str = Field(description="Retrieval key of the full original, for headroom_retrieve.")
        tokens_before: int
        tokens_after: int
        tokens_saved: int
        transforms: list[str] = Field(description="What was applied, e.g. router:json:0.80.")
        model: str = Field(description="The model whose tokenizer counted the tokens.")

    def headroom_compress(
        content: Annotated[
            str, Field(description="The text or JSON to compress, e.g. a large tool output.")
        ],
        query: Annotated[
            str,
            Field(
                description="Optional: what you are looking for; the most relevant items are kept."
            ),
        ] = "",
        kind: Annotated[
            Literal["auto", "json", "text"],
            Field(
                description="'auto' (default) detects the content type; 'json' requires valid JSON; "
                "'text' stores the content and returns it unchanged."
            ),
        ] = "auto",
    ) -> CompressOutput:
        try:
            out = core.compress(content, query, kind)
        except (ValueError, LookupError, HeadroomError) as exc:
            raise ToolError(str(exc)) from None
        # The compressed text goes out verbatim in its own block (no JSON escaping, so
        # no extra tokens); a one-line summary follows; structuredContent has it all.
        summary = (
            f"[headroom] key={out['key']} tokens {out['tokens_before']} -> {out['tokens_after']} "
            f"(saved {out['tokens_saved']}); transforms: {', '.join(out['transforms']) or 'none'}. "
            "headroom_retrieve with this key returns the full original, or with a query the matching parts."
        )
        return CallToolResult(  # type: ignore[return-value]
            content=[
                TextContent(type="text", text=out["compressed"]),
                TextContent(type="text", text=summary),
            ],
            structured_content=out,
        )

    def headroom_retrieve(
        key: Annotated[str, Field(description="The retrieval key, e.g. hr_0123abcd4567ef89.")],
        query: Annotated[
            str,
            Field(
                description="Optional: return only the items or lines matching these words or ids."
            ),
        ] = "",
    ) -> str:
        try:
            return core.retrieve(key, query)
        except (ValueError, LookupError, HeadroomError) as exc:
            raise ToolError(str(exc)) from None

    def headroom_stats() -> dict[str, Any]:
        try:
            return core.report()
        except HeadroomError as exc:  # the store is unreachable: say so, don't fail opaquely
            raise ToolError(str(exc)) from None

    read_only = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
    tools = [
        Tool.from_function(
            headroom_compress,
            description=COMPRESS_DESCRIPTION,
            annotations=ToolAnnotations(
                readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
            ),
            structured_output=True,
        ),
        Tool.from_function(
            headroom_retrieve,
            description=RETRIEVE_DESCRIPTION,
            annotations=read_only,
            structured_output=False,
        ),
        Tool.from_function(
            headroom_stats,
            description=STATS_DESCRIPTION,
            annotations=read_only,
            structured_output=False,
        ),
    ]
    for tool in tools:
        _forbid_unknown_arguments(tool, ConfigDict)

    with _sdk_logging_setup_skipped():
        server = mcpserver.MCPServer(
            SERVER_NAME,
            title="Headroom",
            instructions=INSTRUCTIONS,
            version=__version__,
            tools=tools,
            log_level="WARNING",
        )
    server.headroom = core  # type: ignore[attr-defined]  # tests and the CLI reach the counters here
    return server


def _forbid_unknown_arguments(tool: Any, config_dict: Any) -> None:
    """Reject misspelt or extra argument names instead of silently ignoring them."""
    base = tool.fn_metadata.arg_model
    strict = type(
        base.__name__,
        (base,),
        {"model_config": config_dict(extra="forbid"), "__module__": __name__},
    )
    tool.fn_metadata.arg_model = strict
    tool.parameters["additionalProperties"] = False
