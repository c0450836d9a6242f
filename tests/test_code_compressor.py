"""CodeAwareCompressor and detect_language, on realistic fixtures in six languages."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from headroom.compressors.base import CompressorContext
from headroom.compressors.code import LANGUAGES, CodeAwareCompressor, detect_language
from headroom.config import HeadroomConfig
from headroom.errors import ConfigError, MissingExtraError
from headroom.markers import KEY_PATTERN, TEXT_MARKER_PREFIX, is_text_marker
from headroom.store.base import key_for
from headroom.tokens import TokenCounter

FIXTURES = Path(__file__).parent / "fixtures" / "code"
FILES = {
    "python": "scheduler.py",
    "typescript": "cart.ts",
    "go": "cache.go",
    "javascript": "router.js",
    "rust": "tokenizer.rs",
    "java": "Inventory.java",
}
BRACE = ("typescript", "go", "javascript", "rust", "java")

# Lines that must survive verbatim: imports, signatures, declarations, docstrings and
# the comments above declarations, constants, decorators, class structure.
KEPT = {
    "python": [
        "import heapq",
        "from concurrent.futures import Future, ThreadPoolExecutor",
        "MAX_RETRIES = 5",
        "class JobState(Enum):",
        "@dataclass(order=True)",
        "class Job:",
        '    """One unit of work, ordered by the time it becomes due."""',
        "    due: float",
        "def parse_schedule(spec: str) -> list[tuple[str, float]]:",
        '    """Parse ``"name@seconds, other@seconds"`` into (name, offset) pairs.',
        "    Blank entries are ignored; a malformed entry raises ValueError naming it.",
        "class Scheduler:",
        "    # -- submitting ---------------------------------------------------------------",
        "    def submit(self, name: str, action: Callable[[], object], delay: float = 0.0) -> Job:",
        "    def _make_callback(self, job: Job) -> Callable[[Future[float]], None]:",
        "    @property",
        "    def _refill(self) -> None:",
        "class RateLimiter:",
        'if __name__ == "__main__":',
    ],
    "typescript": [
        'import type { Logger } from "./logger";',
        "export const MAX_QUANTITY = 99;",
        'export type Currency = "USD" | "EUR" | "GBP";',
        "export interface Product {",
        "  sku: string;",
        "export enum DiscountKind {",
        "/** Tax rate per region, as a fraction. */",
        "const TAX_RATES: Record<string, number> = {",
        "export const taxFor = (region: string, amountCents: number): number => {",
        "export class Cart extends EventEmitter {",
        "  private readonly lines = new Map<string, CartLine>();",
        "  /** Adds a product, merging with an existing line for the same SKU. */",
        "  add(product: Product, quantity = 1): CartLine {",
        "  applyDiscount(discount: Discount): void {",
        "  private onAudit = (event: string): void => {",
    ],
    "go": [
        "package cache",
        "import (",
        '\t"container/list"',
        "const DefaultTTL = 5 * time.Minute",
        'var ErrNotFound = errors.New("cache: key not found")',
        "// Stats counts what the cache has done since it was created.",
        "type Stats struct {",
        "\tHits      uint64",
        "type Cache struct {",
        "type Option func(*Cache)",
        "// Get returns the value for key and whether it was present and fresh.",
        "func (c *Cache) Get(key string) (interface{}, bool) {",
        "func New(capacity int, opts ...Option) (*Cache, error) {",
        "func (c *Cache) removeElement(el *list.Element) *entry {",
    ],
    "javascript": [
        "const http = require('http');",
        "const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];",
        ' * Turns a route pattern such as "/users/:id" into a regular expression',
        "function compilePattern(pattern) {",
        "class Router {",
        "  match(method, pathname) {",
        "  handle = async (req, res) => {",
        "const sendJson = (res, status, body) => {",
        "module.exports = { Router, compilePattern, sendJson, listen };",
    ],
    "rust": [
        "use std::iter::Peekable;",
        "pub const MAX_LITERAL: i64 = 1 << 40;",
        "#[derive(Debug, Clone, PartialEq)]",
        "pub enum Token {",
        "    Number(i64),",
        "pub struct LexError {",
        "pub trait Source {",
        "    fn next_char(&mut self) -> Option<char>;",
        "    /// Skips whitespace and returns how many characters were skipped.",
        "    fn skip_blanks(&mut self) -> usize {",
        "impl<'a> Lexer<'a> {",
        "    fn number(&mut self, first: char) -> Result<Token, LexError> {",
        "    pub fn tokenize(mut self) -> Result<Vec<Token>, LexError> {",
        "mod tests {",
    ],
    "java": [
        "package com.example.inventory;",
        "import java.util.Optional;",
        " * Tracks stock levels per warehouse and reserves items for orders.",
        "public class Inventory {",
        "    public static final int LOW_STOCK_THRESHOLD = 5;",
        "    private final List<String> auditLog = new ArrayList<>();",
        "    public Inventory() {",
        "    /** Adds {@code quantity} units of {@code sku} to a warehouse. */",
        "    public Optional<String> reserve(String sku, int quantity) {",
        "    public interface Listener {",
        "        void onLowStock(String sku, int level);",
        "    public enum Unit {",
        "        public int factor() {",
    ],
}

