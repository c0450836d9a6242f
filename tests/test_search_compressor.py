"""SearchCompressor on grep and ripgrep output."""

from __future__ import annotations

import re

from headroom import MemoryStore, compress, retrieve
from headroom.compressors.search import SearchCompressor
from headroom.markers import keys_in
from headroom.samples import ripgrep_output
from headroom.tokens import counter_for
from tests.helpers import compressor_context, openai_turn, verbatim_or_marker

COUNT = counter_for("gpt-4o").count
NEEDLE = "DB_POOL_TIMEOUT_MS = 250  # was 5000"


def run(text: str, query: str | None = "where is DB_POOL_TIMEOUT_MS set?", **options):
    ctx, store = compressor_context(query, **options)
    out = SearchCompressor().compress(text, ctx)
    assert out is not None
    return out, store


def test_5000_ripgrep_lines_keep_the_query_match_and_count_per_file():
    text = ripgrep_output()
    out, store = run(text)
    lines = out.text.split("\n")
    assert any(line.endswith(NEEDLE) for line in lines)
    assert COUNT(out.text) < 0.1 * COUNT(text)
    assert verbatim_or_marker(text, out.text) == []
    # Each per-file marker follows that file's last kept line and counts what it left out.
    for i, line in enumerate(lines):
        m = re.fullmatch(r"\[headroom: ([\d,]+) more matches in (\S+)\]", line)
        if m:
            path = m.group(2)
            assert lines[i - 1].startswith(path + ":")
            total = sum(1 for t in text.split("\n") if t.startswith(path + ":"))
            shown = sum(1 for t in lines if t.startswith(path + ":"))
            assert int(m.group(1).replace(",", "")) == total - shown
    assert re.search(r"\[headroom: [\d,]+ more files with [\d,]+ matches omitted\]", out.text)
    assert keys_in(lines[-1]) == [out.key] and store.items[out.key] == text


def test_files_stay_grouped_in_their_original_order():
    text = ripgrep_output(800)
    out, _ = run(text, query=None)
    order = list(dict.fromkeys(line.split(":", 1)[0] for line in text.split("\n")))
    shown = [line.split(":", 1)[0] for line in out.text.split("\n") if not line.startswith("[")]
    shown = list(dict.fromkeys(shown))
    assert shown == [p for p in order if p in shown]


def test_context_lines_and_heading_mode():
    body = []
    for f in range(40):
        body.append(f"src/mod_{f}.py")
        for n in range(1, 12):
            body.append(f"{n * 3}:    value = compute_{f}_{n}(timeout)")
            body.append(f"{n * 3 + 1}-    # context line {n}")
        body.append("")
    body[body.index("src/mod_17.py") + 9] = "13:    retry_budget_ms = 77  # tuned"
    text = "\n".join(body)
    out, _ = run(text, query="what is retry_budget_ms?")
    lines = out.text.split("\n")
    assert "13:    retry_budget_ms = 77  # tuned" in lines
    assert "src/mod_17.py" in lines  # the heading of a kept file stays
    assert lines.index("src/mod_17.py") < lines.index("13:    retry_budget_ms = 77  # tuned")
    assert verbatim_or_marker(text, out.text) == []


def test_grep_with_context_separators():
    lines = []
    for i in range(300):
        lines += [f"app/f{i % 30}.py-{i}-before", f"app/f{i % 30}.py:{i + 1}:match {i}", "--"]
    text = "\n".join(lines)
    out, _ = run(text, query="match 150")
    assert "app/f0.py:151:match 150" in out.text.split("\n")
    assert verbatim_or_marker(text, out.text) == []


def test_engine_routes_search_output_and_original_round_trips():
    store = MemoryStore()
    text = ripgrep_output(2000)
    result = compress(
        openai_turn(text, tool="bash", question="Who sets DB_POOL_TIMEOUT_MS?"), store=store
    )
    assert result.outputs[-1].kind == "search"
    assert result.transforms_applied[0].startswith("router:search:")
    (key,) = result.retrieval_keys
    assert retrieve(key, store=store).content == text
    found = retrieve(key, store=store, query="DB_POOL_TIMEOUT_MS").content
    assert NEEDLE in found


def test_not_search_output_is_declined():
    ctx, _ = compressor_context()
    prose = "This is a sentence: with a colon. " * 50
    assert SearchCompressor().compress(prose, ctx) is None
