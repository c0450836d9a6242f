"""LogCompressor: build, test and server logs, and (as ``LinesCompressor``) any
line-structured text no other compressor claims.

Lines are grouped by template: the line with its timestamps, ids, paths, numbers,
identifiers and dotted names masked. The output keeps, verbatim and in order:

- the first and last lines, and summary lines (``FAILED``, ``3 passed, 1 failed``,
  ``exit code 2``, section rules);
- every error line (errors, failures, exceptions, tracebacks, panics) with the block
  that belongs to it (a traceback, a stack trace, a compiler's source excerpt); exact
  repeats of an error line are counted instead of repeated;
- warnings: one whose template is unique stays; warnings sharing a template keep their
  first distinct examples (line and pointer lines, not the source excerpt) and a count;
- lines the query asks for (its identifiers, rare query words, the best lexical
  matches) with what they need around them (nested lines, a short paragraph);
- one example of every other template, followed by a marker that counts the
  similar lines left out (source excerpts, progress bars and huge lines are never
  shown just as examples).

ANSI colour codes are looked through, never removed. A final marker names the
retrieval key of the whole original.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from operator import eq

from ..markers import TEXT_MARKER_PREFIX, is_text_marker, text_marker
from ..relevance import Joined, distinctive_rank, identifier_hits, query_terms
from .base import Compressed, CompressorContext

# A line's template: every whitespace-separated token that names something rather than
# says something becomes "#": tokens holding a digit, a slash, a backslash, "_", "=" or
# "@" (timestamps, ids, counts, paths, URLs, identifiers, key=value) or a dot between two
# word characters (file and module names, versions); then runs of blanks one space.
# The lookbehind makes the scan start only at token starts; each alternative moves
# forward through one token without nested repetition, which keeps it linear.
if sys.version_info >= (3, 11):
    # The same, about a third faster: possessive runs never give characters back (no
    # match could come of it), so a token that stays is rejected after one pass over it.
    _MASK = re.compile(r"(?<!\S)(?=\S)(?:[^\s\d/\\_=@]*+[\d/\\_=@]|[^\s.]*+(?<=\w)\.\w)\S*")
else:  # pragma: no cover - possessive quantifiers need Python 3.11
    _MASK = re.compile(r"(?<!\S)(?:[^\s\d/\\_=@]*[\d/\\_=@]|[^\s.]*\w\.\w)\S*")
_SPACES = re.compile(r"[ \t]{2,}")

# Problem signals. Strong ones always count: level words in capitals, compiler-style
# prefixes ("error:", "error[E0425]:"), exception names, tracebacks, pytest's "E" and
# ">" lines. Weak ones are lower-case words standing alone ("error_handler.c" and
# "-Werror" are not problems), and stop counting when most lines share them.
_STRONG = re.compile(
    r"\b(?:ERROR|ERR!|FATAL|CRITICAL|SEVERE|PANIC|WARN|WARNING|FAIL|FAILED|FAILURE)\b"
    r"|\b(?:[Ee]rror|[Ww]arning|[Ff]atal|panic)(?:\[[\w-]+\])?:"
    r"|\b[A-Z]\w*(?:Error|Exception|Failure)\b"
    r"|Traceback \(most recent call last\)|\bpanicked at\b|[Ss]egmentation fault"
    r"|core dumped|OOMKilled|CrashLoopBackOff|^E(?: |$)|^> "
)
_WEAK = re.compile(
    r"(?<![\w./-])(?:errors?|failed|failures?|failing|exception|denied|refused|timed out"
    r"|timeout|cannot|could not|unable to|not found|aborted|killed|deprecated)(?![\w-])"
)
# Every match of _STRONG or _WEAK, lower-cased, contains one of these (lines starting "E " or
# "> ", pytest's failure excerpts, are checked apart). Plain substring scans find the
# candidate lines far faster than the regex could scan the whole text.
_TROUBLE_STEMS = (
    "error", "err!", "fatal", "critical", "severe", "panic", "warn", "fail", "exception",
    "traceback", "segmentation", "core dumped", "oomkilled", "crashloop", "denied",
    "refused", "timed out", "timeout", "cannot", "could not", "unable to", "not found",
    "abort", "killed", "deprecated",
)  # fmt: skip
# "0 errors", "failed=0", "errors: 0": nothing went wrong.
_NO_TROUBLE = re.compile(
    r"\b0 (?:errors?|failed|failures?|warnings?)\b|\b(?:errors?|failed|failures?|warnings?)"
    r"\s*[=:]\s*0\b",
    re.IGNORECASE,
)
# Summary lines, as pairs of (substrings of the lower-cased line that any match
# holds, pattern): each pattern only runs on the lines holding one of its substrings.
_SUMMARY: tuple[tuple[tuple[str, ...], re.Pattern[str]], ...] = tuple(
    (stems, re.compile(pattern))
    for stems, pattern in (
        (
            ("passed", "failed", "error", "warning", "skipped", "xfail", "xpass", "failure",
             "deselected", "pending", "example", "suite", " test", "tests"),
            r"\b\d+ (?:passed|failed|errors?|warnings?|skipped|xfailed|xpassed|deselected"
            r"|tests?|failures?|pending|examples?|suites?)\b",
        ),
        (("exit", "return"), r"\bexit(?:ed)?(?: with)? (?:code|status)\b|\breturn(?:ed)? code\b"),
        (("build success", "build fail"), r"\bBUILD (?:SUCCESS|FAIL)"),
        (("finished", "done in"), r"\bFinished\b|\bDone in\b"),
        (("make",), r"^make(?:\[\d+\])?: \*\*\*"),
        (("test result:", "tests:", "test suites:", "ran "),
         r"\btest result:|^Tests?:|^Test Suites:|^Ran \d+ test"),
    )
)  # fmt: skip
_STATUS_TAIL = 20  # status words count as a summary only in a log's last lines
_STATUS_WORDS = ("OK", "FAILED", "PASSED", "ERROR", "FAIL", "SUCCESS")
_STATUS = re.compile(r"(?:OK|FAILED|PASSED|ERROR|FAIL|SUCCESS)\b")
# Lines that continue the block of the problem line above them (beyond being indented
# deeper): Java's "Caused by:", rustc's "2 |" excerpts, "... 12 more".
_CONTINUATION = re.compile(r"\s*(?:Caused by:|\.\.\. \d+ more|\d+\s*\||-->|= (?:note|help))")
# A compiler's source excerpt line ("  27 |     code", "     |     ^~~"): it only means
# something under the diagnostic it belongs to.
_SUCCESS = re.compile(r"\s*(?:--- )?(?:PASS|PASSED|ok|OK)\b")
_POINTER = re.compile(r"\s*(?:-->|= (?:note|help)|Caused by:)")
_EXCERPT = re.compile(r"[ \t]*\d+[ \t]*\||[ \t]+\|")
_MAX_BLOCK = 60
_RARE_HITS = 8  # a query word inside at most this many lines marks them as wanted
_MAX_EXAMPLE_CHARS = 4096  # longer lines are never shown just as a template's example
# ANSI colour and cursor sequences (bounded: they never span lines).
_ANSI = re.compile(r"\x1b\[[0-9;?]{0,32}[ -/]{0,4}[@-~]")
# Warning signals, and the error signals that make a line more than a warning.
_WARNING = re.compile(
    r"\b(?:WARN|WARNING)\b|\b[Ww]arn(?:ing)?(?:\[[\w-]+\])?:"
    r"|(?<![\w./-])(?:warn|warnings?|deprecated|deprecation)(?![\w-])"
)
_ERRORISH = re.compile(
    r"\b(?:ERROR|ERR!|FATAL|CRITICAL|SEVERE|PANIC|FAIL|FAILED|FAILURE)\b"
    r"|\b(?:[Ee]rror|[Ff]atal|panic)(?:\[[\w-]+\])?:"
    r"|\b[A-Z]\w*(?:Error|Exception|Failure)\b"
    r"|Traceback \(most recent call last\)|\bpanicked at\b|[Ss]egmentation fault"
    r"|core dumped|OOMKilled|CrashLoopBackOff|^E(?: |$)|^> "
    r"|(?<![\w./-])(?:errors?|failed|failures?|failing|exception|denied|refused|timed out"
    r"|timeout|cannot|could not|unable to|not found|aborted|killed)(?![\w-])"
)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def trouble_lines(lines: list[str], joined: Joined) -> list[int]:
    """Problem lines: every line with a strong signal, and lines with a weak signal word
    that no more than half the lines share."""
    candidates = joined.docs_containing(_TROUBLE_STEMS)
    candidates.update(i for i, line in enumerate(lines) if line[:2] in ("E ", "> ", "E"))
    strong: set[int] = set()
    weak: dict[int, set[str]] = {}
    for i in candidates:
        line = lines[i]
        if _STRONG.search(line):
            strong.add(i)
            continue
        found = {m.lower() for m in _WEAK.findall(line)}
        # "0 errors", "failed=0": a weak word that says nothing went wrong.
        if found and not (len(found) == 1 and _NO_TROUBLE.search(line)):
            weak[i] = found
    freq: Counter[str] = Counter()
    for found in weak.values():
        freq.update(found)
    common = {w for w, c in freq.items() if c > len(lines) // 2}
    return sorted(strong.union(i for i, found in weak.items() if found - common))


def _is_rule(line: str) -> bool:
    """A section rule: ``=====…``, ``_____…``, ``--- title ---`` or ``=== title ===``
    (not ``=== RUN   TestX``, go test's progress line)."""
    if not line.startswith(("===", "___", "---")):
        return False
    return line.rstrip().endswith(line[0] * 3)


def _summary_lines(lines: list[str], joined: Joined) -> set[int]:
    """Summary lines: result counts, exit codes, section rules, and a final status word
    (``OK``, ``FAILED``) near the end."""
    found: set[int] = set()
    for stems, pattern in _SUMMARY:
        found.update(i for i in joined.docs_containing(stems) if pattern.search(lines[i]))
    found.update(i for i, line in enumerate(lines) if line[:1] in "=_-" and _is_rule(line))
    tail = max(0, len(lines) - _STATUS_TAIL)
    found.update(
        i
        for i in range(tail, len(lines))
        if lines[i].startswith(_STATUS_WORDS) and _STATUS.match(lines[i])
    )
    return found


def _block_end(lines: list[str], start: int) -> int:
    """The index after the block that starts with problem line ``start``."""
    base = _indent(lines[start])
    end = start + 1
    while end < len(lines) and end - start <= _MAX_BLOCK:
        line = lines[end]
        if not line.strip():
            break
        if _indent(line) <= base and not _CONTINUATION.match(line):
            break
        end += 1
    return end


_SIMILAR = 0.6  # share of a template's tokens that must agree to share a cluster
_MAX_CLUSTERS_PER_SHAPE = 64


def _clusters(indices: list[int], templates: list[str]) -> list[list[int]]:
    """The given line indices grouped by template, where templates of the same length
    and first word that agree in most positions (``Compiling serde #``, ``Compiling
    tokio #``) share one group. Each group is sorted; groups come in order of first line."""
    by_template: dict[str, list[int]] = {}
    for i in indices:
        by_template.setdefault(templates[i], []).append(i)
    shapes: dict[tuple[int, str], list[tuple[str, list[str]]]] = {}
    merged: dict[str, list[int]] = {}
    for template, idx in by_template.items():
        tokens = template.split()
        shape = (len(tokens), tokens[0] if tokens else "")
        reps = shapes.setdefault(shape, [])
        need = _SIMILAR * len(tokens)
        home = next(
            (name for name, rep in reps if tokens and sum(map(eq, rep, tokens)) >= need),
            None,
        )
        if home is None:
            if len(reps) < _MAX_CLUSTERS_PER_SHAPE:
                reps.append((template, tokens))
            merged[template] = list(idx)
        else:
            merged[home].extend(idx)
    groups = list(merged.values())
    for idx in groups:
        idx.sort()
    return groups


class LogCompressor:
    """Compressor for log and build output; see the module docstring for the rules."""

    name = "log"
    min_lines = 8

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None:
        lines = text.split("\n")
        n = len(lines)
        if n < self.min_lines:
            return None
        # Colour codes are looked through, never removed: the analysis reads the text
        # without them, the output keeps the input's lines as they were.
        plain_text = strip_ansi(text)
        plain = plain_text.split("\n") if plain_text is not text else lines
        cfg = ctx.config
        budget = ctx.budget(cfg.max_items)
        templates = _SPACES.sub(" ", _MASK.sub("#", plain_text)).split("\n")
        lowered = plain_text.lower().split("\n")
        joined = Joined(lowered)

        # The ends of the log (a lone caret line is no end worth showing) and summaries.
        keep: set[int] = set(range(min(cfg.keep_first, n)))
        keep.update(range(max(0, n - cfg.keep_last), n))
        # Source excerpt and caret lines (the cheap first test of _is_excerpt inlined).
        excerpts = {
            i
            for i, line in enumerate(plain)
            if line and (line[0] in " \t0123456789|" or "^" in line) and _is_excerpt(line)
        }
        keep = {i for i in keep if i not in excerpts}
        keep.update(_summary_lines(plain, joined))
        # Lines the question asks for, most certain first, and what they need around them.
        wanted = list(identifier_hits(lowered, ctx.query, joined)[: 2 * budget + 10])
        wanted += rare_substring_hits(joined, ctx.query)
        wanted += distinctive_rank(lowered, ctx.query, limit=max(3, budget // 3), joined=joined)
        wanted += _peak_lines(plain, templates, ctx.query)
        keep.update(wanted)
        keep.update(query_context(plain, list(dict.fromkeys(wanted)), limit=6 * budget))

        # Problem lines and their blocks, all kept; an exact repeat of a problem line is
        # counted under its first occurrence, unless it sits inside a varied block (the
        # line before it is another problem line, not the same one again). Warnings
        # sharing a template are handled after: see _collapse_warnings.
        problems: set[int] = set()
        first_seen: dict[str, int] = {}
        counts: dict[int, int] = {}
        warnings: dict[str, list[int]] = {}
        for i in trouble_lines(plain, joined):
            if is_warning(plain[i]):
                warnings.setdefault(templates[i], []).append(i)
                continue
            first = first_seen.setdefault(plain[i], i)
            in_block = i - 1 in problems and plain[i - 1] != plain[i]
            if first != i and not in_block:
                problems.add(i)
                counts[first] = counts.get(first, 0) + 1
                continue
            # A nested line reporting success ("    --- PASS: TestX/a") is no part of
            # the failure above it.
            block = [
                j for j in range(i, _block_end(plain, i)) if j == i or not _SUCCESS.match(plain[j])
            ]
            problems.update(block)
            keep.update(block)
        notes = _collapse_warnings(plain, warnings, keep, set(wanted), problems, ctx.budget(2))

        # Every other non-blank line falls in a template cluster; each cluster is shown
        # by its first kept line, else its first line (most common clusters first, up
        # to a budget), followed by a count of the lines it stands for.
        # Source excerpts outside a kept block are no example of anything: they are left
        # out (and counted in the final marker) rather than shown on their own.
        rest = [i for i in range(n) if i not in problems and i not in excerpts and plain[i].strip()]
        problems.update(i for i in excerpts if i not in keep)
        groups = _clusters(rest, _cluster_templates(plain_text, plain, templates))
        # A line like no other that holds a query word, even a word many lines hold
        # ("Processing …/attrs-26.1.0.whl" among hundreds of "Found link …attrs…").
        terms = _search_terms(ctx.query)
        if terms:
            rare = [i for idx in groups if len(idx) <= 2 for i in idx]
            hits = [i for i in rare if any(t in lowered[i] for t in terms)]
            keep.update(hits[: max(3, budget // 2)])
        needing: list[tuple[int, int, list[int]]] = []
        for idx in groups:
            shown = next((i for i in idx if i in keep), None)
            if shown is None:
                needing.append((-len(idx), idx[0], idx))
            else:
                counts[shown] = sum(1 for i in idx if i not in keep)
        for _, first, idx in sorted(needing)[: 2 * budget + 10]:
            line = lines[first]
            if len(line) > _MAX_EXAMPLE_CHARS or _redrawn(line) or _is_pointer(plain[first]):
                # A huge line, or a progress bar redrawn by carriage returns, is no
                # example: it is counted in the final marker.
                continue
            keep.add(first)
            counts[first] = len(idx) - 1
        # Never keep a line that looks like one of our markers: the output must not
        # claim an omission we did not make.
        keep = {i for i in keep if not is_text_marker(lines[i])}

        omitted_total = n - len(keep)
        if not any(lines[i].strip() for i in range(n) if i not in keep):
            return None
        key = ctx.remember(text)
        out: list[str] = []
        for i in sorted(keep):
            out.append(lines[i])
            more = counts.get(i, 0)
            if more:
                out.append(f"{TEXT_MARKER_PREFIX} {more:,} more line{'s' * (more != 1)} like this]")
            if i in notes:
                out.append(notes[i])
        out.append(text_marker(omitted_total, n, key))
        # Marker lines end like the input's lines (CRLF logs stay CRLF).
        out = crlf_markers(out, text)
        return Compressed("\n".join(out), key=key)


_FREE_TEXT_WORDS = 3  # a tab-separated field of this many words is free text
_SUPERLATIVE = re.compile(
    r"\b(?:most|largest|biggest|highest|max(?:imum)?|top|longest|slowest|heaviest"
    r"|least|smallest|lowest|fewest|min(?:imum)?|shortest|fastest|lightest)\b",
    re.IGNORECASE,
)
_NUMBER_TOKEN = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
_MAX_PEAK_GROUPS = 8


def _cluster_templates(text: str, lines: list[str], templates: list[str]) -> list[str]:
    """Templates for clustering (``templates`` with the two regroupings below applied,
    each looked for only when the text holds what it needs)."""
    if "\t" in text:
        templates = _field_templates(lines, templates)
    if "note" in text or "help" in text or "hint" in text or "-->" in text or ":::" in text:
        templates = _note_templates(text, templates)
    return templates


def _field_templates(lines: list[str], templates: list[str]) -> list[str]:
    """A line of three or more tab-separated fields (``git log --pretty`` with ``%x09``)
    is grouped by its short fields, its free-text fields (a commit subject, an author's
    full name) counting as one wildcard each."""
    out = templates
    for i, line in enumerate(lines):
        if line.count("\t") < 2:
            continue
        fields = line.split("\t")
        if not any(len(f.split()) >= _FREE_TEXT_WORDS for f in fields):
            continue
        if out is templates:
            out = list(templates)
        short = "\t".join("*" if len(f.split()) >= _FREE_TEXT_WORDS else f for f in fields)
        out[i] = _SPACES.sub(" ", _MASK.sub("#", short))
    return out


# A compiler's sub-diagnostic: a note or hint under a diagnostic ("a.c:4:2: note: …",
# rustc's "help: …" and "   = note: …"), or a pointer to where it applies ("  --> f.rs:3:1",
# "  ::: lib.rs:70:8"). Not a problem line itself.
_POINTER_ONLY = re.compile(r"[ \t]*(?:-->|:::) ")
_SUBDIAGNOSTIC = re.compile(
    r"(?m)^(?:(?:[^\s:]+(?::\d+){1,2}: )?(note|help|hint)(?:\[[\w-]+\])?: "
    r"|[ \t]*(= (?:note|help)|:::|-->)[: ])"
)


def _is_pointer(line: str) -> bool:
    """A compiler's pointer to a source location ("  --> src/a.rs:3:5", "  ::: lib.rs:7:1"):
    like a source excerpt, it only means something under its diagnostic."""
    return line[:1] in (" ", "\t") and _POINTER_ONLY.match(line) is not None


def _note_templates(text: str, templates: list[str]) -> list[str]:
    """Every sub-diagnostic of one kind (all notes, all hints, all pointers) shares one
    template, so that outside a kept block they are shown by their first example and
    counted, like any repeated line, whatever they say."""
    out = templates
    line_no = 0
    pos = 0
    for m in _SUBDIAGNOSTIC.finditer(text):
        line_no += text.count("\n", pos, m.start())
        pos = m.start()
        if out is templates:
            out = list(templates)
        out[line_no] = "sub-diagnostic " + (m.group(1) or m.group(2) or "")
    return out


def _peak_lines(lines: list[str], templates: list[str], query: str | None) -> list[int]:
    """When the question asks for an extreme ("which commit inserted the most lines"):
    in each of the largest groups of lines sharing a template, the line holding the
    group's largest number, and the one holding its smallest."""
    if not query or _SUPERLATIVE.search(query) is None:
        return []
    groups: dict[str, list[int]] = {}
    for i, template in enumerate(templates):
        if "#" in template:
            groups.setdefault(template, []).append(i)
    big = sorted((idx for idx in groups.values() if len(idx) >= 3), key=lambda g: (-len(g), g[0]))
    found: list[int] = []
    for idx in big[:_MAX_PEAK_GROUPS]:
        scored: list[tuple[float, int]] = []
        for i in idx:
            numbers = [float(m) for m in _NUMBER_TOKEN.findall(lines[i][:_MAX_EXAMPLE_CHARS])]
            if numbers:
                scored.append((max(numbers), i))
        if len(scored) < 3:
            continue
        top = max(scored, key=lambda t: (t[0], -t[1]))
        low = min(scored, key=lambda t: (t[0], t[1]))
        if top[0] > low[0]:
            found.extend((top[1], low[1]))
    return found


def _collapse_warnings(
    lines: list[str],
    groups: dict[str, list[int]],
    keep: set[int],
    asked: set[int],
    problems: set[int],
    examples: int,
) -> dict[int, str]:
    """Keeps the first ``examples`` distinct warnings of each template, and any warning
    already kept for another reason (the ends of the log), with their pointer lines but
    not their source excerpts; a warning the question asks for (``asked``) keeps its
    whole block. The others, with their blocks, are left out and counted in a note after
    the last example shown. A warning whose template is unique stays. Returns the notes
    by the line they follow."""
    notes: dict[int, str] = {}
    for idx in groups.values():
        hidden = 0
        last_shown = -1
        shown: set[str] = set()
        for i in idx:
            if i in problems:  # inside an error's block, which is kept whole
                continue
            block = range(i, _block_end(lines, i))
            problems.update(block)
            if i in asked:
                shown.add(lines[i])
                keep.update(block)
                last_shown = max(last_shown, block[-1])
            # Examples are distinct lines: an exact repeat is only counted.
            elif i in keep or (lines[i] not in shown and len(shown) < examples):
                # A warning is its line and its pointers (" --> src/a.rs:3:5"); its
                # source excerpt and caret lines are left out, unlike an error's.
                shown.add(lines[i])
                kept = [j for j in block if j == i or _POINTER.match(lines[j])]
                keep.update(kept)
                last_shown = max(last_shown, kept[-1])
            else:
                hidden += 1
        if hidden and last_shown >= 0:
            s = "s" * (hidden != 1)
            notes[last_shown] = f"{TEXT_MARKER_PREFIX} {hidden:,} more warning{s} like this]"
    return notes


def _search_terms(query: str | None) -> list[str]:
    """Query words of 4+ characters, with the parts of dotted and dashed names
    (``ArgumentParser.parse_known_args`` gives ``parse_known_args`` too) and hex
    literals without their ``0x``."""
    out: dict[str, None] = {}
    for term in query_terms(query):
        parts = [term, *re.split(r"[.-]", term)] if ("." in term or "-" in term) else [term]
        for part in parts:
            if part.startswith("0x") and len(part) > 4:
                part = part[2:]
            if len(part) >= 4:
                out.setdefault(part, None)
    return list(out)


def rare_substring_hits(joined: Joined, query: str | None) -> list[int]:
    """Lines holding a query word (4+ characters) inside a longer token, when at most
    ``_RARE_HITS`` lines do: "secrets" in ``./config/secrets.prod.yaml``, which whole-token
    matching misses. A word many lines hold says nothing and adds nothing."""
    found: list[int] = []
    text = joined.text
    for term in _search_terms(query):
        hits: list[int] = []
        pos = text.find(term)
        while pos >= 0 and len(hits) <= _RARE_HITS:
            doc = joined.doc_at(pos)
            hits.append(doc)
            nxt = joined.starts[doc + 1] if doc + 1 < len(joined.starts) else len(text)
            pos = text.find(term, nxt)
        if len(hits) <= _RARE_HITS:
            found.extend(hits)
    return found


_TREE = " \t│├└─┬┼|`+"  # characters that indent a tree (pipdeptree, tree, npm ls)
_PARAGRAPH = 40  # a paragraph longer than this is not context


def _redrawn(line: str) -> bool:
    """A line redrawn by carriage returns (a progress bar): only its last state shows."""
    return line.count("\r", 0, len(line) - 1) >= 3


def _is_excerpt(line: str) -> bool:
    """A source excerpt or caret line of a compiler diagnostic."""
    if not line or (line[0] not in " \t0123456789|" and "^" not in line):
        return False
    if _EXCERPT.match(line):
        return True
    marks = line.strip(" \t|")
    return "^" in marks and not marks.strip("~^-")


def _tree_indent(line: str) -> int:
    return len(line) - len(line.lstrip(_TREE))


def _paragraph(lines: list[str], i: int, most: int) -> range | None:
    """The blank-line-delimited run of lines around ``i``, when it is under ``most``."""
    start = i
    while start > 0 and lines[start - 1].strip() and i - start < most:
        start -= 1
    end = i + 1
    while end < len(lines) and lines[end].strip() and end - start < most:
        end += 1
    if end - start >= most:
        return None
    return range(start, end)


def crlf_markers(out: list[str], text: str) -> list[str]:
    """``out`` with our marker lines ending in CR when most of ``text``'s lines end in
    CRLF, so a CRLF log stays CRLF; the output's last line ends in CR only when the
    text does. Kept input lines stay exactly as they were (a last line without CR keeps
    none), and they are never markers: those are dropped."""
    if text.count("\r\n") * 2 <= text.count("\n") + 1:
        return out
    last = len(out) - 1
    return [
        line + "\r"
        if is_text_marker(line) and not line.endswith("\r") and (i < last or text.endswith("\r"))
        else line
        for i, line in enumerate(out)
    ]


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences, for analysis only (same line count)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def query_context(lines: list[str], hits: list[int], limit: int) -> set[int]:
    """What a line the question asks for needs to be understood: the lines nested under
    it (deeper indentation, tree branches included: a package's requirements), and its
    paragraph when that is short (a directory's listing under its ``ls -R`` heading);
    for an indented paragraph (a commit message), the paragraph before it too (the
    commit's header) and a less indented one right after it (the commit's stat). At
    most ``limit`` lines in all."""
    out: set[int] = set()
    most = min(_PARAGRAPH, len(lines) // 4)  # a paragraph is a small part of the text
    for i in hits:
        if len(out) >= limit:
            break
        base = _tree_indent(lines[i])
        end = i + 1
        while end < len(lines) and end - i <= _MAX_BLOCK and lines[end].strip():
            if _tree_indent(lines[end]) <= base:
                break
            end += 1
        found = {j for j in range(i + 1, end) if not _redrawn(lines[j])}
        para = _paragraph(lines, i, most)
        if para is not None:
            found.update(para)
            depth = _indent(lines[para.start])
            before = para.start - 2  # the line above the blank that opens the paragraph
            if depth > 0 and before >= 0 and lines[before].strip():
                prev = _paragraph(lines, before, most)
                if prev is not None and len(prev) <= 12:
                    found.update(prev)
            after = para.stop + 1  # a less indented paragraph right after (a commit's stat)
            if depth > 0 and after < len(lines) and 0 < _indent(lines[after]) < depth:
                nxt = _paragraph(lines, after, most)
                if nxt is not None and len(nxt) <= 12:
                    found.update(nxt)
        out.update(sorted(found)[: max(0, limit - len(out))])
    return out


def is_warning(line: str) -> bool:
    """A problem line that only warns: a warning signal and no error signal."""
    return _WARNING.search(line) is not None and _ERRORISH.search(line) is None
