"""CodeAwareCompressor: source code with the bodies of uninteresting functions elided.

Supported languages: Python, JavaScript, TypeScript, Go, Rust and Java, parsed with
tree-sitter (the ``code`` extra, imported only when code is actually compressed).

What stays, byte for byte, line for line: imports, signatures, class / struct /
interface / trait / enum / type declarations, docstrings and the comments above
declarations, module-level constants, decorators, and the whole of every function
the query mentions. What goes: the inside of other function and method bodies of a
few lines or more. Each elided run of whole lines becomes one placeholder line at
the body's indentation, written as a comment in the language's own syntax so the
result still parses::

    def load(path: str) -> Config:
        \"\"\"Read and validate a config file.\"\"\"
        # [headroom: 14 lines omitted; call headroom_retrieve with key="hr_…" for the full source]

    def _reset(self) -> None:
        ...  # [headroom: 6 lines omitted; key="hr_…"]

    func (s *Server) Start() error {
        // [headroom: 21 lines omitted; key="hr_…"]
    }

The first placeholder spells out the call; the later ones only name the key. In
brace languages the line that opens the body (ending in ``{``) and the line that
closes it (starting with ``}``) stay; a body whose braces share a line with code is
left whole. A function the query mentions keeps its whole body (see ``_mentioned``),
and ``ctx.bias`` raises or lowers the smallest body worth eliding (3 lines at 1.0).

Broken input (any parse error) is left alone, and the output is parsed again: if it
does not parse cleanly it is thrown away. The original is stored before the
placeholders that name its key are returned.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterator
from functools import cache
from itertools import accumulate, islice
from typing import Any, NamedTuple

from .._extras import require
from ..errors import ConfigError, MissingExtraError
from ..markers import TEXT_MARKER_PREFIX
from ..relevance import identifiers, query_terms
from ..store.base import key_for
from .base import Compressed, CompressorContext

LANGUAGES = ("python", "javascript", "typescript", "go", "rust", "java")

_EXTRA = "code"
_GRAMMAR_MODULES = {
    "python": "tree_sitter_python",
    "javascript": "tree_sitter_javascript",
    "typescript": "tree_sitter_typescript",
    "go": "tree_sitter_go",
    "rust": "tree_sitter_rust",
    "java": "tree_sitter_java",
}

# tree-sitter objects come from an optional, untyped-for-us import.
Node = Any

# --------------------------------------------------------------------------------------
# Language detection: a line scanner over the first few KB, no parsing.
# --------------------------------------------------------------------------------------

_HEAD_CHARS = 4096
_MAX_HEAD_LINES = 160
_MAX_LINE_CHARS = 500  # the start of a line is what tells; the rest is not looked at
_RULE_CAP = 3  # one rule scores at most this many lines
_MIN_SCORE = 6
_MIN_RULES = 2

# Leading comment lines, a shebang, a block comment and a Python module docstring:
# skipped so that a long licence header does not fill the window.
_PREAMBLE = (
    r"(?:[ \t]*(?:(?:#(?![a-z]|!?\[)|//)[^\n]*)?\n"
    r"|[ \t]*/\*.*?\*/[ \t]*\n"
    r'|[ \t]*[rRbBuU]?(?:""".*?"""|\'\'\'.*?\'\'\')[ \t]*\n)*'
)

# Any one of these lines means the text is output about code, not code. Every pattern
# here and below runs in time linear in the line: no two neighbouring repeats can match
# the same characters, so a hostile line cannot make the regex engine backtrack for long.
_REJECT = (
    r"diff --git |index [0-9a-f]{7,}\.\.[0-9a-f]{7,}|--- (?:a/|/dev/null)|\+\+\+ (?:b/|/dev/null)"
    r"|@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@"
    r"|Traceback \(most recent call last\)|\s+File \"[^\"]*\", line \d+"
    r"|\s+at [\w$.<>/]+\([\w$.]+:\d+\)|\s+at [^()]+ \([^()]+:\d+:\d+\)|\s+at [^\s(]+:\d+:\d+$"
    r"|goroutine \d+ \[|thread '[^']*' panicked at|panic: |Exception in thread \"|Caused by: \w"
    r"|npm (?:ERR!|WARN|notice|error)|\s*Compiling \S+ v\d|\s+Finished \S"
    r"|(?:warning|error)\[E\d{4}\]: |\s*--> [^\s:]+:\d+:\d+|[\w./-]+\(\d+,\d+\): error "
    r"|=+ [^=]*(?:test session starts|passed|failed|error|short test summary|FAILURES)"
    r"|(?:PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) [^\s:]+::|[\w./-]+\.py::\S+ [A-Z]{4,}"
    r"|test [\w:]+ \.\.\. (?:ok|FAILED|ignored)|test result: |(?:PASS|FAIL) [^\s.]+\.\w"
    r"|Tests?: +\d+ |_{3,} [^_]|E {3,}\S|> {3,}\S|\s*```"
    r"|[\w/\\-]*(?:\.[\w/\\-]*)*\.\w{1,8}:\d+(?::\d+)?[:-]"
    r"|>>>(?: |$)|#(?:include *[<\"]|define +\w|ifn?def +\w|pragma )"
    r"|\.\. [\w:|-]+::|\.\. _[\w -]+:"
)
# What an indented line that matches _REJECT starts with.
_INDENTED_REJECT = ('File "', "at ", "Compiling ", "Finished ", "--> ", "```")
# Two or more of these lines: a log, a numbered listing or list, a terminal transcript,
# headings underlined in Markdown or reStructuredText, YAML keys.
_REJECT_WEAK = (
    r"\[?\d{4}-\d\d-\d\d[T ]\d\d:\d\d|\[?\d\d:\d\d:\d\d\b"
    r"|\[?(?:INFO|DEBUG|WARN|WARNING|ERROR|TRACE|FATAL|CRITICAL)\]?(?::| (?![ =]))"
    r"|(?:warning|error): (?![\w.\[\], |]*(?:=|$))"
    r"|\d+[:-]|\s*\d+\t|\s*\d+\. [A-Za-z]|\$ \S"
    r"|[=~^-]{4,}[ \t]*$|(?!(?:else|try|finally)\b)[\w-]+:[ \t]*$|- [\w-]+: "
)

# (first words, language, weight, pattern matched from the first word on). The weights
# favour constructs only one language has; "ts" scores TypeScript-only syntax on top of
# the JavaScript score.
_RuleSpec = tuple[tuple[str, ...], str, int, str]
_RULES: tuple[_RuleSpec, ...] = (
    # Python
    (("import",), "python", 2,
     r"import[ \t]+[\w.]+(?:[ \t]*,[ \t]*[\w.]+|[ \t]+as[ \t]+\w+)*[ \t]*(?:#.*)?$"),
    (("from",), "python", 3, r"from[ \t]+[\w.]+[ \t]+import[ \t]+[(*\w]"),
    (("def",), "python", 3, r"def[ \t]+\w+[ \t]*\([^#]*[:(,\[][ \t]*(?:#.*)?$"),
    (("async",), "python", 3, r"async[ \t]+def[ \t]+\w+[ \t]*\("),
    (("class",), "python", 3, r"class[ \t]+\w+[ \t]*(?:\([^)]*\)[ \t]*)?:[ \t]*(?:#.*)?$"),
    (("elif",), "python", 2, r"elif[ \t][^#]*:[ \t]*(?:#.*)?$"),
    (("except",), "python", 2, r"except\b[^#]*:[ \t]*(?:#.*)?$"),
    (("if", "while", "with", "for", "else", "try", "finally"), "python", 1,
     r"(?:if|while|with|for|else|try|finally)\b[^{;#]*:[ \t]*(?:#.*)?$"),
    (("if",), "python", 3, r"if[ \t]+__name__[ \t]*==[ \t]*['\"]__main__['\"][ \t]*:"),
    (("self",), "python", 1, r"self\.\w+(?:\.\w+)*[ \t]*(?::[^=]+)?=[^=]"),
    (("@",), "python", 1, r"@[\w.]+(?:\(.*\))?[ \t]*$"),
    # Go
    (("package",), "go", 3, r"package[ \t]+\w+[ \t]*$"),
    (("import",), "go", 2, r"import[ \t]+(?:\([ \t]*$|(?:[\w.]+[ \t]+)?\"[^\"]+\"[ \t]*$)"),
    (("func",), "go", 3, r"func[ \t]+(?:\([^)]*\)[ \t]*)?\w+[ \t]*(?:\[[^\]]*\])?\((?!.*->)"),
    (("type",), "go", 3, r"type[ \t]+\w+(?:\[[^\]]*\])?[ \t]+(?:struct|interface)[ \t]*\{"),
    (("var", "const"), "go", 2,
     r"(?:var|const)[ \t]+(?:\([ \t]*$|\w+[ \t]+[\w.*\[\]]+[ \t]*(?:=|$))"),
    (("if",), "go", 2, r"if[ \t](?:[^;]*;)?[ \t]*err[ \t]*!=[ \t]*nil[ \t]*\{"),
    # Rust
    (("use",), "rust", 3,
     r"use[ \t]+(?:crate|std|core|alloc|self|super|[a-z_]\w*)::[\w:{}*, ]+;[ \t]*$"),
    (("pub",), "rust", 3,
     r"pub(?:\([\w: ]+\))?[ \t]+(?:(?:async|const|unsafe|extern[ \t]+\"[^\"]*\")[ \t]+)*"
     r"fn[ \t]+\w+"),
    (("pub",), "rust", 2,
     r"pub(?:\([\w: ]+\))?[ \t]+(?:struct|enum|trait|mod|type|use|const|static)[ \t]+\w"),
    (("fn", "async", "const", "unsafe"), "rust", 3,
     r"(?:(?:async|const|unsafe)[ \t]+)*fn[ \t]+\w+[ \t]*(?:<[^>]*>[ \t]*)?\("),
    (("impl",), "rust", 3, r"impl\b.*\{[ \t]*$"),
    (("trait", "mod"), "rust", 2, r"(?:trait|mod)[ \t]+\w+\b.*[{;][ \t]*$"),
    (("struct", "enum"), "rust", 1, r"(?:struct|enum)[ \t]+\w+\b.*[{;][ \t]*$"),
    (("#",), "rust", 2, r"#!?\[(?:derive|cfg|test|allow|deny|warn|inline|must_use|tokio|serde)\b"),
    (("let",), "rust", 2, r"let[ \t]+mut[ \t]"),
    (("match",), "rust", 1, r"match[ \t].*\{[ \t]*$"),
    # Java
    (("package",), "java", 3, r"package[ \t]+[\w.]+[ \t]*;[ \t]*$"),
    (("import",), "java", 2, r"import[ \t]+(?:static[ \t]+)?[\w.]+(?:\.\*)?[ \t]*;[ \t]*$"),
    (("public", "protected", "private", "final", "abstract", "static", "sealed"), "java", 3,
     r"(?:(?:abstract|static|strictfp)[ \t]+)*(?:public|protected|private|final|sealed)[ \t]+"
     r"(?:(?:abstract|static|final|strictfp|sealed|non-sealed)[ \t]+)*"
     r"(?:class|interface|enum|record|@interface)[ \t]+\w+"),
    (("public", "protected", "private", "static", "final", "abstract", "synchronized"), "java", 3,
     r"(?:(?:static|final|abstract|synchronized|native|default)[ \t]+)*"
     r"(?:public|protected|private)[ \t]+"
     r"(?:(?:static|final|abstract|synchronized|native|default)[ \t]+)*(?:<[^>]+>[ \t]+)?"
     r"(?!(?:static|final|abstract|async|readonly|get|set)\b)[\w.]+(?:<[\w<>?, .]*>)?(?:\[\])*"
     r"[ \t]+\w+[ \t]*\((?:[^):]*\)[ \t]*(?:throws[ \t][\w., ]*)?[{;]?|[^):]*)$"),
    (("public", "protected", "private", "static", "final"), "java", 2,
     r"(?!.*\breadonly\b)(?:(?:static|final|transient|volatile)[ \t]+)*"
     r"(?:public|protected|private)[ \t]+(?:(?:static|final|transient|volatile)[ \t]+)*"
     r"(?!(?:static|final|readonly)\b)[\w.]+(?:<[\w<>?, .]*>)?(?:\[\])*[ \t]+\w+[ \t]*"
     r"(?:=.*)?;[ \t]*$"),
    (("@",), "java", 2,
     r"@(?:Override|Test|Autowired|Deprecated|SuppressWarnings|FunctionalInterface|Nullable"
     r"|NonNull|Inject|Bean|Component|Service|Entity)\b"),
    (("System",), "java", 2, r"System\.(?:out|err)\.print"),
    # JavaScript (TypeScript scores these too)
    (("import",), "javascript", 2,
     r"import[ \t]+(?:[\w$*{][\w$*{}, \t]*[ \t]from[ \t]+)?['\"][^'\"]+['\"][ \t]*(?:;[ \t]*)?$"),
    (("import",), "javascript", 1, r"import[ \t]+\{[ \t]*$"),
    (("const", "let", "var"), "javascript", 3,
     r"(?:const|let|var)[ \t]+[\w${][\w${}, \t]*=[ \t]*require\("),
    (("const", "let", "var"), "javascript", 3,
     r"(?:const|let|var)[ \t]+[\w$]+[ \t]*=[ \t]*(?:async[ \t]+)?"
     r"(?:function\b|\([^)]*\)[ \t]*=>|[\w$]+[ \t]*=>)"),
    (("export",), "javascript", 2,
     r"export[ \t]+(?:default[ \t]+)?(?:async[ \t]+)?(?:function|class|const|let|var|\{|\*)"),
    (("function",), "javascript", 3, r"function[ \t]*(?:\*[ \t]*)?[\w$]+[ \t]*[(<]"),
    (("async",), "javascript", 3, r"async[ \t]+function\b"),
    (("module", "exports"), "javascript", 3, r"(?:module\.)?exports(?:\.[\w$]+)?[ \t]*=[^=]"),
    (("class",), "javascript", 1, r"class[ \t]+[\w$]+(?:<[^>]*>)?(?:[ \t][^{]*)?\{"),
    (("console",), "javascript", 1, r"console\.(?:log|error|warn|info|debug)\("),
    # TypeScript only
    (("import",), "ts", 3, r"import[ \t]+(?:type[ \t]|[\w$]+[ \t]*=[ \t]*require\()"),
    (("export",), "ts", 3,
     r"export[ \t]+(?:default[ \t]+)?(?:declare[ \t]+)?"
     r"(?:interface|type|enum|namespace|abstract[ \t]+class)\b"),
    (("interface",), "ts", 3, r"interface[ \t]+[\w$]+(?:<[^>]*>)?(?:[ \t][^{]*)?\{"),
    (("type",), "ts", 3, r"type[ \t]+[\w$]+(?:<[^>]*>)?[ \t]*="),
    (("declare",), "ts", 3,
     r"declare[ \t]+(?:const|let|var|function|module|global|namespace|class)\b"),
    (("private", "public", "protected", "readonly"), "ts", 3,
     r"(?:(?:private|public|protected|readonly|static)[ \t]+)+[\w$]+[?!]?:"),
    # A generic function, a typed parameter or a return type.
    (("function", "export", "async"), "ts", 3,
     r"(?:export[ \t]+)?(?:default[ \t]+)?(?:async[ \t]+)?function[ \t]*(?:\*[ \t]*)?"
     r"(?:[\w$]+[ \t]*)?(?:<|\([^){}:]*[\w$]\??[ \t]*:[ \t]*[\w$\[{(\"']|\([^()]*\)[ \t]*:)"),
)  # fmt: skip

# Counted anywhere in the head (each pattern starts with a literal, so a scan is cheap).
_ANYWHERE: tuple[tuple[str, int, str], ...] = (
    ("rust", 2, r"\([ \t]*&(?:mut[ \t]+)?self\b"),
    ("rust", 2, r"(?<=[a-z_])![(\[]"),
    ("rust", 1, r"\.unwrap\(\)"),
    ("go", 2, r"err[ \t]*!=[ \t]*nil\b"),
    ("go", 1, r" := "),
    ("go", 1, r"fmt\.(?:Print|Sprint|Fprint|Errorf)"),
    ("javascript", 1, r"=>[ \t]*\{[ \t]*$"),
    ("ts", 2, r"\):[ \t]*[\w$<>\[\]|.,][\w$<>\[\]|., \t]*(?:\{|=>)[ \t]*$"),
    ("ts", 2, r":[ \t]*(?:string|number|boolean|any|unknown|void|never|bigint)\b(?![ \t]*[:(])"),
)
_LEAD = re.compile(r"[ \t]*([A-Za-z_$][\w$]*|@|#)")
_LANG_INDEX = {"python": 0, "go": 1, "rust": 2, "java": 3, "javascript": 4, "ts": 5}
_PROSE_CODE_CHARS = re.compile(r"[{};=\[\]<>]")
_COMMENT_STARTS = frozenset("#/*-")


class _Detector(NamedTuple):
    preamble: re.Pattern[str]
    reject: re.Pattern[str]
    reject_weak: re.Pattern[str]
    by_word: dict[str, tuple[tuple[int, int, int, re.Pattern[str]], ...]]
    anywhere: tuple[tuple[int, int, int, re.Pattern[str]], ...]


@cache
def _detector() -> _Detector:
    """The compiled rules, built on first use so that importing stays cheap."""
    by_word: dict[str, list[tuple[int, int, int, re.Pattern[str]]]] = {}
    n_rules = 0
    for words, lang, weight, pattern in _RULES:
        compiled = re.compile(pattern)
        for word in words:
            by_word.setdefault(word, []).append((n_rules, _LANG_INDEX[lang], weight, compiled))
        n_rules += 1
    anywhere = []
    for lang, weight, pattern in _ANYWHERE:
        anywhere.append((n_rules, _LANG_INDEX[lang], weight, re.compile(pattern, re.MULTILINE)))
        n_rules += 1
    return _Detector(
        preamble=re.compile(_PREAMBLE, re.DOTALL),
        reject=re.compile(f"(?:{_REJECT})"),
        reject_weak=re.compile(f"(?:{_REJECT_WEAK})"),
        by_word={word: tuple(rules) for word, rules in by_word.items()},
        anywhere=tuple(anywhere),
    )


def _head(text: str, preamble: re.Pattern[str]) -> str:
    text = text.removeprefix("\ufeff")
    start = preamble.match(text, 0, _HEAD_CHARS * 4)
    begin = start.end() if start else 0
    head = text[begin : begin + _HEAD_CHARS]
    if len(text) > begin + _HEAD_CHARS:
        cut = head.rfind("\n")
        if cut > 0:
            head = head[:cut]
    return head


def _is_prose(line: str) -> bool:
    """A line of running text: six or more words, mostly plain ones, and no code punctuation."""
    words = line.split()
    if len(words) < 6 or words[0][:1] in _COMMENT_STARTS:
        return False
    if _PROSE_CODE_CHARS.search(line):
        return False
    plain = sum(1 for w in words if w.strip("().,;:!?'\"`").isalpha())
    return plain * 10 >= len(words) * 7


def detect_language(text: str) -> str | None:
    """The language of ``text`` when it plainly is source code in one of ``LANGUAGES``.

    Looks at the first few KB only. Conservative: JSON, logs, build and test output,
    grep results, diffs, stack traces and prose give ``None``, and so does code whose
    language is unclear.
    """
    det = _detector()
    head = _head(text, det.preamble)
    first = head.lstrip()[:1]
    if not first or first in "{[<":
        return None
    scores = [0] * len(_LANG_INDEX)
    rule_hits: dict[int, int] = {}
    rules_per_lang: list[set[int]] = [set() for _ in _LANG_INDEX]
    nonblank = prose = weak = 0

    def score(rule: int, lang: int, weight: int) -> None:
        hits = rule_hits.get(rule, 0)
        if hits < _RULE_CAP:
            rule_hits[rule] = hits + 1
            scores[lang] += weight
            rules_per_lang[lang].add(rule)

    in_docstring = False
    for full_line in head.split("\n")[:_MAX_HEAD_LINES]:
        line = full_line[:_MAX_LINE_CHARS]
        if not line.strip():
            continue
        # Lines inside Python triple-quoted strings are neither code nor evidence against
        # it (a doctest may show a traceback), so they are skipped.
        quotes = line.count('"""') + line.count("'''") if "''" in line or '""' in line else 0
        if in_docstring or quotes % 2:
            in_docstring = in_docstring != (quotes % 2 == 1)
            continue
        nonblank += 1
        # Indented lines can only match a few rejections; skip the full check for them.
        indented = line[0] in " \t"
        stripped = line.lstrip() if indented else line
        if (not indented or stripped.startswith(_INDENTED_REJECT)) and det.reject.match(line):
            return None
        if (not indented or stripped[0].isdigit()) and det.reject_weak.match(line):
            weak += 1
            if weak >= 2:
                return None
        matched = False
        lead = _LEAD.match(line)
        if lead is not None:
            rules = det.by_word.get(lead.group(1))
            if rules:
                rest = line[lead.start(1) :]
                for rule, lang, weight, pattern in rules:
                    if pattern.match(rest):
                        score(rule, lang, weight)
                        matched = True
        if not matched and _is_prose(line):
            prose += 1

    if nonblank == 0 or prose * 10 > nonblank * 4:
        return None
    for rule, lang, weight, pattern in det.anywhere:
        for _ in islice(pattern.finditer(head), _RULE_CAP):
            score(rule, lang, weight)
    ts_only = scores[_LANG_INDEX["ts"]]
    js = scores[_LANG_INDEX["javascript"]]
    candidates = {
        "python": scores[0],
        "go": scores[1],
        "rust": scores[2],
        "java": scores[3],
    }
    js_rules = rules_per_lang[_LANG_INDEX["javascript"]] | rules_per_lang[_LANG_INDEX["ts"]]
    if ts_only >= 3:  # at least one construct that only TypeScript has
        candidates["typescript"] = js + ts_only
    else:
        candidates["javascript"] = js
    ranked = sorted(candidates.items(), key=lambda kv: (-kv[1], kv[0]))
    best, best_score = ranked[0]
    second = ranked[1][1]
    if best in ("javascript", "typescript"):
        distinct = len(js_rules)
    else:
        distinct = len(rules_per_lang[_LANG_INDEX[best]])
    if best_score < _MIN_SCORE or distinct < _MIN_RULES or best_score < 2 * second:
        return None
    return best


