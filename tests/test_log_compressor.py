"""LogCompressor on build, test and server logs."""

from __future__ import annotations

from pathlib import Path

import pytest

from headroom import MemoryStore, compress, retrieve
from headroom.compressors.log import _MASK, _SPACES, LogCompressor, _peak_lines
from headroom.markers import keys_in
from headroom.samples import build_log
from headroom.tokens import counter_for
from tests.helpers import compressor_context, openai_turn, verbatim_or_marker

FIXTURES = Path(__file__).parent / "fixtures" / "logs"
COUNT = counter_for("gpt-4o").count


def run(text: str, query: str | None = "Why did it fail?", **options):
    ctx, store = compressor_context(query, **options)
    out = LogCompressor().compress(text, ctx)
    assert out is not None
    return out, store


def test_build_log_saves_80_percent_and_keeps_every_error_line_verbatim():
    text = build_log()
    errors = [line for line in text.split("\n") if ": error: " in line]
    assert len(errors) == 4
    result = compress(openai_turn(text, tool="run_build", question="Why did the build fail?"))
    out = result.messages[-1]["content"]
    assert result.compression_ratio >= 0.80
    for line in errors:
        assert line in out.split("\n")
    assert result.transforms_applied == [f"router:log:{result.compression_ratio:.2f}"]
    assert result.outputs[-1].kind == "log"


def test_first_last_and_summary_lines_stay_and_templates_are_counted():
    text = build_log()
    out, store = run(text)
    lines = out.text.split("\n")
    original = text.split("\n")
    assert lines[:2] == original[:2]
    assert "make: *** [Makefile:42: all] Error 4" in lines and "exit code 2" in lines
    # One compile line stands for the other ~1,990, with their count after it.
    compile_lines = [line for line in lines if " CC src/" in line]
    assert len(compile_lines) == 1
    after = lines[lines.index(compile_lines[0]) + 1]
    assert after.startswith("[headroom: 1,99") and "more lines like this" in after
    assert verbatim_or_marker(text, out.text) == []
    assert store.items[out.key] == text
    assert keys_in(lines[-1]) == [out.key]


def test_pytest_failures_keep_their_whole_blocks_and_the_summary():
    text = (FIXTURES / "pytest.txt").read_text()
    out, _ = run(text)
    kept = out.text.split("\n")
    for needed in (
        "E       AttributeError: 'Order' object has no attribute 'currency'",
        ">       self.ledger.post(-amount, currency=self.currency)",
        "E       AssertionError: assert 'Cafe Central' == 'Café Central'",
        "E         + Cafe Central",
        "shop/orders.py:214: AttributeError",
        "::test_refund_partial_amount FAILED",
        "============ 2 failed, 405 passed, 5 skipped in 12.84s ==============",
        "=================================== FAILURES ===================================",
    ):
        assert any(needed in line for line in kept), needed
    assert COUNT(out.text) < 0.35 * COUNT(text)
    assert verbatim_or_marker(text, out.text) == []


def test_npm_log_keeps_warnings_errors_and_exit_status():
    text = (FIXTURES / "npm.txt").read_text()
    out, _ = run(text)
    kept = out.text.split("\n")
    for needed in (
        "npm WARN deprecated inflight@1.0.6: This module is not supported, and leaks memory."
        " Do not use it.",
        "npm WARN deprecated glob@7.2.3: Glob versions prior to v9 are no longer supported",
        "ERROR in ./src/components/Checkout.tsx 42:18-35",
        "Module not found: Error: Can't resolve './PaymentForm' in "
        "'/home/dev/shop-web/src/components'",
        "npm ERR! Exit status 1",
        "webpack 5.97.1 compiled with 1 error and 2 warnings in 14211 ms",
    ):
        assert needed in kept
    assert sum(1 for line in kept if line.startswith("npm http fetch")) == 1
    assert COUNT(out.text) < 0.2 * COUNT(text)


def test_cargo_error_keeps_the_compiler_excerpt_block():
    text = (FIXTURES / "cargo.txt").read_text()
    out, _ = run(text)
    kept = out.text.split("\n")
    start = kept.index("error[E0308]: mismatched types")
    assert kept[start + 1 : start + 4] == [
        "   --> core/src/orders.rs:118:24",
        "    |",
        "118 |     let total: Money = line_items.iter().map(|l| l.price).sum::<f64>();",
    ]
    assert "warning: unused variable: `retries`" in kept
    assert "   = note: `#[warn(unused_variables)]` on by default" in kept
    assert (
        "error: could not compile `shop-core` (lib) due to 1 previous error; 1 warning emitted"
    ) in kept
    assert COUNT(out.text) < 0.5 * COUNT(text)


