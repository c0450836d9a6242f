"""DiffCompressor: unified diffs, ``git diff``, ``git show`` and ``git log -p``.

The text is split into commits (``commit <sha>`` lines; a plain diff is one commit
without a header), files (``diff --git``, ``Index:``, or a ``---``/``+++`` pair) and
hunks (an ``@@`` header and the lines its counts cover). The output keeps, verbatim
and in order:

- every commit header (the ``commit`` line, author, dates, the message, a ``--stat``
  summary) and any line that belongs to no file;
- every hunk of a file the query names (by path, file name or stem), and every hunk
  that holds an identifier from the query;
- the hunks that match the query best, hunks whose changed lines carry problem words
  (error, exception, panic, TODO, security, …), and then the first hunk of each
  commit, as far as a share of the hunk lines allows;
- the header lines of every file that keeps a hunk.

A kept hunk is kept whole, its ``@@`` line included, so it still applies. After each
commit that lost hunks a marker line counts them and names the files left out; a
final marker names the retrieval key of the whole original.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field

from ..markers import TEXT_MARKER_PREFIX, text_marker
from ..relevance import Joined, bm25_scores, identifier_hits, identifiers, query_terms
from .base import Compressed, CompressorContext

_COMMIT = re.compile(r"commit [0-9a-f]{7,64}(?: |$)")
_HUNK = re.compile(r"@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_FILE_START = ("diff --git ", "diff --cc ", "diff --combined ", "diff -", "Index: ")
_PATH_IN_HEADER = re.compile(r"(?:\+\+\+|---) (?:[ab]/)?(\S+)")
_GIT_PATHS = re.compile(r"diff --(?:git|cc|combined) (?:a/)?(\S+)")
# Problem words, searched in the changed lines of a hunk (lower-cased): a change that
# touches error handling, a crash, a security fix or a left-over TODO deserves a look.
_PROBLEM_STEMS = (
    "error", "exception", "fail", "panic", "fatal", "crash", "traceback", "todo",
    "fixme", "deprecat", "vulnerab", "cve-", "security", "unsafe", "leak", "deadlock",
)  # fmt: skip
_PROBLEM = re.compile(
    r"error|exception|fail|panic|fatal|crash|traceback|(?<![a-z])(?:todo|fixme)(?![a-z])"
    r"|deprecat|vulnerab|cve-\d|security|unsafe|leak|deadlock"
)
# The hunks picked for relevance, problems and the first of each commit may take at
# most this share of the hunks' text (those the query names take what they need).
_OPTIONAL_SHARE = 0.3
_MAX_FILE_NAMES = 3
# A query word in more than this share of the hunks does not tell them apart.
_COMMON_SHARE = 0.25


@dataclass
class _File:
    start: int  # index of the first header line
    path: str = ""
    hunks: list[tuple[int, int]] = field(default_factory=list)  # [start, end) per hunk
    header_end: int = -1  # index after the header lines (the first hunk's start)


@dataclass
class _Commit:
    start: int
    files: list[_File] = field(default_factory=list)
    loose: list[int] = field(default_factory=list)  # lines in no file or hunk
    end: int = 0


def _bare(line: str) -> str:
    return line[:-1] if line.endswith("\r") else line


def _hunk_end(lines: list[str], start: int) -> int:
    """The index after the hunk whose ``@@`` header is at ``start``."""
    n = len(lines)
    m = _HUNK.match(lines[start])
    j = start + 1
    if m is None:  # a combined diff (@@@ … @@@): every line with a diff prefix
        while j < n and lines[j][:1] in (" ", "+", "-", "\\") and not lines[j].startswith("diff "):
            j += 1
        return j
    old = int(m.group(1)) if m.group(1) is not None else 1
    new = int(m.group(2)) if m.group(2) is not None else 1
    if old <= 0 and new <= 0:
        return j
    # Indexing, not islice: islice would step over the j lines before the hunk again
    # for every hunk, which is quadratic on a long log.
    while j < n:
        line = lines[j]
        head = line[:1]
        if head == "+":
            new -= 1
        elif head == "-":
            old -= 1
        elif head == " " or not line or line == "\r":  # context (maybe a stripped blank)
            old -= 1
            new -= 1
        elif head != "\\":
            break
        j += 1
        if old <= 0 and new <= 0:
            break
    while j < n and lines[j].startswith("\\"):  # "\ No newline at end of file"
        j += 1
    return j


def parse(lines: list[str]) -> list[_Commit] | None:
    """The commits, files and hunks of a diff; None when no hunk or file is found."""
    commits = [_Commit(0)]
    current: _File | None = None
    n = len(lines)
    i = 0
    found = False
    while i < n:
        line = lines[i]
        if line.startswith("commit ") and _COMMIT.match(_bare(line)):
            commits[-1].end = i
            commits.append(_Commit(i))
            current = None
            commits[-1].loose.append(i)
            i += 1
            continue
        plain_pair = (
            line.startswith("--- ")
            and i + 1 < n
            and lines[i + 1].startswith("+++ ")
            and (current is None or current.hunks)
        )
        if line.startswith(_FILE_START) or plain_pair:
            current = _File(i)
            commits[-1].files.append(current)
            found = True
            m = _GIT_PATHS.match(line)
            if m:
                current.path = m.group(1)
            i += 1
            continue
        if current is not None and line.startswith("@@"):
            end = _hunk_end(lines, i)
            if current.header_end < 0:
                current.header_end = i
            current.hunks.append((i, end))
            found = True
            i = end
            continue
        if current is not None and not current.hunks:
            # A file header line (index, mode, rename, ---/+++, "Binary files … differ").
            if not current.path or line.startswith("+++ "):
                m = _PATH_IN_HEADER.match(line)
                if m and m.group(1) != "/dev/null":
                    current.path = m.group(1)
            i += 1
            continue
        commits[-1].loose.append(i)
        i += 1
    commits[-1].end = n
    for commit in commits:
        # A file without hunks (binary, renamed, mode change) ends where the next file,
        # the next loose line or the commit begins. Files and loose lines are in order.
        for n, f in enumerate(commit.files):
            if f.header_end < 0:
                ends = [commit.end]
                if n + 1 < len(commit.files):
                    ends.append(commit.files[n + 1].start)
                after = bisect_left(commit.loose, f.start)
                if after < len(commit.loose):
                    ends.append(commit.loose[after])
                f.header_end = min(ends)
    if not found:
        return None
    return [c for c in commits if c.files or c.loose]


def hunk_units(text: str) -> list[str] | None:
    """Each hunk of a diff as a self-contained piece of the original: the ``commit`` line
    it belongs to (if any), its file's header lines, and the hunk. None when ``text`` has
    no hunk. Every line is the original's."""
    lines = text.split("\n")
    commits = parse(lines)
    if commits is None:
        return None
    units: list[str] = []
    for commit in commits:
        head = [lines[commit.start]] if _COMMIT.match(_bare(lines[commit.start])) else []
        for f in commit.files:
            header = lines[f.start : f.header_end]
            units.extend("\n".join([*head, *header, *lines[s:e]]) for s, e in f.hunks)
    return units or None


