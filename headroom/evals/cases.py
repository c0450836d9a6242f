"""Built-in eval cases: realistic tool outputs with planted needles.

Every case is generated from a seeded ``random.Random``, so the same seed always
gives byte-identical outputs. A case is one agent turn: the user's question, the
assistant's tool call and the tool's output. Its needles are the strings an agent
needs from that output to answer (ids, error codes, exact numbers, the one
anomalous item); each needle occurs verbatim in the output.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..messages import tool_exchange

KINDS = ("json", "logs", "search", "code", "prose", "diff")


@dataclass(frozen=True)
class EvalCase:
    """One tool output with its question, its answer and its needles."""

    name: str
    kind: str
    question: str
    answer: str
    output: str
    needles: tuple[str, ...]
    tool_name: str = "run_tool"
    language: str | None = None  # for code cases: the tree-sitter grammar to parse with
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    # A whole conversation (multi-turn datasets); when set, ``output`` may be empty.
    conversation: list[dict[str, Any]] | None = field(default=None, compare=False)
    # needle -> indices of the messages it must be found in (default: any tool output)
    needle_sources: dict[str, tuple[int, ...]] | None = field(default=None, compare=False)

    def messages(self) -> list[dict[str, Any]]:
        """The turn as OpenAI-format messages."""
        if self.conversation is not None:
            return copy.deepcopy(self.conversation)
        call_id = "call_" + self.name.replace("-", "_")[:32]
        return [
            {"role": "system", "content": "You are a careful engineering assistant."},
            *tool_exchange(self.output, self.tool_name, call_id, question=self.question),
        ]

    def missing_needles(self) -> list[str]:
        """Needles that do not occur in the output (a broken case if non-empty)."""
        if self.conversation is not None:
            text = json.dumps(self.conversation, ensure_ascii=False)
            return [n for n in self.needles if n not in text and json.dumps(n)[1:-1] not in text]
        return [n for n in self.needles if n not in self.output]


def _hex(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(n))


def _pretty(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False)


_FIRST = [
    "ana",
    "ben",
    "chen",
    "dara",
    "eli",
    "fatima",
    "goran",
    "hana",
    "ivan",
    "jun",
    "kofi",
    "lena",
]
_LAST = ["silva", "okafor", "nguyen", "schmidt", "haddad", "kowalski", "tanaka", "moreau", "ruiz"]
_DAY = "2026-03-14"


def _ts(i: int, step_s: int = 37) -> str:
    s = 8 * 3600 + i * step_s
    return f"{_DAY}T{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z"


# ---------------------------------------------------------------- JSON API responses


def json_users(rng: random.Random) -> EvalCase:
    n, bad = 120, rng.randrange(20, 100)
    users = []
    target = f"usr_{_hex(rng, 6)}"
    for i in range(n):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        users.append(
            {
                "id": target if i == bad else f"usr_{_hex(rng, 6)}",
                "email": f"{first}.{last}{i}@example.com",
                "name": f"{first.title()} {last.title()}",
                "status": "suspended" if i == bad else "active",
                "plan": rng.choice(["free", "pro", "team"]),
                "last_login": _ts(i * 11),
            }
        )
    return EvalCase(
        "json-users-suspended",
        "json",
        "Which user account is suspended? Give its id.",
        target,
        _pretty({"users": users, "total": n}),
        (target, "suspended"),
        "list_users",
    )


def json_orders(rng: random.Random) -> EvalCase:
    n, bad = 150, rng.randrange(30, 140)
    oid = f"ord_{rng.randrange(100000, 999999)}"
    amount = repr(rng.randrange(100000, 999999) / 100)
    orders: list[dict[str, Any]] = []
    for i in range(n):
        item: dict[str, Any] = {
            "order_id": oid if i == bad else f"ord_{rng.randrange(100000, 999999)}",
            "customer": f"cus_{_hex(rng, 8)}",
            "amount": float(amount) if i == bad else round(rng.uniform(5, 400), 2),
            "currency": "EUR",
            "payment_status": "failed" if i == bad else "captured",
            "error_code": "card_declined_51" if i == bad else None,
        }
        orders.append(item)
    return EvalCase(
        "json-orders-failed-payment",
        "json",
        "Which order's payment failed, for what amount, and with which error code?",
        f"{oid}, {amount} EUR, card_declined_51",
        _pretty(orders),
        (oid, "card_declined_51", amount),
        "list_orders",
    )


def json_metrics(rng: random.Random) -> EvalCase:
    n, spike = 200, rng.randrange(40, 190)
    peak = f"{rng.randrange(4000, 9000)}.5"
    points = []
    for i in range(n):
        points.append(
            {
                "ts": _ts(i, 60),
                "cpu_pct": round(rng.uniform(20, 45), 1),
                "p99_ms": float(peak) if i == spike else round(rng.uniform(80, 140), 1),
            }
        )
    when = _ts(spike, 60)
    return EvalCase(
        "json-metrics-latency-spike",
        "json",
        "When did p99 latency spike, and to what value?",
        f"{when}: {peak} ms",
        _pretty({"metric": "api.latency", "points": points}),
        (peak, when),
        "query_metrics",
    )


def json_pods(rng: random.Random) -> EvalCase:
    n, bad = 60, rng.randrange(10, 55)
    name = f"payments-api-{_hex(rng, 9)}-{_hex(rng, 5)}"
    restarts = rng.randrange(200, 400)
    pods = []
    for i in range(n):
        pods.append(
            {
                "name": name if i == bad else f"web-{_hex(rng, 9)}-{_hex(rng, 5)}",
                "namespace": "prod",
                "phase": "Running",
                "reason": "CrashLoopBackOff" if i == bad else "",
                "restarts": restarts if i == bad else rng.randrange(0, 2),
                "node": f"node-{rng.randrange(1, 9)}",
            }
        )
    return EvalCase(
        "json-pods-crashloop",
        "json",
        "Which pod is crash-looping and how many restarts has it had?",
        f"{name}, {restarts}",
        _pretty({"items": pods}),
        (name, "CrashLoopBackOff", str(restarts)),
        "kubectl_get_pods",
    )


def json_issues(rng: random.Random) -> EvalCase:
    n = 80
    number = rng.randrange(3000, 9000)
    at = rng.randrange(10, 70)
    topics = [
        "docs typo",
        "flaky test",
        "add dark mode",
        "bump dependency",
        "CLI help text",
        "improve logging",
        "refactor config loader",
        "update CI matrix",
    ]
    issues = []
    for i in range(n):
        num = number if i == at else number - 500 - i
        title = "Memory leak in websocket reconnect handler" if i == at else rng.choice(topics)
        issues.append(
            {
                "number": num,
                "title": title,
                "state": "open",
                "labels": ["bug"] if i == at else [],
                "comments": rng.randrange(0, 12),
                "author": rng.choice(_FIRST),
            }
        )
    return EvalCase(
        "json-issues-lookup",
        "json",
        "What is the issue number of the websocket memory leak report?",
        str(number),
        _pretty(issues),
        (str(number), "Memory leak in websocket reconnect handler"),
        "github_list_issues",
    )


def json_transactions(rng: random.Random) -> EvalCase:
    n, bad = 300, rng.randrange(50, 290)
    tid = f"txn_{_hex(rng, 10)}"
    amount = repr(-rng.randrange(10000, 20000) - 0.99)
    txns = []
    for i in range(n):
        txns.append(
            {
                "id": tid if i == bad else f"txn_{_hex(rng, 10)}",
                "amount": float(amount) if i == bad else round(rng.uniform(3, 250), 2),
                "type": "chargeback" if i == bad else "payment",
                "merchant": rng.choice(["acme", "globex", "initech", "umbrella"]),
            }
        )
    return EvalCase(
        "json-transactions-chargeback",
        "json",
        "Which transaction is a chargeback, and for how much?",
        f"{tid}: {amount}",
        _pretty({"data": txns, "has_more": False}),
        (tid, amount),
        "list_transactions",
    )


def json_inventory(rng: random.Random) -> EvalCase:
    n, bad = 100, rng.randrange(10, 95)
    sku = f"SKU-{rng.randrange(10000, 99999)}"
    items = []
    for i in range(n):
        items.append(
            {
                "sku": sku if i == bad else f"SKU-{rng.randrange(10000, 99999)}",
                "warehouse": rng.choice(["AMS-1", "FRA-2"]),
                "on_hand": 0 if i == bad else rng.randrange(40, 90),
                "status": "out_of_stock" if i == bad else "in_stock",
            }
        )
    return EvalCase(
        "json-inventory-out-of-stock",
        "json",
        "Which SKU is out of stock?",
        sku,
        _pretty(items),
        (sku, "out_of_stock"),
        "inventory_report",
    )


def json_audit(rng: random.Random) -> EvalCase:
    n, bad = 150, rng.randrange(20, 140)
    ip = f"203.0.113.{rng.randrange(2, 250)}"
    events = []
    for i in range(n):
        events.append(
            {
                "at": _ts(i, 13),
                "actor": "svc-backup" if i == bad else rng.choice(_FIRST),
                "action": "secrets.read" if i == bad else "session.login",
                "ip": ip if i == bad else f"10.0.{rng.randrange(0, 4)}.{rng.randrange(2, 250)}",
                "result": "denied" if i == bad else "allowed",
            }
        )
    return EvalCase(
        "json-audit-denied",
        "json",
        "Which actor was denied access, from which IP?",
        f"svc-backup from {ip}",
        _pretty({"events": events}),
        ("svc-backup", ip),
        "audit_log",
    )


def json_flags(rng: random.Random) -> EvalCase:
    n, at = 90, rng.randrange(5, 85)
    rollout = repr(rng.randrange(101, 999) / 1000)
    flags = []
    for i in range(n):
        flags.append(
            {
                "key": "checkout_v2" if i == at else f"flag_{_hex(rng, 6)}",
                "enabled": True,
                "rollout": float(rollout) if i == at else 1.0,
                "owner": rng.choice(["growth", "platform", "payments"]),
            }
        )
    doc = {"environment": "prod", "flags": flags, "etag": _hex(rng, 16)}
    return EvalCase(
        "json-flags-rollout",
        "json",
        "What is the rollout fraction of the checkout_v2 flag?",
        rollout,
        _pretty(doc),
        ("checkout_v2", rollout),
        "get_feature_flags",
    )


def json_ci_runs(rng: random.Random) -> EvalCase:
    n, bad = 70, rng.randrange(5, 65)
    run_id = rng.randrange(9_000_000_000, 9_999_999_999)
    runs = []
    for i in range(n):
        runs.append(
            {
                "id": run_id if i == bad else run_id - 1000 - i,
                "workflow": "ci.yml",
                "branch": "main",
                "conclusion": "failure" if i == bad else "success",
                "failed_job": "integration-tests (py3.12)" if i == bad else None,
                "duration_s": rng.randrange(300, 420),
            }
        )
    return EvalCase(
        "json-ci-failed-run",
        "json",
        "Which CI run failed, and which job failed in it?",
        f"{run_id}: integration-tests (py3.12)",
        _pretty({"workflow_runs": runs}),
        (str(run_id), "integration-tests (py3.12)"),
        "list_workflow_runs",
    )


def json_search_api(rng: random.Random) -> EvalCase:
    n, at = 40, rng.randrange(5, 35)
    url = f"https://docs.example.com/api/rate-limits#{_hex(rng, 6)}"
    filler = [
        "Getting started with the SDK",
        "Pagination guide",
        "Authentication overview",
        "Webhooks reference",
        "Changelog",
        "Error handling basics",
    ]
    results = []
    for i in range(n):
        if i == at:
            results.append(
                {
                    "title": "Rate limits: 429 responses and the Retry-After header",
                    "url": url,
                    "snippet": "When you exceed 600 requests per minute the API returns 429 with a "
                    "Retry-After header in seconds.",
                    "score": 0.62,
                }
            )
        else:
            results.append(
                {
                    "title": rng.choice(filler),
                    "url": f"https://docs.example.com/{_hex(rng, 8)}",
                    "snippet": "General documentation page for the platform API.",
                    "score": round(rng.uniform(0.3, 0.9), 2),
                }
            )
    return EvalCase(
        "json-search-rate-limit",
        "json",
        "Which doc page explains the 429 rate limit and Retry-After header? Give the URL.",
        url,
        _pretty({"query": "api limits", "results": results}),
        (url, "600 requests per minute"),
        "docs_search",
    )


def json_sensors(rng: random.Random) -> EvalCase:
    n, bad = 240, rng.randrange(20, 230)
    sensor = f"sensor-{rng.randrange(10, 99)}b"
    temp = f"-{rng.randrange(38, 49)}.7"
    rows = []
    for i in range(n):
        rows.append(
            {
                "sensor": sensor if i == bad else f"sensor-{rng.randrange(10, 99)}a",
                "at": _ts(i, 30),
                "temp_c": float(temp) if i == bad else round(rng.uniform(18, 24), 1),
                "humidity": rng.randrange(35, 55),
            }
        )
    return EvalCase(
        "json-sensors-outlier",
        "json",
        "Which sensor reported an abnormal temperature, and what value?",
        f"{sensor}: {temp} C",
        _pretty(rows),
        (sensor, temp),
        "read_sensors",
    )


def json_db_rows(rng: random.Random) -> EvalCase:
    n, at = 110, rng.randrange(10, 100)
    email = f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}@globex-{_hex(rng, 4)}.com"
    balance = repr(rng.randrange(10001, 99999) / 100)
    rows = []
    for i in range(n):
        rows.append(
            {
                "customer_id": 50000 + i,
                "email": email if i == at else f"user{i}@example.org",
                "balance": float(balance) if i == at else round(rng.uniform(0, 50), 2),
                "tier": "gold" if i == at else "standard",
            }
        )
    return EvalCase(
        "json-db-customer-balance",
        "json",
        f"What is the balance of the customer {email}?",
        balance,
        _pretty({"rows": rows, "row_count": n}),
        (email, balance),
        "sql_query",
    )


# ---------------------------------------------------------------- logs

_LOG_INFO = [
    "INFO  [http] GET /api/v1/items 200 {ms}ms",
    "INFO  [worker] job batch-{n} completed in {ms}ms",
    "DEBUG [cache] hit ratio 0.9{n2} over last 60s",
    "INFO  [scheduler] tick {n} queued=0",
    "INFO  [http] POST /api/v1/events 202 {ms}ms",
]


def _log_line(rng: random.Random, i: int) -> str:
    tpl = rng.choice(_LOG_INFO)
    msg = tpl.format(ms=rng.randrange(3, 90), n=rng.randrange(100, 999), n2=rng.randrange(0, 9))
    return f"{_ts(i, 7)} {msg}"


def needle_log_lines(count: int = 100, position: int = 67, seed: int = 7) -> list[str]:
    """The documentation demo: ``count`` service log lines with one FATAL at ``position``."""
    rng = random.Random(seed)
    lines = [_log_line(rng, i) for i in range(count)]
    lines[position] = (
        f"{_ts(position, 7)} FATAL [db-pool] connection pool exhausted (error E_POOL_EXHAUSTED, "
        "max_connections=100): checkout-service stopped serving; fix: raise "
        "DB_POOL_MAX to 200 and restart the checkout-service"
    )
    return lines


def json_registry(rng: random.Random) -> EvalCase:
    """A package registry document: versions listed as strings, a publish-time map
    keyed by version, dependency maps."""
    versions = [f"{major}.{minor}.{patch}" for major in range(1, 5) for minor in range(12)
                for patch in range(rng.randrange(2, 9))]  # fmt: skip
    asked = versions[rng.randrange(20, len(versions) - 20)]
    time = {"created": "2017-07-14T02:40:00.000Z"}
    for i, v in enumerate(versions):  # every stamp differs from every other
        time[v] = (
            f"{2017 + i // 60}-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:"
            f"{(i * 7) % 60:02d}:{rng.randrange(60):02d}.000Z"
        )
    doc = {
        "name": "fastqueue",
        "dist-tags": {"latest": versions[-1]},
        "versions": versions,
        "time": time,
        "dependencies": {"ms": "^2.1.3", "debug": "^4.3.4"},
        "license": "MIT",
    }
    return EvalCase(
        "json-registry-version-time",
        "json",
        f"When was fastqueue {asked} published?",
        time[asked],
        _pretty(doc),
        (time[asked],),
        "npm_view",
    )


def logs_needle(rng: random.Random) -> EvalCase:
    lines = needle_log_lines(100, 67, seed=rng.randrange(1 << 30))
    return EvalCase(
        "logs-fatal-at-67",
        "logs",
        "What caused the outage? What's the error code? What's the fix?",
        "DB connection pool exhausted; E_POOL_EXHAUSTED; raise DB_POOL_MAX to 200 and restart",
        "\n".join(lines),
        ("E_POOL_EXHAUSTED", "DB_POOL_MAX to 200", "max_connections=100"),
        "read_logs",
    )


def logs_nginx(rng: random.Random) -> EvalCase:
    req = _hex(rng, 16)
    bad = rng.randrange(20, 190)
    lines = []
    for i in range(200):
        ip = f"10.1.{rng.randrange(0, 9)}.{rng.randrange(2, 250)}"
        if i == bad:
            lines.append(
                f'{ip} - - [14/Mar/2026:10:{i % 60:02d}:11 +0000] "POST /checkout HTTP/1.1" 502 '
                f'157 "-" "Mozilla/5.0" request_id={req} upstream=10.2.0.17:8080'
            )
        else:
            path = rng.choice(["/", "/cart", "/api/items", "/static/app.js"])
            lines.append(
                f'{ip} - - [14/Mar/2026:10:{i % 60:02d}:{rng.randrange(0, 59):02d} +0000] "GET '
                f'{path} HTTP/1.1" 200 {rng.randrange(300, 9000)} "-" "Mozilla/5.0" '
                f"request_id={_hex(rng, 16)} upstream=10.2.0.{rng.randrange(10, 16)}:8080"
            )
    return EvalCase(
        "logs-nginx-502",
        "logs",
        "Which request got a 502, and which upstream served it?",
        f"{req} via 10.2.0.17:8080",
        "\n".join(lines),
        (req, "10.2.0.17:8080"),
        "tail_access_log",
    )


def logs_build(rng: random.Random) -> EvalCase:
    line_no = rng.randrange(100, 400)
    lines = [f"[{i:03d}] compiling src/module_{i}.ts" for i in range(120)]
    at = rng.randrange(30, 110)
    lines[at] = (
        f"src/billing/invoice.ts({line_no},17): error TS2345: Argument of type 'string' is not "
        "assignable to parameter of type 'Money'."
    )
    lines.append("Found 1 error. Watching for file changes.")
    return EvalCase(
        "logs-tsc-error",
        "logs",
        "Which file and line fail to compile, and with which error code?",
        f"src/billing/invoice.ts line {line_no}, TS2345",
        "\n".join(lines),
        (f"src/billing/invoice.ts({line_no},17)", "TS2345"),
        "run_build",
    )


def logs_pytest(rng: random.Random) -> EvalCase:
    lines = ["============================= test session starts =============================="]
    names = [
        f"tests/test_{m}.py::test_{f}_{i}"
        for i, (m, f) in enumerate(
            (
                rng.choice(["api", "billing", "users", "search"]),
                rng.choice(["create", "update", "list"]),
            )
            for _ in range(140)
        )
    ]
    bad = rng.randrange(20, 130)
    got = f"10.0{rng.randrange(1, 9)}"
    for i, name in enumerate(names):
        if i == bad:
            lines.append("tests/test_refunds.py::test_partial_refund_rounding FAILED")
        else:
            lines.append(f"{name} PASSED")
    lines.append(f"E   AssertionError: assert Decimal('{got}') == Decimal('10.00')")
    lines.append(f"=========== 1 failed, {len(names) - 1} passed in 12.31s ===========")
    return EvalCase(
        "logs-pytest-failure",
        "logs",
        "Which test failed and what value did it get?",
        f"test_partial_refund_rounding, {got}",
        "\n".join(lines),
        ("test_partial_refund_rounding", f"Decimal('{got}')"),
        "run_tests",
    )


def logs_oom(rng: random.Random) -> EvalCase:
    pid = rng.randrange(10000, 60000)
    lines = []
    bad = rng.randrange(20, 140)
    for i in range(150):
        if i == bad:
            lines.append(
                f"Mar 14 10:{i % 60:02d}:02 host-7 kernel: Out of memory: Killed process {pid} "
                "(java) total-vm:8912345kB, anon-rss:7340032kB"
            )
        else:
            svc = rng.choice(["sshd", "cron", "systemd", "dockerd"])
            lines.append(
                f"Mar 14 10:{i % 60:02d}:{rng.randrange(0, 59):02d} host-7 {svc}[{rng.randrange(100, 999)}]: "
                f"{rng.choice(['session opened', 'started job', 'heartbeat ok', 'rotated logs'])}"
            )
    return EvalCase(
        "logs-syslog-oom",
        "logs",
        "Which process did the kernel kill, and how much memory was it using?",
        f"pid {pid} (java), anon-rss 7340032kB",
        "\n".join(lines),
        (f"Killed process {pid}", "anon-rss:7340032kB"),
        "journalctl",
    )


def logs_k8s_events(rng: random.Random) -> EvalCase:
    node = f"ip-10-0-{rng.randrange(1, 250)}-{rng.randrange(1, 250)}"
    lines = ["LAST SEEN   TYPE      REASON              OBJECT                MESSAGE"]
    bad = rng.randrange(10, 90)
    for i in range(100):
        if i == bad:
            lines.append(
                f"{i}s         Warning   NodeNotReady        node/{node}   "
                "Node is not ready: kubelet stopped posting node status"
            )
        else:
            lines.append(
                f"{i}s         Normal    Scheduled           pod/web-{_hex(rng, 5)}   "
                f"Successfully assigned prod/web-{_hex(rng, 5)} to node-{rng.randrange(1, 9)}"
            )
    return EvalCase(
        "logs-k8s-node-not-ready",
        "logs",
        "Which node is not ready?",
        node,
        "\n".join(lines),
        (node, "NodeNotReady"),
        "kubectl_get_events",
    )


# ---------------------------------------------------------------- search results


def search_grep(rng: random.Random) -> EvalCase:
    lines = []
    at = rng.randrange(10, 70)
    line_no = rng.randrange(10, 90)
    for i in range(80):
        if i == at:
            lines.append(f"src/net/retry.py:{line_no}:MAX_RETRY_BACKOFF_S = 32  # cap, seconds")
        else:
            mod = rng.choice(["api", "jobs", "cli", "store"])
            lines.append(
                f"src/{mod}/file_{i}.py:{rng.randrange(1, 400)}:    backoff = retry_policy(attempt)"
            )
    return EvalCase(
        "search-grep-definition",
        "search",
        "Where is MAX_RETRY_BACKOFF_S defined and what is its value?",
        f"src/net/retry.py:{line_no}, 32",
        "\n".join(lines),
        (f"src/net/retry.py:{line_no}", "MAX_RETRY_BACKOFF_S = 32"),
        "grep_repo",
    )


def search_ripgrep_todo(rng: random.Random) -> EvalCase:
    lines = []
    at = rng.randrange(10, 90)
    for i in range(100):
        path = f"services/{rng.choice(['auth', 'billing', 'search'])}/handler_{i}.go"
        if i == at:
            lines.append(
                f"{path}:{i + 3}:\t// TODO(security): token compared with == ; use subtle.ConstantTimeCompare"
            )
        else:
            lines.append(f"{path}:{i + 3}:\t// TODO: tidy up error wrapping")
    return EvalCase(
        "search-rg-security-todo",
        "search",
        "Which file has the security TODO, and what does it ask for?",
        f"services/.../handler_{at}.go: use subtle.ConstantTimeCompare",
        "\n".join(lines),
        (f"handler_{at}.go", "subtle.ConstantTimeCompare"),
        "ripgrep",
    )


def search_web(rng: random.Random) -> EvalCase:
    version = f"v2.{rng.randrange(10, 30)}.{rng.randrange(0, 9)}"
    blocks = []
    at = rng.randrange(2, 10)
    for i in range(12):
        if i == at:
            blocks.append(
                f"[{i + 1}] libfoo security advisory GHSA-{_hex(rng, 4)}\n"
                f"URL: https://github.com/libfoo/libfoo/security/advisories\n"
                f"The heap overflow in the parser is fixed in {version}; upgrade immediately."
            )
        else:
            blocks.append(
                f"[{i + 1}] libfoo tutorial part {i}\nURL: https://blog.example.net/libfoo-{i}\n"
                "A walkthrough of parsing config files with libfoo, with examples and benchmarks "
                "comparing it to alternatives across a range of inputs."
            )
    return EvalCase(
        "search-web-advisory",
        "search",
        "Which libfoo version fixes the heap overflow?",
        version,
        "\n\n".join(blocks),
        (version,),
        "web_search",
    )


def search_find(rng: random.Random) -> EvalCase:
    paths = [f"./src/{rng.choice(['a', 'b', 'c'])}/{_hex(rng, 6)}.py" for _ in range(150)]
    secret = f"./config/secrets.prod.{_hex(rng, 4)}.yaml"
    paths[rng.randrange(10, 140)] = secret
    return EvalCase(
        "search-find-secrets",
        "search",
        "Is there a production secrets file in the tree? Give its path.",
        secret,
        "\n".join(paths),
        (secret,),
        "find_files",
    )


def search_git_log(rng: random.Random) -> EvalCase:
    sha = _hex(rng, 7)
    pr = rng.randrange(5000, 9999)
    lines = []
    at = rng.randrange(10, 110)
    for i in range(120):
        if i == at:
            lines.append(f"{sha} revert: re-enable TLS 1.0 fallback (#{pr})")
        else:
            lines.append(
                f"{_hex(rng, 7)} {rng.choice(['feat', 'fix', 'chore', 'docs'])}: "
                f"{rng.choice(['update deps', 'tweak styles', 'add test', 'rename var'])} (#{pr - 100 - i})"
            )
    return EvalCase(
        "search-git-log-revert",
        "search",
        "Which commit re-enabled the TLS 1.0 fallback? Give the sha and PR.",
        f"{sha} (#{pr})",
        "\n".join(lines),
        (sha, f"#{pr}"),
        "git_log",
    )


# ---------------------------------------------------------------- code


def code_python(rng: random.Random) -> EvalCase:
    rate = f"0.0{rng.randrange(100, 999)}"
    parts = [
        '"""Billing helpers."""',
        "",
        "from decimal import Decimal",
        "",
        f'LATE_FEE_RATE = Decimal("{rate}")',
        "",
    ]
    for i in range(14):
        parts += [
            "",
            f"def helper_{i}(amount: Decimal, days: int) -> Decimal:",
            f'    """Adjust an amount for rule {i}."""',
            "    if days <= 0:",
            "        return amount",
            f"    return amount * Decimal({i + 1}) / Decimal(100)",
            "",
        ]
    parts += [
        "",
        "def compute_late_fee(amount: Decimal, days_late: int) -> Decimal:",
        '    """Late fee: LATE_FEE_RATE per day, capped at 30 days."""',
        "    return amount * LATE_FEE_RATE * min(days_late, 30)",
        "",
    ]
    return EvalCase(
        "code-python-late-fee",
        "code",
        "What rate does compute_late_fee use, and what is the cap?",
        f"{rate} per day, 30 days",
        "\n".join(parts),
        (f'LATE_FEE_RATE = Decimal("{rate}")', "min(days_late, 30)"),
        "read_file",
        "python",
    )


def code_javascript(rng: random.Random) -> EvalCase:
    timeout = rng.randrange(1000, 9000)
    parts = ["'use strict';", "", "const http = require('http');", ""]
    for i in range(16):
        parts += [
            f"function route{i}(req, res) {{",
            "  if (req.method !== 'GET') {",
            "    res.statusCode = 405;",
            "    return res.end();",
            "  }",
            f"  res.setHeader('x-route', '{i}');",
            "  res.end(JSON.stringify({ ok: true }));",
            "}",
            "",
        ]
    parts += [
        f"const UPSTREAM_TIMEOUT_MS = {timeout};",
        "",
        "module.exports = { UPSTREAM_TIMEOUT_MS };",
        "",
    ]
    return EvalCase(
        "code-js-timeout",
        "code",
        "What is UPSTREAM_TIMEOUT_MS set to?",
        str(timeout),
        "\n".join(parts),
        (f"UPSTREAM_TIMEOUT_MS = {timeout}",),
        "read_file",
        "javascript",
    )


def code_go(rng: random.Random) -> EvalCase:
    port = rng.randrange(7000, 9999)
    parts = ["package main", "", 'import "fmt"', ""]
    for i in range(22):
        parts += [
            f"func handler{i}(n int) int {{",
            "\tif n < 0 {",
            "\t\treturn 0",
            "\t}",
            f"\treturn n * {i + 2}",
            "}",
            "",
        ]
    parts += ["func main() {", f'\tfmt.Println("listening on :{port}")', "}", ""]
    return EvalCase(
        "code-go-port",
        "code",
        "Which port does the Go service listen on?",
        str(port),
        "\n".join(parts),
        (f"listening on :{port}",),
        "read_file",
        "go",
    )


def code_rust(rng: random.Random) -> EvalCase:
    cap = rng.randrange(100, 999)
    parts = ["use std::collections::HashMap;", ""]
    for i in range(14):
        parts += [
            f"pub fn score_{i}(x: u32) -> u32 {{",
            "    if x == 0 {",
            "        return 0;",
            "    }",
            f"    x.saturating_mul({i + 1})",
            "}",
            "",
        ]
    parts += [
        f"pub const MAX_BATCH: usize = {cap};",
        "",
        "pub fn batches(m: &HashMap<String, u32>) -> usize {",
        "    m.len().div_ceil(MAX_BATCH)",
        "}",
        "",
    ]
    return EvalCase(
        "code-rust-batch",
        "code",
        "What is MAX_BATCH?",
        str(cap),
        "\n".join(parts),
        (f"MAX_BATCH: usize = {cap}",),
        "read_file",
        "rust",
    )


# ---------------------------------------------------------------- prose

_PROSE = [
    "The team reviewed the quarterly roadmap and agreed to keep the current priorities.",
    "Several customers asked for better export options, which remains on the backlog.",
    "Hiring for the platform group continues, with two offers currently outstanding.",
    "The design review for the new onboarding flow is scheduled for next sprint.",
    "Documentation coverage improved after the writing week, especially for the SDKs.",
    "On-call load was lower than last quarter thanks to the alert cleanup.",
]


def _prose(rng: random.Random, needle: str, paragraphs: int = 8) -> str:
    paras = [" ".join(rng.choice(_PROSE) for _ in range(5)) for _ in range(paragraphs)]
    paras[rng.randrange(1, paragraphs - 1)] += " " + needle
    return "\n\n".join(paras)


def prose_incident(rng: random.Random) -> EvalCase:
    inc = f"INC-{rng.randrange(1000, 9999)}"
    needle = (
        f"Incident {inc} was caused by an expired TLS certificate on the edge proxy; "
        "it lasted 47 minutes."
    )
    return EvalCase(
        "prose-incident-report",
        "prose",
        "What caused the incident and how long did it last?",
        "expired TLS certificate on the edge proxy; 47 minutes",
        _prose(rng, needle),
        (inc, "expired TLS certificate", "47 minutes"),
        "fetch_doc",
    )


def prose_design(rng: random.Random) -> EvalCase:
    budget = rng.randrange(150, 400)
    needle = f"The latency budget for the search endpoint is {budget} ms at p99."
    return EvalCase(
        "prose-design-doc",
        "prose",
        "What is the p99 latency budget for search?",
        f"{budget} ms",
        _prose(rng, needle),
        (f"{budget} ms at p99",),
        "fetch_doc",
    )


def prose_meeting(rng: random.Random) -> EvalCase:
    date = f"2026-04-{rng.randrange(10, 28)}"
    needle = f"Decision: the legacy v1 API will be switched off on {date}."
    return EvalCase(
        "prose-meeting-notes",
        "prose",
        "When will the legacy v1 API be switched off?",
        date,
        _prose(rng, needle),
        (date,),
        "fetch_doc",
    )


# ---------------------------------------------------------------- diffs


def _diff(rng: random.Random, files: int, change: tuple[str, str, str]) -> str:
    path, old, new = change
    out: list[str] = []
    at = rng.randrange(0, files)
    for f in range(files):
        name = path if f == at else f"src/pkg/mod_{f}.py"
        out += [
            f"diff --git a/{name} b/{name}",
            f"--- a/{name}",
            f"+++ b/{name}",
            f"@@ -{10 + f},6 +{10 + f},6 @@ def run_{f}():",
        ]
        out += [f"     step_{f}_{j}()" for j in range(3)]
        if f == at:
            out += [f"-{old}", f"+{new}"]
        else:
            out += [f"-    log.debug('step {f}')", f"+    log.debug('finished step {f}')"]
        out += ["     return True"]
    return "\n".join(out)


def diff_timeout(rng: random.Random) -> EvalCase:
    value = rng.randrange(120, 900)
    text = _diff(rng, 12, ("src/client/http.py", "    TIMEOUT_S = 30", f"    TIMEOUT_S = {value}"))
    return EvalCase(
        "diff-timeout-change",
        "diff",
        "What did this diff change the HTTP client timeout to?",
        f"{value} seconds",
        text,
        (f"TIMEOUT_S = {value}", "src/client/http.py"),
        "git_diff",
    )


def diff_dependency(rng: random.Random) -> EvalCase:
    ver = f"4.{rng.randrange(2, 9)}.{rng.randrange(0, 20)}"
    text = _diff(rng, 10, ("requirements.txt", "urllib3==1.26.18", f"urllib3=={ver}"))
    return EvalCase(
        "diff-dependency-bump",
        "diff",
        "Which urllib3 version does the diff pin?",
        ver,
        text,
        (f"urllib3=={ver}",),
        "git_diff",
    )


def diff_permission(rng: random.Random) -> EvalCase:
    role = f"role_{_hex(rng, 4)}"
    text = _diff(
        rng,
        11,
        ("src/auth/policy.py", f"    ALLOW = ['{role}']", f"    ALLOW = ['{role}', 'anonymous']"),
    )
    return EvalCase(
        "diff-auth-policy",
        "diff",
        "Who did the auth policy diff add to ALLOW?",
        "anonymous",
        text,
        (f"ALLOW = ['{role}', 'anonymous']",),
        "git_diff",
    )


def diff_git_log(rng: random.Random) -> EvalCase:
    """``git log -p`` over several commits; the question names a function changed in
    one commit's second hunk."""
    out: list[str] = []
    target = rng.randrange(1, 7)
    limit = rng.randrange(3, 40)
    for c in range(8):
        sha = _hex(rng, 40)
        out += [f"commit {sha}", f"Author: Dev {c} <dev{c}@example.com>",
                f"Date:   Mon Jan {c + 5} 10:00:00 2026 +0000", "",
                f"    Refactor module {c}", ""]  # fmt: skip
        for f in range(3):
            name = f"src/mod_{c}_{f}.py"
            out += [f"diff --git a/{name} b/{name}", "index 1111111..2222222 100644",
                    f"--- a/{name}", f"+++ b/{name}"]  # fmt: skip
            for h in range(2):
                body = [f"     step_{c}_{f}_{h}_{j}()" for j in range(3)]
                if c == target and f == 1 and h == 1:
                    change = ["-    RATE_LIMIT = 10", f"+    RATE_LIMIT = {limit}"]
                    fn = "def throttle_requests():"
                else:
                    change = [
                        f"-    log.debug('old {c}{f}{h}')",
                        f"+    log.debug('new {c}{f}{h}')",
                    ]
                    fn = f"def run_{c}_{f}_{h}():"
                out += [f"@@ -{10 + 40 * h},6 +{10 + 40 * h},6 @@ {fn}", *body, *change,
                        "     return True"]  # fmt: skip
        out.append("")
    return EvalCase(
        "diff-git-log-throttle",
        "diff",
        "What did the commits change the rate limit in throttle_requests to?",
        str(limit),
        "\n".join(out),
        (f"+    RATE_LIMIT = {limit}",),
        "git_log",
    )


