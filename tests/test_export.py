"""ONNX export and the ONNX Runtime backend: parity with PyTorch, int8, load/CLI/serve, errors.

Tolerances: fp32 ONNX logits match PyTorch's within atol 1e-4 for the seed transformer and the
attention RNN, 1e-3 for the MiniLM encoders (six layers of float32 reassociation); int8 keeps
every label a trained model is sure of (top probability >= 0.9), on any CPU (the >= 99.5%
agreement target is for the full AG News test set: benchmarks/export_parity.py). Models are tiny or built from the packaged
MiniLM without training, inputs at most 32 tokens for the encoders.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from conftest import AG_NEWS_LABELS
from conftest import run_cli_here as cli
from fastapi.testclient import TestClient
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

import attentext
from attentext import rundir
from attentext.encoders import resolve_encoder
from attentext.errors import AttentextError, AttentextWarning, RunDirError
from attentext.export.int8 import INT8_CANDIDATES, INT8_MIN_AGREEMENT
from attentext.export.onnx import export_onnx
from attentext.inference.onnx_backend import OnnxClassifier
from attentext.inference.torch_backend import TransformersClassifier
from attentext.models.attention_rnn import (
    AttentionRNNConfig,
    AttentionRNNForSequenceClassification,
)
from attentext.models.registry import build_model
from attentext.recipes import ModelSpec
from attentext.rundir import ONNX_INFO_FILE as INFO_FILE
from attentext.rundir import ONNX_INT8_FILE as INT8_FILE

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

REPO = Path(__file__).resolve().parents[1]
LONG = " ".join(["Stocks fell as oil prices rose and investors worried about rates."] * 40)
TEXTS = [  # different lengths in one batch: empty, one word, sentences, one past max_length
    "",
    "Oil",
    "Oil prices jump as OPEC cuts output",
    "The Yankees beat the Red Sox 5-3 in a long game that went to extra innings on Sunday night",
    "NASA telescope spots water on a distant planet",
    LONG,
]


def _parity(run: Path, atol: float, texts: list[str] = TEXTS) -> float:
    torch_logits = TransformersClassifier.from_run_dir(run, precision="fp32").logits(texts)
    onnx_logits = OnnxClassifier.from_run_dir(run).logits(texts)
    np.testing.assert_allclose(onnx_logits, torch_logits, rtol=0, atol=atol)
    return float(np.abs(onnx_logits - torch_logits).max())


def _save_run(model, tokenizer, folder: Path) -> Path:
    """A run directory from an untrained model: weights, tokenizer, the marker last."""
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    rundir.write_marker(folder, "transformers")
    return folder


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def seed_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "seed"
    result = attentext.train("seed-transformer", ag_news_dir, out, epochs=1, precision="fp32")
    return Path(result.run_dir)


@pytest.fixture(scope="module")
def exported(seed_run) -> Path:
    # Forced: the tests using it are about files and loading; int8 quality is judged on
    # `confident_run` below, since this 1-epoch model's near-uniform labels flip by CPU.
    return export_onnx(seed_run, int8=True, force_int8=True)


@pytest.fixture(scope="module")
def tiny_test_texts(ag_news_dir) -> list[str]:
    dataset = attentext.load_text_dataset(ag_news_dir, val_fraction=0.0)
    return list(dataset.splits["test"]["text"])


# ---------------------------------------------------------------------------------------------
# Seed transformer: files, parity, int8, load
# ---------------------------------------------------------------------------------------------


def test_export_writes_models_and_info_atomically(seed_run, exported):
    assert exported == seed_run / "onnx"
    names = sorted(p.name for p in exported.iterdir())
    assert names == [INFO_FILE, "model.int8.onnx", "model.onnx"]  # no temporary files left
    info = json.loads((exported / INFO_FILE).read_text(encoding="utf-8"))
    assert info["files"] == ["model.onnx", "model.int8.onnx"]
    assert info["inputs"] == ["input_ids", "attention_mask"] and info["output"] == "logits"
    assert info["parity_max_abs_diff"] < 1e-4
    assert (exported / "model.int8.onnx").stat().st_size < (exported / "model.onnx").stat().st_size
    rundir.read_marker(seed_run)  # the run directory is still complete


def test_onnx_graph_has_dynamic_batch_and_sequence_axes(exported):
    import onnx

    graph = onnx.load(str(exported / "model.onnx")).graph
    for value in graph.input:
        dims = value.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "sequence"], value.name
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask"]
    assert [o.name for o in graph.output] == ["logits"]


def test_onnx_logits_match_pytorch_within_1e_4(exported, seed_run):
    """Texts of 0 to 300+ tokens in one batch (the longest truncated to max_length): atol 1e-4."""
    _parity(seed_run, atol=1e-4)


def test_onnx_logits_do_not_depend_on_the_batch(exported, seed_run):
    classifier = OnnxClassifier.from_run_dir(seed_run)
    together = classifier.logits(TEXTS)
    alone = np.concatenate([classifier.logits([text]) for text in TEXTS])
    np.testing.assert_allclose(together, alone, rtol=0, atol=1e-5)


@pytest.fixture(scope="module")
def confident_run(ag_news_dir, tmp_path_factory) -> Path:
    """A seed transformer that has learned its training texts (40 epochs on 200 rows): its
    predictions there are confident, so int8 rounding has a margin to respect. The 1-epoch
    `seed_run` is near-uniform: int8 flips its labels by the CPU's arithmetic, not by quality."""
    out = tmp_path_factory.mktemp("export") / "confident"
    result = attentext.train(
        "seed-transformer", ag_news_dir, out, epochs=40, precision="fp32", val_fraction=0.0
    )
    return Path(result.run_dir)