# --------------------------------------------------------------------------------------
# Grammars
# --------------------------------------------------------------------------------------

_languages: dict[str, Any] = {}
_languages_lock = threading.Lock()


# The grammars to try for each language, in order, and the language each one means.
# TypeScript may be TSX; "JavaScript" that only the TypeScript grammar accepts is
# TypeScript whose first few KB happened to carry no type syntax.
_VARIANTS: dict[str, tuple[tuple[str, str], ...]] = {
    "python": (("python", "python"),),
    "javascript": (("javascript", "javascript"), ("typescript", "typescript")),
    "typescript": (("typescript", "typescript"), ("tsx", "typescript")),
    "go": (("go", "go"),),
    "rust": (("rust", "rust"),),
    "java": (("java", "java"),),
}


def _language_object(ts: Any, variant: str) -> Any:
    """The cached tree-sitter Language of a grammar variant."""
    with _languages_lock:
        lang = _languages.get(variant)
        if lang is not None:
            return lang
    family = "typescript" if variant == "tsx" else variant
    grammar = require(_GRAMMAR_MODULES[family], _EXTRA)
    if variant == "typescript":
        raw = grammar.language_typescript()
    elif variant == "tsx":
        raw = grammar.language_tsx()
    else:
        raw = grammar.language()
    lang = ts.Language(raw)
    with _languages_lock:
        return _languages.setdefault(variant, lang)


