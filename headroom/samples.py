"""Deterministic, realistic agent tool outputs for the demo, tests and benchmarks.

Every generator is seeded, so the same call returns the same text on every machine.
"""

from __future__ import annotations

import json
import random
from typing import Any

FATAL_MESSAGE = "Connection pool exhausted: max_connections=100 reached, 47 requests queued"
FATAL_CODE = "PG-5523"
_SERVICES = ("api-gateway", "user-service", "inventory", "checkout", "auth")
_PATHS = ("/v1/users", "/v1/orders", "/v1/cart", "/v1/items", "/healthz")


def log_entries(n: int = 100, fatal_at: int = 67, seed: int = 7) -> list[dict[str, Any]]:
    """Service log records, all routine except one FATAL entry at ``fatal_at``."""
    rng = random.Random(seed)
    entries: list[dict[str, Any]] = []
    for i in range(n):
        ts = f"2025-01-07T10:{(i // 60) % 60:02d}:{i % 60:02d}.{rng.randrange(1000):03d}Z"
        request_id = f"req-{rng.randrange(16**8):08x}"
        if i == fatal_at:
            entries.append(
                {
                    "timestamp": ts,
                    "level": "FATAL",
                    "service": "payment-gateway",
                    "message": FATAL_MESSAGE,
                    "error_code": FATAL_CODE,
                    "request_id": request_id,
                    "fix": "raise max_connections or release connections in the retry loop",
                }
            )
            continue
        entries.append(
            {
                "timestamp": ts,
                "level": "INFO",
                "service": rng.choice(_SERVICES),
                "message": f"{rng.choice(('GET', 'POST'))} {rng.choice(_PATHS)} completed",
                "status": 200,
                "latency_ms": rng.randint(8, 95),
                "request_id": request_id,
            }
        )
    return entries


def needle_logs(n: int = 100, fatal_at: int = 67, seed: int = 7) -> str:
    """The docs' needle demo: ``n`` log entries as pretty-printed JSON, one FATAL."""
    return json.dumps(log_entries(n, fatal_at, seed), indent=2)


def search_results(n: int = 50, seed: int = 11, topic: str = "connection pool") -> str:
    """A web/code search API response: ``{"query", "total", "results": [...]}``."""
    rng = random.Random(seed)
    words = ("tuning", "exhaustion", "timeouts", "pgbouncer", "sizing", "leaks", "metrics")
    results = []
    for i in range(n):
        word = rng.choice(words)
        results.append(
            {
                "rank": i + 1,
                "title": f"{topic.title()} {word}: notes from production #{rng.randrange(1000)}",
                "url": f"https://docs.example.com/{word}/{rng.randrange(10**6):06d}",
                "snippet": f"How teams handle {topic} {word} under load, with configuration "
                f"examples and the metrics to watch.",
                "score": round(1.0 - i * 0.01 - rng.random() * 0.004, 4),
            }
        )
    return json.dumps({"query": topic, "total": n * 10, "results": results}, indent=2)


def build_log(lines: int = 2000, errors: int = 4, seed: int = 3) -> str:
    """A compiler build log: thousands of routine lines and a few error lines."""
    rng = random.Random(seed)
    out = ["$ make -j2 all", "[build] configuring target x86_64-linux-gnu"]
    error_at = set(rng.sample(range(10, lines - 10), errors))
    for i in range(lines - 4):
        module = f"src/module_{rng.randrange(120):03d}/file_{rng.randrange(40):02d}.c"
        if i in error_at:
            out.append(
                f"{module}:{rng.randint(10, 900)}:{rng.randint(1, 80)}: error: "
                f"use of undeclared identifier 'cfg_{rng.randrange(999)}'"
            )
        else:
            out.append(f"[{i * 100 // lines:3d}%] CC {module} -o build/obj_{i:05d}.o")
    out.append(f"make: *** [Makefile:42: all] Error {errors}")
    out.append("exit code 2")
    return "\n".join(out)


def ripgrep_output(lines: int = 5000, seed: int = 5, needle_at: int | None = None) -> str:
    """``rg -n timeout`` over a large repository: ``path:line:content`` lines, grouped
    by file as ripgrep prints them. The line at ``needle_at`` (default: two thirds in)
    is the one that sets ``DB_POOL_TIMEOUT_MS``."""
    rng = random.Random(seed)
    needle = lines * 2 // 3 if needle_at is None else needle_at
    dirs = ("api", "core", "db", "workers", "utils", "tests", "cli", "net")
    snippets = (
        "    timeout = config.get('timeout', 30)",
        "        raise TimeoutError(f'request timed out after {timeout}s')",
        "def set_timeout(self, seconds: float) -> None:",
        "    # retry with a longer timeout when the upstream is slow",
        "        self._timeout = max(timeout, MIN_TIMEOUT)",
        "    client = HttpClient(base_url, timeout=timeout)",
        "    assert resp.elapsed < timeout",
        "TIMEOUT_SECONDS = 30",
    )
    out: list[str] = []
    while len(out) < lines:
        path = f"src/{rng.choice(dirs)}/{rng.choice(('handlers', 'models', 'client'))}_" + (
            f"{rng.randrange(400):03d}.py"
        )
        line_no = rng.randint(1, 60)
        for _ in range(rng.randint(1, 30)):
            if len(out) >= lines:
                break
            if len(out) == needle:
                out.append(f"src/db/pool.py:{line_no}:DB_POOL_TIMEOUT_MS = 250  # was 5000")
            else:
                out.append(f"{path}:{line_no}:{rng.choice(snippets)}")
            line_no += rng.randint(1, 25)
    return "\n".join(out)


def demo_transcript() -> list[dict[str, Any]]:
    """An OpenAI-format agent transcript: three tool calls and their large results."""
    calls = [
        ("call_logs", "search_logs", {"service": "*", "since": "10:00"}, needle_logs()),
        ("call_docs", "web_search", {"q": "connection pool exhausted"}, search_results()),
        ("call_build", "run_build", {"target": "all"}, build_log()),
    ]
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are an on-call SRE assistant. Be precise."},
        {
            "role": "user",
            "content": "What caused the outage? What's the error code? What's the fix?",
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for call_id, name, args, _ in calls
            ],
        },
    ]
    messages += [
        {"role": "tool", "tool_call_id": call_id, "name": name, "content": output}
        for call_id, name, _, output in calls
    ]
    return messages