@pytest.fixture(scope="module")
def train_texts(ag_news_dir) -> list[str]:
    return list(attentext.load_text_dataset(ag_news_dir, val_fraction=0.0)["train"]["text"])


def test_int8_keeps_the_confident_labels_of_a_trained_model(confident_run, train_texts):
    """Where fp32 is sure (top probability >= 0.9), int8 gives the same label, on every CPU."""
    export_onnx(confident_run, int8=True, check_texts=train_texts)
    fp32 = TransformersClassifier.from_run_dir(confident_run, precision="fp32")
    reference = fp32.predict_proba(train_texts)
    int8 = OnnxClassifier.from_run_dir(confident_run, int8=True).predict_proba(train_texts)
    sure = reference.max(axis=1) >= 0.9
    assert sure.mean() > 0.9, sure.mean()  # the model has learned its training texts
    np.testing.assert_array_equal(int8[sure].argmax(1), reference[sure].argmax(1))


def test_the_int8_export_records_what_it_measured(confident_run, train_texts):
    """The settings kept are the candidate that agreed best on the check texts, and the agreement
    recorded is the one the int8 file gives on them."""
    folder = export_onnx(confident_run, int8=True, check_texts=train_texts)
    report = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))["int8"]
    candidates = report["candidates"]
    # every candidate that applies (the seed transformer has no GELU to keep fp32 after)
    assert len(candidates) == sum(c["keep_fp32_after"] is None for c in INT8_CANDIDATES)
    assert report["label_agreement"] == max(c["label_agreement"] for c in candidates)
    assert report["settings"] in [
        {k: c[k] for k in ("per_channel", "reduce_range", "keep_fp32_after")} for c in candidates
    ]
    assert report["check"] == f"{len(train_texts)} texts given at export"
    assert report["accepted"] is (report["label_agreement"] >= INT8_MIN_AGREEMENT)
    assert "avx" in report["measured_on"] or "none" in report["measured_on"]
    fp32 = TransformersClassifier.from_run_dir(confident_run, precision="fp32").predict(train_texts)
    int8 = OnnxClassifier.from_run_dir(confident_run, int8=True).predict(train_texts)
    agreement = np.mean([a == b for a, b in zip(fp32, int8, strict=True)])
    assert agreement == pytest.approx(report["label_agreement"], abs=2 / len(train_texts))