def _grammars(language: str) -> Iterator[tuple[str, Any, Any]]:
    """(language, tree_sitter module, Language) to try, in order, for ``language``.

    Imports go through ``require`` on every call (a dictionary lookup once imported), so
    a missing extra is always reported; a missing fallback grammar just ends the list.
    """
    ts = require("tree_sitter", _EXTRA)
    for i, (variant, meaning) in enumerate(_VARIANTS[language]):
        if i == 0:
            require(_GRAMMAR_MODULES[language], _EXTRA)
            yield meaning, ts, _language_object(ts, variant)
            continue
        try:
            lang = _language_object(ts, variant)
        except MissingExtraError:
            return
        yield meaning, ts, lang


def _parse(ts: Any, lang: Any, source: bytes) -> Any:
    # A Parser costs well under a microsecond to make; one per call is thread-safe.
    return ts.Parser(lang).parse(source)


# --------------------------------------------------------------------------------------
# Finding function bodies
# --------------------------------------------------------------------------------------

# Nodes whose children may hold functions worth visiting (class bodies, namespaces,
# exports, top-level declarations). Function bodies themselves are never entered.
_CONTAINERS: dict[str, frozenset[str]] = {
    "python": frozenset({
        "module", "block", "class_definition", "decorated_definition", "if_statement",
        "elif_clause", "else_clause", "try_statement", "except_clause", "finally_clause",
        "with_statement",
    }),
    "javascript": frozenset({
        "program", "export_statement", "class_declaration", "class_body",
        "lexical_declaration", "variable_declaration", "expression_statement",
    }),
    "typescript": frozenset({
        "program", "export_statement", "class_declaration", "abstract_class_declaration",
        "class_body", "lexical_declaration", "variable_declaration", "expression_statement",
        "internal_module", "module", "statement_block",
    }),
    "go": frozenset({"source_file"}),
    "rust": frozenset({"source_file", "impl_item", "trait_item", "mod_item", "declaration_list"}),
    "java": frozenset({
        "program", "class_declaration", "class_body", "interface_declaration",
        "interface_body", "enum_declaration", "enum_body", "enum_body_declarations",
        "record_declaration",
    }),
}  # fmt: skip
_FUNCTIONS: dict[str, frozenset[str]] = {
    "python": frozenset({"function_definition"}),
    "javascript": frozenset({
        "function_declaration", "generator_function_declaration", "method_definition",
    }),
    "typescript": frozenset({
        "function_declaration", "generator_function_declaration", "method_definition",
    }),
    "go": frozenset({"function_declaration", "method_declaration"}),
    "rust": frozenset({"function_item"}),
    "java": frozenset({
        "method_declaration", "constructor_declaration", "compact_constructor_declaration",
    }),
}  # fmt: skip
# JS/TS nodes that hold a function value: (value field, name field).
_HOLDERS: dict[str, tuple[str, str]] = {
    "variable_declarator": ("value", "name"),
    "field_definition": ("value", "property"),
    "public_field_definition": ("value", "name"),
    "assignment_expression": ("right", "left"),
}
_FUNCTION_VALUES = frozenset({
    "arrow_function", "function_expression", "function", "generator_function",
})  # fmt: skip
_BLOCKS = frozenset({"statement_block", "block", "constructor_body"})


