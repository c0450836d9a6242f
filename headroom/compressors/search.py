"""SearchCompressor: grep and ripgrep output (``path:line:content``).

Matches are grouped by file. Every file that stays keeps its first match and its
matches most relevant to the query (identifiers from the query always count), with
the context lines around them; a marker after each file says how many of its matches
were left out. When there are many files, the files with the most relevant matches
stay and one marker counts the rest. All lines are verbatim; the original is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..markers import TEXT_MARKER_PREFIX, is_text_marker, text_marker
from ..relevance import distinctive_rank, identifier_hits
from .base import Compressed, CompressorContext
from .log import crlf_markers, strip_ansi

# path:line:content, path:line:col:content (a match) or path-line-content (context,
# from -A/-B/-C). The path holds no blank or colon and is not a number, and line
# numbers have no leading zero, so timestamps ("2025-01-07T10:00:01", "10:15:12")
# never pass for search results.
_PATH = r"((?=[^\s:]*[A-Za-z_/.])[^\s:]+?)"
_MATCH = re.compile(_PATH + r":([1-9]\d*):(?:\d+:)?")
_CONTEXT = re.compile(_PATH + r"-([1-9]\d*)-")
# ripgrep --heading: "12:content" under a line naming the file.
_HEADING_MATCH = re.compile(r"(\d+)([:-])")
_CONTEXT_REACH = 3


@dataclass
class _File:
    path: str
    heading: int | None = None  # index of the --heading line naming the file
    matches: list[int] = field(default_factory=list)  # indices of match lines
    lines: list[tuple[int, int, bool]] = field(default_factory=list)  # (index, number, match)


def parse(lines: list[str]) -> tuple[dict[str, _File], list[int]] | None:
    """Files (in order of first appearance) and the indices of lines that belong to
    none. None when fewer than 60% of the non-blank lines are search results."""
    files: dict[str, _File] = {}
    other: list[int] = []
    heading: tuple[str, int] | None = None  # (file name, line index)
    parsed = nonblank = 0
    for i, line in enumerate(lines):
        if not line.strip():
            heading = None
            other.append(i)
            continue
        nonblank += 1
        path: str | None = None
        number = 0
        is_match = False
        m = _MATCH.match(line)
        if m:
            path, number, is_match = m.group(1), int(m.group(2)), True
        elif heading is not None and (h := _HEADING_MATCH.match(line)):
            path, number, is_match = heading[0], int(h.group(1)), h.group(2) == ":"
        else:
            c = _CONTEXT.match(line)
            # A context line before a file's first match names a file not seen yet.
            if c and (c.group(1) in files or "/" in c.group(1) or "." in c.group(1)):
                path, number = c.group(1), int(c.group(2))
        if path is None:
            if line == "--":
                parsed += 1  # grep's separator between context groups
            elif " " not in line.strip() and ("/" in line or "." in line):
                heading = (line.strip(), i)  # a --heading file name, if lines follow
            other.append(i)
            continue
        parsed += 1
        entry = files.get(path)
        if entry is None:
            entry = files[path] = _File(path)
            if heading is not None and heading[0] == path:
                entry.heading = heading[1]
                parsed += 1
        entry.lines.append((i, number, is_match))
        if is_match:
            entry.matches.append(i)
    if nonblank == 0 or parsed < 0.6 * nonblank or not any(f.matches for f in files.values()):
        return None
    headings = {f.heading for f in files.values() if f.heading is not None}
    return files, [i for i in other if i not in headings]


class SearchCompressor:
    """Compressor for grep-style search results; see the module docstring."""

    name = "search"

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None:
        lines = text.split("\n")
        # Colour codes (grep --color=always) are looked through, and kept in the output.
        plain = strip_ansi(text).split("\n")
        parsed = parse(plain)
        if parsed is None:
            return None
        files, other = parsed
        budget = ctx.budget(ctx.config.max_items)
        per_file = ctx.budget(3)

        match_lines = [i for f in files.values() for i in f.matches]
        lowered = [plain[i].lower() for i in match_lines]
        wanted = {match_lines[j] for j in identifier_hits(lowered, ctx.query)[: 2 * budget + 10]}
        ranked = [match_lines[j] for j in distinctive_rank(lowered, ctx.query, limit=budget)]
        score = {i: len(ranked) - r for r, i in enumerate(ranked)}
        for i in wanted:
            score[i] = score.get(i, 0) + 10 * len(match_lines)

        # Files with what the query asks for first, then the most matches, then order.
        order = list(files)
        by_value = sorted(
            range(len(order)),
            key=lambda n: (
                -max((score.get(i, 0) for i in files[order[n]].matches), default=0),
                -len(files[order[n]].matches),
                n,
            ),
        )
        file_budget = max(1, 2 * budget)
        kept_files = {order[n] for n in by_value[:file_budget]}
        kept_files.update(f.path for f in files.values() if wanted.intersection(f.matches))

        keep: set[int] = set()
        notes: dict[int, str] = {}
        omitted_files = omitted_in_dropped = 0
        for f in files.values():
            if f.path not in kept_files:
                omitted_files += 1
                omitted_in_dropped += len(f.matches)
                continue
            best = sorted(f.matches, key=lambda i: (-score.get(i, 0), i))
            chosen = {f.matches[0], *best[:per_file]} if f.matches else set()
            chosen.update(i for i in f.matches if i in wanted)
            if f.heading is not None:
                keep.add(f.heading)
            numbers = {n for i, n, _ in f.lines if i in chosen}
            for i, number, is_match in f.lines:
                near = any(abs(number - k) <= _CONTEXT_REACH for k in numbers)
                if i in chosen or (not is_match and near):
                    keep.add(i)
            left = len(f.matches) - len(chosen)
            if left > 0:
                last = max(i for i, _, _ in f.lines if i in keep)
                notes[last] = f"{TEXT_MARKER_PREFIX} {left:,} more matches in {f.path}]"
        # Lines that belong to no file (notes, blank separators) stay when they are few.
        if len(other) <= budget:
            keep.update(i for i in other if not is_text_marker(lines[i]))

        omitted = len(lines) - len(keep)
        if omitted <= 0:
            return None
        key = ctx.remember(text)
        out: list[str] = []
        for i in sorted(keep):
            out.append(lines[i])
            if i in notes:
                out.append(notes[i])
        while out and not out[-1].strip():
            out.pop()
        if omitted_files:
            out.append(
                f"{TEXT_MARKER_PREFIX} {omitted_files:,} more files with "
                f"{omitted_in_dropped:,} matches omitted]"
            )
        out.append(text_marker(omitted, len(lines), key))
        # Marker lines end like the input's lines (CRLF logs stay CRLF).
        out = crlf_markers(out, text)
        return Compressed("\n".join(out), key=key)