def test_an_int8_export_under_the_agreement_floor_is_refused_unless_forced(
    confident_run, tmp_path, monkeypatch
):
    import attentext.export.int8

    run = tmp_path / "run"
    shutil.copytree(confident_run, run, ignore=shutil.ignore_patterns("onnx"))
    monkeypatch.setattr(attentext.export.int8, "INT8_MIN_AGREEMENT", 1.01)  # no export can meet it
    export_onnx(run, int8=True)
    with pytest.raises(RunDirError, match=r"int8 export's labels agreed .* --force-int8"):
        attentext.load(run, backend="onnx-int8")
    assert isinstance(attentext.load(run, backend="onnx"), OnnxClassifier)  # fp32 is fine

    export_onnx(run, int8=True, force_int8=True)
    report = json.loads((run / "onnx" / INFO_FILE).read_text(encoding="utf-8"))["int8"]
    assert report["accepted"] and report["forced"]
    assert isinstance(attentext.load(run, backend="onnx-int8"), OnnxClassifier)


def test_an_int8_export_of_a_run_recalibrated_since_is_said_to_be_measured_before(
    confident_run, ag_news_dir, tmp_path
):
    """`recalibrate` after `export --int8` left export.json's agreement, measured under the
    calibration it replaced (a label prior's bias decides other labels), read as current."""
    run = tmp_path / "run"
    shutil.copytree(confident_run, run, ignore=shutil.ignore_patterns("onnx"))
    export_onnx(run, int8=True, force_int8=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AttentextWarning)
        attentext.load(run, backend="onnx-int8")  # as exported: nothing to say
    attentext.recalibrate(run, ag_news_dir, split="test")
    with pytest.warns(AttentextWarning, match="recalibrated after its int8 export"):
        attentext.load(run, backend="onnx-int8")
    export_onnx(run, int8=True, force_int8=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AttentextWarning)
        attentext.load(run, backend="onnx-int8")


def test_load_with_the_onnx_backends(exported, seed_run):
    for backend in ("onnx", "onnx-int8"):
        classifier = attentext.load(seed_run, backend=backend)
        assert isinstance(classifier, OnnxClassifier)
        assert classifier.labels == AG_NEWS_LABELS
        labels = classifier.predict(TEXTS)
        assert len(labels) == len(TEXTS) and set(labels) <= set(AG_NEWS_LABELS)
        np.testing.assert_allclose(classifier.predict_proba(TEXTS).sum(axis=1), 1.0, atol=1e-5)
    assert classifier.predict([]) == []
    with pytest.raises(TypeError):
        classifier.predict("one string")


def test_a_graph_exported_from_other_weights_is_refused(exported, seed_run, tmp_path):
    """Found in session 60: `export A --output B/onnx` made B's onnx backend read A's graph
    with B's label names. The record holds the weights' hash and the backend compares it."""
    other = tmp_path / "other"
    shutil.copytree(seed_run, other, ignore=shutil.ignore_patterns("onnx"))
    weights = load_file(other / "model.safetensors")
    name = next(iter(weights))
    weights[name] = weights[name] + 1.0
    save_file(weights, other / "model.safetensors", metadata={"format": "pt"})
    shutil.copytree(exported, other / "onnx")  # seed_run's graph in other's folder

    with pytest.raises(RunDirError, match="exported from other weights than this run's"):
        attentext.load(other, backend="onnx")
    assert isinstance(attentext.load(seed_run, backend="onnx"), OnnxClassifier)
    record = json.loads((exported / INFO_FILE).read_text(encoding="utf-8"))
    assert record["weights_sha256"] == rundir.weights_digest(seed_run)


def test_unknown_backend_is_a_one_line_error(seed_run):
    with pytest.raises(AttentextError, match="unknown backend 'tensorrt'; choose one of torch"):
        attentext.load(seed_run, backend="tensorrt")


def test_served_with_the_onnx_backend(exported, seed_run):
    from attentext.serving import create_app

    app = create_app([seed_run], loader=partial(attentext.load, backend="onnx"))
    with TestClient(app) as client:
        response = client.post("/v1/predict", json={"texts": ["Oil prices jump", "Yankees win"]})
    assert response.status_code == 200, response.text
    assert [p["label"] in AG_NEWS_LABELS for p in response.json()["predictions"]] == [True, True]