def _named_files(files: list[_File], query: str | None) -> set[int]:
    """Indices of the files the query names by path, file name or stem (a stem counts
    when it is at least 4 characters and names at most half the files)."""
    if not query:
        return set()
    lowered = query.lower()
    terms = set(query_terms(query))
    by_path: set[int] = set()
    by_stem: set[int] = set()
    for n, f in enumerate(files):
        path = f.path.lower()
        if not path:
            continue
        name = path.rsplit("/", 1)[-1]
        stem = name.split(".", 1)[0]
        if (len(path) >= 4 and path in lowered) or (len(name) >= 4 and name in terms):
            by_path.add(n)
        elif len(stem) >= 4 and stem in terms:
            by_stem.add(n)
    if len(by_stem) > max(1, len(files) // 2):
        by_stem = set()
    return by_path | by_stem


def _relevant(
    whole: list[str], docs: list[str], query: str | None, limit: int, cap: int
) -> tuple[list[int], list[int]]:
    """(hunks whose text holds an identifier from the query, the hunks whose changes
    match the query best). Only hunks that contain a query word at all are scored; a
    word found in more than a quarter of the hunks says nothing about which one matters
    and is not counted."""
    ids = identifiers(query)
    terms = query_terms(query)
    hits: list[int] = []
    if ids:
        found = sorted(Joined(whole).docs_containing(ids))
        hits = [found[j] for j in identifier_hits([whole[i] for i in found], query)][:cap]
    if not terms:
        return hits, []
    joined = Joined(docs)
    holders = {t: joined.docs_containing([t]) for t in terms}
    common = max(1.0, _COMMON_SHARE * len(docs))
    rare = [t for t in terms if 0 < len(holders[t]) <= common]
    if not rare:
        return hits, []
    found = sorted(set().union(*(holders[t] for t in rare)))
    scores = bm25_scores([docs[i] for i in found], rare)
    order = sorted((j for j, v in enumerate(scores) if v > 0), key=lambda j: (-scores[j], j))
    return hits, [found[j] for j in order[:limit]]


class DiffCompressor:
    """Compressor for diffs and ``git log -p``; see the module docstring."""

    name = "diff"

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None:
        lines = text.split("\n")
        commits = parse(lines)
        if commits is None:
            return None
        budget = ctx.budget(ctx.config.max_items)
        files = [f for c in commits for f in c.files]
        # Every hunk, with the file it belongs to; hunk texts for matching.
        hunks: list[tuple[int, int, int]] = []  # (start, end, file index)
        for n, f in enumerate(files):
            hunks.extend((s, e, n) for s, e in f.hunks)
        if not hunks:
            return None
        # A hunk's whole text (with its file's path) for identifiers; its header and
        # changed lines for problem words and lexical relevance.
        paths = [files[fi].path.lower() + " " for _, _, fi in hunks]
        whole = [
            p + "\t".join(lines[s:e]).lower() for p, (s, e, _) in zip(paths, hunks, strict=True)
        ]
        changed = [
            " ".join([lines[s], *(line for line in lines[s + 1 : e] if line[:1] in "+-")]).lower()
            for s, e, _ in hunks
        ]
        # Words inside snake_case names count as words (test_consecutive_errors_collapse
        # answers "are consecutive errors collapsed?"); identifiers are matched whole above.
        docs = [(p + c).replace("_", " ") for p, c in zip(paths, changed, strict=True)]
        # Sizes in characters: one line of a minified file can outweigh a whole hunk.
        sizes = [sum(len(line) + 1 for line in lines[s:e]) for s, e, _ in hunks]
        room = _OPTIONAL_SHARE * sum(sizes)
        keep: set[int] = set()  # hunk indices
        used = 0

        def take(candidates: list[int], optional: bool, cap: int | None = None) -> None:
            nonlocal used
            taken = 0
            for h in candidates:
                if h in keep:
                    continue
                if cap is not None and taken >= cap:
                    return
                size = sizes[h]
                if optional and used + size > room:
                    continue
                keep.add(h)
                taken += 1
                if optional:
                    used += size

        must_cap = 2 * budget + 10
        named = _named_files(files, ctx.query)
        take([h for h, (_, _, fi) in enumerate(hunks) if fi in named], False, must_cap)
        hits, best = _relevant(whole, docs, ctx.query, budget, must_cap)
        take(hits, False)
        take(best, True)
        joined = Joined(changed)
        problems = sorted(
            h for h in joined.docs_containing(_PROBLEM_STEMS) if _PROBLEM.search(changed[h])
        )
        take(problems, True, budget)
        firsts: list[int] = []
        h = 0
        for commit in commits:
            count = sum(len(f.hunks) for f in commit.files)
            if count:
                firsts.append(h)
            h += count
        take(firsts, True)
        if not keep:  # something to read beats markers only
            keep.add(min(range(len(hunks)), key=lambda k: (sizes[k] > room, k)))
        if len(keep) == len(hunks):
            return None

        out_keep: set[int] = set()
        kept_files: set[int] = set()
        for h in keep:
            s, e, fi = hunks[h]
            out_keep.update(range(s, e))
            kept_files.add(fi)
        for fi in kept_files:
            f = files[fi]
            out_keep.update(range(f.start, f.header_end))

        for commit in commits:
            out_keep.update(commit.loose)
        shown = sorted(out_keep)
        key = ctx.remember(text)
        eol = "\r" if text.count("\r\n") * 2 > len(lines) else ""
        out: list[str] = []
        first_file = 0
        h = 0
        for commit in commits:
            own = range(first_file, first_file + len(commit.files))
            first_file += len(commit.files)
            count = sum(len(files[fi].hunks) for fi in own)
            dropped = sum(1 for k in range(h, h + count) if k not in keep)
            h += count
            body = shown[bisect_left(shown, commit.start) : bisect_left(shown, commit.end)]
            if dropped:
                left_out = [files[fi].path or "?" for fi in own if fi not in kept_files]
                note = f"{TEXT_MARKER_PREFIX} {dropped:,} of {count:,} hunks omitted from this "
                note += "commit" if lines[commit.start].startswith("commit ") else "diff"
                if left_out:
                    names = ", ".join(left_out[:_MAX_FILE_NAMES])
                    more = len(left_out) - _MAX_FILE_NAMES
                    note += f"; files left out: {names}" + (
                        f" and {more:,} more" if more > 0 else ""
                    )
                note += "]" + eol
                # The note goes before the blank lines that end the commit.
                cut = len(body)
                loose = set(commit.loose)
                while (
                    cut > 0 and body[cut - 1] in loose and not _bare(lines[body[cut - 1]]).strip()
                ):
                    cut -= 1
                out.extend(lines[i] for i in body[:cut])
                out.append(note)
                out.extend(lines[i] for i in body[cut:])
            else:
                out.extend(lines[i] for i in body)
        while out and not _bare(out[-1]).strip():
            out.pop()
        out.append(text_marker(len(lines) - len(shown), len(lines), key) + eol)
        return Compressed("\n".join(out), key=key)
