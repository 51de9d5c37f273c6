"""Data-aware defaults: `auto` settings decided from the training split, on known inputs; an
explicit value always wins; the run's recipe.yaml holds the values chosen, and one line says so."""

from __future__ import annotations

import re
import warnings
from collections import Counter

import pytest

import attentext
from attentext.data.defaults import (
    MANY_LABELS,
    MAX_EPOCHS,
    MIN_EPOCHS,
    MULTI_LABEL_HEAD_RATE,
    SMALL_VALIDATION,
    VOCABULARY_CAP,
    auto_epochs,
    auto_max_length,
    auto_max_tokens,
    auto_settings,
    data_aware,
    describe,
    planned,
    with_widths,
)
from attentext.errors import AttentextNote, RecipeError
from attentext.recipes import AUTO, load_recipe
from attentext.text.tokenizers import build_tokenizer, token_counts
from attentext.text.vectorizer import word_counts, word_frequencies


def test_max_length_is_a_percentile_of_token_counts_rounded_up_to_8():
    lengths = list(range(1, 101))  # the 95th percentile is 95.05
    choice = auto_max_length(lengths, 95.0, cap=512)
    assert choice.setting == "tokenizer.max_length" and choice.value == 96
    assert "95th percentile" in choice.why
    assert auto_max_length([3, 5, 7], 100.0, cap=512).value == 8


def test_max_length_is_capped_by_the_recipe_and_by_the_encoder():
    lengths = [1000] * 10
    assert auto_max_length(lengths, 95.0, cap=256).value == 256
    assert "length_cap 256" in auto_max_length(lengths, 95.0, cap=256).why
    by_encoder = auto_max_length(lengths, 95.0, cap=1024, limit=512)
    assert by_encoder.value == 512 and "encoder's limit 512" in by_encoder.why
    assert auto_max_length([2], 50.0, cap=256, least=17).value == 17  # a window over its stride


def test_vocabulary_is_the_words_seen_twice_with_padding_and_unknown():
    frequencies = Counter({"the": 5, "cat": 2, "sat": 1, "mat": 1})
    choice = auto_max_tokens(frequencies)
    assert choice.value == 2 + 2  # "the", "cat", padding, [UNK]
    assert "2 of 4 words" in choice.why
    many = Counter({f"w{i}": 3 for i in range(VOCABULARY_CAP + 10)})
    assert auto_max_tokens(many).value == VOCABULARY_CAP
    assert auto_max_tokens(Counter()).value == 3  # the vectorizer's least


def test_epochs_make_about_the_target_steps_within_bounds():
    assert auto_epochs(1000, 100, 200, 3).value == 20  # 10 steps an epoch
    assert auto_epochs(1001, 100, 200, 3).value == 19  # 11 steps an epoch: ceil(200 / 11)
    assert auto_epochs(50, 128, 1200, 3).value == MAX_EPOCHS
    assert auto_epochs(1_000_000, 128, 1200, 3).value == MIN_EPOCHS
    assert "early stopping after 3 epochs" in auto_epochs(1000, 100, 200, 3).why
    assert "early stopping" not in auto_epochs(1000, 100, 200, 0).why


def test_word_counts_are_the_vectorizers_token_counts():
    texts = ["Hello, world!  It's   a test.", "one"]
    tokenizer = build_tokenizer(planned(load_recipe("seed-transformer")), texts)
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    assert word_counts(texts) == [len(row) for row in ids] == [5, 1]
    assert word_frequencies(["A a b", "b, c"]) == Counter({"a": 2, "b": 2, "c": 1})


def test_the_scratch_recipes_leave_length_vocabulary_start_and_epochs_to_the_data():
    scratch = ["tokenizer.max_length", "tokenizer.max_tokens", "model.embedding_init"]
    widths = ["model.options.embed_dim", "model.options.ff_dim"]
    assert auto_settings(load_recipe("seed-transformer")) == [
        *scratch,
        "training.epochs",
        "training.label_smoothing",
        *widths,
        "model.options.classifier_hidden_dim",
    ]
    assert auto_settings(load_recipe("attention-rnn")) == [
        *scratch,
        "training.epochs",
        "training.best_metric",
    ]
    assert auto_settings(load_recipe("encoder-frozen")) == ["tokenizer.max_length"]
    assert auto_settings(load_recipe("tfidf-logreg")) == []


