"""The seed transformer: the lesson's Keras model as a Hugging Face config/model pair."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModelForSequenceClassification

import attentext  # noqa: F401  (registers the Auto classes)
from attentext.errors import RecipeError
from attentext.models.hashed_bigrams import HashedBigrams, bigram_rows
from attentext.models.registry import build_model
from attentext.models.seed_transformer import (
    SeedTransformerConfig,
    SeedTransformerForSequenceClassification,
)
from attentext.models.word_dropout import drop_words
from attentext.recipes import ModelSpec
from attentext.text.vectorizer import fit_word_vectorizer

WORD_TOKENIZER = fit_word_vectorizer(["a b c d e f", "a b c"], max_tokens=100, max_length=16)


def make_model(seed: int = 0, **options):
    torch.manual_seed(seed)
    config = SeedTransformerConfig(
        vocab_size=20000, max_position_embeddings=256, num_labels=4, **options
    )
    return SeedTransformerForSequenceClassification(config).eval()


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_match_the_lessons_keras_model():
    model = make_model()

    assert n_params(model.embedding) == 648_192
    assert n_params(model.transformer_block) == 10_656
    assert n_params(model.dense) == 660
    assert n_params(model.classifier) == 84
    assert n_params(model) == 659_592


def test_logits_shape_and_loss():
    model = make_model()
    ids = torch.randint(2, 20000, (3, 10))

    out = model(input_ids=ids, labels=torch.tensor([0, 1, 3]))

    assert out.logits.shape == (3, 4)
    assert out.loss is not None and out.loss.ndim == 0 and torch.isfinite(out.loss)


def _padded(ids: torch.Tensor, extra: int) -> tuple[torch.Tensor, torch.Tensor]:
    pad = torch.zeros(ids.shape[0], extra, dtype=ids.dtype)
    mask = torch.cat([torch.ones_like(ids), torch.zeros_like(pad)], dim=1)
    return torch.cat([ids, pad], dim=1), mask


@torch.no_grad()
def _logits_alone_and_padded(mask_padding: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of two 12-token texts, as they are and with 30 padding tokens appended."""
    model = make_model(mask_padding=mask_padding)
    ids = torch.randint(2, 20000, (2, 12))
    plain = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
    padded_ids, mask = _padded(ids, 30)
    return plain, model(input_ids=padded_ids, attention_mask=mask).logits


def test_padding_does_not_change_logits_when_masked():
    plain, padded = _logits_alone_and_padded(mask_padding=True)
    torch.testing.assert_close(padded, plain, atol=1e-5, rtol=0)


def test_padding_changes_logits_without_masking_like_the_lesson():
    plain, padded = _logits_alone_and_padded(mask_padding=False)
    assert not torch.allclose(padded, plain, atol=1e-4)


@torch.no_grad()
def test_missing_attention_mask_is_derived_from_pad_ids():
    model = make_model()
    ids = torch.randint(2, 20000, (1, 8))
    padded_ids, mask = _padded(ids, 5)

    torch.testing.assert_close(
        model(input_ids=padded_ids).logits, model(input_ids=padded_ids, attention_mask=mask).logits
    )


@torch.no_grad()
def test_attention_weights_are_rows_of_probabilities_with_padding_masked():
    model = make_model()
    ids = torch.randint(2, 20000, (2, 6))
    padded_ids, mask = _padded(ids, 3)
    mask[1, 4:] = 0  # the second text is shorter: 4 real tokens, 5 padding

    out = model(input_ids=padded_ids, attention_mask=mask, output_attentions=True)
    (weights,) = out.attentions

    assert weights.shape == (2, 2, 9, 9)  # (B, heads, T, T)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 2, 9))
    assert torch.all(weights[0, :, :, 6:] == 0)
    assert torch.all(weights[1, :, :, 4:] == 0)
    assert torch.all(weights[1, :, :, :4] > 0)


@torch.no_grad()
def test_explicit_attention_path_equals_the_fused_kernel():
    model = make_model()
    padded_ids, mask = _padded(torch.randint(2, 20000, (2, 7)), 4)

    fused = model(input_ids=padded_ids, attention_mask=mask).logits
    explicit = model(input_ids=padded_ids, attention_mask=mask, output_attentions=True).logits

    torch.testing.assert_close(explicit, fused, atol=1e-5, rtol=1e-5)


def test_input_longer_than_max_position_embeddings_raises():
    model = make_model()
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model(input_ids=torch.ones(1, 257, dtype=torch.long))


@torch.no_grad()
def test_a_batch_of_empty_texts_gives_logits():
    model = make_model()
    ids = torch.zeros(2, 0, dtype=torch.long)

    assert model(input_ids=ids, attention_mask=torch.zeros_like(ids)).logits.shape == (2, 4)


@torch.no_grad()
def test_an_all_padding_row_gives_finite_logits():
    model = make_model()
    ids = torch.tensor([[5, 6, 7], [0, 0, 0]])

    logits = model(input_ids=ids, attention_mask=(ids != 0).long()).logits

    assert torch.isfinite(logits).all()