class _Function(NamedTuple):
    name: str
    node: Node  # the whole declaration, signature included
    body: Node


def _functions(root: Node, language: str) -> list[_Function]:
    """Every function of interest outside other function bodies, in source order."""
    containers = _CONTAINERS[language]
    functions = _FUNCTIONS[language]
    brace = language in ("javascript", "typescript")
    out: list[_Function] = []
    stack = [root]
    while stack:
        node = stack.pop()
        for child in node.named_children:
            kind = child.type
            if kind in functions:
                body = child.child_by_field_name("body")
                if body is not None:
                    out.append(_Function(_text(child.child_by_field_name("name")), child, body))
            elif brace and kind in _HOLDERS:
                value_field, name_field = _HOLDERS[kind]
                value = child.child_by_field_name(value_field)
                if value is not None and value.type in _FUNCTION_VALUES:
                    body = value.child_by_field_name("body")
                    if body is not None and body.type == "statement_block":
                        name = _last_name(_text(child.child_by_field_name(name_field)))
                        out.append(_Function(name, child, body))
            elif kind in containers:
                stack.append(child)
    out.sort(key=lambda fn: fn.node.start_byte)
    return out


def _text(node: Node | None) -> str:
    if node is None:
        return ""
    raw: bytes = node.text
    return raw.decode("utf-8", "replace")