# Lines deep inside long bodies that must be gone.
ELIDED = {
    "python": [
        '            raise ValueError(f"negative offset in {entry!r}")',
        '        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sched")',
        "        def done(future: Future[float]) -> None:",  # nested: goes with its parent
        "    def wrapper() -> object:",
        "            time.sleep(wait)",
    ],
    "typescript": [
        "      throw new RangeError(`invalid quantity ${quantity}`);",
        "      case DiscountKind.Percent:",
        '    this.emit("audit", { event, count });',
    ],
    "go": ["\t\tc.stats.Expired++", "\t\tc.evictOldest()", "\t\tc.onEvict(e.key, e.value)"],
    "javascript": ["        const params = {};", "      res.statusCode = 404;"],
    "rust": [
        "                '(' => out.push(Token::LParen),",
        "            skipped += 1;",
        "        assert_eq!(tokens[2], Token::Op('+'));",
    ],
    "java": [
        "            if (level >= quantity && level > bestLevel) {",
        "                case BOX:",
        '        this.auditLog.add("main warehouse registered");',
    ],
}

# A question naming one function, and that function's first line.
QUESTIONS = {
    "python": ("Why does parse_schedule reject my entry?", "def parse_schedule("),
    "typescript": ("How is applyDiscount validating the code?", "  applyDiscount("),
    "go": ("Why does MustGet return ErrNotFound so often?", "func (c *Cache) MustGet("),
    "javascript": ("what does compilePattern produce for /users/:id", "function compilePattern("),
    "rust": ("The tokenize function fails on unicode", "    pub fn tokenize("),
    "java": ("Does lowStock return duplicates?", "    public List<String> lowStock("),
}


def fixture(language: str) -> str:
    return (FIXTURES / FILES[language]).read_text(encoding="utf-8")


class Recorder:
    """A dict-backed ``remember`` that counts its calls."""

    def __init__(self) -> None:
        self.store: dict[str, str] = {}
        self.calls = 0

    def __call__(self, text: str) -> str:
        self.calls += 1
        key = key_for(text)
        self.store[key] = text
        return key


def context(query: str | None = None, bias: float = 1.0, remember: Recorder | None = None):
    return CompressorContext(
        config=HeadroomConfig(),
        counter=TokenCounter(),
        remember=remember if remember is not None else Recorder(),
        query=query,
        bias=bias,
    )


def parse_has_error(language: str, text: str) -> bool:
    import tree_sitter

    if language in ("typescript", "tsx"):
        module = importlib.import_module("tree_sitter_typescript")
        raw = module.language_tsx() if language == "tsx" else module.language_typescript()
    else:
        raw = importlib.import_module(f"tree_sitter_{language}").language()
    tree = tree_sitter.Parser(tree_sitter.Language(raw)).parse(text.encode("utf-8"))
    return bool(tree.root_node.has_error)


def compress(language: str, **kwargs):
    remember = Recorder()
    original = fixture(language)
    result = CodeAwareCompressor().compress(original, context(remember=remember, **kwargs))
    return original, result, remember


