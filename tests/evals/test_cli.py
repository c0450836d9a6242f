from __future__ import annotations

import json
from pathlib import Path

import pytest

from headroom.evals.cli import main


def test_quick_suite_passes_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["quick", "--json", "--out", str(tmp_path), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data = json.loads(captured.out)
    assert data["passed"] is True and data["suite"] == "quick"
    names = {m["name"] for m in data["metrics"]}
    assert {
        "retention_total",
        "retention_inline",
        "round_trip",
        "no_fabrication",
        "structure",
        "cache_stability",
        "savings[json]",
    } <= names
    assert all(m["passed"] for m in data["metrics"])
    assert len(data["cases"]) >= 30 and {"tokens_before", "tokens_after", "needles"} <= set(
        data["cases"][0]
    )
    assert data["savings_by_kind"]["json"]["savings"] > 0.5
    assert data["cache_stability"]["turns"] == 10 and data["latency"]
    assert "retention_total" in captured.err  # the table goes to stderr with --json
    assert json.loads((tmp_path / "quick-builtin.json").read_text())["passed"] is True
    assert "PASSED" in (tmp_path / "quick-builtin.txt").read_text()


def test_table_output_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "p.png"
    assert main(["quick", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "savings[json]" in out and "PASSED" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failing_metric_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from headroom.evals import runner

    monkeypatch.setitem(runner.SAVINGS_THRESHOLDS, "json", 0.999)
    assert main(["quick", "--no-progress"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_missing_dataset_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "--dataset", "squad", "--path", "/nonexistent/dev.json"]) == 2
    err = capsys.readouterr().err
    assert "rajpurkar.github.io" in err


def test_llm_without_key_is_skipped(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert main(["quick", "--llm", "--no-progress"]) == 0
    assert "--llm skipped" in capsys.readouterr().err


def test_module_entry_point_runs() -> None:
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-m", "headroom.evals", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "quick" in proc.stdout and "benchmark" in proc.stdout
