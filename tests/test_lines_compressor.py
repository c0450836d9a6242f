"""The generic line compressor (text no specific compressor claims) and bad input:
binary-looking text, mixed encodings, ANSI colour codes, carriage-return progress
bars and huge single lines are compressed or left as is with a reason, never a crash."""

from __future__ import annotations

import random
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom import MemoryStore, compress, retrieve
from headroom.compressors.lines import LinesCompressor
from headroom.compressors.log import LogCompressor
from headroom.engine import clear_memo
from headroom.markers import keys_in
from headroom.tokens import counter_for
from tests.helpers import compressor_context, openai_turn, verbatim_or_marker


def engine(text: str, question: str = "What failed?"):
    store = MemoryStore()
    result = compress(openai_turn(text, tool="shell", question=question), store=store, use_ml=False)
    return result, store


def check(text: str, result, store) -> None:
    """Whatever happened: verbatim lines, retrievable original, or a stated reason."""
    report = result.outputs[-1]
    out = result.messages[-1]["content"]
    if report.skipped:
        assert out == text
        return
    assert verbatim_or_marker(text, out) == []
    assert retrieve(report.key, store=store).content == text
    assert report.tokens_after < report.tokens_before


def plain_text() -> str:
    names = ["ash", "birch", "cedar", "dogwood", "elm", "fir", "ginkgo", "hazel", "ivy", "oak"]
    return "\n".join(f"{a} {b} grows beside the {a}-{b} path" for a in names for b in names)


def test_lines_is_the_log_compressor_under_its_own_name():
    assert issubclass(LinesCompressor, LogCompressor) and LinesCompressor.name == "lines"


def test_plain_text_keeps_query_lines_and_ends_and_stores_the_rest():
    text = plain_text()
    lines = text.split("\n")
    ctx, store = compressor_context("where does the hazel-oak path go?")
    out = LinesCompressor().compress(text, ctx)
    assert out is not None
    kept = out.text.split("\n")
    assert lines[0] in kept and lines[-1] in kept
    assert "hazel oak grows beside the hazel-oak path" in kept
    assert verbatim_or_marker(text, out.text) == []
    assert store.items[out.key] == text and keys_in(out.text) == [out.key]


def test_engine_reports_every_left_alone_output_with_a_reason():
    result, _ = engine("short")
    assert result.outputs[-1].skipped == "below min_tokens_to_compress"
    huge_line = "alpha beta gamma " * 20_000
    result, store = engine(huge_line)
    report = result.outputs[-1]
    assert report.skipped and "lines" in report.skipped
    check(huge_line, result, store)


def ansi_log() -> str:
    lines = []
    for i in range(1500):
        if i % 301 == 7:
            lines.append(
                f"\x1b[31m2025-01-07 10:00:{i % 60:02d} ERROR\x1b[0m job {i} failed: disk full"
            )
        else:
            lines.append(f"\x1b[32m2025-01-07 10:00:{i % 60:02d} INFO\x1b[0m job {i} ok")
    return "\n".join(lines)


def test_ansi_coloured_errors_are_found_and_kept_with_their_codes():
    text = ansi_log()
    result, store = engine(text)
    out = result.messages[-1]["content"].split("\n")
    errors = [line for line in text.split("\n") if "ERROR" in line]
    assert errors and all(line in out for line in errors)  # codes kept, not stripped
    assert result.tokens_after < 0.2 * result.tokens_before
    check(text, result, store)


def progress_bars() -> str:
    bar = "".join(f"\r{p:3d}% |{'#' * (p // 5):<20}| {p * 3}/300 MB" for p in range(101))
    return "\n".join(["Downloading model files", *[f"file {i}: {bar}" for i in range(20)], "Done"])


def test_carriage_return_progress_bars_are_lines_of_one_template():
    text = progress_bars()
    result, store = engine(text)
    assert result.outputs[-1].skipped is None
    assert result.tokens_after < 0.3 * result.tokens_before
    check(text, result, store)


def test_mixed_encodings_and_replacement_characters():
    lines = []
    for i in range(600):
        lines.append(
            f"Ã©tape {i} terminÃ©e â€” fichier donnÃ©es_{i}.csv" if i % 3 else f"\ufffd step {i} ok"
        )
    lines[333] = "Ã©tape 333 Ã©chouÃ©e: ERROR checksum mismatch in donnÃ©es_333.csv"
    text = "\n".join(lines)
    result, store = engine(text)
    assert lines[333] in result.messages[-1]["content"].split("\n")
    check(text, result, store)


@pytest.mark.parametrize(
    "text",
    [
        bytes(range(256)).decode("latin-1") * 40,
        "\x00" * 5000,
        "PK\x03\x04\x14\x00\x06\x00" + "".join(chr(random.Random(1).randrange(0, 256)) for _ in range(6000)),
    ],
)  # fmt: skip
def test_binary_looking_text_keeps_a_short_first_line_and_a_marker(text):
    result, store = engine(text)
    report = result.outputs[-1]
    assert report.kind == "binary" and report.compressor == "binary"
    assert len(result.messages[-1]["content"].split("\n")) <= 2
    check(text, result, store)


@pytest.mark.parametrize(
    "text",
    [
        "x" * 5_000_000,
        " " * 5_000_000,
        "\n".join([f"line {i} ok" for i in range(60)] + ["y" * 5_000_000] + ["end"]),
        "\r".join(f"{p}%" for p in range(200_000)),
    ],
    ids=["5MB-word", "5MB-spaces", "5MB-line-among-lines", "cr-only"],
)
def test_huge_lines_never_crash(text):
    result, store = engine(text)
    check(text, result, store)


def _min_seconds(fn, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        clear_memo()
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def test_a_huge_line_costs_about_what_counting_it_costs():
    # The floor is one token count of the text; compressing may add a small multiple,
    # never a stall. A ratio of two timings from the same run, not an absolute time.
    text = "\n".join([f"line {i} ok" for i in range(60)] + ["z" * 1_000_000] + ["end"])
    counter = counter_for("gpt-4o")
    floor = _min_seconds(lambda: counter.count(text))
    spent = _min_seconds(lambda: engine(text))
    assert spent < 6 * floor + 0.05


chunks = st.sampled_from(
    [
        "INFO ok",
        "WARN slow",
        "ERROR boom",
        "\x1b[31mERROR\x1b[0m red",
        "\x1b[2K\r 42% |####   |",
        "\ufffd\ufffd",
        "Ã©tÃ©",
        "\x00\x01",
        "    at f(x.java:1)",
        "  |     ^~~~",
        "a,b,c",
        "NAME   STATUS   AGE",
        "",
        "\r",
        "x" * 300,
    ]
)
texts = st.lists(st.tuples(chunks, st.integers(0, 99)), min_size=20, max_size=300).map(
    lambda parts: "\n".join(f"{c} {n}" if n % 3 else c for c, n in parts)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_any_mix_of_bad_input_is_compressed_verbatim_or_left_with_a_reason(text):
    result, store = engine(text)
    check(text, result, store)
    again, _ = engine(text)
    assert again.messages[-1]["content"] == result.messages[-1]["content"]


def test_crlf_text_without_a_final_newline_keeps_its_last_line_exactly():
    text = plain_text().replace("\n", "\r\n")  # the last line has no CR
    result, store = engine(text)
    out = result.messages[-1]["content"].split("\n")
    assert text.split("\n")[-1] in out
    check(text, result, store)