def block(text: str, first_line: str, brace: bool) -> str:
    """The source of the function whose first line starts with ``first_line``."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(first_line))
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    end = start + 1
    if brace:
        while not lines[end].startswith(indent + "}"):
            end += 1
        return "\n".join(lines[start : end + 1])
    while end < len(lines) and (
        not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > len(indent)
    ):
        end += 1
    return "\n".join(lines[start:end]).rstrip("\n")


def placeholders(text: str) -> list[str]:
    return [line for line in text.split("\n") if TEXT_MARKER_PREFIX in line]


# --------------------------------------------------------------------------------------
# Every language
# --------------------------------------------------------------------------------------


def test_fixtures_are_realistic_and_parse_cleanly():
    sizes = {language: len(fixture(language).split("\n")) for language in LANGUAGES}
    assert sizes["python"] >= 290 and sizes["typescript"] >= 140 and sizes["go"] >= 140
    assert all(n >= 80 for n in sizes.values())
    for language in LANGUAGES:
        assert not parse_has_error(language, fixture(language)), language


@pytest.mark.parametrize("language", LANGUAGES)
def test_detect_language_recognises_each_fixture(language):
    assert detect_language(fixture(language)) == language


@pytest.mark.parametrize("language", LANGUAGES)
def test_output_parses_and_keeps_the_structure(language):
    original, result, _ = compress(language)
    assert result is not None
    assert not parse_has_error(language, result.text)
    out_lines = set(result.text.split("\n"))
    for line in KEPT[language]:
        assert line in original.split("\n"), f"fixture lost {line!r}"
        assert line in out_lines, f"{language}: {line!r} was dropped"
    for line in ELIDED[language]:
        assert line in original.split("\n"), f"fixture lost {line!r}"
        assert line not in out_lines, f"{language}: {line!r} was kept"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_other_line_is_verbatim_and_in_order(language):
    original, result, _ = compress(language)
    source = original.split("\n")
    position = 0
    for line in result.text.split("\n"):
        if is_text_marker(line):
            assert result.key in line
            continue
        assert line in source[position:], f"{line!r} is not an input line (in order)"
        position = source.index(line, position) + 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_name_the_key_in_comment_syntax(language):
    original, result, _ = compress(language)
    assert result.key is not None and KEY_PATTERN.fullmatch(result.key)
    marks = placeholders(result.text)
    assert len(marks) >= 3
    for line in marks:
        assert is_text_marker(line)
        assert f'key="{result.key}"' in line
        if language == "python":
            assert re.fullmatch(r"\s+(?:\.\.\.  )?# \[headroom: \d+ lines omitted; .*\]", line)
        else:
            assert re.fullmatch(r"\s+// \[headroom: \d+ lines omitted; .*\]", line)
    assert "call headroom_retrieve" in marks[0]
    # The numbers add up: each placeholder replaces exactly the lines it counts.
    omitted = sum(int(re.search(r"(\d+) lines omitted", line).group(1)) for line in marks)
    assert len(original.split("\n")) - omitted + len(marks) == len(result.text.split("\n"))


@pytest.mark.parametrize("language", LANGUAGES)
def test_original_is_stored_byte_exact_once_and_output_is_smaller(language):
    original, result, remember = compress(language)
    assert remember.calls == 1
    assert remember.store[result.key] == original
    assert len(result.text) < len(original) * 0.8
    assert not result.lossless


@pytest.mark.parametrize("language", LANGUAGES)
def test_deterministic(language):
    _, first, _ = compress(language)
    _, again, _ = compress(language)
    third = CodeAwareCompressor(language).compress(fixture(language), context())
    assert first.text == again.text == third.text
    assert first.key == again.key == third.key


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_query_naming_a_function_keeps_its_whole_body(language):
    question, first_line = QUESTIONS[language]
    original, plain, _ = compress(language)
    _, focused, _ = compress(language, query=question)
    whole = block(original, first_line, brace=language in BRACE)
    assert whole.count("\n") >= 4
    assert whole not in plain.text  # elided without the question …
    assert whole in focused.text  # … kept whole with it
    # Only that function is kept whole, and the functions that call it by name
    # (load_jobs calls parse_schedule; Router.add calls compilePattern).
    kept = len(placeholders(plain.text)) - len(placeholders(focused.text))
    assert kept == (2 if language in ("python", "javascript") else 1)
    assert not parse_has_error(language, focused.text)


@pytest.mark.parametrize("language", LANGUAGES)
def test_syntax_broken_code_is_left_alone(language):
    original = fixture(language)
    # Cut just after an opening parenthesis in the middle: an unclosed call or signature.
    broken = original[: original.index("(", len(original) // 2) + 1]
    remember = Recorder()
    assert CodeAwareCompressor(language).compress(broken, context(remember=remember)) is None
    assert CodeAwareCompressor().compress(broken, context(remember=remember)) is None
    assert remember.calls == 0


@pytest.mark.parametrize("language", LANGUAGES)
def test_missing_tree_sitter_raises_missing_extra(language, monkeypatch):
    monkeypatch.setitem(sys.modules, "tree_sitter", None)
    with pytest.raises(MissingExtraError, match=r"\.\[code\]"):
        CodeAwareCompressor().compress(fixture(language), context())


def test_missing_grammar_raises_missing_extra(monkeypatch):
    CodeAwareCompressor().compress(fixture("go"), context())  # Language object cached
    monkeypatch.setitem(sys.modules, "tree_sitter_go", None)
    with pytest.raises(MissingExtraError) as info:
        CodeAwareCompressor().compress(fixture("go"), context())
    assert info.value.module == "tree_sitter_go" and info.value.extra == "code"


def test_non_code_needs_no_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tree_sitter", None)
    assert CodeAwareCompressor().compress("Just some words about nothing.\n", context()) is None


# --------------------------------------------------------------------------------------
# Details
# --------------------------------------------------------------------------------------


def test_python_placeholder_forms():
    _, result, _ = compress("python")
    lines = result.text.split("\n")
    # With a docstring kept, the placeholder is a comment under it …
    i = lines.index(
        '    """Render job statistics as a fixed-width text table, slowest jobs first."""'
    )
    assert re.fullmatch(
        r'    # \[headroom: \d+ lines omitted; key="hr_[0-9a-f]{16}"\]', lines[i + 1]
    )
    # … without one it is an Ellipsis statement at the body's indentation.
    j = lines.index("    def _dispatch_loop(self) -> None:")
    assert re.fullmatch(r"        \.\.\.  # \[headroom: 10 lines omitted; key=.*\]", lines[j + 1])


def test_tiny_bodies_and_one_liners_stay():
    _, py, _ = compress("python")
    assert "        return [self.submit(name, action) for name, action in jobs]" in py.text
    assert "        return self.total_seconds / self.runs if self.runs else 0.0" in py.text
    _, go, _ = compress("go")
    assert "func (c *Cache) Len() int {\n\tc.mu.Lock()\n\tdefer c.mu.Unlock()\n" in go.text
    _, rust, _ = compress("rust")
    assert "        Lexer { chars: input.chars().peekable(), offset: 0 }" in rust.text


def test_identifier_from_the_query_keeps_the_functions_using_it():
    original, result, _ = compress("python", query="where is MAX_RETRIES checked?")
    whole = block(original, "    def _retry_or_fail(", brace=False)
    assert whole in result.text
    # Functions that do not use it are still elided.
    assert block(original, "def report(", brace=False) not in result.text


def test_plain_word_matches_a_rare_name_but_not_a_common_one():
    original, refill, _ = compress("python", query="how does the bucket refill?")
    assert block(original, "    def _refill(", brace=False) in refill.text
    source = "\n".join(
        f"class Worker{n}:\n    def run(self, items):\n"
        + "".join(f"        self.step{k}(items)\n" for k in range(6))
        for n in range(4)
    )
    compressor = CodeAwareCompressor("python")
    common = compressor.compress(source, context(query="how does run work?"))
    assert common is not None
    assert len(placeholders(common.text)) == 4  # "run" names four methods: keep none
    none = compressor.compress(source, context())
    assert common.text == none.text


def test_bias_changes_how_much_is_kept():
    original = fixture("python")
    gentle = CodeAwareCompressor().compress(original, context(bias=3.0))
    normal = CodeAwareCompressor().compress(original, context())
    hard = CodeAwareCompressor().compress(original, context(bias=0.5))
    assert len(placeholders(gentle.text)) < len(placeholders(normal.text))
    assert len(placeholders(hard.text)) > len(placeholders(normal.text))
    assert len(hard.text) < len(normal.text) < len(gentle.text) < len(original)


def test_braces_must_sit_alone_on_their_lines():
    body = "".join(
        f"\ttotal += weights[{k}] * values[{k}] // normalise the contribution\n" for k in range(8)
    )
    compact = "".join(
        f"func Score{n}(weights, values []int) int {{ total := 0\n{body}\treturn total }}\n\n"
        for n in range(4)
    )
    spread = compact.replace("{ total := 0", "{\n\ttotal := 0").replace("total }", "total\n}")
    for source, expected in ((compact, None), (spread, 4)):
        source = f"package main\n\n{source}"
        assert not parse_has_error("go", source)
        result = CodeAwareCompressor("go").compress(source, context())
        assert (result and len(placeholders(result.text))) == expected


def test_crlf_line_endings_survive():
    original = fixture("go").replace("\n", "\r\n")
    remember = Recorder()
    result = CodeAwareCompressor().compress(original, context(remember=remember))
    assert result is not None and remember.store[result.key] == original
    assert not parse_has_error("go", result.text)
    lines = result.text.split("\n")
    assert all(line.endswith("\r") for line in lines[:-1])
    assert set(lines) - set(original.split("\n")) == set(placeholders(result.text))


def test_nothing_worth_eliding_returns_none_without_storing():
    remember = Recorder()
    source = "import os\n\n\ndef cwd() -> str:\n    return os.getcwd()\n"
    assert CodeAwareCompressor("python").compress(source, context(remember=remember)) is None
    assert remember.calls == 0


def test_typescript_without_type_syntax_up_front_falls_back_to_the_typescript_grammar():
    body = "".join(f"  const v{k} = input * {k};\n" for k in range(5))
    steps = "".join(
        f"export function step{n}(input) {{\n{body}  return input;\n}}\n\n" for n in range(40)
    )
    assert len(steps) > 5000  # the type syntax comes after the part detection looks at
    source = (
        "import { a } from './a';\nconst handlers = require('./handlers');\n\n"
        + steps
        + "export function typed(input: number): number {\n"
        + body
        + "  return input;\n}\n"
    )
    assert detect_language(source) == "javascript"
    assert parse_has_error("javascript", source)
    result = CodeAwareCompressor().compress(source, context())
    assert result is not None
    assert not parse_has_error("typescript", result.text)
    assert "export function typed(input: number): number {" in result.text


TSX = """\
import React, { useState } from "react";

