from __future__ import annotations

import json
from pathlib import Path

import pytest

from headroom.evals import datasets, llm
from headroom.evals.bfcl import DatasetUnavailable
from headroom.evals.cli import main

HOTPOT = [
    {
        "_id": "h1",
        "question": "Which city hosts the Example Tower?",
        "answer": "Lisbon",
        "supporting_facts": [["Example Tower", 1]],
        "context": [
            [
                "Example Tower",
                ["The Example Tower is a steel tower. ", "It stands in Lisbon, Portugal."],
            ],
            *[
                [
                    f"Filler {i}",
                    [f"Filler article {i} says nothing useful about towers or cities. " * 3],
                ]
                for i in range(30)
            ],
        ],
    }
]


def test_hotpot_file_becomes_search_case(tmp_path: Path) -> None:
    path = tmp_path / "hotpot.json"
    path.write_text(json.dumps(HOTPOT))
    cases = datasets.load_cases("hotpotqa", str(path), None)
    assert len(cases) == 1
    case = cases[0]
    assert case.needles == ("Lisbon", "It stands in Lisbon, Portugal.")
    assert case.missing_needles() == []


def test_squad_and_longbench_files(tmp_path: Path) -> None:
    squad = {
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": "Alpha beta gamma. The answer is 1987.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "When?",
                                "answers": [{"text": "1987", "answer_start": 0}],
                            }
                        ],
                    }
                ],
            }
        ]
    }
    (tmp_path / "dev.json").write_text(json.dumps(squad))
    [case] = datasets.load_cases("squad", str(tmp_path / "dev.json"), 5)
    assert case.needles == ("1987",) and case.answer == "1987"
    rows = [
        {
            "input": "Who?",
            "context": "Long text naming Ada Lovelace.",
            "answers": ["Ada Lovelace"],
            "_id": "x",
        },
        {"input": "Who?", "context": "no answer here", "answers": ["Bob"], "_id": "y"},
    ]
    (tmp_path / "lb.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    cases = datasets.load_cases("longbench", str(tmp_path / "lb.jsonl"), None)
    assert [c.name for c in cases] == ["longbench-x"]


def test_benchmark_on_local_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "hotpot.json"
    path.write_text(json.dumps(HOTPOT))
    assert main(["benchmark", "--dataset", "hotpotqa", "--path", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dataset"] == "hotpotqa" and data["cases"][0]["needles_retained"] == 2


def test_no_silent_download_without_path(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_datasets(name: str, *args: object, **kwargs: object) -> object:
        if name == "datasets":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(DatasetUnavailable, match=r"hotpotqa\.github\.io"):
        datasets.load_cases("hotpotqa", None, 3)
    with pytest.raises(DatasetUnavailable, match="LongBench"):
        datasets.load_cases("longbench", None, 3)


def test_answer_scoring() -> None:
    assert llm.exact_match("The Lisbon.", "lisbon")
    assert llm.f1("in Lisbon Portugal", "Lisbon") == pytest.approx(0.5)
    assert llm.f1("Paris", "Lisbon") == 0.0
    assert llm.found("It is in Lisbon, Portugal", "Lisbon") and not llm.found("Paris", "Lisbon")


def test_compare_uses_the_given_model_function() -> None:
    calls: list[str] = []

    def ask(prompt: str) -> str:
        calls.append(prompt)
        return "Lisbon" if "Lisbon" in prompt else "unknown"

    out = llm.compare([("Where?", "Lisbon", "ctx Lisbon", "ctx")], ask)
    row = out["rows"][0]
    assert len(calls) == 2 and row["truth_in_original"] and not row["truth_in_compressed"]
    assert not row["exact_match"] and "100% (original) vs 0% (compressed)" in out["summary"]


def test_provider_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert llm.provider() is None
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert llm.provider() is not None and llm.provider()[0] == "openai"  # type: ignore[index]


def test_a_failing_provider_keeps_the_offline_results(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from headroom.evals.cli import main

    def refuse(prompt: str) -> str:
        raise OSError("network is unreachable")

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setattr(llm, "make_ask", lambda name, model: refuse)
    assert main(["quick", "--llm", "--llm-limit", "2"]) == 0
    captured = capsys.readouterr()
    assert "retention_total" in captured.out
    assert "llm: not run, the provider call failed (network is unreachable)" in captured.out


def test_hugging_face_is_forced_offline_for_the_call_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from headroom.evals.datasets import _offline

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "0")  # a user who allows downloads elsewhere
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with _offline():
        assert os.environ["HF_DATASETS_OFFLINE"] == "1" == os.environ["HF_HUB_OFFLINE"]
    assert os.environ["HF_DATASETS_OFFLINE"] == "0" and "HF_HUB_OFFLINE" not in os.environ
