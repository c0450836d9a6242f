"""LinesCompressor: any line-structured text that no specific compressor claims.

It is the log compressor under another name, so that ``outputs[i]`` and
``transforms_applied`` say which path a text took: the same template clustering
(lines with their numbers, ids and paths masked, grouped, one example each plus a
count), query relevance (identifiers from the query, then lexical matches), the first
and last lines, and every problem line with its block. Warnings that repeat one
template collapse to the first examples plus a count. The original is stored and a
final marker names its retrieval key. There is one implementation: ``LogCompressor``.
"""

from __future__ import annotations

from .log import LogCompressor


class LinesCompressor(LogCompressor):
    """The generic line compressor (``LogCompressor``'s rules; see the module docstring)."""

    name = "lines"
