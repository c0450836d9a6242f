"""JSONL request logs (``--log-file``): one JSON object a line, one line a request.

Each process writes its own file (``name.<pid>.jsonl`` under several workers), so lines
from different workers never interleave; within a process, lines are written whole by
the standard library's ``RotatingFileHandler``, which also rotates by size. No message
content is written unless ``log_messages`` is set, and never an API key: the client is
identified by the key's hash.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
from pathlib import Path
from typing import Any

from .exchange import Exchange


def log_path(path: str, per_process: bool) -> Path:
    """``path`` itself, or ``stem.<pid>.suffix`` when several processes write logs."""
    p = Path(path)
    if not per_process:
        return p
    return p.with_name(f"{p.stem}.{os.getpid()}{p.suffix or '.jsonl'}")


class RequestLog:
    def __init__(
        self,
        path: str,
        *,
        per_process: bool = False,
        max_bytes: int = 100 * 1024 * 1024,
        backups: int = 5,
        log_messages: bool = False,
    ) -> None:
        self.path = log_path(path, per_process)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.log_messages = log_messages
        self._logger = logging.getLogger(f"headroom.proxy.requests.{id(self)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler = logging.handlers.RotatingFileHandler(
            self.path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
        self._handler.setFormatter(logging.Formatter("%(message)s"))
        self._logger.addHandler(self._handler)

    def record(self, ex: Exchange, provider: str) -> dict[str, Any]:
        usage = ex.usage
        line: dict[str, Any] = {
            "id": ex.id,
            "time": round(ex.started, 3),
            "method": ex.method,
            "route": ex.route,
            "provider": provider,
            "model": ex.response_model(),
            "client": ex.tenant,
            "status": ex.status,
            "tokens_before": ex.tokens_before,
            "tokens_after": ex.tokens_after,
            "tokens_saved": max(0, ex.tokens_before - ex.tokens_after),
            "input_tokens": usage.get("input", 0),
            "output_tokens": usage.get("output", 0),
            "cache_read_tokens": usage.get("cache_read", 0),
            "cache_write_tokens": usage.get("cache_write", 0),
            "overhead_ms": round(ex.overhead * 1000, 3),
            "upstream_ms": None if ex.upstream is None else round(ex.upstream * 1000, 3),
            "first_byte_ms": None if ex.first_byte is None else round(ex.first_byte * 1000, 3),
            "transforms": ex.transforms,
            "cache_hit": ex.cache_hit,
            "cost_usd": round(ex.cost, 8),
            "savings_usd_estimate": round(ex.savings, 8),
            "error": ex.error or None,
        }
        if self.log_messages and ex.request_body:
            line["request"] = _content(ex.request_body)
        return line

    def write(self, ex: Exchange, provider: str) -> None:
        line = json.dumps(self.record(ex, provider), ensure_ascii=False, default=str)
        self._logger.info(line)

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._handler.close()


def _content(raw: bytes) -> Any:
    """The request's conversation (messages, system, input), else its text."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
    if not isinstance(body, dict):
        return body
    return {k: body[k] for k in ("system", "messages", "input", "instructions") if k in body}
