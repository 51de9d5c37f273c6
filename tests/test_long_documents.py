"""Long documents read in windows (`tokenizer.long_text: chunks`): windows that cover every token
as the stride says, a cap that keeps what it says, aggregation (mean, max, learned attention)
that padding and document order do not change, a short text classified exactly as without
chunking, run directories that round-trip (frozen features, fine-tuning, the Hugging Face and
word families), ONNX parity, and explain and serve answering for a long text.

Models are the packaged MiniLM with 16-token windows (several windows per ag_news_tiny text),
trained for a few steps in fp32; the feature cache goes to a temporary folder.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from fastapi.testclient import TestClient

import attentext
import attentext.training.features
from attentext.errors import AttentextNote, RecipeError
from attentext.inference.torch_backend import TransformersClassifier
from attentext.models.aggregation import WindowedClassifier, aggregate
from attentext.models.registry import build_model, model_family
from attentext.recipes import ModelSpec, load_recipe, settings_without_effect
from attentext.serving import create_app
from attentext.text.batching import pad_rows
from attentext.text.encoding import encode, special_tokens_around
from attentext.text.tokenizers import build_tokenizer
from attentext.text.windows import (
    Chunking,
    combine_windows,
    encode_windows,
    kept_windows,
    window_spans,
)

LABELS = ["World", "Sports", "Business", "Sci/Tech"]
WINDOWS = [
    "tokenizer.max_length=16",
    "tokenizer.long_text=chunks",
    "tokenizer.stride=4",
    "tokenizer.max_chunks=5",
]
SHORT = ["Oil prices jump", "The Yankees beat the Red Sox", ""]
LONG = (
    "Stocks fell on Wall Street as oil prices rose and investors worried about rates. "
    "Later the Yankees beat the Red Sox in extra innings, and NASA launched a probe. " * 6
)


@pytest.fixture(scope="module", autouse=True)
def feature_cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("feature-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(attentext.training.features, "CACHE_DIR", folder)
        yield folder


@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(load_recipe("encoder-finetune"), [])


def _classifier(tokenizer, aggregation: str, chunking: Chunking | None) -> TransformersClassifier:
    """The packaged MiniLM with a fresh head (and window attention), reading 16-token windows."""
    torch.manual_seed(0)
    spec = ModelSpec(type="encoder-classifier", options={"aggregation": aggregation})
    model = build_model(spec, tokenizer, LABELS, 16)
    if model.window_attention is not None:  # a trained-looking attention: scores that differ
        torch.nn.init.normal_(model.window_attention.score.weight, std=1.0)
    classifier = TransformersClassifier(model, tokenizer, max_length=16, batch_size=4)
    classifier.chunking, classifier.aggregation = chunking, aggregation
    return classifier


def _train(recipe: str, data: Path, out: Path, sets: list[str], **options):
    options.setdefault("precision", "fp32")
    options.setdefault("val_fraction", 0.1)
    return attentext.train(recipe, data, out, overrides=[*WINDOWS, *sets], **options)


# ---------------------------------------------------------------------------------------------
# Windows and the cap
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("budget,stride", [(1, 0), (5, 0), (5, 2), (14, 4), (14, 13)])
def test_windows_cover_every_token_exactly_as_the_stride_says(budget, stride):
    for n in range(0, 60):
        spans = window_spans(n, budget, stride)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(0 < end - start <= budget for start, end in spans) or n == 0
        covered = sorted({i for start, end in spans for i in range(start, end)})
        assert covered == list(range(n))
        for (s1, e1), (s2, _) in zip(spans, spans[1:], strict=False):
            assert s2 == s1 + budget - stride  # a window starts `budget - stride` after the last
            assert e1 - s2 == stride or e1 == n  # and shares exactly `stride` tokens with it
        assert len(spans) == (1 if n <= budget else 1 + -(-(n - budget) // (budget - stride)))


def test_encoded_windows_are_the_text_with_special_tokens_in_each(tokenizer):
    chunking = Chunking(stride=4)
    windows = encode_windows(tokenizer, [LONG], 16, chunking)[0]
    prefix, suffix = special_tokens_around(tokenizer)
    content = tokenizer(LONG, add_special_tokens=False)["input_ids"]
    rebuilt: list[int] = []
    for window in windows:
        assert len(window) <= 16
        assert window[: len(prefix)] == prefix and window[len(window) - len(suffix) :] == suffix
        body = window[len(prefix) : len(window) - len(suffix)]
        rebuilt += body if not rebuilt else body[4:]  # drop the stride shared with the last
    assert rebuilt == content


@pytest.mark.parametrize("n_windows,cap", [(10, 3), (7, 6), (100, 8), (3, 1), (2, 5), (9, 0)])
def test_the_window_cap_keeps_what_it_says(n_windows, cap):
    head = kept_windows(n_windows, cap, "head")
    tail = kept_windows(n_windows, cap, "tail")
    spread = kept_windows(n_windows, cap, "spread")
    if cap == 0 or n_windows <= cap:
        assert head == tail == spread == list(range(n_windows))
        return
    assert head == list(range(cap)) and tail == list(range(n_windows - cap, n_windows))
    assert len(spread) == cap == len(set(spread)) and spread == sorted(spread)
    if cap > 1:
        assert spread[0] == 0 and spread[-1] == n_windows - 1  # the opening and the end
        gaps = np.diff(spread)
        assert gaps.max() - gaps.min() <= 1  # evenly spread


def test_the_cap_applies_to_encoded_texts(tokenizer):
    every = encode_windows(tokenizer, [LONG], 16, Chunking(stride=0))[0]
    tail = encode_windows(tokenizer, [LONG], 16, Chunking(stride=0, max_chunks=3, kept="tail"))
    head = encode_windows(tokenizer, [LONG], 16, Chunking(stride=0, max_chunks=3))
    assert len(every) > 3
    assert tail[0] == every[-3:] and head[0] == every[:3]


def test_a_stride_that_leaves_no_new_token_is_a_one_line_error(tokenizer):
    with pytest.raises(RecipeError, match="tokenizer.stride 14 leaves no new token"):
        encode_windows(tokenizer, [LONG], 16, Chunking(stride=14))


# ---------------------------------------------------------------------------------------------
# Aggregation: the numpy and PyTorch twins, padding, order
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["mean", "max", "attention"])
def test_inference_and_training_aggregate_alike(how):
    generator = np.random.default_rng(0)
    counts = np.array([1, 4, 2, 7])
    logits = generator.normal(size=(counts.sum(), 5)).astype(np.float32)
    scores = generator.normal(size=counts.sum()).astype(np.float32)
    combined, weights = combine_windows(logits, scores, counts, how)
    document = torch.repeat_interleave(torch.arange(len(counts)), torch.from_numpy(counts))
    twin = aggregate(torch.from_numpy(logits), torch.from_numpy(scores), document, 4, how)
    np.testing.assert_allclose(combined, twin.numpy(), rtol=1e-5, atol=1e-6)
    starts = np.concatenate([[0], np.cumsum(counts)])
    sums = [weights[a:b].sum() for a, b in zip(starts, starts[1:], strict=False)]
    np.testing.assert_allclose(sums, 1.0, atol=1e-6)
    assert combined[0] == pytest.approx(logits[0])  # one window: its own logits


@pytest.mark.parametrize("how", ["mean", "max", "attention"])
def test_aggregation_ignores_padding_and_document_order(tokenizer, how):
    classifier = _classifier(tokenizer, how, Chunking(stride=2))
    wrapper = WindowedClassifier(classifier.model, how).eval()
    documents = encode_windows(tokenizer, [LONG, SHORT[0], LONG[:150]], 16, Chunking(stride=2))

    def run(order: list[int], width: int | None = None) -> np.ndarray:
        windows = [w for i in order for w in documents[i]]
        batch = {k: torch.from_numpy(v) for k, v in pad_rows(windows, 0, width=width).items()}
        counts = torch.tensor([len(documents[i]) for i in order])
        owner = torch.repeat_interleave(torch.arange(len(order)), counts)
        with torch.no_grad():
            return wrapper(**batch, window_document=owner).logits.numpy()

    reference = run([0, 1, 2])
    np.testing.assert_allclose(run([0, 1, 2], width=40), reference, atol=1e-5)  # more padding
    np.testing.assert_allclose(run([2, 0, 1]), reference[[2, 0, 1]], atol=1e-5)  # other order
    alone = run([1])  # the short document without the long ones' windows beside it
    np.testing.assert_allclose(alone[0], reference[1], atol=1e-5)
    # inference (numpy aggregation, length-sorted batches of 4 windows) gives the same
    np.testing.assert_allclose(
        classifier.logits([LONG, SHORT[0], LONG[:150]]), reference, atol=1e-5
    )


@pytest.mark.parametrize("how", ["mean", "max", "attention"])
def test_a_short_text_is_one_window_with_the_logits_of_no_chunking(tokenizer, how):
    chunked = _classifier(tokenizer, how, Chunking(stride=4, max_chunks=3))
    plain = _classifier(tokenizer, how, None)
    logits, weights, counts = chunked.document_logits(SHORT)
    assert counts.tolist() == [1, 1, 1] and weights.tolist() == [1.0, 1.0, 1.0]
    np.testing.assert_allclose(logits, plain.logits(SHORT), atol=1e-5)
    assert not np.allclose(chunked.logits([LONG]), plain.logits([LONG]), atol=1e-4)


def test_a_long_text_never_becomes_one_tensor(tokenizer, monkeypatch):
    classifier = _classifier(tokenizer, "attention", Chunking())
    shapes = []
    original = classifier.run_window_batch

    def recorded(batch):
        shapes.append(batch["input_ids"].shape)
        return original(batch)

    monkeypatch.setattr(classifier, "run_window_batch", recorded)
    text = "word " * 3000
    logits, weights, counts = classifier.document_logits([text])
    assert counts[0] >= 3000 // 14 and len(shapes) > 1
    assert max(rows for rows, _ in shapes) <= 4 and max(width for _, width in shapes) <= 16
    assert np.isfinite(logits).all() and weights.sum() == pytest.approx(1.0, abs=1e-5)


# ---------------------------------------------------------------------------------------------
# Recipes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sets,message",
    [
        (["tokenizer.long_text=chunk"], "did you mean 'chunks'"),
        (["tokenizer.chunks_kept=spred"], "did you mean 'spread'"),
        (["tokenizer.max_length=64", "tokenizer.stride=64"], "tokenizer.stride is the overlap"),
        (["tokenizer.stride=128"], "tokenizer.stride is the overlap"),  # auto: at most 128
        (["tokenizer.max_chunks=-1"], "tokenizer.max_chunks must be 0"),
        (["model.options.aggregation=mena"], "did you mean 'mean'"),
        (["model.options.aggregation=attention"], "set tokenizer.long_text=chunks too"),
    ],
)
def test_chunking_settings_are_checked_with_one_line_errors(sets, message):
    with pytest.raises(RecipeError, match=message):
        load_recipe("encoder-finetune", sets)


@pytest.mark.parametrize(
    "recipe,sets,said",
    [
        ("seed-transformer", ["tokenizer.stride=8"], "tokenizer.stride=8 shapes the windows"),
        ("encoder-frozen", ["tokenizer.max_chunks=4"], "does nothing with long_text truncate"),
        ("tfidf-logreg", ["tokenizer.long_text=chunks"], "tokenizer.long_text=chunks does nothing"),
    ],
)
def test_a_setting_training_never_reads_is_said(recipe, sets, said, ag_news_dir, tmp_path):
    """Once ignored without a word: the recipe recorded stride 8, and the run read no window."""
    with pytest.warns(AttentextNote, match=said):
        attentext.train(recipe, ag_news_dir, tmp_path / "run", max_steps=1, overrides=sets)


def test_the_windows_settings_with_windows_are_not_said():
    recipe = load_recipe("seed-transformer", [*WINDOWS, "tokenizer.chunks_kept=tail"])
    assert settings_without_effect(recipe) == []
    assert settings_without_effect(load_recipe("tfidf-logreg")) == []


def test_attention_over_windows_is_for_the_encoder_classifier():
    with pytest.raises(RecipeError, match="combines windows by mean or max"):
        model_family("hf-sequence-classification").check_options({"aggregation": "attention"})
    model_family("seed-transformer").check_options({"aggregation": "max"})
    model_family("encoder-classifier").check_options({"aggregation": "attention"})


# ---------------------------------------------------------------------------------------------
# Run directories
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frozen_attention(ag_news_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("long") / "frozen-attention"
    return _train(
        "encoder-frozen", ag_news_dir, out, ["model.options.aggregation=attention"], epochs=3
    )


@pytest.fixture(scope="module")
def finetune_attention(ag_news_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("long") / "finetune-attention"
    sets = ["model.options.aggregation=attention"]
    return _train("encoder-finetune", ag_news_dir, out, sets, max_steps=2, batch_size=8)


def _test_accuracy(run_dir: Path, data: Path) -> float:
    dataset = attentext.load_text_dataset(data, val_fraction=0.0)
    texts, labels = list(dataset["test"]["text"]), list(dataset["test"]["label"])
    classifier = attentext.load(run_dir, precision="fp32")
    predicted = np.argmax(classifier.predict_proba(texts), axis=1)
    return float(np.mean(predicted == np.array(labels)))


@pytest.mark.parametrize("fixture", ["frozen_attention", "finetune_attention"])
def test_a_chunked_run_round_trips(fixture, request, ag_news_dir):
    result = request.getfixturevalue(fixture)
    run_dir = Path(result.run_dir)
    recipe = yaml.safe_load((run_dir / "recipe.yaml").read_text(encoding="utf-8"))
    assert recipe["tokenizer"]["long_text"] == "chunks" and recipe["tokenizer"]["stride"] == 4
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    assert config["aggregation"] == "attention"
    windows = result.metrics["windows"]["test"]
    assert windows["max"] == 5 and windows["mean"] > 2  # several windows, the cap applied
    classifier = attentext.load(run_dir, precision="fp32")
    assert classifier.chunking == Chunking(4, 5, "head") and classifier.aggregation == "attention"
    # the loaded model (numpy aggregation) measures the test split as training did (PyTorch's)
    accuracy = _test_accuracy(run_dir, ag_news_dir)
    assert accuracy == pytest.approx(result.metrics["test"]["accuracy"], abs=1e-9)
    assert "read in windows of 16 tokens" in (run_dir / "README.md").read_text(encoding="utf-8")


def test_window_features_are_cached_by_the_chunking_settings(
    frozen_attention, ag_news_dir, tmp_path
):
    again = _train(
        "encoder-frozen",
        ag_news_dir,
        tmp_path / "again",
        ["model.options.aggregation=mean"],
        epochs=1,
    )
    assert set(again.metrics["cache_hits"]) == {"train", "validation", "test"}
    other = _train(
        "encoder-frozen", ag_news_dir, tmp_path / "other", ["tokenizer.stride=2"], epochs=1
    )
    assert other.metrics["cache_hits"] == []


@pytest.mark.parametrize(
    "recipe,sets",
    [
        ("hf-frozen-base", ["model.options.aggregation=max"]),
        ("seed-transformer", ["model.options.aggregation=mean"]),
    ],
)
def test_other_families_read_long_texts_in_windows(recipe, sets, ag_news_dir, tmp_path):
    result = _train(recipe, ag_news_dir, tmp_path / recipe, sets, max_steps=2, batch_size=8)
    classifier = attentext.load(result.run_dir, precision="fp32")
    assert classifier.chunking is not None
    assert classifier.aggregation == sets[0].rsplit("=", 1)[1]
    assert _test_accuracy(result.run_dir, ag_news_dir) == pytest.approx(
        result.metrics["test"]["accuracy"], abs=1e-9
    )


def test_a_run_from_before_chunking_loads_and_truncates_as_before(frozen_attention, tmp_path):
    """recipe.yaml without the chunking keys and config.json without the aggregation: the run
    reads texts cut by its truncation, with the model it had (no window attention)."""
    old = tmp_path / "old"
    shutil.copytree(frozen_attention.run_dir, old)
    recipe = yaml.safe_load((old / "recipe.yaml").read_text(encoding="utf-8"))
    for key in ("long_text", "stride", "max_chunks", "chunks_kept"):
        del recipe["tokenizer"][key]
    recipe["model"]["options"].pop("aggregation")
    (old / "recipe.yaml").write_text(yaml.safe_dump(recipe), encoding="utf-8")
    config = json.loads((old / "config.json").read_text(encoding="utf-8"))
    del config["aggregation"], config["aggregation_hidden"]
    (old / "config.json").write_text(json.dumps(config), encoding="utf-8")
    classifier = attentext.load(old, precision="fp32")
    assert classifier.chunking is None and classifier.aggregation == "mean"
    assert classifier.model.window_attention is None
    expected = classifier.run_batch(
        pad_rows(encode(classifier.tokenizer, [LONG], 16, "head+tail"), 0)
    )
    np.testing.assert_allclose(classifier.logits([LONG]), expected, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# Explain, serve, export
# ---------------------------------------------------------------------------------------------


def test_explain_gives_window_weights_and_words_over_the_whole_text(frozen_attention, tmp_path):
    run_dir = frozen_attention.run_dir
    long, short = attentext.explain(run_dir, [LONG, SHORT[1]], output_dir=tmp_path / "ex")
    probabilities = attentext.load(run_dir, precision="fp32").predict_proba([LONG, SHORT[1]])
    for explanation, expected in zip((long, short), probabilities, strict=True):
        assert list(explanation.probabilities.values()) == pytest.approx(expected, abs=1e-5)
        assert explanation.importances.sum() == pytest.approx(1.0, abs=1e-5)
        assert explanation.window_weights.sum() == pytest.approx(1.0, abs=1e-5)
    windows = long.windows()
    assert len(windows) == 5 and long.truncated and long.attention is None
    assert windows[-1]["end"] > windows[0]["end"] and "windows weighted by attention" in long.method
    assert max(end for _, end in long.offsets) == windows[-1]["end"]  # words of every window
    assert short.windows() == [{"start": 0, "end": len(SHORT[1]), "weight": 1.0}]
    assert short.attention is not None  # one window: explained as without chunking
    page = (tmp_path / "ex" / "explanation.html").read_text(encoding="utf-8")
    assert "Read as 5 windows" in page and (tmp_path / "ex" / "explanation-0.png").is_file()


def test_serve_predicts_and_explains_a_long_text(frozen_attention):
    app = create_app([frozen_attention.run_dir], max_chars=20_000)
    with TestClient(app) as client:
        predicted = client.post("/v1/predict", json={"texts": [LONG, SHORT[0]]})
        assert predicted.status_code == 200, predicted.text
        explained = client.post("/v1/explain", json={"text": LONG})
        assert explained.status_code == 200, explained.text
    answer = explained.json()["explanations"][0]
    assert len(answer["windows"]) == 5
    assert sum(w["weight"] for w in answer["windows"]) == pytest.approx(1.0, abs=1e-4)


def test_onnx_export_of_the_window_model_matches_pytorch(finetune_attention):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from attentext.export.onnx import export_onnx
    from attentext.inference.onnx_backend import OnnxClassifier

    run_dir = Path(finetune_attention.run_dir)
    folder = export_onnx(run_dir)
    info = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    assert info["outputs"] == ["logits", "window_scores"]
    assert info["long_text"]["aggregation"] == "attention"
    texts = [LONG, *SHORT]
    torch_side = TransformersClassifier.from_run_dir(run_dir, precision="fp32")
    onnx_side = OnnxClassifier.from_run_dir(run_dir)
    expected, weights, counts = torch_side.document_logits(texts)
    got, onnx_weights, onnx_counts = onnx_side.document_logits(texts)
    assert counts.tolist() == onnx_counts.tolist() == [5, 1, 1, 1]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    np.testing.assert_allclose(onnx_weights, weights, atol=1e-5)