interface Props {
  title: string;
  items: string[];
}

export function List({ title, items }: Props): JSX.Element {
  const [open, setOpen] = useState<boolean>(false);
  const visible = open ? items : items.slice(0, 3);
  return (
    <section>
      <h2 onClick={() => setOpen(!open)}>{title}</h2>
      <ul>
        {visible.map((item) => (
          <li key={item}>{item}</li>
        ))}
      </ul>
    </section>
  );
}
"""


def test_tsx_is_parsed_with_the_tsx_grammar():
    assert detect_language(TSX) == "typescript"
    assert parse_has_error("typescript", TSX) and not parse_has_error("tsx", TSX)
    result = CodeAwareCompressor().compress(TSX, context())
    assert result is not None
    assert not parse_has_error("tsx", result.text)
    assert "export function List({ title, items }: Props): JSX.Element {" in result.text
    assert "      <h2 onClick={() => setOpen(!open)}>{title}</h2>" not in result.text


def test_unsupported_language_is_a_config_error():
    with pytest.raises(ConfigError):
        CodeAwareCompressor("cobol")


def test_lone_surrogates_are_not_parsed():
    text = fixture("python") + "\n# \ud800\n"
    assert CodeAwareCompressor().compress(text, context()) is None


def test_safe_under_threads():
    expected = {lang: compress(lang)[1].text for lang in LANGUAGES}

    def run(language: str) -> tuple[str, str]:
        result = CodeAwareCompressor().compress(fixture(language), context())
        return language, result.text

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, [lang for lang in LANGUAGES for _ in range(8)]))
    assert all(text == expected[lang] for lang, text in results)


def test_import_headroom_does_not_import_tree_sitter():
    code = "import sys, headroom; print(sorted(m for m in sys.modules if 'tree_sitter' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------
# detect_language on what is not code
# --------------------------------------------------------------------------------------

PYTEST_LOG = """\
============================= test session starts ==============================
platform linux -- Python 3.11.7, pytest-8.3.2, pluggy-1.5.0
rootdir: /work/app
collected 42 items