@torch.no_grad()
def test_auto_classes_load_a_saved_model(tmp_path):
    model = make_model(seed=3)
    model.save_pretrained(tmp_path)
    ids = torch.randint(2, 20000, (2, 9))

    config = AutoConfig.from_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()

    assert config.model_type == "attentext-seed-transformer"
    assert type(loaded) is SeedTransformerForSequenceClassification
    assert (tmp_path / "model.safetensors").exists()
    torch.testing.assert_close(
        loaded(input_ids=ids).logits, model(input_ids=ids).logits, atol=0, rtol=0
    )


def test_build_model_sizes_the_model_for_tokenizer_and_labels():
    spec = ModelSpec(
        type="seed-transformer", options={"embed_dim": 8, "num_heads": 1, "key_dim": 8}
    )

    model = build_model(spec, WORD_TOKENIZER, ["neg", "pos"], max_length=16)

    assert model.config.vocab_size == len(WORD_TOKENIZER) == 8
    assert model.config.max_position_embeddings == 16
    assert model.config.num_labels == 2
    assert model.config.id2label == {0: "neg", 1: "pos"}
    assert model.config.label2id == {"neg": 0, "pos": 1}
    assert model.embedding.token_emb.weight.shape == (8, 8)


def test_unknown_model_option_is_a_recipe_error_with_suggestion():
    spec = ModelSpec(type="seed-transformer", options={"embed_dm": 64})
    with pytest.raises(RecipeError, match="model.options.embed_dm.*did you mean 'embed_dim'"):
        build_model(spec, WORD_TOKENIZER, ["a", "b"], 16)


def test_unknown_model_type_is_a_recipe_error_with_suggestion():
    with pytest.raises(RecipeError, match="did you mean 'seed-transformer'"):
        build_model(ModelSpec(type="seed-transfomer"), WORD_TOKENIZER, ["a", "b"], 16)


@pytest.mark.parametrize(
    "option", ["vocab_size", "max_position_embeddings", "pad_token_id", "unk_token_id"]
)
def test_options_that_come_from_tokenizer_and_recipe_are_recipe_errors(option):
    spec = ModelSpec(type="seed-transformer", options={option: 128})
    with pytest.raises(RecipeError, match=f"model.options.{option}"):
        build_model(spec, WORD_TOKENIZER, ["a", "b"], 16)


def test_word_dropout_hides_real_words_only_and_only_in_training():
    torch.manual_seed(0)
    ids = torch.randint(2, 20000, (64, 40))
    mask = torch.ones_like(ids)
    mask[:, 30:] = 0
    ids = ids.masked_fill(mask == 0, 0)

    dropped = drop_words(ids, mask, rate=0.25, unk_id=1)

    hidden = dropped != ids
    assert (dropped[hidden] == 1).all()  # a hidden word reads as [UNK]
    assert not hidden[:, 30:].any()  # padding stays padding
    assert 0.2 < hidden[:, :30].float().mean().item() < 0.3
    assert torch.equal(drop_words(ids, mask, rate=0.0, unk_id=1), ids)


def test_word_dropout_leaves_evaluation_as_it_was():
    plain, dropping = make_model(seed=3), make_model(seed=3, word_dropout=0.5)
    ids = torch.randint(2, 20000, (4, 12))

    with torch.no_grad():
        torch.testing.assert_close(plain(input_ids=ids).logits, dropping(input_ids=ids).logits)
    dropping.train()
    torch.manual_seed(0)
    with torch.no_grad():
        trained = dropping(input_ids=ids).logits
    assert not torch.allclose(trained, plain(input_ids=ids).logits)


def test_word_dropout_out_of_range_is_a_recipe_error():
    spec = ModelSpec(type="seed-transformer", options={"word_dropout": 1.0})
    with pytest.raises(RecipeError, match="word_dropout"):
        build_model(spec, WORD_TOKENIZER, ["a", "b"], 16)


@torch.no_grad()
def test_more_blocks_stack_and_each_returns_its_attention():
    one, three = make_model(), make_model(num_blocks=3)
    ids = torch.randint(2, 20000, (2, 7))

    out = three(input_ids=ids, output_attentions=True)

    assert n_params(three) == n_params(one) + 2 * 10_656  # two more of the lesson's block
    assert len(out.attentions) == 3
    assert all(a.shape == (2, 2, 7, 7) for a in out.attentions)
    assert not torch.allclose(out.attentions[0], out.attentions[2])
    # a one-block model keeps the names every run saved before num_blocks existed
    assert not any(key.startswith("more_blocks") for key in one.state_dict())


def test_zero_blocks_is_a_recipe_error():
    spec = ModelSpec(type="seed-transformer", options={"num_blocks": 0})
    with pytest.raises(RecipeError, match="num_blocks must be at least 1"):
        build_model(spec, WORD_TOKENIZER, ["a", "b"], 16)