def test_a_word_model_on_the_encoders_pieces_leaves_no_vocabulary_to_size():
    recipe = load_recipe("attention-rnn", ["tokenizer.type=pretrained"])
    assert "tokenizer.max_tokens" not in auto_settings(recipe)
    resolved, choices = data_aware(recipe, 2850, [20] * 100, None, None, word_share=0.9)
    assert "tokenizer.max_tokens" not in describe("data.csv", choices)
    assert resolved.tokenizer.max_length == 24 and resolved.model.embedding_init == "encoder"


def test_a_floor_keeps_short_texts_whole_where_padding_is_per_batch():
    assert auto_max_length([20] * 50, 95.0, cap=128, least=64).value == 64
    assert "raised to 64" in auto_max_length([20] * 50, 95.0, cap=128, least=64).why
    assert auto_max_length([80] * 50, 95.0, cap=128, least=64).value == 80
    assert auto_max_length([900] * 50, 95.0, cap=128, least=64).value == 128
    recipe = load_recipe("encoder-finetune")  # 64 to 128 tokens, from the texts
    assert recipe.tokenizer.max_length == AUTO and recipe.tokenizer.length_floor == 64
    short, _ = data_aware(recipe, 1000, [15] * 100, 512)
    long, _ = data_aware(recipe, 1000, [600] * 100, 512)
    assert (short.tokenizer.max_length, long.tokenizer.max_length) == (64, 128)
    with pytest.raises(RecipeError, match="length_floor"):
        load_recipe("encoder-finetune", ["tokenizer.length_floor=200"])


def test_the_fine_tuned_head_has_its_own_rate_only_with_several_labels_per_text():
    recipe = load_recipe("encoder-finetune")
    assert "training.head_learning_rate" in auto_settings(recipe)
    one, _ = data_aware(recipe, 1000, [30] * 10, 512, multi_label=False)
    several, choices = data_aware(recipe, 1000, [30] * 10, 512, multi_label=True)
    assert one.training.head_learning_rate == 0.0
    assert several.training.head_learning_rate == MULTI_LABEL_HEAD_RATE > 0
    assert "several labels" in describe("data.csv", choices)
    # without the dataset's word, the recipe's data.multi_label decides; before the data, too
    flagged = load_recipe("encoder-finetune", ["data.multi_label=true"])
    assert data_aware(flagged, 1000)[0].training.head_learning_rate == MULTI_LABEL_HEAD_RATE
    assert planned(flagged).training.head_learning_rate == MULTI_LABEL_HEAD_RATE
    assert planned(recipe).training.head_learning_rate == 0.0
    given = load_recipe("encoder-finetune", ["training.head_learning_rate=0.01"])
    assert data_aware(given, 1000, multi_label=True)[0].training.head_learning_rate == 0.01


def test_an_explicit_value_wins_over_auto():
    widths = [
        f"model.options.{name}=40" for name in ("embed_dim", "ff_dim", "classifier_hidden_dim")
    ]
    recipe = load_recipe(
        "seed-transformer",
        [
            "tokenizer.max_length=100",
            "training.epochs=4",
            "model.embedding_init=random",
            "training.label_smoothing=0",
            *widths,
        ],
    )
    assert auto_settings(recipe) == ["tokenizer.max_tokens"]
    resolved, choices = data_aware(recipe, 1000, [10] * 10, None, Counter({"a": 2}))
    assert [c.setting for c in choices] == ["tokenizer.max_tokens"]
    assert resolved.tokenizer.max_length == 100 and resolved.training.epochs == 4.0
    assert resolved.tokenizer.max_tokens == 3
    assert resolved.model.options["embed_dim"] == 40