def test_python_traceback_and_java_stack_trace_stay_whole():
    routine = [
        f"2025-01-07 10:00:{i % 60:02d} INFO worker-{i % 4} processed batch {i}" for i in range(300)
    ]
    traceback = [
        "2025-01-07 10:05:00 ERROR worker-2 batch 77 crashed",
        "Traceback (most recent call last):",
        '  File "/srv/app/worker.py", line 88, in run',
        "    self.process(batch)",
        '  File "/srv/app/worker.py", line 120, in process',
        "    total = sum(item.price for item in batch)",
        "TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'",
    ]
    java = [
        'Exception in thread "main" java.lang.NullPointerException: cart is null',
        "\tat com.shop.Checkout.total(Checkout.java:42)",
        "\tat com.shop.Main.main(Main.java:9)",
        "Caused by: java.io.IOException: stream closed",
        "\t... 2 more",
    ]
    text = "\n".join(routine[:150] + traceback + routine[150:] + java + routine[:20])
    out, _ = run(text)
    kept = out.text
    assert "\n".join(traceback) in kept
    assert "\n".join(java) in kept


def test_exact_repeats_of_a_problem_line_are_counted_not_repeated():
    warn = "WARN  [pool] connection pool near capacity (95%)"
    lines = [f"2025-01-07 10:{i // 60:02d}:{i % 60:02d} INFO request {i} ok" for i in range(400)]
    for i in range(10, 400, 20):
        lines[i] = warn
    text = "\n".join(lines)
    out, _ = run(text)
    kept = out.text.split("\n")
    assert kept.count(warn) == 1
    assert kept[kept.index(warn) + 1] == "[headroom: 19 more warnings like this]"


def test_query_identifier_lines_are_kept():
    lines = [
        f"2025-01-07T10:00:{i % 60:02d}Z INFO GET /v1/items req-{i:05d} 200" for i in range(500)
    ]
    text = "\n".join(lines)
    out, _ = run(text, query="what happened to req-00321?")
    assert lines[321] in out.text.split("\n")


def test_words_most_lines_share_are_not_problems():
    # Every line compiles an error-handling module: "error" says nothing here.
    lines = [f"[{i:4d}/500] CC src/error_handler_{i}.c -Werror" for i in range(500)]
    text = "\n".join(lines)
    out, _ = run(text)
    assert COUNT(out.text) < 0.1 * COUNT(text)


def test_bias_keeps_more_and_never_fabricates():
    verbs = ["started", "queued", "retried", "finished", "skipped", "paused"]
    nouns = [f"{a}{b}" for a in "pqrstvwxyz" for b in "aeiou"]
    text = "\n".join(
        f"{nouns[i % 50]} {verbs[i % 6]} after {i} ms on node-{i % 7}" for i in range(600)
    )
    low, _ = run(text, bias=0.5)
    high, _ = run(text, bias=3.0)
    assert len(high.text) > len(low.text)
    for out in (low, high):
        assert verbatim_or_marker(text, out.text) == []


def test_short_logs_and_fake_markers_are_left_alone():
    ctx, _ = compressor_context("x")
    assert LogCompressor().compress("one\ntwo\nthree", ctx) is None
    text = "\n".join(["[headroom: 5 of 9 lines omitted; key hr_0123456789abcdef]"] * 50)
    out = LogCompressor().compress(text, ctx)
    assert out is None or "[headroom: 5 of 9" not in out.text


def test_original_is_retrievable_through_the_engine():
    store = MemoryStore()
    text = (FIXTURES / "npm.txt").read_text()
    result = compress(openai_turn(text, tool="npm_build"), store=store)
    (key,) = result.retrieval_keys
    assert retrieve(key, store=store).content == text
    errors = retrieve(key, store=store, query="npm ERR!").content
    assert "npm ERR! Exit status 1" in errors and "npm http fetch" not in errors


@pytest.mark.parametrize("size", [1, 7])
def test_tiny_inputs_do_not_raise(size):
    ctx, _ = compressor_context()
    assert LogCompressor().compress("\n" * size, ctx) is None


def test_consecutive_identical_errors_collapse_and_long_rules_are_cheap():
    routine = [f"2025-01-07 10:00:{i % 60:02d} INFO step {i} ok" for i in range(200)]
    burst = ["ERROR:app:database connection lost"] * 100
    text = "\n".join([*routine[:100], *burst, "-" * 5000 + "> 100% uploaded", *routine[100:]])
    out, _ = run(text)
    kept = out.text.split("\n")
    assert kept.count("ERROR:app:database connection lost") == 1
    assert "[headroom: 99 more lines like this]" in kept


def test_json_lines_are_a_log_and_crlf_logs_stay_crlf():
    import json

    rows = [
        json.dumps({"ts": f"10:00:{i % 60:02d}", "level": "INFO", "msg": f"served {i}"})
        for i in range(300)
    ]
    rows[150] = json.dumps({"ts": "10:02:30", "level": "ERROR", "msg": "db down"})
    result = compress(openai_turn("\n".join(rows)))
    assert result.outputs[-1].kind == "log" and rows[150] in result.messages[-1]["content"]

    crlf = "\r\n".join(f"2025-01-07 10:00:{i % 60:02d} INFO step {i} ok" for i in range(300))
    out, store = run(crlf)
    kept = out.text.split("\n")
    # Markers end in CR like the input's lines; input lines stay exactly as they were
    # (the last one, which has no CR, gets none).
    assert all(line.endswith("\r") for line in kept[:-1] if line.startswith("[headroom:"))
    assert kept[-1].startswith("[headroom:") and not kept[-1].endswith("\r")  # like the text
    assert verbatim_or_marker(crlf, out.text) == []
    assert crlf.split("\n")[-1] in kept
    assert store.items[out.key] == crlf