def test_evaluate_command_with_the_onnx_backend(exported, seed_run, ag_news_dir, capsys):
    from attentext.cli.evaluate import evaluate_command as evaluate

    evaluate(seed_run, str(ag_news_dir), json_output=True, backend="onnx")
    onnx_report = json.loads(capsys.readouterr().out)
    evaluate(seed_run, str(ag_news_dir), json_output=True, backend="torch")
    torch_report = json.loads(capsys.readouterr().out)
    assert onnx_report["n_examples"] == 80
    assert onnx_report["accuracy"] == torch_report["accuracy"]


# ---------------------------------------------------------------------------------------------
# The other families: attention RNN and MiniLM encoders
# ---------------------------------------------------------------------------------------------


# each cell once, and the fixed word vectors once (a third case, GRU without them, exported the
# same graph pieces again for ~20 s of the suite)
@pytest.mark.parametrize(("cell", "static_dim"), [("lstm", 0), ("gru", 6)])
def test_attention_rnn_exports_with_the_models_results(cell, static_dim, seed_run, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(seed_run))
    config = AttentionRNNConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=64,
        embed_dim=16,
        hidden_size=12,
        attention_dim=8,
        cell=cell,
        static_dim=static_dim,
        num_labels=4,
        id2label=dict(enumerate(AG_NEWS_LABELS)),
        label2id={name: i for i, name in enumerate(AG_NEWS_LABELS)},
    )
    tokenizer.model_max_length = 64
    model = AttentionRNNForSequenceClassification(config)
    if static_dim:  # fixed word vectors, as the encoder would fill them
        model.get_static_embeddings().weight.normal_(std=0.1)
    run = _save_run(model, tokenizer, tmp_path / f"{cell}-{static_dim}")
    export_onnx(run)
    _parity(run, atol=1e-4)
    alone = OnnxClassifier.from_run_dir(run).logits([TEXTS[3]])
    batched = OnnxClassifier.from_run_dir(run).logits(TEXTS)[3:4]
    np.testing.assert_allclose(alone, batched, rtol=0, atol=1e-5)  # padding never read


@pytest.mark.parametrize(
    "options",
    [
        {"num_blocks": 3, "embed_dim": 16},
        {"pooling": "attention", "embed_dim": 16},
        {"bigram_buckets": 97, "embed_dim": 16},
    ],
    ids=["three blocks", "attention pooling", "word pairs"],
)
def test_a_deeper_seed_transformer_exports_with_the_models_results(seed_run, tmp_path, options):
    """Three blocks (`model.options.num_blocks`), pooling by attention, or the hashed word
    pairs (`bigram_buckets`): all of it in the graph, padding unread."""
    tokenizer = AutoTokenizer.from_pretrained(str(seed_run))
    spec = ModelSpec(type="seed-transformer", options=options)
    model = build_model(spec, tokenizer, AG_NEWS_LABELS, 64)
    tokenizer.model_max_length = 64
    run = _save_run(model.eval(), tokenizer, tmp_path / "deeper")
    export_onnx(run)
    _parity(run, atol=1e-4)
    alone = OnnxClassifier.from_run_dir(run).logits([TEXTS[3]])
    batched = OnnxClassifier.from_run_dir(run).logits(TEXTS)[3:4]
    np.testing.assert_allclose(alone, batched, rtol=0, atol=1e-5)


def _minilm_tokenizer():
    tokenizer = AutoTokenizer.from_pretrained(resolve_encoder("default"))
    tokenizer.model_max_length = 32
    return tokenizer


def test_encoder_classifier_exports_within_1e_3(tmp_path):
    """The packaged MiniLM (6 layers, its weights) with a pooled head, as encoder recipes build it."""
    tokenizer = _minilm_tokenizer()
    model = build_model(ModelSpec(type="encoder-classifier"), tokenizer, AG_NEWS_LABELS, 32)
    run = _save_run(model.eval(), tokenizer, tmp_path / "encoder")
    export_onnx(run)
    assert _parity(run, atol=1e-3) < 1e-3