def test_the_seed_transformer_is_the_lessons_width_for_a_few_labels_and_wider_for_many():
    recipe = load_recipe("seed-transformer")
    few, _ = data_aware(recipe, 1000, n_labels=MANY_LABELS)
    many, choices = data_aware(recipe, 1000, n_labels=MANY_LABELS + 10)
    lesson = {"embed_dim": 32, "ff_dim": 32, "classifier_hidden_dim": 20, "key_dim": 32}
    wide = {"embed_dim": 64, "ff_dim": 64, "classifier_hidden_dim": 64, "key_dim": 32}
    assert {k: few.model.options[k] for k in lesson} == lesson
    assert {k: many.model.options[k] for k in wide} == wide
    widths = "model.options.embed_dim=64, model.options.ff_dim=64, model.options.classifier_hidden_dim=64"
    assert f"{widths} (20 labels, more than 10: wider than the lesson)" in describe("d", choices)
    # a model built from the recipe as loaded (no run to resolve it) is sized the same way
    assert with_widths(recipe.model.options, 50)["classifier_hidden_dim"] == 64
    assert with_widths({"embed_dim": 16}, 50) == {"embed_dim": 16}
    assert planned(recipe).model.options["embed_dim"] == 32  # before the data: the lesson's
    with pytest.raises(RecipeError, match="num_heads cannot be auto.*embed_dim"):
        load_recipe("seed-transformer", ["model.options.num_heads=auto"])


def test_data_aware_resolves_every_auto_setting():
    recipe = load_recipe("seed-transformer")
    resolved, choices = data_aware(
        recipe, 2850, [20] * 99 + [300], None, Counter({"a": 9}), word_share=0.9
    )
    assert resolved.model.embedding_init == "encoder"
    assert resolved.tokenizer.max_length == 24  # 95th percentile 20, rounded up to 24
    assert resolved.tokenizer.max_tokens == 3
    assert resolved.training.epochs == 40.0  # 1,200 steps at 23 an epoch: 53, kept to 40
    resolved_names = (
        "max_length|max_tokens|embedding_init|epochs|label_smoothing|embed_dim|ff_dim"
        "|classifier_hidden_dim"
    )
    assert not re.search(rf"({resolved_names}): auto", resolved.to_yaml())
    line = describe("data.csv", choices)
    assert "\n" not in line and "tokenizer.max_length=24" in line and "--set" in line


def test_auto_is_taken_only_where_the_data_can_decide():
    with pytest.raises(RecipeError, match="training.batch_size: expected an integer"):
        load_recipe("seed-transformer", ["training.batch_size=auto"])
    recipe = load_recipe("encoder-finetune", ["tokenizer.max_length=auto"])
    assert recipe.tokenizer.max_length == AUTO
    with pytest.raises(RecipeError, match="length_percentile"):
        load_recipe("seed-transformer", ["tokenizer.length_percentile=0"])


def test_a_recipe_before_its_data_plans_with_its_caps():
    recipe = planned(load_recipe("seed-transformer"), n_train=2850)
    assert recipe.tokenizer.max_length == 256 and recipe.tokenizer.max_tokens == VOCABULARY_CAP
    assert recipe.training.epochs == 40.0
    assert attentext.summary("seed-transformer").total == 659_592  # the lesson's model


def test_an_encoder_counts_its_own_pieces_and_respects_its_limit():
    recipe = load_recipe("encoder-frozen")
    lengths, limit = token_counts(recipe, ["a short text", "another one here"])
    assert limit == 512 and all(n >= 4 for n in lengths)  # [CLS] ... [SEP]


