"""`model.embedding_init: encoder`: the word models' embedding starts from the encoder's vectors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from attentext.errors import RecipeError
from attentext.models.registry import build_model
from attentext.recipes import ModelSpec, resolve_recipe
from attentext.text.vectorizer import fit_word_vectorizer
from attentext.training.word_vectors import (
    RANDOM_INIT_STD,
    encoder_word_vectors,
    initialize_word_embeddings,
    reduce_vectors,
    vocabulary,
)

LABELS = ["World", "Sports", "Business", "Sci/Tech"]
TEXTS = [
    "football match ends in a draw as the striker misses a penalty",
    "soccer team wins the cup final after extra time",
    "inflation rises as the central bank holds interest rates",
    "the bank reports higher profits and a rise in interest income",
    "new chip doubles the speed of laptop computers",
    "software company releases a browser update for computers",
]


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def words():
    return fit_word_vectorizer(TEXTS, 1000, 16)


def test_each_word_gets_the_encoders_meaning(words):
    vectors, _ = encoder_word_vectors("default", words)
    index = words.get_vocab()
    assert vectors.shape == (len(words), 384)
    football, soccer, inflation = (vectors[index[w]] for w in ("football", "soccer", "inflation"))
    assert _cosine(football, soccer) > _cosine(football, inflation) + 0.1


def test_the_vectors_are_cached_and_read_back(words):
    first, _ = encoder_word_vectors("default", words)
    again, hit = encoder_word_vectors("default", words)
    assert hit
    np.testing.assert_array_equal(first, again)


def test_the_encoders_own_vocabulary_takes_its_input_embedding_table():
    from transformers import AutoModel, AutoTokenizer

    from attentext.encoders import default_encoder_path

    pieces = AutoTokenizer.from_pretrained(default_encoder_path())
    vectors, _ = encoder_word_vectors("default", pieces)
    table = AutoModel.from_pretrained(default_encoder_path()).get_input_embeddings().weight
    np.testing.assert_array_equal(vectors, table.detach().numpy())


def test_reduction_keeps_the_main_directions_at_the_random_inits_spread():
    rng = np.random.default_rng(0)
    direction = rng.normal(size=40)
    vectors = np.outer(rng.normal(size=300) * 10, direction) + rng.normal(size=(300, 40))
    reduced = reduce_vectors(vectors, 8)
    assert reduced.shape == (300, 8)
    assert reduced.std() == pytest.approx(RANDOM_INIT_STD, rel=1e-3)
    # the dominant direction is the first component: it holds most of the variance
    assert reduced[:, 0].var() > 10 * reduced[:, 1:].var(axis=0).max()


def test_fewer_words_than_dimensions_leave_the_last_columns_at_zero():
    reduced = reduce_vectors(np.random.default_rng(0).normal(size=(5, 40)), 32)
    assert reduced.shape == (5, 32)
    assert not reduced[:, 5:].any()


@pytest.mark.parametrize("family", ["attention-rnn", "seed-transformer"])
def test_the_model_starts_from_the_vectors_and_special_rows_keep_their_own(words, family):
    spec = ModelSpec(type=family, options={"embed_dim": 16})
    model = build_model(spec, words, LABELS, 16)
    embedding = model.get_input_embeddings()
    before = embedding.weight.detach().clone()
    facts = initialize_word_embeddings(model, words, "default")
    after = embedding.weight.detach()
    special = torch.tensor(words.all_special_ids)
    torch.testing.assert_close(after[special], before[special])
    real = np.setdiff1d(np.arange(len(words)), words.all_special_ids)
    vectors, _ = encoder_word_vectors("default", words)
    torch.testing.assert_close(after[real], torch.from_numpy(reduce_vectors(vectors[real], 16)))
    assert facts["words"] == len(real) and facts["from"] == "default"
    if family == "attention-rnn":  # the padding row stays zero
        assert not after[words.pad_token_id].any()


def test_a_vocabulary_of_one_word_keeps_the_random_start():
    words = fit_word_vectorizer(["hello hello"], 1000, 4)  # [PAD], [UNK], hello
    model = build_model(ModelSpec(type="attention-rnn", options={"embed_dim": 8}), words, LABELS, 4)
    before = model.get_input_embeddings().weight.detach().clone()
    assert initialize_word_embeddings(model, words, "default")["words"] == 0
    torch.testing.assert_close(model.get_input_embeddings().weight.detach(), before)


def test_vocabulary_lists_the_entries_in_id_order(words):
    listed = vocabulary(words)
    assert [words.get_vocab()[w] for w in listed] == list(range(len(words)))


def test_an_unknown_start_is_a_one_line_error_with_a_suggestion():
    with pytest.raises(RecipeError, match="embedding_init must be one of random, encoder.*encoder"):
        resolve_recipe("attention-rnn", overrides=["model.embedding_init=encoders"])


def test_an_encoder_recipe_has_no_word_embedding_to_start(ag_news_dir, tmp_path):
    import attentext

    with pytest.raises(RecipeError, match="encoder-classifier has none"):
        attentext.train(
            "encoder-frozen",
            ag_news_dir,
            tmp_path / "run",
            overrides=["model.embedding_init=encoder"],
        )


def test_a_fixed_embedding_of_noise_is_a_one_line_error():
    with pytest.raises(RecipeError, match="at the encoder's word vectors; with .*random.*noise"):
        resolve_recipe(
            "attention-rnn",
            overrides=["model.embedding_init=random", "model.freeze_embedding=true"],
        )
    with pytest.raises(RecipeError, match="freeze_embedding keeps the word models' embedding"):
        resolve_recipe("encoder-frozen", overrides=["model.freeze_embedding=true"])


def _trained_from_the_encoder(data, out, *settings: str) -> dict:
    """attention-rnn trained one epoch from the encoder's word vectors; its metrics.json."""
    import attentext

    overrides = ["model.embedding_init=encoder", "model.options.hidden_size=16", *settings]
    attentext.train("attention-rnn", data, out, epochs=1, overrides=overrides)
    return json.loads((out / "metrics.json").read_text())


