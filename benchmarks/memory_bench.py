"""Memory benchmark: recall@k and the time memory adds to each call, on a synthetic
multi-session set of facts (deterministic; no network, no model).

    python benchmarks/memory_bench.py [--facts 240] [--repeat 5]

The set: one user, 8 projects x 30 topics = 240 subjects, each told in one of 12
sessions; a quarter of them are later restated with a new value (the old one must not
come back). Each subject is asked twice: with the topic's words ("which deploy day does
atlas use these days?") and with only its last word among filler ("what was it again for
atlas, the day thing?"). recall@k = share of queries whose CURRENT fact is in the top k.

Added time per call = what with_memory does before a request (search + block + the
message copy) and after a reply (parse + strip + store the facts), the minimum over
--repeat runs of each percentile. Target: before-call p50 <= 5 ms with FTS.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from headroom.memory import Memory, MemoryStore
from headroom.memory.client import MemoryInjector, _strip_response

PROJECTS = ["atlas", "borealis", "cygnus", "dorado", "eridani", "fornax", "gemini", "hydra"]
TOPICS = [
    ("database", "runs on"),
    ("deploy day", "ships every"),
    ("ci system", "builds with"),
    ("cloud provider", "is hosted on"),
    ("primary language", "is written in"),
    ("test framework", "is tested with"),
    ("package manager", "installs with"),
    ("message queue", "queues through"),
    ("cache layer", "caches with"),
    ("frontend framework", "renders with"),
    ("issue tracker", "tracks work in"),
    ("code reviewer", "is reviewed by"),
    ("on-call owner", "is on call via"),
    ("logging stack", "logs to"),
    ("metrics backend", "reports metrics to"),
    ("feature flags", "toggles features with"),
    ("container runtime", "runs containers on"),
    ("orm library", "maps tables with"),
    ("auth provider", "signs users in with"),
    ("search engine", "indexes with"),
    ("release cadence", "releases"),
    ("license", "is licensed under"),
    ("python version", "targets"),
    ("lint tool", "lints with"),
    ("formatter", "formats with"),
    ("docs site", "publishes docs on"),
    ("cdn", "serves assets from"),
    ("secrets manager", "keeps secrets in"),
    ("payment processor", "charges cards via"),
    ("email service", "sends mail through"),
]
VALUES = [
    "postgres",
    "mysql",
    "sqlite",
    "tuesday",
    "thursday",
    "friday",
    "github",
    "gitlab",
    "jenkins",
    "aws",
    "gcp",
    "azure",
    "rust",
    "go",
    "kotlin",
    "pytest",
    "jest",
    "pnpm",
    "poetry",
    "kafka",
    "rabbitmq",
    "redis",
    "memcached",
    "react",
    "svelte",
    "jira",
    "linear",
    "priya",
    "marco",
    "pagerduty",
    "opsgenie",
    "loki",
    "elastic",
    "prometheus",
    "datadog",
    "launchdarkly",
    "unleash",
    "containerd",
    "podman",
    "sqlalchemy",
    "prisma",
    "auth0",
    "keycloak",
    "meilisearch",
    "typesense",
    "weekly",
    "monthly",
    "apache2",
    "mit",
    "py312",
    "py311",
    "ruff",
    "flake8",
    "black",
    "mkdocs",
    "sphinx",
    "cloudflare",
    "fastly",
    "vault",
    "sops",
    "stripe",
    "adyen",
    "postmark",
    "sendgrid",
]


def build(
    memory_path: Path, n_facts: int, rng: random.Random
) -> tuple[Memory, list[tuple[str, str]]]:
    """Fill the store; returns the user's Memory and (query, expected fact) pairs."""
    store = MemoryStore(memory_path)
    subjects = [(p, t, verb) for p in PROJECTS for t, verb in TOPICS][:n_facts]
    current: dict[str, str] = {}
    for i, (project, topic, verb) in enumerate(subjects):
        fact = f"project {project} {verb} {rng.choice(VALUES)}"
        subject = f"{project} {topic}"
        store.add("alice", fact, subject=subject, now=1_000_000.0 + i)
        current[subject] = fact
    for j, (project, topic, verb) in enumerate(rng.sample(subjects, len(subjects) // 4)):
        subject = f"{project} {topic}"
        fact = f"project {project} now {verb} {rng.choice(VALUES)}"
        if fact != current[subject]:
            store.add("alice", fact, subject=subject, now=2_000_000.0 + j)
            current[subject] = fact
    queries = []
    for project, topic, _verb in subjects:
        want = current[f"{project} {topic}"]
        queries.append((f"Quick question: which {topic} does {project} use these days?", want))
        # harder: only the project and the topic's last word, among filler words
        short = topic.split()[-1]
        queries.append((f"remind me, what was it again for {project}, the {short} thing?", want))
    return Memory("alice", session_id="s-bench", store=store), queries


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Msg:
    def __init__(self, content: str) -> None:
        self.content = content


class _Choice:
    def __init__(self, content: str) -> None:
        self.message = _Msg(content)


class _Reply:
    def __init__(self, content: str) -> None:
        self.choices = [_Choice(content)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--facts", type=int, default=240)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        memory, queries = build(Path(tmp) / "memory.sqlite3", args.facts, random.Random(7))
        stats = memory.stats()
        print(f"facts: {stats.facts} current, {stats.history} superseded; {len(queries)} queries")
        print("\nrecall@k (FTS5 BM25)")
        print(f"{'k':>3} {'recall':>8}")
        for k in (1, 3, 5, 10):
            hits = sum(any(f.fact == want for f in memory.search(q, k=k)) for q, want in queries)
            print(f"{k:>3} {hits / len(queries):>8.3f}")
        injector = MemoryInjector(memory)
        before: list[list[float]] = []
        after: list[list[float]] = []
        history = [{"role": "system", "content": "Be brief."}]
        for _ in range(args.repeat):
            b_times, a_times = [], []
            for i, (q, _want) in enumerate(queries):
                kwargs = {"model": "gpt-4o", "messages": [*history, {"role": "user", "content": q}]}
                t0 = time.perf_counter()
                injector.prepare(kwargs)
                b_times.append((time.perf_counter() - t0) * 1000)
                reply = _Reply(
                    'Here is the answer.\n\n<memory>{"facts": [{"subject": "bench note '
                    f'{i % 20}", "fact": "note {i}", "scope": "session"}}]}}</memory>'
                )
                t0 = time.perf_counter()
                _strip_response(reply, injector)
                a_times.append((time.perf_counter() - t0) * 1000)
            before.append(b_times)
            after.append(a_times)
        print("\nadded time per call, ms (min over runs of each percentile)")
        print(f"{'step':<28} {'p50':>7} {'p95':>7} {'mean':>7}")
        for name, runs in (
            ("before call (search+inject)", before),
            ("after reply (parse+store)", after),
        ):
            p50 = min(percentile(r, 0.5) for r in runs)
            p95 = min(percentile(r, 0.95) for r in runs)
            mean = min(statistics.fmean(r) for r in runs)
            print(f"{name:<28} {p50:>7.3f} {p95:>7.3f} {mean:>7.3f}")
        memory.store.close()


if __name__ == "__main__":
    main()
