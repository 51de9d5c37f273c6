"""The data profile: measured before training, recorded in metrics.json, and a one-line warning
where the recipe does not fit the data (imbalanced classes, another language)."""

from __future__ import annotations

import warnings

import pytest
from conftest import labelled_csv

import attentext
from attentext.data.profile import (
    advise,
    copies_in_training,
    normalized_splits,
    profile,
    whole_word_share,
)
from attentext.errors import AttentextWarning

FRENCH = [
    "Le produit est arrivé en retard et abîmé et je suis très déçu",
    "Service client formidable je recommande vivement cette boutique",
    "Qualité médiocre qui ne fonctionne plus après deux jours",
]


def test_whole_word_share_tells_english_from_french():
    vocabulary = {
        w: i for i, w in enumerate(["the", "product", "arrived", "late", "and", "broken", "very"])
    }
    assert whole_word_share(["The product arrived late and broken"], vocabulary) == 1.0
    assert whole_word_share(FRENCH, vocabulary) < 0.1
    assert whole_word_share(["12 34"], vocabulary) is None


def test_the_profile_measures_size_classes_imbalance_and_lengths():
    facts = profile(["a b c", "d e", "f"], [0, 0, 1], ["x", "y"])
    assert facts["n_train"] == 3 and facts["n_classes"] == 2
    assert facts["imbalance"] == 2.0
    assert facts["words_per_text"]["p50"] == 2.0
    assert "whole_word_share" not in facts


def test_multi_label_counts_every_label():
    assert profile(["a", "b"], [[0, 1], [1]], ["x", "y"])["imbalance"] == 2.0


def test_imbalance_is_said_once_in_one_line_unless_class_weights_are_on():
    facts = {"imbalance": 9.0}
    with pytest.warns(AttentextWarning, match="imbalanced.*--class-weight balanced") as caught:
        advise(facts, "none", "data", "default")
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        advise(facts, "balanced", "data", "default")  # already weighted: nothing to say


def test_training_on_imbalanced_data_warns_and_records_the_profile(write, tmp_path):
    rows = [(f"good thing {i}", "pos") for i in range(30)] + [(f"bad {i}", "neg") for i in range(5)]
    data = write("skewed.csv", labelled_csv(rows))
    with pytest.warns(AttentextWarning, match="imbalanced"):
        result = attentext.train("tfidf-logreg", data, tmp_path / "run")
    assert result.metrics["data_profile"]["imbalance"] >= 5  # 30:5, less what validation took


@pytest.fixture
def french(write):
    """A small labelled CSV of French sentences (the default encoder is English)."""
    rows = [
        (text, label) for text, label in zip(FRENCH * 4, ["neg", "pos", "neg"] * 4, strict=True)
    ]
    return write("fr.csv", labelled_csv(rows))


def test_the_default_encoder_on_french_text_says_it_does_not_fit(french, tmp_path):
    with pytest.warns(AttentextWarning, match="default encoder.*English.*multilingual"):
        result = attentext.train(
            "encoder-frozen", french, tmp_path / "fr", max_steps=1, precision="fp32"
        )
    assert result.metrics["data_profile"]["whole_word_share"] < 0.7


def test_a_word_model_started_from_the_encoder_is_told_when_its_vocabulary_does_not_fit(
    french, tmp_path
):
    with pytest.warns(AttentextWarning, match="English.*model.embedding_init=random"):
        result = attentext.train(
            "attention-rnn",
            french,
            tmp_path / "fr",
            max_steps=1,
            overrides=["model.embedding_init=encoder", "model.options.hidden_size=8"],
        )
    assert result.metrics["data_profile"]["whole_word_share"] < 0.7


def test_left_to_the_data_a_word_model_on_another_language_starts_from_noise(french, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = attentext.train(
            "attention-rnn",
            french,
            tmp_path / "fr",
            max_steps=1,
            overrides=["model.embedding_init=auto", "model.options.hidden_size=8"],
        )
    said = " ".join(str(w.message) for w in caught)
    assert "model.embedding_init=random (the encoder knows only" in said
    assert "multilingual" not in said  # from noise, the encoder's vocabulary does not matter
    assert "whole_word_share" not in result.metrics["data_profile"]
    assert "embedding_init: random" in (result.run_dir / "recipe.yaml").read_text()
    assert "embedding_init" not in result.metrics


def test_copies_of_training_texts_are_counted_case_and_spacing_ignored():
    train = ["Oil prices jump", "The team wins the cup", "Stocks fall"]
    others = {"validation": ["oil  prices JUMP", "A new phone"], "test": ["stocks fall", "x", "y"]}

    keys = normalized_splits({"train": train, **others})
    copies = copies_in_training(keys.pop("train"), keys)
    assert copies == {"validation_in_train": 1, "test_in_train": 1}


def test_training_says_how_many_test_texts_it_trains_on_and_records_it(tmp_path):
    """trec's official test split holds 10 of its 500 questions in train, emotion's 11 of 2,000:
    test accuracy counted them as new without a word. Training says so, per split, and keeps
    the counts (not the texts) in metrics.json."""
    rows = [(f"good thing number {i}", "pos") for i in range(12)] + [
        (f"bad thing number {i}", "neg") for i in range(12)
    ]
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "train.csv").write_text(labelled_csv(rows), encoding="utf-8")
    test_rows = [("GOOD thing  number 3", "pos"), ("bad thing number 4", "neg")] + [
        (f"an unseen {w} text", label) for w, label in (("fine", "pos"), ("poor", "neg"))
    ] * 2
    (folder / "test.csv").write_text(labelled_csv(test_rows), encoding="utf-8")
    validation = [("a fine day", "pos"), ("a poor day", "neg")] * 2  # train is not carved
    (folder / "validation.csv").write_text(labelled_csv(validation), encoding="utf-8")

    with pytest.warns(
        AttentextWarning, match=r"2 of the 6 test texts \(33\.3 %\) are also"
    ) as seen:
        result = attentext.train("tfidf-logreg", folder, tmp_path / "run")

    assert result.metrics["data_profile"]["test_in_train"] == 2
    assert result.metrics["data_profile"]["validation_in_train"] == 0
    assert sum("are also training texts" in str(w.message) for w in seen) == 1
    card = (tmp_path / "run" / "README.md").read_text(encoding="utf-8")
    assert "2 test texts are also training texts (case and spacing ignored)." in card
