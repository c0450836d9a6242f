"""ContentRouter: every kind of tool output gets its kind, cheaply, and its compressor."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from headroom import MemoryStore, compress, retrieve
from headroom import router as router_mod
from headroom.router import ContentRouter
from headroom.samples import build_log, needle_logs, ripgrep_output
from tests.helpers import openai_turn

FIXTURES = Path(__file__).parent / "fixtures"
# Real outputs of programs run on a Debian machine (see tests/fixtures/route/README.md).
ROUTE = FIXTURES / "route"
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


def _min_seconds(fn, runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_routing_cost_does_not_grow_with_the_text():
    # The router samples lines: a text 50 times longer costs about the same. A ratio of
    # two timings from the same run (min of several), never an absolute time.
    router = ContentRouter()
    for text in (build_log(), ripgrep_output(2000), (ROUTE / "dpkg_l.txt").read_text()):
        big = "\n".join([text] * 50)
        small_s = _min_seconds(lambda t=text: router.detect(t, use_ml=False))
        big_s = _min_seconds(lambda t=big: router.detect(t, use_ml=False))
        assert big_s < 5 * small_s + 0.002


def test_ambiguous_text_asks_magika_when_ml_is_on(monkeypatch):
    asked: list[str] = []

    def fake_label(text: str) -> str:
        asked.append(text)
        return "rust"

    monkeypatch.setattr(router_mod._Magika, "label", staticmethod(fake_label))
    ambiguous = "fn\nalpha beta\ngamma\ndelta epsilon\nzeta\neta theta\niota\nkappa\n"
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
        # A listing repeats one line template: it is log-like, not left as plain text.
        ("total 48\n" + "\n".join(f"-rw-r--r--  1 dev  staff  {i:5d} Jan  7 10:00 f{i}.txt" for i in range(40)), "log"),
        ("NAME        READY   STATUS    RESTARTS   AGE\n" + "\n".join(f"web-{i:04x}   1/1     Running   0          3d" for i in range(40)), "table"),
    ],
)  # fmt: skip
def test_diagnostics_grep_variants_and_listings(text, kind):
    assert detect(text)[0] == kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("ps.txt", "table"),
        ("df_h.txt", "table"),
        ("dpkg_l.txt", "table"),
        ("pip_list.txt", "table"),
        ("npm_silly.txt", "log"),
        ("pip_vv.txt", "log"),
        ("gcc_warnings.txt", "log"),
        ("clang.txt", "log"),
        ("rustc.txt", "log"),
        ("git_log_stat.txt", "log"),
        ("git_log_p.txt", "diff"),
    ],
)
def test_real_outputs_are_routed_by_structure(name, kind):
    assert detect((ROUTE / name).read_text())[0] == kind


def test_a_commit_log_whose_message_holds_diff_lines_is_not_a_diff():
    stat = (ROUTE / "git_log_stat.txt").read_text()
    assert "    ---\n    +++ highlights\n    @@ not a hunk" in stat
    assert detect(stat)[0] != "diff"
    # The same lines at a line start, without a hunk header, are no diff either.
    flat = stat.replace("    ---", "---").replace("    +++", "+++")
    assert detect(flat)[0] != "diff"
    assert detect("--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n-a\n+b\n c\n")[0] == "diff"


@pytest.mark.parametrize(
    "text",
    [
        "\n".join(f"npm silly placeDep ROOT pkg-{i}@1.0.{i} OK for: app@1.0.0 want: ^1.0.0" for i in range(60)),
        "\n".join(f"DEBUG: resolving dependency tree node {i} of {i * 7}" for i in range(60)),
        "\n".join(f"  Skipping link: wheel tag cp3{i % 9}-linux is not compatible: https://x/{i}.whl" for i in range(60)),
        "\n".join(f"[{i:04d}] worker {i % 4} picked task t-{i}" for i in range(60)),
    ],
)  # fmt: skip
def test_text_repeating_a_few_templates_is_log_like_whatever_its_prefix(text):
    assert detect(text)[0] == "log"


def test_csv_tsv_and_pipe_tables_are_tables():
    rows = [f"job-{i},eu-west,ok,{20 + i % 7}" for i in range(50)]
    csv_text = "id,region,status,latency_ms\n" + "\n".join(rows)
    assert detect(csv_text)[0] == "table"
    assert detect(csv_text.replace(",", "\t"))[0] == "table"
    md = "| id | region | status |\n|---|---|---|\n" + "\n".join(
        f"| job-{i} | eu-west | ok |" for i in range(40)
    )
    assert detect(md)[0] == "table"
    # Python logging's "10:00:00,123" comma does not make a log a CSV table.
    log = "\n".join(
        f"2025-01-07 10:00:{i % 60:02d},{i:03d} INFO served request {i}" for i in range(60)
    )
    assert detect(log)[0] == "log"


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x02ELF\x7f" * 500,
        "".join(chr(0xFFFD) if i % 3 == 0 else chr(0x20 + i % 90) for i in range(6000)),
    ],
)
def test_binary_looking_text_is_reduced_to_a_marker(text):
    assert detect(text)[0] == "binary"
    store = MemoryStore()
    result = compress(openai_turn(text, tool="cat"), store=store)
    report = result.outputs[-1]
    assert report.compressor == "binary" and report.key
    out = result.messages[-1]["content"].split("\n")
    assert out[-1].startswith("[headroom: binary-looking output starting") and len(out) <= 2
    if text.startswith("\x00\x01\x02ELF"):
        assert '"\\x00\\x01\\x02ELF\\x7f' in out[-1]  # the signature, escaped
    assert out[:-1] == text.split("\n")[: len(out) - 1]  # a short first line, verbatim
    assert retrieve(report.key, store=store).content == text


def test_unclaimed_text_goes_to_the_line_compressor_and_says_so():
    # Lines that share no template and no log signal: plain text, not left alone.
    names = [
        "ash",
        "birch",
        "cedar",
        "dogwood",
        "elm",
        "fir",
        "ginkgo",
        "hazel",
        "ivy",
        "juniper",
        "kapok",
        "larch",
        "maple",
    ]
    lines = [f"{a} {b} grows beside the {c} path" for a in names for b in names for c in names[:1]]
    text = "\n".join(lines)
    assert detect(text)[0] == "text"
    result = compress(openai_turn(text, tool="tool"), store="memory")
    report = result.outputs[-1]
    assert report.compressor == "lines" and report.key
    assert report.tokens_after < report.tokens_before


def test_paragraphs_one_per_line_are_prose_not_a_table():
    sentences = PROSE.split(". ")
    paragraphs = [". ".join(sentences[i : i + 4]) + "." for i in range(0, 24, 3)]
    assert detect("\n\n".join(paragraphs))[0] == "prose"
    assert detect("\n".join(paragraphs))[0] == "prose"
