"""Recipes: built-in names, YAML files, --set overrides, and errors that say what to fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

import attentext
from attentext.automl.spaces import search_space
from attentext.errors import RecipeError
from attentext.models.registry import model_family
from attentext.recipes import TrainingSpec, builtin_recipe_names, load_recipe, recipe_from_text

REPO = Path(__file__).resolve().parents[1]


def test_builtin_seed_transformer_recipe():
    recipe = load_recipe("seed-transformer")

    assert "seed-transformer" in builtin_recipe_names()
    assert recipe.name == "seed-transformer"
    assert recipe.tokenizer.type == "word"
    # decided from the training data (data/defaults.py), within the lesson's sizes
    assert recipe.tokenizer.max_tokens == recipe.tokenizer.max_length == "auto"
    assert recipe.tokenizer.length_cap == 256
    assert recipe.model.type == "seed-transformer"
    assert recipe.model.options["mask_padding"] is True
    # the widths are the data's (the lesson's up to 10 labels), the heads the lesson's
    assert {
        k: recipe.model.options[k] for k in ("embed_dim", "ff_dim", "classifier_hidden_dim")
    } == {
        "embed_dim": "auto",
        "ff_dim": "auto",
        "classifier_hidden_dim": "auto",
    }
    assert {k: recipe.model.options[k] for k in ("num_heads", "key_dim")} == {
        "num_heads": 2,
        "key_dim": 32,
    }
    assert recipe.training.batch_size == 128
    assert recipe.data.val_fraction == pytest.approx(0.05)


def test_recipe_from_a_yaml_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\nmodel:\n  type: seed-transformer\n  options: {embed_dim: 16}\n"
        "training:\n  epochs: 1\n  batch_size: 8\n",
        encoding="utf-8",
    )

    recipe = load_recipe(path)

    assert recipe.name == "mine"
    assert recipe.model.options == {"embed_dim": 16}
    assert recipe.training.epochs == 1.0 and isinstance(recipe.training.epochs, float)
    assert recipe.training.batch_size == 8
    assert recipe.training.learning_rate == TrainingSpec().learning_rate  # default kept


def test_the_repo_recipe_file_equals_the_builtin_name():
    assert (
        load_recipe(REPO / "recipes" / "seed-transformer.yaml").to_dict()
        == load_recipe("seed-transformer").to_dict()
    )


def test_yaml_round_trip_of_a_resolved_recipe(tmp_path):
    recipe = load_recipe("seed-transformer", ["training.epochs=2", "model.options.embed_dim=8"])
    path = tmp_path / "saved.yaml"
    path.write_text(recipe.to_yaml(), encoding="utf-8")

    assert load_recipe(path).to_dict() == recipe.to_dict()


def test_overrides_parse_types():
    recipe = load_recipe(
        "seed-transformer",
        [
            "training.epochs=3",
            "training.learning_rate=1e-3",  # YAML 1.1 reads this as a string
            "training.group_by_length=false",
            "training.max_steps=7",
            "training.precision=fp32",
            "model.options.mask_padding=false",
        ],
    )

    assert recipe.training.epochs == 3.0 and isinstance(recipe.training.epochs, float)
    assert recipe.training.learning_rate == 0.001 and isinstance(
        recipe.training.learning_rate, float
    )
    assert recipe.training.group_by_length is False
    assert recipe.training.max_steps == 7
    assert recipe.training.precision == "fp32"
    assert recipe.model.options["mask_padding"] is False


def test_scientific_notation_with_mantissa_dot():
    assert (
        load_recipe("seed-transformer", ["training.learning_rate=3.0e-4"]).training.learning_rate
        == 3e-4
    )


def test_resolve_recipe_named_options_become_overrides():
    recipe = attentext.resolve_recipe(
        "seed-transformer",
        epochs=2,
        max_steps=9,
        batch_size=16,
        precision="fp32",
        class_weight="balanced",
        val_fraction=0.0,
        overrides=["training.logging_steps=1"],
    )

    t = recipe.training
    assert (t.epochs, t.max_steps, t.batch_size, t.precision, t.class_weight, t.logging_steps) == (
        2.0,
        9,
        16,
        "fp32",
        "balanced",
        1,
    )
    assert recipe.data.val_fraction == 0.0


def test_resolve_recipe_applies_options_to_a_recipe_object():
    base = load_recipe("encoder-finetune", ["training.epochs=3"])
    epochs = base.training.epochs
    recipe = attentext.resolve_recipe(base, epochs=epochs + 1)
    assert recipe.training.epochs == epochs + 1
    assert base.training.epochs == epochs  # the original is untouched
    data_aware = load_recipe("seed-transformer")  # epochs: auto, until a number is given
    assert attentext.resolve_recipe(data_aware, epochs=5).training.epochs == 5.0
    assert data_aware.training.epochs == "auto"


def _recipe_error(*args) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe(*args)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_key_suggests_the_right_one():
    message = _recipe_error("seed-transformer", ["training.epoch=3"])
    assert "training.epoch" in message and "did you mean 'epochs'" in message


def test_unknown_section_suggests_the_right_one():
    assert "did you mean 'training'" in _recipe_error("seed-transformer", ["trainig.epochs=3"])


def test_bad_type_is_a_recipe_error():
    message = _recipe_error("seed-transformer", ["training.epochs=many"])
    assert "training.epochs" in message and "number" in message


@pytest.mark.parametrize(
    "override",
    [
        "training.batch_size=1.5",
        "training.group_by_length=maybe",
        "training.max_steps=true",
        "data.seed=abc",
        "data.seed=true",
        "data.seed=1.5",
    ],
)
def test_other_bad_types_are_recipe_errors(override):
    _recipe_error("seed-transformer", [override])


def test_the_data_seed_falls_back_to_the_training_seed_and_round_trips():
    recipe = load_recipe("seed-transformer", ["training.seed=7"])
    assert recipe.data.seed is None and recipe.data_seed == 7
    chosen = load_recipe("seed-transformer", ["training.seed=7", "data.seed=42"])
    assert chosen.data_seed == 42 and chosen.training.seed == 7
    for each in (recipe, chosen):
        again = recipe_from_text(each.to_yaml(), "recipe.yaml")
        assert again.data_seed == each.data_seed and again.data.seed == each.data.seed
    unset = load_recipe("seed-transformer", ["training.seed=7", "data.seed=42", "data.seed=null"])
    assert unset.data_seed == 7


@pytest.mark.parametrize(
    "override",
    [
        "training.precision=int8",
        "training.warmup_ratio=5",  # a share of the steps: 5 is not one (it once meant 5 steps)
        "training.class_weight=auto",
        "training.batch_size=0",
        "training.learning_rate=0",
        "training.label_smoothing=1.0",
        "training.label_smoothing=-0.1",
        "data.val_fraction=1.0",
        "tokenizer.max_length=0",
    ],
)
def test_invalid_values_are_recipe_errors(override):
    _recipe_error("seed-transformer", [override])


@pytest.mark.parametrize(
    "override",
    [
        "training.learning_rate=nan",  # passed `<= 0`: torch's "Invalid learning rate" traceback
        "training.epochs=inf",  # transformers' "cannot convert float infinity to integer"
        "training.epochs=.nan",
        "training.max_grad_norm=-.inf",
    ],
)
def test_a_number_that_is_not_finite_is_a_recipe_error(override):
    assert "finite number" in _recipe_error("seed-transformer", [override])


@pytest.mark.parametrize("override", ["training.epochs", "=3", "training"])
def test_malformed_override_without_key_or_equals(override):
    assert "key=value" in _recipe_error("seed-transformer", [override])


def test_override_into_a_value_that_is_not_a_section():
    assert "not a section" in _recipe_error("seed-transformer", ["training.epochs.x=3"])


def test_unknown_recipe_name_suggests_the_right_one():
    message = _recipe_error("seed-transfomer")
    assert "unknown recipe 'seed-transfomer'" in message
    assert "did you mean 'seed-transformer'" in message


def test_missing_recipe_file(tmp_path):
    assert "not found" in _recipe_error(tmp_path / "missing.yaml")


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\ntraining:\n  epochs: [1, 2\n  batch_size: 8\n", encoding="utf-8")

    message = _recipe_error(path)

    assert str(path) in message
    assert "line" in message
    line = int(message.split("line", 1)[1].split()[0])
    assert 3 <= line <= 5


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text(yaml.safe_dump([1, 2]), encoding="utf-8")
    assert "mapping" in _recipe_error(path)


def test_unknown_model_option_fails_when_the_model_is_built(ag_news_dir, tmp_path):
    recipe = load_recipe(
        "seed-transformer", ["model.options.embed_dm=64"]
    )  # loads: options are free
    assert recipe.model.options["embed_dm"] == 64

    with pytest.raises(RecipeError, match="model.options.embed_dm.*did you mean 'embed_dim'"):
        attentext.train(recipe, ag_news_dir, tmp_path / "run", precision="fp32", max_steps=1)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("recipe", "option"),
    [
        ("attention-rnn", "model.options.embed_dim=abc"),  # was torch's "empty(): argument 'size'"
        ("attention-rnn", "model.options.bidirectional=maybe"),
        ("attention-rnn", "model.options.dropout=.nan"),
    ],
)
def test_a_model_option_of_the_wrong_type_fails_in_one_line(recipe, option, ag_news_dir, tmp_path):
    with pytest.raises(RecipeError, match=r"model\.options\.\w+: expected"):
        attentext.train(
            load_recipe(recipe, [option]),
            ag_news_dir,
            tmp_path / "run",
            precision="fp32",
            max_steps=1,
        )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("recipe", "option", "message"),
    [
        # trained to chance without a word: a model whose attention has no head
        ("seed-transformer", "model.options.num_heads=0", "num_heads must be at least 1, got 0"),
        # torch tracebacks from inside <output>.partial
        ("seed-transformer", "model.options.dropout=1.5", "dropout must be in [0, 1), got 1.5"),
        ("seed-transformer", "model.options.embed_dim=-4", "embed_dim must be at least 1"),
        ("attention-rnn", "model.options.hidden_size=0", "hidden_size must be at least 1"),
        ("encoder-frozen", "model.options.dropout=1.0", "dropout must be in [0, 1), got 1.0"),
        # scikit-learn tracebacks, or (max_iter=0) a model that never fitted
        ("tfidf-logreg", "model.options.min_df=0", "min_df must be at least 1, got 0"),
        ("tfidf-logreg", "model.options.ngram_max=0", "ngram_max must be at least 1, got 0"),
        ("tfidf-logreg", "model.options.max_iter=0", "max_iter must be at least 1, got 0"),
        ("tfidf-logreg", "model.options.C=0", "C must be more than 0, got 0"),
    ],
)
def test_a_model_option_out_of_range_is_refused_before_anything_is_written(
    recipe, option, message, ag_news_dir, tmp_path
):
    with pytest.raises(RecipeError, match=re.escape(message)):
        attentext.train(load_recipe(recipe, [option]), ag_news_dir, tmp_path / "run", max_steps=1)
    assert list(tmp_path.iterdir()) == []  # no run, no <output>.partial


@pytest.mark.parametrize(
    ("recipe", "option", "message"),
    [
        # was "search.model.options.embed_dim: expected a string, got 32": the search section
        # typed its choices by the value set, the mistake itself
        ("seed-transformer", "model.options.embed_dim=abc", "expected an integer, got abc"),
        # was "search.model.options.C: model.options.C is a whole number; give whole low, ..."
        ("tfidf-logreg", "model.options.C=abc", "model.options.C: expected a number, got abc"),
    ],
)
def test_a_wrong_model_option_is_named_not_the_search_section(recipe, option, message):
    assert message in _recipe_error_when_built(recipe, [option])


def test_a_whole_number_for_a_float_model_option_is_taken():
    """`C=3` was refused by the search section (its range reads floats); 3 is a number."""
    recipe = load_recipe("tfidf-logreg", ["model.options.C=3"])
    model_family(recipe.model.type).check_spec(recipe.model)
    assert recipe.model.options["C"] == 3


def test_searched_model_option_values_are_checked_when_the_search_starts():
    recipe = recipe_from_text(
        "name: t\nmodel: {type: seed-transformer}\n"
        "search:\n  model.options.num_heads: {choices: [2, 0]}\n",
        "t.yaml",
    )
    with pytest.raises(RecipeError, match=r"search\.model\.options\.num_heads: .*at least 1"):
        search_space(recipe)
    floats = recipe_from_text(
        "name: t\nmodel: {type: seed-transformer}\n"
        "search:\n  model.options.dropout: {low: 0, high: 0.5}\n",
        "t.yaml",
    )
    assert not search_space(floats)["model.options.dropout"].integer  # a float option


def _recipe_error_when_built(recipe: str, overrides: list[str]) -> str:
    """The message of the RecipeError the recipe raises when loaded or checked by its family."""
    with pytest.raises(RecipeError) as err:
        loaded = load_recipe(recipe, overrides)
        model_family(loaded.model.type).check_spec(loaded.model)
    return str(err.value)


def test_label_smoothing_is_refused_with_several_labels_per_text():
    message = _recipe_error(
        "seed-transformer", ["training.label_smoothing=0.1", "data.multi_label=true"]
    )
    assert "label_smoothing" in message and "several labels" in message
    message = _recipe_error(
        "seed-transformer", ["training.label_smoothing=0.1", "distill.teacher=runs/teacher"]
    )
    assert "distilled student" in message


def test_an_unknown_best_metric_is_a_recipe_error_with_suggestion():
    assert "did you mean 'loss'" in _recipe_error("seed-transformer", ["training.best_metric=los"])


def test_the_last_weights_and_early_stopping_are_a_recipe_error():
    message = _recipe_error(
        "seed-transformer", ["training.best_metric=last", "training.early_stopping_patience=3"]
    )
    assert "early_stopping_patience=0" in message