tests/test_api.py ........F.....                                         [ 33%]
tests/test_models.py ............................                        [100%]

=================================== FAILURES ===================================
_______________________________ test_create_user _______________________________

    def test_create_user(client):
        response = client.post("/users", json={"name": "ada"})
>       assert response.status_code == 201
E       assert 500 == 201

tests/test_api.py:57: AssertionError
=========================== short test summary info ============================
FAILED tests/test_api.py::test_create_user - assert 500 == 201
========================= 1 failed, 41 passed in 2.31s =========================
"""

NPM_LOG = """\
> webapp@1.4.0 build
> tsc -p tsconfig.json && vite build

src/api/client.ts(14,7): error TS2322: Type 'string' is not assignable to type 'number'.
src/components/Cart.tsx(88,21): error TS2339: Property 'total' does not exist on type 'Props'.
npm ERR! code ELIFECYCLE
npm ERR! errno 2
npm ERR! webapp@1.4.0 build: `tsc -p tsconfig.json && vite build`
npm ERR! Exit status 2
"""

CARGO_LOG = """\
   Compiling libc v0.2.155
   Compiling serde v1.0.204
   Compiling tokenizer v0.1.0 (/work/tokenizer)
error[E0308]: mismatched types
  --> src/lexer.rs:42:23
   |
