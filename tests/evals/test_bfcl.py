from __future__ import annotations

import pytest

from headroom.evals import bfcl


def test_call_arguments_parses_literal_calls() -> None:
    assert bfcl.call_arguments("cd(folder='document')") == ("cd", {"folder": "document"})
    assert bfcl.call_arguments("sort('a.pdf')") == ("sort", {"_0": "a.pdf"})
    assert bfcl.call_arguments("post(tags=['#x', '#y'], n=3)") == (
        "post",
        {"tags": ["#x", "#y"], "n": 3},
    )
    assert bfcl.call_arguments("f(x=g(1))") is None
    assert bfcl.call_arguments("not a call") is None


def test_missing_package_message(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "bfcl_eval", None)  # makes the import fail
    with pytest.raises(bfcl.DatasetUnavailable, match="pip install --no-deps bfcl-eval"):
        bfcl.load_entries()


def test_ground_truth_runs_offline_and_carried_values_survive() -> None:
    pytest.importorskip("bfcl_eval")
    pytest.importorskip("mpmath")
    from headroom.evals.runner import run_suite

    cases = bfcl.bfcl_cases(60)
    assert len(cases) == 60
    assert sum(len(c.needles) for c in cases) > 30
    # entry 4 lists a directory, then sorts a file whose name only that listing gave
    assert "report.txt" in cases[4].needles
    result = run_suite(
        "benchmark",
        cases,
        with_cache=False,
        with_latency=False,
        inline_threshold=None,
        dataset="bfcl",
    )
    summary = bfcl.summary(result.cases)
    assert summary["retained_rate"] == 1.0, summary["lost"]
    assert result.passed
    assert sum(c.tokens_after for c in result.cases) < sum(c.tokens_before for c in result.cases)