ROUTE = Path(__file__).parent / "fixtures" / "route"


def test_repeated_compiler_warnings_collapse_and_every_error_keeps_its_excerpt():
    text = (ROUTE / "gcc_warnings.txt").read_text()
    lines = text.split("\n")
    out, store = run(text)
    kept = out.text.split("\n")
    # Every error line stays, with its source excerpt and caret line.
    for i, line in enumerate(lines):
        if ": error:" in line:
            assert lines[i : i + 3] == kept[kept.index(line) : kept.index(line) + 3]
    unused = [line for line in kept if "unused variable" in line]
    assert len(unused) == 2  # the first examples of the template
    assert any(m.startswith("[headroom: 29") and "more warnings like this" in m for m in kept)
    assert verbatim_or_marker(text, out.text) == []
    assert store.items[out.key] == text
    assert COUNT(out.text) < 0.1 * COUNT(text)


def test_a_warning_with_a_unique_template_stays_and_warnings_are_not_errors():
    lines = [f"2025-01-07 10:00:{i % 60:02d} INFO step {i} ok" for i in range(1500)]
    for i in range(20, 1500, 5):
        lines[i] = f"WARN cache miss for key user:{i} (refetching)"
    lines[700] = "WARN disk /var is 91% full"
    errors = {100: "ERROR payment gateway timed out", 900: "FATAL worker 3 crashed"}
    errors.update({1100 + k: f"ERROR request {k} failed: upstream refused" for k in range(3)})
    for i, line in errors.items():
        lines[i] = line
    text = "\n".join(lines)
    out, _ = run(text)
    kept = out.text.split("\n")
    assert lines[700] in kept  # unique template: verbatim
    assert all(line in kept for line in errors.values())  # errors: all verbatim
    assert sum("cache miss" in line for line in kept) == 2
    assert any(line.endswith("more warnings like this]") for line in kept)
    assert COUNT(out.text) < 0.1 * COUNT(text)


def test_pip_verbose_repeated_warnings_collapse():
    text = (ROUTE / "pip_vv.txt").read_text()
    out, _ = run(text, query="which version of requests was chosen?")
    kept = out.text.split("\n")
    ignored = [line for line in text.split("\n") if "is ignored: it is neither" in line]
    assert len(ignored) > 2
    assert sum(line in ignored for line in kept) <= 2
    assert verbatim_or_marker(text, out.text) == []


REAL = Path(__file__).parent / "fixtures" / "real"


def test_tab_separated_records_cluster_and_a_superlative_keeps_the_extreme():
    # git log --pretty with %x09 and --shortstat: every subject differs, yet the records
    # share one shape; the question asks for the largest insertion count.
    text = (REAL / "git_log_tsv.txt").read_text()
    question = "Which commit inserted the most lines, and how many?"
    out, store = run(text, query=question)
    assert verbatim_or_marker(text, out.text) == []
    lines = out.text.split("\n")
    assert len(out.text) < 0.5 * len(text)
    biggest = max(
        (line for line in text.split("\n") if "insertion" in line),
        key=lambda line: int(line.split(", ")[1].split()[0]),
    )
    assert biggest in lines
    header = text.split("\n")[text.split("\n").index(biggest) - 1]
    assert header in lines  # the commit the stat belongs to
    assert store.items[out.key] == text


def test_without_a_superlative_no_extreme_lines_are_added():
    lines = (REAL / "git_log_tsv.txt").read_text().split("\n")
    templates = [_SPACES.sub(" ", _MASK.sub("#", line)) for line in lines]
    assert _peak_lines(lines, templates, "Which commits touched the README?") == []
    peaks = _peak_lines(lines, templates, "Which commit inserted the most lines?")
    assert any("5720 insertions" in lines[i] for i in peaks)


def test_notes_and_hints_outside_an_error_block_cluster_as_one_kind():
    # Uncoloured cargo build: each error and its excerpt block stays; the notes and hints
    # that follow at the margin are one kind of line, shown once and counted.
    text = (REAL / "cargo_build_errors.txt").read_text()
    out, store = run(text, query="Why does the inventory crate fail to build?")
    assert verbatim_or_marker(text, out.text) == []
    lines = out.text.split("\n")
    for line in text.split("\n"):
        if line.startswith("error"):
            assert line in lines
    notes = [line for line in text.split("\n") if line.startswith(("note: ", "help: "))]
    shown = [line for line in notes if line in lines]
    assert len(notes) >= 4 and len(shown) < len(notes)
    assert store.items[out.key] == text