42 |         let value: u32 = token.parse();
   |                    ---   ^^^^^^^^^^^^^ expected `u32`, found `Result<_, _>`
   |                    |
   |                    expected due to this

warning: unused variable: `offset`
  --> src/lexer.rs:17:9
   |
17 |     let offset = 0;
   |         ^^^^^^ help: if this is intentional, prefix it with an underscore: `_offset`

error: could not compile `tokenizer` (lib) due to 1 previous error; 1 warning emitted
"""

RIPGREP = """\
headroom/engine.py:17:from .context import fitter_for
headroom/engine.py:22:from .router import ContentRouter
headroom/router.py:20:from .compressors.code import CodeAwareCompressor, detect_language
headroom/router.py:127:            CODE: CodeAwareCompressor(),
tests/test_router.py:8:def test_routes_python_source_to_code():
tests/test_router.py:9:    kind, compressor = ContentRouter().route(SOURCE)
"""

DIFF = """\
diff --git a/headroom/relevance.py b/headroom/relevance.py
index 3b18e51..a9c0d2f 100644
--- a/headroom/relevance.py
+++ b/headroom/relevance.py
@@ -40,7 +40,8 @@ def query_terms(query: str | None) -> list[str]:
     if not query:
         return []
     seen: dict[str, None] = {}
-    for word in words(query):
+    for word in words(query.strip()):
+        # Skip stopwords and single letters.
         if word not in _STOPWORDS and len(word) > 1:
             seen.setdefault(word, None)
     return list(seen)
"""

PROSE = """\
The scheduler was introduced to replace the cron jobs that used to run on the old
build server. It keeps every job in a priority queue ordered by the time the job is
due, and a single dispatcher thread hands due jobs to a small pool of workers.

When a job fails, it is retried with exponential backoff: the first retry happens
after half a second, the next after one second, and so on, up to thirty seconds.
After five failed attempts the job is marked as failed and an alert is raised so
that somebody on call can look at it. In practice most failures are transient and
disappear after the first retry, which is why the limit is deliberately generous.

