"""DiffCompressor on real ``git log -p``, ``git diff`` and ``diff -ru`` output.

The fixtures were made by running the programs on a clone of this repository
(``git log -p -n 6``, ``git diff HEAD~6 HEAD``, ``diff -ru old new`` over two
revisions of two files).
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom import MemoryStore, compress, retrieve
from headroom.compressors.base import CompressorContext
from headroom.compressors.diff import DiffCompressor, parse
from headroom.config import HeadroomConfig
from headroom.evals.metrics import text_fabrications
from headroom.markers import is_text_marker, keys_in
from headroom.router import ContentRouter
from headroom.tokens import counter_for
from tests.helpers import openai_turn

FIXTURES = Path(__file__).parent / "fixtures" / "diff"
LOG_P = (FIXTURES / "git_log_p.txt").read_text()
GIT_DIFF = (FIXTURES / "git_diff.txt").read_text()
DIFF_RU = (FIXTURES / "diff_ru.txt").read_text()


def run(text: str, query: str | None = None) -> tuple[str | None, dict[str, str]]:
    stored: dict[str, str] = {}

    def remember(original: str) -> str:
        stored["hr_00000000000000aa"] = original
        return "hr_00000000000000aa"

    ctx = CompressorContext(HeadroomConfig(), counter_for("gpt-4o"), remember, query=query)
    got = DiffCompressor().compress(text, ctx)
    return (got.text if got else None), stored


def is_subsequence(needles: list[str], hay: list[str]) -> bool:
    it = iter(hay)
    return all(any(n == h for h in it) for n in needles)


def hunks_of(text: str) -> list[list[str]]:
    lines = text.split("\n")
    commits = parse(lines)
    assert commits is not None
    return [lines[s:e] for c in commits for f in c.files for s, e in f.hunks]


def kept_hunks(original: str, output: str) -> list[list[str]]:
    """The original hunks found whole in the output; asserts that every hunk header line
    in the output starts a whole hunk."""
    out = output.split("\n")
    hunks = hunks_of(original)
    by_header: dict[str, list[list[str]]] = {}
    for hunk in hunks:
        by_header.setdefault(hunk[0], []).append(hunk)
    kept = []
    for i, line in enumerate(out):
        if line in by_header:
            whole = [h for h in by_header[line] if out[i : i + len(h)] == h]
            assert whole, f"hunk {line!r} was cut"
            kept.extend(h for h in whole if h not in kept)
    return kept


def test_the_router_sends_diffs_and_git_log_p_here():
    router = ContentRouter()
    for text in (LOG_P, GIT_DIFF, DIFF_RU):
        kind, compressor = router.route(text, HeadroomConfig())
        assert kind == "diff" and compressor is not None and compressor.name == "diff"


def test_git_log_p_keeps_every_commit_header_and_whole_hunks():
    out, stored = run(LOG_P, "What changed in the cache alignment?")
    assert out is not None and len(out) < len(LOG_P)
    lines = LOG_P.split("\n")
    out_lines = out.split("\n")
    # Every commit header line (commit, Author, Date, message) stays, in order.
    commits = parse(lines)
    assert commits is not None and len(commits) == 6
    header = [lines[i] for c in commits for i in c.loose]
    while not header[-1]:
        header.pop()  # the blank line after the last hunk ends the text
    assert is_subsequence(header, out_lines)
    assert sum(line.startswith("commit ") for line in out_lines) == 6
    # Never a fabricated line; every kept hunk whole; at least one hunk per commit here.
    assert text_fabrications(LOG_P, out) == []
    assert len(kept_hunks(LOG_P, out)) >= 6
    assert stored["hr_00000000000000aa"] == LOG_P
    assert out_lines[-1].startswith("[headroom:") and "hr_00000000000000aa" in out_lines[-1]


def test_each_commit_that_lost_hunks_says_how_many():
    out, _ = run(LOG_P)
    assert out is not None
    lines = LOG_P.split("\n")
    commits = parse(lines)
    assert commits is not None
    notes = [line for line in out.split("\n") if re.match(r"\[headroom: \d+ of \d+ hunks", line)]
    kept = {tuple(h) for h in kept_hunks(LOG_P, out)}
    expected = []
    for c in commits:
        hunks = [tuple(lines[s:e]) for f in c.files for s, e in f.hunks]
        dropped = sum(1 for h in hunks if h not in kept)
        if dropped:
            expected.append(f"{dropped} of {len(hunks)} hunks")
    assert [re.search(r"\d+ of \d+ hunks", n).group(0) for n in notes] == expected  # type: ignore[union-attr]


def test_a_file_named_in_the_query_keeps_all_its_hunks():
    wanted = "headroom/compressors/search.py"
    out, _ = run(GIT_DIFF, f"What changed in {wanted}?")
    assert out is not None
    lines = GIT_DIFF.split("\n")
    commits = parse(lines)
    assert commits is not None
    target = [f for c in commits for f in c.files if f.path == wanted]
    assert target and len(target[0].hunks) >= 2
    kept = kept_hunks(GIT_DIFF, out)
    for s, e in target[0].hunks:
        assert lines[s:e] in kept
    # The file's header lines stay with it.
    assert lines[target[0].start] in out.split("\n")


def test_an_identifier_from_the_query_pulls_in_its_hunk():
    hunks = hunks_of(GIT_DIFF)
    baseline, _ = run(GIT_DIFF)
    assert baseline is not None
    dropped = [h for h in hunks if h not in kept_hunks(GIT_DIFF, baseline)]
    # An identifier (with "_") that occurs in exactly one dropped hunk and nowhere else.
    words = re.compile(r"[a-z]+_[a-z_]+")
    for hunk in dropped:
        unique = [w for w in words.findall("\n".join(hunk)) if GIT_DIFF.count(w) == 1]
        if unique:
            break
    else:
        raise AssertionError("no dropped hunk with a unique identifier")
    out, _ = run(GIT_DIFF, f"Why was {unique[0]} added?")
    assert out is not None and hunk in kept_hunks(GIT_DIFF, out)


def test_plain_diff_ru_is_compressed_per_diff_and_round_trips():
    store = MemoryStore()
    result = compress(openai_turn(DIFF_RU, question="What changed?"), store=store)
    out = result.messages[-1]["content"]
    assert result.transforms_applied[0].startswith("router:diff:")
    assert result.tokens_after < 0.7 * result.tokens_before
    assert any(
        line.startswith("[headroom:") and "from this diff" in line for line in out.split("\n")
    )
    assert text_fabrications(DIFF_RU, out) == []
    kept_hunks(DIFF_RU, out)
    for key in keys_in(out):
        assert retrieve(key, store=store).content == DIFF_RU


def test_crlf_diffs_keep_crlf_and_round_trip():
    crlf = GIT_DIFF.replace("\n", "\r\n")
    out, stored = run(crlf)
    assert out is not None
    assert all(line.endswith("\r") for line in out.split("\n"))
    assert stored["hr_00000000000000aa"] == crlf
    assert text_fabrications(crlf, out) == []


def test_output_is_deterministic():
    assert run(LOG_P, "router")[0] == run(LOG_P, "router")[0]


def test_text_without_hunks_is_left_alone():
    assert run("diff --git a/x b/x\nnew file mode 100644\n")[0] is None
    assert run("just some text\nwith lines\n")[0] is None
    # A single hunk: nothing to omit.
    one = "\n".join(hunks_of(DIFF_RU)[0])
    assert run("--- a/f\n+++ b/f\n" + one)[0] is None


def test_hunk_counts_decide_where_a_hunk_ends():
    # A blank context line (trailing blank stripped by an editor) stays in its hunk, and
    # a "-- " line in the next hunk is content, not a header.
    text = (
        "--- a/f.txt\n+++ b/f.txt\n"
        "@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n"
        "@@ -10,2 +10,2 @@\n-- old\n+- new\n x\n"
    )
    hunks = hunks_of(text)
    assert hunks == [
        ["@@ -1,3 +1,3 @@", " a", "", "-b", "+c"],
        ["@@ -10,2 +10,2 @@", "-- old", "+- new", " x"],
    ]


def _diff_text(files: list[list[tuple[str, list[str]]]]) -> str:
    out = []
    for n, hunks in enumerate(files):
        out += [f"diff --git a/f{n}.py b/f{n}.py", f"--- a/f{n}.py", f"+++ b/f{n}.py"]
        for start, (kind, body) in enumerate(hunks):
            old = sum(1 for b in body if b[0] in " -")
            new = sum(1 for b in body if b[0] in " +")
            out.append(f"@@ -{start * 50 + 1},{old} +{start * 50 + 1},{new} @@ {kind}")
            out += body
    return "\n".join(out)


body_line = st.tuples(
    st.sampled_from([" ", "+", "-"]),
    st.text(alphabet="abc_xyz()=:# errofail", max_size=30),
).map(lambda t: t[0] + t[1])
hunk = st.tuples(st.sampled_from(["def f():", "class A:", ""]), st.lists(body_line, min_size=1))
diffs = st.lists(st.lists(hunk, min_size=1, max_size=4), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(diffs, st.sampled_from([None, "what failed in f3.py", "abc_x"]))
def test_property_hunks_whole_no_fabrication_deterministic(files, query):
    text = _diff_text(files)
    out, stored = run(text, query)
    if out is None:
        return
    assert out == run(text, query)[0]
    assert text_fabrications(text, out) == []
    kept_hunks(text, out)
    assert stored["hr_00000000000000aa"] == text
    # Every file header of a kept hunk stays; marker lines are the only new lines.
    for line in out.split("\n"):
        assert line in text.split("\n") or is_text_marker(line)


def test_retrieval_with_a_query_returns_whole_hunks_with_their_headers():
    store = MemoryStore()
    result = compress(openai_turn(LOG_P, question="What changed?"), store=store)
    key = result.retrieval_keys[0]
    got = retrieve(key, query="looks_like_diagnostics", store=store)
    if not got.matched:  # the fixture's commits may not touch it; pick a word they do
        got = retrieve(key, query="cache_align", store=store)
    assert got.found and got.matched and got.total == len(hunks_of(LOG_P))
    lines = got.content.split("\n")
    assert lines[0].startswith("commit ") and any(x.startswith("diff --git ") for x in lines)
    assert all(line in LOG_P.split("\n") for line in lines)
    assert any(line.startswith("@@ ") for line in lines)


def _best_of_each(*fns, runs: int = 5) -> list[float]:
    """Minimum time of each function, their runs interleaved so that load from other
    processes hits all of them alike."""
    import gc
    import time

    best = [float("inf")] * len(fns)
    gc.collect()
    gc.disable()  # a full collection walks the whole test process: not our time
    try:
        for _ in range(runs):
            for n, fn in enumerate(fns):
                start = time.perf_counter()
                fn()
                best[n] = min(best[n], time.perf_counter() - start)
    finally:
        gc.enable()
    return best


def test_time_grows_linearly_with_the_number_of_commits():
    small, large = LOG_P * 16, LOG_P * 128  # 8x the text
    t_small, t_large = _best_of_each(
        lambda: run(small, "cache_align"), lambda: run(large, "cache_align")
    )
    assert t_large < 30 * t_small  # linear is 8x; quadratic would be about 64x