def test_the_run_records_the_values_chosen_and_says_so_in_one_line(ag_news_dir, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = attentext.train(
            "seed-transformer",
            ag_news_dir,
            tmp_path / "run",
            max_steps=2,
            precision="fp32",
            overrides=["tokenizer.max_length=40"],
        )
    notes = [str(w.message) for w in caught if issubclass(w.category, AttentextNote)]
    assert len(notes) == 1 and "\n" not in notes[0]
    assert "tokenizer.max_tokens=" in notes[0] and "training.epochs=" in notes[0]
    assert "tokenizer.max_length" not in notes[0]  # given: nothing to decide
    saved = load_recipe(tmp_path / "run" / "recipe.yaml")
    assert saved.tokenizer.max_length == 40
    assert isinstance(saved.tokenizer.max_tokens, int) and saved.tokenizer.max_tokens < 20000
    assert saved.training.epochs == MAX_EPOCHS  # 190 training rows: 2 steps an epoch
    saved_text = (tmp_path / "run" / "recipe.yaml").read_text()
    assert not re.search(r"(max_length|max_tokens|epochs): auto", saved_text)
    classifier = attentext.load(tmp_path / "run")  # the run directory reads as before
    assert len(classifier.tokenizer) == saved.tokenizer.max_tokens
    assert result.metrics["global_steps"] == 2


def test_the_word_embedding_starts_from_the_encoder_only_where_it_knows_the_words():
    recipe = load_recipe("attention-rnn", ["model.embedding_init=auto"])
    assert "model.embedding_init" in auto_settings(recipe)
    english, choices = data_aware(recipe, 1000, word_share=0.9)
    assert english.model.embedding_init == "encoder"
    assert "model.embedding_init=encoder (the encoder knows 90 % of the words whole)" in describe(
        "data.csv", choices
    )
    other_language, choices = data_aware(recipe, 1000, word_share=0.4)
    assert other_language.model.embedding_init == "random"
    assert "knows only 40 %" in describe("data.csv", choices)
    assert data_aware(recipe, 1000, word_share=None)[0].model.embedding_init == "random"
    assert planned(recipe).model.embedding_init == "encoder"  # before the data: English
    given = load_recipe("attention-rnn", ["model.embedding_init=random"])
    assert data_aware(given, 1000, word_share=0.9)[0].model.embedding_init == "random"


def test_a_fixed_channel_is_dropped_where_the_encoder_does_not_know_the_words():
    recipe = load_recipe("attention-rnn", ["model.options.static_dim=384"])
    english, _ = data_aware(recipe, 1000, word_share=0.9)
    assert english.model.options["static_dim"] == 384
    other_language, choices = data_aware(recipe, 1000, word_share=0.4)
    assert other_language.model.options["static_dim"] == 0
    assert "model.options.static_dim=0 (no encoder vectors to keep)" in describe("x", choices)
    with pytest.raises(RecipeError, match="static_dim reads the encoder's word vectors"):
        load_recipe("attention-rnn", ["model.options.static_dim=8", "model.embedding_init=random"])


def test_the_seed_transformer_smooths_its_targets_for_many_labels_only():
    recipe = load_recipe("seed-transformer")
    few, _ = data_aware(recipe, 1000, n_labels=MANY_LABELS)
    many, choices = data_aware(recipe, 1000, n_labels=MANY_LABELS + 10)
    several, _ = data_aware(recipe, 1000, multi_label=True, n_labels=90)

    assert few.training.label_smoothing == 0.0
    assert many.training.label_smoothing == 0.2
    assert several.training.label_smoothing == 0.0  # no one label to spread a target from
    student = load_recipe("seed-transformer", ["distill.teacher=runs/teacher"])
    assert data_aware(student, 1000, n_labels=50)[0].training.label_smoothing == 0.0
    assert "training.label_smoothing=0.2 (20 labels, more than 10: smoothed" in describe(
        "d", choices
    )
    assert planned(recipe).training.label_smoothing == 0.0
    assert (
        load_recipe("seed-transformer", ["training.label_smoothing=0.1"]).training.label_smoothing
        == 0.1
    )


def test_attention_rnn_keeps_its_final_weights_when_validation_is_too_small_to_choose_by():
    recipe = load_recipe("attention-rnn")
    small, choices = data_aware(recipe, 1900, n_validation=SMALL_VALIDATION - 1)
    large, _ = data_aware(recipe, 14427, n_validation=SMALL_VALIDATION)
    stopping, _ = data_aware(
        load_recipe("attention-rnn", ["training.early_stopping_patience=3"]), 1900, n_validation=100
    )

    assert small.training.best_metric == "last"
    assert large.training.best_metric == "accuracy"
    assert stopping.training.best_metric == "accuracy"  # early stopping waits for a best
    assert "training.best_metric=last (499 validation texts, fewer than 500" in describe(
        "d", choices
    )
    assert planned(recipe).training.best_metric == "accuracy"
    assert load_recipe("seed-transformer").training.best_metric == "accuracy"  # not left to data