To add a new job, register a function with the scheduler and give it a name that
describes what it does. Names show up in the weekly report, so keep them short.
"""

PY_TRACEBACK = """\
Traceback (most recent call last):
  File "/work/app/main.py", line 12, in <module>
    main()
  File "/work/app/main.py", line 8, in main
    config = load_config(path)
  File "/work/app/config.py", line 31, in load_config
    raise ValueError(f"missing key {key!r}")
ValueError: missing key 'database'
"""

JAVA_TRACE = """\
Exception in thread "main" java.lang.IllegalStateException: pool closed
\tat com.example.db.Pool.acquire(Pool.java:88)
\tat com.example.db.Repository.find(Repository.java:41)
\tat com.example.App.main(App.java:17)
Caused by: java.io.IOException: connection reset
\tat com.example.db.Conn.read(Conn.java:120)
\t... 3 more
"""

APP_LOG = """\
2024-05-02 10:14:03,112 INFO  [main] com.example.App - starting on port 8080
2024-05-02 10:14:03,540 INFO  [main] com.example.db.Pool - pool ready (10 connections)
2024-05-02 10:15:12,008 ERROR [worker-3] com.example.Api - request failed: timeout
2024-05-02 10:15:12,010 WARN  [worker-3] com.example.Api - retrying in 500 ms
"""

YAML = """\
name: ci
on:
  push:
    branches: [main]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - name: run the tests
        run: |
          python -m pip install -e ".[dev]"
          python -m pytest -q
"""

RST_WITH_CODE = """\
cachetools
==========

.. image:: https://img.shields.io/pypi/v/cachetools

This module provides various memoizing collections and decorators.

.. code-block:: python

   from cachetools import cached, LRUCache

   @cached(cache=LRUCache(maxsize=32))
   def get_pep(num):
       url = "http://www.python.org/dev/peps/pep-%04d/" % num
       with urllib.request.urlopen(url) as s:
           return s.read()
"""

C_SOURCE = """\
#include <stdio.h>
#include "cache.h"

static int hits = 0;

static int lookup(const char *key, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        hits += key[i];
    }
    return hits;
}
"""

NOT_CODE = {
    "json": json.dumps([{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(30)]),
    "json_pretty": json.dumps({"users": [{"id": i, "active": True} for i in range(20)]}, indent=2),
    "pytest": PYTEST_LOG,
    "npm": NPM_LOG,
    "cargo": CARGO_LOG,
    "ripgrep": RIPGREP,
    "diff": DIFF,
    "prose": PROSE,
    "python_traceback": PY_TRACEBACK,
    "java_stack_trace": JAVA_TRACE,
    "app_log": APP_LOG,
    "empty": "",
    "yaml": YAML,
    "rst_with_code": RST_WITH_CODE,
    "c_source": C_SOURCE,
    "markdown_with_code": "# Usage\n\nRun it like this:\n\n```python\nimport app\n\ndef main():\n"
    "    app.run()\n```\n\nThat is all there is to it, really, nothing more to say.\n",
}


@pytest.mark.parametrize("name", sorted(NOT_CODE))
def test_detect_language_rejects_what_is_not_code(name):
    assert detect_language(NOT_CODE[name]) is None
    assert CodeAwareCompressor().compress(NOT_CODE[name], context()) is None


def test_detect_language_tells_typescript_from_javascript():
    js = fixture("javascript")
    ts_version = js.replace(
        "function compilePattern(pattern) {", "function compilePattern(pattern: string) {"
    )
    ts_version = "interface Route {\n  method: string;\n}\n\n" + ts_version
    assert detect_language(js) == "javascript"
    assert detect_language(ts_version) == "typescript"


def test_detect_language_ignores_a_long_licence_header():
    header = "".join(
        f"# Licence line {n}: permission is hereby granted, and so on.\n" for n in range(120)
    )
    assert detect_language(header + fixture("python")) == "python"
    c_header = (
        "/*\n"
        + "".join(f" * Copyright line {n}, all rights reserved.\n" for n in range(120))
        + " */\n"
    )
    assert detect_language(c_header + fixture("java")) == "java"
