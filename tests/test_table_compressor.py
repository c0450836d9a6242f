"""TableCompressor: fixed-width listings and CSV/TSV tables keep their header, the rows
the question names, anomalous rows and the ends; everything else is counted and stored."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom import MemoryStore, compress, retrieve
from headroom.compressors.table import TableCompressor, detect
from headroom.markers import keys_in
from tests.helpers import compressor_context, openai_turn, verbatim_or_marker

ROUTE = Path(__file__).parent / "fixtures" / "route"


def run(text: str, query: str | None = None, bias: float = 1.0):
    ctx, store = compressor_context(query, bias=bias)
    return TableCompressor().compress(text, ctx), store


def assert_verbatim(original: str, compressed: str) -> None:
    assert verbatim_or_marker(original, compressed) == []


def csv_table(n: int = 600) -> str:
    rng = random.Random(7)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id", "region", "status", "latency_ms", "note"])
    for i in range(n):
        status = "degraded" if i == 377 else "ok"
        latency = 4800 if i == 211 else rng.randint(20, 60)
        note = "retried twice,\nthen passed" if i == 90 else "nightly run"
        writer.writerow([f"job-{i}", rng.choice(["us-east", "eu-west"]), status, latency, note])
    return out.getvalue().rstrip("\n")


def test_fixed_width_listing_keeps_header_ends_and_the_largest_values():
    text = (ROUTE / "ps.txt").read_text()
    lines = text.split("\n")
    out, store = run(text, query="which process uses the most memory?")
    assert out is not None
    kept = out.text.split("\n")
    assert kept[0] == lines[0]  # the header
    assert lines[1] in kept and lines[-2] in kept  # first and last rows
    rss = [(int(line.split()[6]), line) for line in lines[1:] if line.strip()]
    assert max(rss)[1] in kept  # the biggest RSS, an outlier of its column
    assert_verbatim(text, out.text)
    (key,) = keys_in(out.text)
    assert store.items[key] == text
    assert "rows omitted" in kept[-1] or "rows omitted" in kept[-2]


def test_dpkg_keeps_the_legend_the_named_package_and_rare_states():
    text = (ROUTE / "dpkg_l.txt").read_text()
    lines = text.split("\n")
    # One package removed but not purged: "rc" among "ii" is a rare category.
    rc = 60
    lines[rc] = "rc" + lines[rc][2:]
    text = "\n".join(lines)
    out, _ = run(text, query="which version of iproute2 is installed?")
    kept = out.text.split("\n")
    assert kept[:5] == lines[:5]  # the legend, the header and its rule
    assert any(line.startswith("ii  iproute2 ") for line in kept)
    assert lines[rc] in kept
    assert len(kept) < 0.2 * len(lines)


def test_csv_keeps_outliers_rare_values_and_whole_multiline_records():
    text = csv_table()
    assert detect(text.split("\n")[:200]) is not None
    out, store = run(text, query="which jobs were slow?")
    kept = out.text.split("\n")
    assert kept[0] == "id,region,status,latency_ms,note"
    assert any(line.startswith("job-211,") for line in kept)  # latency 4800
    assert any(line.startswith("job-377,") for line in kept)  # the one degraded job
    # A record whose quoted field holds a newline is kept or left out whole.
    if any(line.startswith("job-90,") for line in kept):
        assert "then passed" + '"' in "\n".join(kept) or 'then passed"' in kept
    assert_verbatim(text, out.text)
    (key,) = keys_in(out.text)
    assert store.items[key] == text


def test_query_names_a_row_by_whole_token():
    text = csv_table().replace("\r", "")
    out, _ = run(text, query="what happened to job-42?")
    kept = out.text.split("\n")
    assert any(line.startswith("job-42,") for line in kept)
    assert not any(line.startswith(("job-420,", "job-421,")) for line in kept)


def test_tsv_and_problem_rows():
    rows = [f"web-{i:03d}\t1/1\tRunning\t0\t3d" for i in range(300)]
    rows[123] = "web-123\t0/1\tCrashLoopBackOff\t41\t3d"
    text = "NAME\tREADY\tSTATUS\tRESTARTS\tAGE\n" + "\n".join(rows)
    out, _ = run(text)
    assert rows[123] in out.text.split("\n")


def test_engine_routes_tables_and_retrieves_byte_exact():
    text = (ROUTE / "dpkg_l.txt").read_text()
    store = MemoryStore()
    result = compress(openai_turn(text, tool="shell"), store=store)
    report = result.outputs[-1]
    assert report.kind == "table" and report.compressor == "table"
    assert result.tokens_after < 0.3 * result.tokens_before
    assert retrieve(report.key, store=store).content == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a,b\n1,2",
        'id,name\n1,"unterminated\n2,x\n' * 20,
        "id,blob\n" + "\n".join(f'{i},"{"x" * 200_000}"' for i in range(3)),
        "NAME  STATUS\n" + "\n".join("x" * (i % 7) for i in range(50)),
    ],
)
def test_odd_tables_never_raise(text):
    out, _ = run(text)
    if out is not None:
        assert_verbatim(text, out.text)


cell = st.text(alphabet="abc xyz019,\"\t'\n%", max_size=12)
tables = st.lists(st.lists(cell, min_size=3, max_size=3), min_size=10, max_size=120).map(
    lambda rows: "\n".join(",".join(r) for r in [["name", "state", "size"], *rows])
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables, st.sampled_from(["", "row-3?", "which is biggest?"]))
def test_any_csv_like_text_stays_verbatim_and_retrievable(text, query):
    out, store = run(text, query=query or None)
    if out is None:
        return
    assert_verbatim(text, out.text)
    assert store.items[keys_in(out.text)[0]] == text
    assert run(text, query=query or None)[0] == out  # deterministic


def test_docker_style_columns_with_blanks_inside_values():
    header = (
        "CONTAINER ID   IMAGE        COMMAND                  CREATED        "
        "STATUS                       NAMES"
    )
    rows = []
    for i in range(60):
        status = "Exited (137) 5 minutes ago" if i == 33 else "Up 2 hours"
        rows.append(
            f'{i * 7919:012x}   nginx:1.25   "/docker-entrypoint.…"   2 hours ago    '
            f"{status:<28} web-{i}"
        )
    text = "\n".join([header, *rows])
    assert detect(text.split("\n")) is not None
    out, _ = run(text)
    assert rows[33] in out.text.split("\n")  # a rare status


def test_systemctl_failed_unit_is_kept():
    lines = ["  UNIT                          LOAD   ACTIVE SUB     DESCRIPTION"]
    for i in range(60):
        lines.append(f"  svc-{i:03d}.service               loaded active running Service {i}")
    lines[18] = (
        "● nginx.service                 loaded failed failed  A high performance web server"
    )
    text = "\n".join(lines)
    out, _ = run(text)
    assert lines[18] in out.text.split("\n")


@pytest.mark.parametrize("end", ["", "\r\n"])
def test_crlf_tables_keep_their_lines_exactly(end):
    text = (ROUTE / "ps.txt").read_text().rstrip("\n").replace("\n", "\r\n") + end
    out, _ = run(text)
    assert verbatim_or_marker(text, out.text) == []
    kept = out.text.split("\n")
    marker = next(i for i, line in enumerate(kept) if line.startswith("[headroom:"))
    # A marker ends like the input's lines; as the output's last line, like the text.
    assert kept[marker].endswith("\r") == (marker < len(kept) - 1 or text.endswith("\r"))


def test_an_identifier_on_most_rows_is_not_selective():
    # Every ss row but a few names port 8080; the question's rarest word (LISTEN) picks
    # the rows it is really about.
    text = (Path(__file__).parent / "fixtures" / "real" / "ss_tan.txt").read_text()
    question = "Which ports are in LISTEN state, and how many connections are established to 8080?"
    out, store = run(text, question)
    assert out is not None
    assert_verbatim(text, out.text)
    kept = out.text.split("\n")
    listening = [line for line in text.split("\n") if line.startswith("LISTEN")]
    assert listening and all(line in kept for line in listening)
    assert len(out.text) < 0.7 * len(text)
    assert store.items[out.key] == text