GENERATORS: tuple[Callable[[random.Random], EvalCase], ...] = (
    json_users,
    json_orders,
    json_metrics,
    json_pods,
    json_issues,
    json_transactions,
    json_inventory,
    json_audit,
    json_flags,
    json_ci_runs,
    json_search_api,
    json_sensors,
    json_db_rows,
    logs_needle,
    logs_nginx,
    logs_build,
    logs_pytest,
    logs_oom,
    logs_k8s_events,
    search_grep,
    search_ripgrep_todo,
    search_web,
    search_find,
    search_git_log,
    code_python,
    code_javascript,
    code_go,
    code_rust,
    prose_incident,
    prose_design,
    prose_meeting,
    diff_timeout,
    diff_dependency,
    diff_permission,
    # Appended, so the cases above keep their seeds.
    json_registry,
    diff_git_log,
)


def builtin_cases(seed: int = 0) -> list[EvalCase]:
    """One case per generator; deterministic for a given seed."""
    cases = []
    for index, gen in enumerate(GENERATORS):
        cases.append(gen(random.Random(seed * 1000 + index)))
    return cases


def builtin_variants(n: int, seed: int = 0) -> list[EvalCase]:
    """``n`` cases cycling through the generators with fresh seeds (for ``benchmark``)."""
    out = []
    for i in range(n):
        gen = GENERATORS[i % len(GENERATORS)]
        case = gen(random.Random(seed * 1_000_003 + i))
        out.append(dataclasses.replace(case, name=f"{case.name}#{i // len(GENERATORS)}"))
    return out