def test_hf_bert_for_sequence_classification_exports_within_1e_3(tmp_path):
    """transformers' own BertForSequenceClassification (MiniLM's config cut to 2 layers: cheap)."""
    config = AutoConfig.from_pretrained(
        resolve_encoder("default"),
        num_hidden_layers=2,
        num_labels=4,
        id2label=dict(enumerate(AG_NEWS_LABELS)),
        label2id={name: i for i, name in enumerate(AG_NEWS_LABELS)},
    )
    model = AutoModelForSequenceClassification.from_config(config)
    assert type(model).__name__ == "BertForSequenceClassification"
    run = _save_run(model.eval(), _minilm_tokenizer(), tmp_path / "bert")
    export_onnx(run)
    assert _parity(run, atol=1e-3) < 1e-3


# ---------------------------------------------------------------------------------------------
# Errors and the command line
# ---------------------------------------------------------------------------------------------


def test_onnx_backend_without_an_export_names_the_command(seed_run, tmp_path):
    copy = tmp_path / "seed"
    shutil.copytree(seed_run, copy, ignore=shutil.ignore_patterns("onnx"))
    with pytest.raises(RunDirError, match="attentext export .* --format onnx"):
        attentext.load(copy, backend="onnx")
    with pytest.raises(RunDirError, match="--format onnx --int8"):
        attentext.load(copy, backend="onnx-int8")


def test_serve_checks_the_export_before_starting(seed_run, tmp_path):
    from attentext.cli.serve import serve_command as serve

    copy = tmp_path / "seed"
    shutil.copytree(seed_run, copy, ignore=shutil.ignore_patterns("onnx"))
    with pytest.raises(RunDirError, match="no ONNX export"):
        serve([copy], port=1, backend="onnx")


def test_reexport_without_int8_removes_the_old_int8_file(seed_run, tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / INT8_FILE).write_bytes(b"stale")
    assert export_onnx(seed_run, output=folder) == folder
    assert sorted(p.name for p in folder.iterdir()) == [INFO_FILE, "model.onnx"]
    classifier = OnnxClassifier.from_run_dir(seed_run, model_path=folder / "model.onnx")
    assert len(classifier.predict(TEXTS)) == len(TEXTS)


def test_cli_export_then_predict_with_the_onnx_backend(seed_run, tmp_path):
    run = tmp_path / "seed"
    shutil.copytree(seed_run, run, ignore=shutil.ignore_patterns("onnx"))

    before = cli("predict", run, "Oil prices jump", "--backend", "onnx")
    assert_one_line_error(before, "no ONNX export", f"attentext export {run} --format onnx")

    export = cli("export", run, "--format", "onnx", "--int8")
    assert export.returncode == 0, export.stderr
    assert "Traceback" not in export.stderr
    assert f"wrote {run / 'onnx' / 'model.onnx'}" in export.stdout
    assert f"wrote {run / 'onnx' / 'model.int8.onnx'}" in export.stdout
    assert "max |ONNX - PyTorch|" in export.stdout

    predict = cli("predict", run, "Oil prices jump", "Yankees win", "--backend", "onnx", "--json")
    assert predict.returncode == 0, predict.stderr
    rows = [json.loads(line) for line in predict.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["Oil prices jump", "Yankees win"]
    assert all(r["label"] in AG_NEWS_LABELS for r in rows)


def test_cli_export_of_a_tfidf_run_is_a_one_line_error(ag_news_dir, tmp_path):
    run = attentext.train("tfidf-logreg", ag_news_dir, tmp_path / "tfidf").run_dir
    with pytest.raises(AttentextError, match="TF-IDF run has no neural network"):
        export_onnx(run)
    assert_one_line_error(
        cli("export", run, "--format", "onnx"), "TF-IDF run has no neural network"
    )
    assert not (Path(run) / "onnx").exists()
