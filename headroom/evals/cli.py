"""``python -m headroom.evals`` / ``headroom evals``: run a suite, print a table, gate CI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .bfcl import CATEGORIES, DatasetUnavailable
from .cases import EvalCase

DATASETS = ("builtin", "bfcl", "hotpotqa", "squad", "longbench")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", help="print the results as JSON on stdout (table to stderr)"
    )
    common.add_argument(
        "--out", metavar="DIR", help="write <suite>-<dataset>.json and .txt (and the plot) here"
    )
    common.add_argument(
        "--plot",
        nargs="?",
        const="",
        metavar="PNG",
        help="write a PNG (savings/retention per case, latency vs size); needs matplotlib",
    )
    common.add_argument(
        "--llm",
        action="store_true",
        help="also ask a model each question with original vs compressed context "
        "(needs ANTHROPIC_API_KEY or OPENAI_API_KEY)",
    )
    common.add_argument(
        "--llm-limit", type=int, default=10, metavar="N", help="questions for --llm (default 10)"
    )
    common.add_argument(
        "--model", default="gpt-4o", help="model whose tokenizer counts tokens (default gpt-4o)"
    )
    common.add_argument(
        "--seed", type=int, default=0, help="seed for the built-in cases (default 0)"
    )
    bar = common.add_mutually_exclusive_group()
    bar.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="always show the progress bar (default: only on a terminal)",
    )
    bar.add_argument("--no-progress", dest="progress", action="store_false")

    parser = argparse.ArgumentParser(
        prog="headroom evals",
        description="Offline evals: retention, round trip, no fabrication, structure, savings, "
        "cache stability, latency. Exit code 0 when every gated metric meets its target.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("quick", parents=[common], help="the fast built-in suite (CI gate)")
    bench = sub.add_parser("benchmark", parents=[common], help="a larger run on a named dataset")
    bench.add_argument("--dataset", choices=DATASETS, default="builtin")
    bench.add_argument(
        "-n", type=int, default=None, help="number of cases (default: all; builtin: 200)"
    )
    bench.add_argument("--path", help="local data file for hotpotqa, squad, longbench")
    bench.add_argument(
        "--category",
        choices=CATEGORIES,
        default="multi_turn_long_context",
        help="BFCL category (default multi_turn_long_context)",
    )
    return parser


def _load(args: argparse.Namespace) -> list[EvalCase]:
    from .cases import builtin_cases, builtin_variants

    if args.command == "quick":
        return builtin_cases(args.seed)
    if args.dataset == "builtin":
        return builtin_variants(args.n or 200, args.seed)
    if args.dataset == "bfcl":
        from .bfcl import bfcl_cases

        return bfcl_cases(args.n, args.category)
    from .datasets import load_cases

    return load_cases(args.dataset, args.path, args.n)


def _llm_section(cases: list[EvalCase], model: str, limit: int) -> dict[str, Any] | None:
    from . import llm

    chosen = llm.provider()
    if chosen is None:
        print(llm.NO_KEY, file=sys.stderr)
        return None
    from ..engine import compress
    from ..store import MemoryStore

    store = MemoryStore()
    items = []
    for case in [c for c in cases if c.output and c.answer][:limit]:
        out = compress(case.messages(), model=model, store=store).messages[-1]["content"]
        items.append((case.question, case.answer, case.output, str(out)))
    print(f"--llm: asking {chosen[0]} {chosen[1]} {2 * len(items)} times…", file=sys.stderr)
    try:
        return llm.compare(items, llm.make_ask(*chosen))
    except Exception as exc:  # a bad key, no network, a provider outage…
        # The offline results stand on their own; report the failure next to them.
        print(f"--llm: the provider call failed, skipping the comparison: {exc}", file=sys.stderr)
        return {"error": str(exc), "summary": f"not run, the provider call failed ({exc})"}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from . import report
    from .runner import SAVINGS_THRESHOLDS, run_suite, unjudged_kinds

    try:
        cases = _load(args)
    except DatasetUnavailable as exc:
        print(f"headroom evals: {exc}", file=sys.stderr)
        return 2
    if not cases:
        print("headroom evals: the dataset produced no usable cases", file=sys.stderr)
        return 2
    builtin = args.command == "quick" or args.dataset == "builtin"
    dataset = "builtin" if args.command == "quick" else args.dataset
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    thresholds = dict(SAVINGS_THRESHOLDS) if builtin else {}
    # Judge only what this install can do: a kind whose extra is missing is reported
    # with its savings, but not gated.
    for kind, why in unjudged_kinds({c.kind for c in cases}).items():
        if thresholds.pop(kind, None) is not None:
            print(f"headroom evals: not judging {kind}: {why}", file=sys.stderr)
    result = run_suite(
        args.command,
        cases,
        model=args.model,
        dataset=dataset,
        progress=progress,
        with_cache=builtin,
        with_latency=builtin,
        latency_sizes=(10, 100, 1000, 5000)
        if args.command == "quick"
        else (10, 100, 1000, 5000, 20000),
        inline_threshold=0.95 if builtin else None,
        savings_thresholds=thresholds,
    )
    if dataset == "bfcl":
        from .bfcl import summary

        result.extra["bfcl"] = summary(result.cases)
    if args.llm:
        section = _llm_section(cases, args.model, args.llm_limit)
        if section is not None:
            result.extra["llm"] = section

    text = report.table(result)
    if args.json:
        print(text, file=sys.stderr)
        print(json.dumps(report.to_dict(result), indent=2, ensure_ascii=False))
    else:
        print(text)
    written: list[Path] = []
    if args.out:
        written += report.write_out(result, Path(args.out))
    if args.plot is not None:
        target = (
            Path(args.plot)
            if args.plot
            else Path(args.out or ".") / f"{args.command}-{dataset}.png"
        )
        try:
            written.append(report.plot(result, target))
        except report.PlotUnavailable as exc:
            print(f"headroom evals: {exc}", file=sys.stderr)
            return 2
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0 if result.passed else 1
