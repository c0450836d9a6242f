"""Tables, JSON and plots for a SuiteResult."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .runner import SuiteResult


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def to_dict(result: SuiteResult) -> dict[str, Any]:
    from .. import __version__
    from ..tokens import resolve_model

    info = resolve_model(result.model)
    return {
        "suite": result.suite,
        "dataset": result.dataset,
        "passed": result.passed,
        "headroom_version": __version__,
        "model": result.model,
        "encoding": info.encoding,
        "tokens_exact": info.exact,
        "duration_s": round(result.duration_s, 3),
        "metrics": [m.to_dict() for m in result.metrics],
        "savings_by_kind": result.by_kind(),
        "cache_stability": result.cache.to_dict() if result.cache else None,
        "latency": [
            {
                "label": p.label,
                "input_chars": p.input_chars,
                "tokens": p.tokens,
                "ms": round(p.ms, 3),
            }
            for p in result.latency
        ],
        "cases": [c.to_dict() for c in result.cases],
        **result.extra,
    }


def table(result: SuiteResult) -> str:
    lines = []
    kinds = result.by_kind()
    lines.append(
        f"Headroom evals: {result.suite} ({result.dataset}, {len(result.cases)} cases, "
        f"model {result.model})"
    )
    lines.append("")
    lines.append(
        f"{'kind':<10}{'cases':>6}{'tokens before':>15}{'tokens after':>14}{'saved':>9}  compressor"
    )
    for kind, k in sorted(kinds.items()):
        lines.append(
            f"{kind:<10}{k['cases']:>6}{k['tokens_before']:>15,}{k['tokens_after']:>14,}"
            f"{_pct(k['savings']):>9}  {','.join(k['compressors'])}"
        )
    before = sum(k["tokens_before"] for k in kinds.values())
    after = sum(k["tokens_after"] for k in kinds.values())
    lines.append(
        f"{'all':<10}{len(result.cases):>6}{before:>15,}{after:>14,}"
        f"{_pct(1 - after / before if before else 0.0):>9}"
    )
    lines.append("")
    lines.append(f"{'metric':<22}{'value':>9}{'target':>9}  {'result':<7} detail")
    for m in result.metrics:
        verdict = ("PASS" if m.passed else "FAIL") if m.gated else "info"
        target = f">={_pct(m.threshold)}" if m.threshold is not None else "-"
        lines.append(f"{m.name:<22}{_pct(m.value):>9}{target:>9}  {verdict:<7} {m.detail}")
    if result.latency:
        lines.append("")
        lines.append("latency per compress() call (median of 3, fresh content):")
        for p in result.latency:
            lines.append(
                f"  {p.label:<12}{p.input_chars:>10,} chars {p.tokens:>9,} tokens {p.ms:>9.1f} ms"
            )
    case_ms = sorted(c.latency_ms for c in result.cases)
    if case_ms:
        p95 = case_ms[min(len(case_ms) - 1, int(0.95 * len(case_ms)))]
        lines.append(f"per case: median {case_ms[len(case_ms) // 2]:.1f} ms, p95 {p95:.1f} ms")
    for title, section in result.extra.items():
        if isinstance(section, dict) and "summary" in section:
            lines.append("")
            lines.append(f"{title}: {section['summary']}")
    failing = [
        c
        for c in result.cases
        if c.fabrications
        or c.structure
        or c.round_trip_failures
        or any(not n.retained for n in c.needles)
    ]
    if failing:
        lines.append("")
        lines.append("problems:")
        for c in failing[:15]:
            issues = (
                c.fabrications
                + c.structure
                + c.round_trip_failures
                + [f"lost needle {n.needle!r}" for n in c.needles if not n.retained]
            )
            lines.append(
                f"  {c.name}: {issues[0]}"
                + (f" (+{len(issues) - 1} more)" if len(issues) > 1 else "")
            )
    lines.append("")
    lines.append(f"{'PASSED' if result.passed else 'FAILED'} in {result.duration_s:.1f}s")
    return "\n".join(lines)


def write_out(result: SuiteResult, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{result.suite}-{result.dataset}"
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(
        json.dumps(to_dict(result), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    table_path = out_dir / f"{stem}.txt"
    table_path.write_text(table(result) + "\n", encoding="utf-8")
    return [json_path, table_path]


class PlotUnavailable(RuntimeError):
    pass


def plot(result: SuiteResult, path: Path) -> Path:
    """A PNG: savings and retention per case, and latency against input size."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailable(
            '--plot needs matplotlib: pip install matplotlib (or pip install ".[evals]")'
        ) from exc
    cases = result.cases
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(max(10.0, 0.35 * len(cases) + 6), 5.5))
    xs = list(range(len(cases)))
    ax1.bar(
        [x - 0.2 for x in xs], [100 * c.savings for c in cases], width=0.4, label="token savings %"
    )
    inline = [
        100 * sum(n.inline for n in c.needles) / len(c.needles) if c.needles else 100.0
        for c in cases
    ]
    total = [
        100 * sum(n.retained for n in c.needles) / len(c.needles) if c.needles else 100.0
        for c in cases
    ]
    ax1.bar([x + 0.2 for x in xs], inline, width=0.4, label="needles inline %")
    ax1.plot(xs, total, "k.", label="needles retained % (inline + retrieve)")
    ax1.set_xticks(xs)
    ax1.set_xticklabels([c.name for c in cases], rotation=90, fontsize=7)
    ax1.set_ylim(0, 125)
    ax1.set_title("Savings and retention per case")
    ax1.legend(fontsize=8, loc="upper center", ncol=3)
    pts = [(c.input_chars, c.latency_ms) for c in cases]
    ax2.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, label="cases")
    for kind in sorted({p.label.split(":")[0] for p in result.latency}):
        sweep = [p for p in result.latency if p.label.startswith(kind + ":")]
        ax2.plot(
            [p.input_chars for p in sweep],
            [p.ms for p in sweep],
            marker="o",
            label=f"sweep: {kind}",
        )
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel("input size (chars)")
    ax2.set_ylabel("compress() time (ms)")
    ax2.set_title("Latency against input size")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