def test_a_fixed_embedding_keeps_the_encoders_vectors_through_training(ag_news_dir, tmp_path):
    import attentext

    out = tmp_path / "rnn"
    metrics = _trained_from_the_encoder(ag_news_dir, out, "model.freeze_embedding=true")
    assert metrics["embedding_init"]["frozen"] is True
    assert "freeze_embedding: true" in (out / "recipe.yaml").read_text()
    assert "(word vectors, kept fixed) |" in (out / "README.md").read_text()
    run = attentext.load(out)
    trained = load_file(out / "model.safetensors")
    start = build_model(ModelSpec(type="attention-rnn"), run.tokenizer, LABELS, 8)
    seed = resolve_recipe(out / "recipe.yaml").training.seed
    initialize_word_embeddings(start, run.tokenizer, "default", seed)
    kept = np.setdiff1d(np.arange(len(run.tokenizer)), run.tokenizer.all_special_ids)
    torch.testing.assert_close(
        trained["embedding.weight"][kept], start.get_input_embeddings().weight.detach()[kept]
    )


def test_a_run_started_from_the_encoder_says_so_and_predicts(ag_news_dir, tmp_path):
    import attentext

    out = tmp_path / "rnn"
    metrics = _trained_from_the_encoder(ag_news_dir, out)
    assert metrics["embedding_init"]["from"] == "default"
    assert metrics["embedding_init"]["words"] > 100
    assert "embedding_init: encoder" in (out / "recipe.yaml").read_text()
    assert (
        "| word embedding started from | default (word vectors) |"
        in (out / "README.md").read_text()
    )
    labels = attentext.load(out).predict(["the striker scored twice in the final"])
    assert labels[0] in LABELS


def test_a_word_model_on_the_encoders_pieces_starts_from_its_table_and_predicts(
    ag_news_dir, tmp_path
):
    import attentext

    out = tmp_path / "rnn-pieces"
    metrics = _trained_from_the_encoder(ag_news_dir, out, "tokenizer.type=pretrained")
    # every entry of the MiniLM's 30,522-piece vocabulary but its 5 special tokens (their own rows)
    assert metrics["embedding_init"]["words"] == 30522 - 5
    classifier = attentext.load(out)
    assert classifier.predict(["the striker scored twice in the final"])[0] in LABELS


def test_a_static_channel_keeps_the_encoders_vectors_beside_the_learned_ones(ag_news_dir, tmp_path):
    import attentext

    out = tmp_path / "rnn"
    _trained_from_the_encoder(ag_news_dir, out, "model.options.static_dim=8")
    run = attentext.load(out)
    assert not any("static" in name for name, _ in run.model.named_parameters())  # a buffer
    trained = load_file(out / "model.safetensors")
    start = build_model(
        ModelSpec(type="attention-rnn", options={"static_dim": 8}), run.tokenizer, LABELS, 8
    )
    initialize_word_embeddings(
        start, run.tokenizer, "default", resolve_recipe(out / "recipe.yaml").training.seed
    )
    torch.testing.assert_close(
        trained["static_embedding.weight"], start.get_static_embeddings().weight
    )
    assert trained["static_embedding.weight"].abs().sum() > 0  # filled, not left at zero
    learned = start.get_input_embeddings().weight.detach()
    assert not torch.allclose(trained["embedding.weight"], learned)  # the other channel trained
    labels = run.predict(["the striker scored twice in the final"])
    assert labels[0] in LABELS


@pytest.mark.parametrize("model_type", ["attention-rnn", "seed-transformer"])
def test_each_word_model_fills_its_fixed_channel_at_its_own_width(model_type, words):
    spec = ModelSpec(type=model_type, options={"embed_dim": 8, "static_dim": 12})
    model = build_model(spec, words, LABELS, 16)
    initialize_word_embeddings(model, words, "default", seed=3)
    vectors, _ = encoder_word_vectors("default", words)
    kept = np.setdiff1d(np.arange(len(words)), words.all_special_ids)
    static = model.get_static_embeddings().weight
    np.testing.assert_allclose(static[kept].numpy(), reduce_vectors(vectors[kept], 12, 3))
    assert static[words.all_special_ids].abs().sum() == 0  # padding and [UNK] stay at zero
    learned = model.get_input_embeddings().weight.detach()
    np.testing.assert_allclose(learned[kept].numpy(), reduce_vectors(vectors[kept], 8, 3))
    ids = torch.tensor([[words.get_vocab()["football"], words.get_vocab()["soccer"]]])
    before = model.eval()(ids).logits
    static.zero_()  # the model reads the channel
    assert not torch.allclose(before, model(ids).logits)