def _last_name(expr: str) -> str:
    """``module.exports.load`` -> ``load``; a plain name stays as it is."""
    return re.split(r"[^\w$]+", expr.strip())[-1] if expr else ""


# --------------------------------------------------------------------------------------
# What the query mentions
# --------------------------------------------------------------------------------------

_QUERY_TOKEN = re.compile(r"[A-Za-z_$][\w$]*")
_CAMEL = re.compile(r"[a-z0-9][A-Z]")
_PLAIN_WORD = re.compile(r"[a-z][a-z0-9]*")
# A plain word names a function only when at most this many functions have that name.
_PLAIN_NAME_LIMIT = 2


def _is_identifier_like(token: str) -> bool:
    has_alpha = any(c.isalpha() for c in token)
    if not has_alpha or len(token) < 2:
        return False
    return "_" in token or any(c.isdigit() for c in token) or bool(_CAMEL.search(token))


def _mentioned(functions: list[_Function], query: str | None) -> set[int]:
    """Indices of the functions the query asks about.

    A function counts when the query names it with an identifier-like token
    (``load_config``, ``parseArgs``), when such a token or one of
    :func:`headroom.relevance.identifiers` occurs as a whole token in the function, or
    when a plain query word equals its name and at most two functions bear that name
    (so "run" or "get" cannot keep every method called that).
    """
    if not query or not functions:
        return set()
    strong = {t.lower() for t in _QUERY_TOKEN.findall(query) if _is_identifier_like(t)}
    ids = strong | set(identifiers(query))
    plain = {w for w in query_terms(query) if _PLAIN_WORD.fullmatch(w) and len(w) >= 3}
    plain -= strong
    keep: set[int] = set()
    by_name: dict[str, list[int]] = {}
    for i, fn in enumerate(functions):
        lowered = fn.name.lower()
        if lowered in strong:
            keep.add(i)
        # "refill" names _refill, "init" names __init__.
        by_name.setdefault(lowered.strip("_"), []).append(i)
    for word in plain:
        owners = by_name.get(word, [])
        if 0 < len(owners) <= _PLAIN_NAME_LIMIT:
            keep.update(owners)
    if ids:
        alternatives = "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
        pattern = re.compile(rf"(?<![\w$])(?:{alternatives})(?![\w$])")
        for i, fn in enumerate(functions):
            if i not in keep and pattern.search(_text(fn.node).lower()):
                keep.add(i)
    return keep


