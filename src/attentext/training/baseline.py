"""Fitting a non-neural family (the TF-IDF baseline): no Trainer, no checkpoints, one fit."""

from __future__ import annotations

import time
from typing import Any

from attentext.data.dataset import TextDataset, iter_column
from attentext.models.registry import ModelFamily
from attentext.recipes import Recipe


def fit_classifier(
    family: ModelFamily, recipe: Recipe, dataset: TextDataset
) -> tuple[Any, dict[str, Any]]:
    """The family's classifier fitted on the train split, and how the fit went."""
    options = recipe.model.options
    classifier = family.code().new_classifier(dataset.label_names, options, dataset.multi_label)
    train = dataset["train"]
    start = time.perf_counter()
    # the texts in one pass, never all of them at once as Python strings (memory on 1M rows)
    classifier.fit(
        iter_column(train, "text"), dataset.labels("train"), recipe.training.class_weight
    )
    seconds = time.perf_counter() - start
    return classifier, {
        "precision": "fp64",
        "train_seconds": round(seconds, 2),
        "train_samples_per_second": round(len(train) / seconds, 1),
        "n_train": len(train),
        "trainable_parameters": classifier.n_parameters,
        "total_parameters": classifier.n_parameters,
    }
