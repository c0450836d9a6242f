"""ContentRouter: every kind of tool output gets its kind, cheaply, and its compressor."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from headroom import compress
from headroom import router as router_mod
from headroom.router import ContentRouter
from headroom.samples import build_log, needle_logs, ripgrep_output
from tests.helpers import openai_turn

FIXTURES = Path(__file__).parent / "fixtures"
PROSE = " ".join(
    [
        "Replication lag is the delay between a write on the primary and its arrival on a replica.",
        "It grows when the replica applies changes more slowly than the primary produces them.",
        "Long transactions are a common cause, because a replica applies each one as a unit.",
        "Network bandwidth matters less than people expect; apply throughput usually dominates.",
        "Monitoring should track both the byte offset and the wall-clock delay of each replica.",
        "When lag exceeds the read-your-writes budget, route those reads to the primary instead.",
    ]
    * 4
)


def detect(text: str, use_ml: bool = False) -> tuple[str, str | None]:
    return ContentRouter().detect(text, use_ml=use_ml)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ((FIXTURES / "kubectl_pods.json").read_text(), "json"),
        (needle_logs(), "json"),
        ((FIXTURES / "logs" / "pytest.txt").read_text(), "log"),
        ((FIXTURES / "logs" / "npm.txt").read_text(), "log"),
        ((FIXTURES / "logs" / "cargo.txt").read_text(), "log"),
        (build_log(), "log"),
        (ripgrep_output(500), "search"),
        ((FIXTURES / "change.diff").read_text(), "diff"),
        (PROSE, "prose"),
    ],
)
def test_heuristics_give_each_fixture_its_kind(text, kind):
    assert detect(text)[0] == kind


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("scheduler.py", "python"),
        ("cart.ts", "typescript"),
        ("cache.go", "go"),
        ("router.js", "javascript"),
    ],
)
def test_source_files_are_code_with_their_language(name, language):
    assert detect((FIXTURES / "code" / name).read_text()) == ("code", language)


def test_code_is_left_alone_unless_enabled():
    source = (FIXTURES / "code" / "scheduler.py").read_text()
    off = compress(openai_turn(source, tool="run_python"))
    assert off.messages[-1]["content"] == source
    assert off.outputs[-1].kind == "code:python"
    assert "compress_code" in off.outputs[-1].skipped
    on = compress(openai_turn(source, tool="run_python"), compress_code=True)
    assert on.transforms_applied and on.transforms_applied[0].startswith("router:code:")


def test_excluded_tools_are_never_routed():
    source = (FIXTURES / "code" / "scheduler.py").read_text()
    result = compress(openai_turn(source, tool="Read"), compress_code=True)
    assert result.messages[-1]["content"] == source
    assert result.outputs[-1].skipped == "excluded tool Read"


def test_transform_names_the_compressor_and_its_ratio():
    result = compress(openai_turn(build_log(), tool="run_build"))
    (name,) = result.transforms_applied
    kind, ratio = name.split(":")[1:]
    assert kind == "log" and float(ratio) == pytest.approx(result.compression_ratio, abs=0.005)


def test_heuristics_are_cheap():
    texts = [
        build_log(),
        ripgrep_output(5000),
        PROSE * 20,
        (FIXTURES / "kubectl_pods.json").read_text(),
    ]
    router = ContentRouter()
    start = time.perf_counter()
    for text in texts * 10:
        router.detect(text, use_ml=False)
    per_call_ms = (time.perf_counter() - start) * 1000 / (len(texts) * 10)
    assert per_call_ms < 20  # generous: a regression guard, the benchmark has the figure


def test_ambiguous_text_asks_magika_when_ml_is_on(monkeypatch):
    asked: list[str] = []

    def fake_label(text: str) -> str:
        asked.append(text)
        return "rust"

    monkeypatch.setattr(router_mod._Magika, "label", staticmethod(fake_label))
    ambiguous = "fn\nx\ny\nz\n" * 3
    assert detect(ambiguous, use_ml=True) == ("code", "rust")
    assert detect(ambiguous, use_ml=False) == ("text", None)
    assert len(asked) == 1
    # Clear cases never reach the model.
    detect(build_log(), use_ml=True)
    assert len(asked) == 1


def test_magika_model_runs_offline_when_installed():
    pytest.importorskip("magika")
    source = (FIXTURES / "code" / "cache.go").read_text()
    assert router_mod._Magika.label(source) == "go"


def test_json_that_is_not_an_object_stays_json():
    assert detect(json.dumps(list(range(500))))[0] == "json"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("\n".join(f"src/m{i}.py:{i + 1}: error: Incompatible types [assignment]" for i in range(30)), "log"),
        ("\n".join(f"src/mod_{f}.py\n12:    value = x\n40:    other = y\n" for f in range(30)), "search"),
        ("\n".join(f"a/f{i}.py-{i}-before\na/f{i}.py:{i + 1}:match {i}\n--" for i in range(40)), "search"),
        ("total 48\n" + "\n".join(f"-rw-r--r--  1 dev  staff  {i:5d} Jan  7 10:00 f{i}.txt" for i in range(40)), "text"),
        ("NAME        READY   STATUS    RESTARTS   AGE\n" + "\n".join(f"web-{i:04x}   1/1     Running   0          3d" for i in range(40)), "log"),
    ],
)  # fmt: skip
def test_diagnostics_grep_variants_and_listings(text, kind):
    assert detect(text)[0] == kind