def test_attention_pooling_weighs_the_real_tokens_and_ignores_padding(tmp_path):
    """`pooling: attention` pools with the attention RNN's additive attention: one weight per
    real token, summing to 1, none on padding; padding leaves the logits as they were; the
    weights come out with the attentions (for explain), and a saved model loads as it was."""
    model = make_model(seed=5, pooling="attention")
    ids = torch.tensor([[5, 6, 7, 8, 0, 0], [9, 10, 0, 0, 0, 0]])
    out = model(input_ids=ids, output_attentions=True)
    weights = out.pooling_weights
    assert weights.shape == (2, 6)
    torch.testing.assert_close(weights.sum(1), torch.ones(2))
    assert (weights[0, 4:] == 0).all() and (weights[1, 2:] == 0).all()
    assert weights[0, :4].std() > 0  # learned scores, not an even split
    alone = model(input_ids=ids[1:, :2]).logits
    torch.testing.assert_close(out.logits[1:], alone, atol=1e-5, rtol=0)
    assert not hasattr(model(input_ids=ids), "pooling_weights")  # only when asked for
    mean = make_model(seed=5)
    assert n_params(model) - n_params(mean) == 32 * 32 + 32 + 32  # W, b and v
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.pooling == "attention"
    torch.testing.assert_close(loaded(input_ids=ids).logits, model(input_ids=ids).logits)


def test_an_unknown_pooling_is_a_recipe_error():
    spec = ModelSpec(type="seed-transformer", options={"pooling": "max"})
    with pytest.raises(RecipeError, match="pooling must be one of mean, attention"):
        build_model(spec, WORD_TOKENIZER, ["a", "b"], 16)


def test_word_pairs_hash_into_the_table_and_padding_pairs_are_left_out():
    """`bigram_buckets`: each pair of neighbouring words has one row (the same for the same
    pair wherever it stands, within the table); a text's pair vector is the mean of its real
    pairs' rows, so padding changes nothing, and a one-word text has none (zeros)."""
    ids = torch.tensor([[5, 6, 7, 5, 6], [9, 10, 0, 0, 0]])
    rows = bigram_rows(ids, 101)
    assert rows.shape == (2, 4) and int(rows.min()) >= 0 and int(rows.max()) < 101
    assert rows[0, 0] == rows[0, 3]  # "5 6" twice
    assert rows[0, 0] != bigram_rows(torch.tensor([[6, 5]]), 101)[0, 0]  # order matters
    table = HashedBigrams(101, 4)
    real = ids != 0
    pooled = table(ids, real)
    expected = table.weight[bigram_rows(ids[1:, :2], 101)[0, 0]]
    torch.testing.assert_close(pooled[1], expected)  # the one real pair, padding's left out
    torch.testing.assert_close(table(ids[:, :1], real[:, :1]), torch.zeros(2, 4))


def test_a_model_with_word_pairs_adds_their_linear_term_to_the_logits(tmp_path):
    """The pairs' mean, embed_dim wide, adds a linear term of its own to the logits (the
    network's part unchanged); padding still leaves the logits as they were; it saves and loads."""
    model = make_model(seed=3, bigram_buckets=1000)
    plain = make_model(seed=3)
    assert n_params(model) - n_params(plain) == 1000 * 32 + 32 * 4 + 4  # the table, its layer
    ids = torch.randint(2, 20000, (2, 12))
    with torch.no_grad():
        network = model.classifier(F.relu(model.dense(_pooled(model, ids))))
        pairs = model.bigram_out(model.bigrams(ids, ids != 0))
        torch.testing.assert_close(model(input_ids=ids).logits, network + pairs)
    padded_ids, mask = _padded(ids, 30)
    with torch.no_grad():
        alone = model(input_ids=ids).logits
        torch.testing.assert_close(
            model(input_ids=padded_ids, attention_mask=mask).logits, alone, atol=1e-5, rtol=0
        )
    model.save_pretrained(tmp_path)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    assert loaded.config.bigram_buckets == 1000
    torch.testing.assert_close(loaded(input_ids=ids).logits, alone)
    with torch.no_grad():
        loaded.bigrams.weight.zero_()  # the pairs read nothing: other logits
        assert not torch.allclose(loaded(input_ids=ids).logits, alone)


def test_negative_bigram_buckets_is_a_recipe_error():
    spec = ModelSpec(type="seed-transformer", options={"bigram_buckets": -1})
    with pytest.raises(RecipeError, match="bigram_buckets must be at least 0"):
        build_model(spec, WORD_TOKENIZER, ["a", "b"], 16)


def _pooled(model: SeedTransformerForSequenceClassification, ids: torch.Tensor) -> torch.Tensor:
    """The block's outputs, mean-pooled (no padding in `ids`), as the head reads them."""
    x, _ = model.transformer_block(model.embedding(ids), ids != 0, False)
    return x.mean(1)
