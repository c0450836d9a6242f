"""Speed and ratio benchmark for compress(). Prints a table; run it on a quiet machine.

    python benchmarks/bench.py [--repeat N]

floor  = parsing the output (json.loads for JSON, tree-sitter for code; text needs
         none) + one token encode of it: the least any compressor that parses and
         counts must do.
cold   = median compress() with the memo cleared (a new tool output).
warm   = median compress() of the same messages again (the next turn of a chat).
copy   = the same, with the messages rebuilt from JSON each time (equal, not identical,
         strings: what a client that re-parses its history each turn sends).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from headroom import MemoryStore, compress
from headroom.engine import clear_memo
from headroom.messages import tool_exchange
from headroom.samples import build_log, log_entries, ripgrep_output, search_results
from headroom.tokens import get_encoding, resolve_model

MODEL = "gpt-4o"


def _turn(content: str, question: str) -> list[dict]:
    return tool_exchange(content, "tool", "c1", question=question)


def _log_dump(target_bytes: int) -> str:
    lines, i = [], 0
    entries = log_entries(5000, fatal_at=4321)
    while sum(len(x) + 1 for x in lines) < target_bytes:
        e = entries[i % len(entries)]
        lines.append(
            f"{e['timestamp']} {e['level']:<5} [{e['service']}] {e['message']} request_id={e['request_id']}"
        )
        i += 1
    return "\n".join(lines)


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _median_copy_ms(
    messages: list[dict], store: MemoryStore, repeat: int, options: dict[str, Any]
) -> float:
    text = json.dumps(messages)
    times = []
    for _ in range(repeat):
        fresh = json.loads(text)
        start = time.perf_counter()
        compress(fresh, model=MODEL, store=store, **options)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _cases() -> list[tuple[str, str, str, dict[str, Any]]]:
    fixtures = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
    python_file = (fixtures / "code" / "scheduler.py").read_text()
    prose = (fixtures / "prose" / "replication.md").read_text()
    lexical = {"use_ml": False}
    return [
        (
            "json logs, 100 items (needle)",
            json.dumps(log_entries(100), indent=2),
            "What caused the outage?",
            {},
        ),
        (
            "json logs, 1,000 items",
            json.dumps(log_entries(1000, fatal_at=777), indent=2),
            "What caused the outage?",
            {},
        ),
        (
            "json logs, 10,000 items",
            json.dumps(log_entries(10_000, fatal_at=7777), indent=2),
            "What caused the outage?",
            {},
        ),
        ("search results, 500", search_results(500), "connection pool exhaustion", {}),
        ("build log, 2,000 lines", build_log(), "Why did the build fail?", {}),
        ("ripgrep, 5,000 lines", ripgrep_output(5000), "Where is DB_POOL_TIMEOUT_MS set?", {}),
        ("python file, 300 lines", python_file, "How are jobs retried?", {"compress_code": True}),
        ("prose, 3,000 tokens (lexical)", prose, "How do replication slots fill a disk?", lexical),
        ("log dump, 1 MB (text)", _log_dump(1_000_000), "What caused the outage?", {}),
        *_structure_cases(),
    ]


def _structure_cases() -> list[tuple[str, str, str, dict[str, Any]]]:
    """Tables and unclaimed line-structured text (routing by structure, issue 11)."""
    import random

    rng = random.Random(11)
    users, states = ["root", "www-data", "postgres", "dev"], ["S", "S", "S", "Ss", "R", "I"]
    rows = [
        f"{rng.choice(users):<10}{pid:>7}{rng.random() * 3:>5.1f}{rng.random() * 2:>5.1f}"
        f"{rng.randrange(1000, 900_000):>8}{rng.randrange(100, 90_000):>7} ?        "
        f"{rng.choice(states):<5}10:{pid % 60:02d}   0:00 /usr/bin/worker --slot {pid % 97}"
        for pid in range(100, 2100)
    ]
    rows[1234] = (
        rows[1234][:10]
        + "   1334 99.0 41.2 8123456 6512344 ?        R    10:14   9:59 /usr/bin/leaky"
    )
    ps = "USER          PID %CPU %MEM     VSZ    RSS TTY      STAT START   TIME COMMAND\n"
    csv_rows = [
        f"job-{i},{rng.choice(['us-east', 'eu-west'])},ok,{rng.randrange(20, 60)},nightly"
        for i in range(5000)
    ]
    csv_rows[4321] = "job-4321,eu-west,failed,4800,nightly"
    # Lines that share no template: what reaches the generic line compressor.
    syllables = ["ka", "lo", "mi", "nu", "pe", "ra", "so", "ti", "ve", "zu", "ba", "do"]
    words = [a + b + c for a in syllables for b in syllables for c in syllables[:4]]
    text = [
        f"{rng.choice(words)} {rng.choice(words)} grows beside the {rng.choice(words)} path"
        for _ in range(3000)
    ]
    return [
        ("table, ps-style 2,000 rows", ps + "\n".join(rows), "Which process leaks memory?", {}),
        (
            "table, CSV 5,000 rows",
            "id,region,status,latency_ms,note\n" + "\n".join(csv_rows),
            "Which job failed?",
            {},
        ),
        ("plain lines, 3,000 (generic)", "\n".join(text), "Where does the elm path go?", {}),
    ]


def _router_table(repeat: int) -> None:
    """Routing cost per call: the router samples lines, so a 50x longer text costs
    about the same (this replaced a wall-clock assertion in tests/test_router.py)."""
    from headroom.router import ContentRouter

    router = ContentRouter()
    print()
    print(f"{'router.detect':<32}{'kind':>8}{'1x ms':>9}{'50x ms':>9}")
    for name, content, _, _ in _cases():
        if len(content) > 300_000:
            continue
        big = "\n".join([content] * 50)
        kind = router.detect(content, use_ml=False)[0]
        small_ms = _median_ms(lambda t=content: router.detect(t, use_ml=False), repeat)
        big_ms = _median_ms(lambda t=big: router.detect(t, use_ml=False), repeat)
        print(f"{name:<32}{kind:>8}{small_ms:>9.3f}{big_ms:>9.3f}")


# Timed apart: the first call loads the ONNX models, and their speed is the model's.
ONNX_CASES = [("prose, 3,000 tokens (MiniLM)", "How do replication slots fill a disk?")]


def _import_ms(repeat: int = 5) -> float:
    code = "import time; t = time.perf_counter(); import headroom; print((time.perf_counter() - t) * 1000)"
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeat)
    ]
    return statistics.median(runs)


def _python_parser() -> Any:
    import tree_sitter
    import tree_sitter_python

    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_python.language()))


def _onnx_table(enc: Any, repeat: int) -> None:
    """The ONNX paths, timed apart: model load on first use, then cold calls."""
    from headroom.ml import ml_available

    if not ml_available():
        print("ONNX paths: the ml extra is not installed; skipped")
        return
    prose = (
        Path(__file__).resolve().parent.parent / "tests/fixtures/prose/replication.md"
    ).read_text()
    print()
    header = f"{'ONNX case':<32}{'tokens before':>14}{'after':>8}{'saved':>8}{'first ms':>10}{'cold ms':>9}{'floor ms':>10}"
    print(header)
    print("-" * len(header))
    for name, question in ONNX_CASES:
        messages = _turn(prose, question)
        store = MemoryStore()
        clear_memo()
        start = time.perf_counter()
        result = compress(messages, model=MODEL, store=store)
        first_ms = (time.perf_counter() - start) * 1000

        def cold(messages=messages, store=store) -> object:
            clear_memo()
            return compress(messages, model=MODEL, store=store)

        cold_ms = _median_ms(cold, repeat)
        floor_ms = _median_ms(lambda: enc.encode_ordinary(prose), repeat)
        print(
            f"{name:<32}{result.tokens_before:>14,}{result.tokens_after:>8,}{result.compression_ratio:>8.1%}"
            f"{first_ms:>10.1f}{cold_ms:>9.2f}{floor_ms:>10.2f}   {', '.join(result.transforms_applied)}"
        )
    print("-" * len(header))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    enc = get_encoding(resolve_model(MODEL).encoding)
    compress(_turn("warm-up", "x"), store=MemoryStore())  # load the vocabulary once

    header = f"{'case':<32}{'tokens before':>14}{'after':>8}{'saved':>8}{'cold ms':>9}{'floor ms':>10}{'x floor':>9}{'warm ms':>9}{'cold/warm':>10}{'copy ms':>9}"
    print(header)
    print("-" * len(header))
    for name, content, question, options in _cases():
        messages = _turn(content, question)
        store = MemoryStore()

        def cold(messages=messages, store=store, options=options) -> object:
            clear_memo()
            return compress(messages, model=MODEL, store=store, **options)

        code = bool(options.get("compress_code"))

        def floor(content=content, code=code) -> object:
            if content.lstrip()[:1] in "[{":
                json.loads(content)
            elif code:
                _python_parser().parse(content.encode())
            return enc.encode_ordinary(content)

        result = cold()
        cold_ms = _median_ms(cold, args.repeat)
        floor_ms = _median_ms(floor, args.repeat)
        compress(messages, model=MODEL, store=store, **options)
        warm_ms = _median_ms(
            lambda messages=messages, store=store, options=options: compress(
                messages, model=MODEL, store=store, **options
            ),
            args.repeat,
        )
        copy_ms = _median_copy_ms(messages, store, args.repeat, options)
        print(
            f"{name:<32}{result.tokens_before:>14,}{result.tokens_after:>8,}{result.compression_ratio:>8.1%}"
            f"{cold_ms:>9.2f}{floor_ms:>10.2f}{cold_ms / floor_ms:>9.2f}{warm_ms:>9.3f}{cold_ms / warm_ms:>10.0f}{copy_ms:>9.3f}"
        )
    print("-" * len(header))
    _onnx_table(enc, args.repeat)
    _router_table(args.repeat)
    print(f"import headroom: {_import_ms():.1f} ms (median of 5 fresh processes)")
    print("targets: cold <= 3x floor (ONNX paths apart), cold/warm >= 20, import < 100 ms")


if __name__ == "__main__":
    main()