# --------------------------------------------------------------------------------------
# Planning and writing the elisions
# --------------------------------------------------------------------------------------


class _Elision(NamedTuple):
    first: int  # first elided row
    last: int  # last elided row (inclusive)
    indent: str
    prefix: str  # comment syntax before the marker text


def _leading_space(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _python_elision(fn: _Function, lines: list[str], min_lines: int) -> _Elision | None:
    node, body = fn.node, fn.body
    colon_row = -1
    for child in node.children:
        if child.type == ":":
            colon_row = child.end_point.row
    statements = [c for c in body.named_children if c.type != "comment"]
    if colon_row < 0 or not statements:
        return None
    docstring = None
    head = statements[0]
    if (
        head.type == "expression_statement"
        and head.named_child_count == 1
        and head.named_children[0].type in ("string", "concatenated_string")
    ):
        docstring = head
        statements = statements[1:]
        if not statements:
            return None
    first_stmt = statements[0]
    kept_until = docstring.end_point.row if docstring is not None else colon_row
    if first_stmt.start_point.row <= kept_until:
        return None  # shares a line with the header or the docstring
    last = statements[-1].end_point
    last_row = (
        last.row - 1 if last.column == 0 and last.row > first_stmt.start_point.row else last.row
    )
    first_row = kept_until + 1
    if last_row - first_row + 1 < min_lines:
        return None
    indent = _leading_space(lines[first_stmt.start_point.row])
    prefix = "# " if docstring is not None else "...  # "
    return _Elision(first_row, last_row, indent, prefix)


def _brace_elision(body: Node, source: bytes, lines: list[str], min_lines: int) -> _Elision | None:
    if body.type not in _BLOCKS:
        return None
    start, end = body.start_byte, body.end_byte
    if source[start : start + 1] != b"{" or source[end - 1 : end] != b"}":
        return None
    open_end = source.find(b"\n", start)
    close_start = source.rfind(b"\n", 0, end - 1) + 1
    if open_end < 0 or source[start + 1 : open_end].strip():
        return None  # something follows the "{" on its line
    if source[close_start : end - 1].strip():
        return None  # something precedes the "}" on its line
    first_row, last_row = body.start_point.row + 1, body.end_point.row - 1
    if last_row - first_row + 1 < min_lines:
        return None
    indent = next(
        (_leading_space(lines[r]) for r in range(first_row, last_row + 1) if lines[r].strip()),
        None,
    )
    if indent is None:
        return None
    return _Elision(first_row, last_row, indent, "// ")


def _marker(elision: _Elision, key: str, first: bool) -> str:
    n = elision.last - elision.first + 1
    if first:
        note = f'{n} lines omitted; call headroom_retrieve with key="{key}" for the full source'
    else:
        note = f'{n} lines omitted; key="{key}"'
    return f"{elision.indent}{elision.prefix}{TEXT_MARKER_PREFIX} {note}]"


def _line_end(line: str) -> str:
    return "\r" if line.endswith("\r") else ""


def _render(lines: list[str], elisions: list[_Elision], key: str) -> str:
    out: list[str] = []
    row = 0
    for i, e in enumerate(elisions):
        out.extend(lines[row : e.first])
        out.append(_marker(e, key, first=i == 0) + _line_end(lines[e.last]))
        row = e.last + 1
    out.extend(lines[row:])
    return "\n".join(out)


def _min_body_lines(bias: float) -> int:
    """The fewest lines worth eliding: 3 at bias 1.0, more when asked to keep more."""
    if not math.isfinite(bias):
        bias = 1.0
    return max(2, round(3 * min(max(bias, 0.1), 10.0)))


class CodeAwareCompressor:
    """Elides function bodies in source code; see the module docstring."""

    name = "code"

    def __init__(self, language: str | None = None) -> None:
        if language is not None and language not in LANGUAGES:
            raise ConfigError(f"unsupported language {language!r}; expected one of {LANGUAGES}")
        self.language = language

    def compress(self, text: str, ctx: CompressorContext) -> Compressed | None:
        language = self.language or detect_language(text)
        if language is None:
            return None
        try:
            source = text.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates: not something to parse
            return None
        chosen = None
        for meaning, ts, lang in _grammars(language):
            tree = _parse(ts, lang, source)
            if not tree.root_node.has_error:
                chosen = (meaning, ts, lang, tree)
                break
        if chosen is None:
            return None  # broken or not this language: leave it alone
        language, ts, lang, tree = chosen

        lines = text.split("\n")
        functions = _functions(tree.root_node, language)
        if not functions:
            return None
        keep = _mentioned(functions, ctx.query)
        min_lines = _min_body_lines(ctx.bias)
        draft_key = key_for(text)
        # ends[r]: characters of lines[:r], so a span's size costs O(1).
        ends = [0, *accumulate(map(len, lines))]
        elisions: list[_Elision] = []
        for i, fn in enumerate(functions):
            if i in keep:
                continue
            if language == "python":
                elision = _python_elision(fn, lines, min_lines)
            else:
                elision = _brace_elision(fn.body, source, lines, min_lines)
            if elision is None:
                continue
            rows = elision.last + 1 - elision.first
            removed = ends[elision.last + 1] - ends[elision.first] + rows  # and newlines
            if len(_marker(elision, draft_key, first=not elisions)) + 1 >= removed:
                continue  # the placeholder would not be shorter than the lines
            elisions.append(elision)
        if not elisions:
            return None

        key = ctx.remember(text)
        if "\n" in key or "\r" in key:
            return None
        out = _render(lines, elisions, key)
        if len(out) >= len(text):
            return None
        if _parse(ts, lang, out.encode("utf-8")).root_node.has_error:
            return None  # never emit code that no longer parses
        return Compressed(text=out, key=key)
