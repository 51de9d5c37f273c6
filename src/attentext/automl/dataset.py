"""The data a search or a budgeted choice reads: loaded once, with the validation split every
candidate is measured on (the same texts for all, or the comparison means nothing)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from attentext.data.dataset import TextDataset, column_values
from attentext.errors import DataError, RecipeError
from attentext.recipes import Recipe
from attentext.training.run import recipe_dataset

DIGEST_ROWS = 10_000  # rows hashed at a time by `data_digest`


def shared_dataset(recipe: Recipe, data: str | Path | TextDataset, command: str) -> TextDataset:
    """`data` as the recipe reads it (columns, validation share, seed), with a train and a
    validation split; a one-line error without them.

    A recipe drawing N texts per class (`data.shots`) is refused first: such a run keeps no
    validation split, so every trial of `tune --set data.shots=8` would have nothing to be
    compared on (it was a KeyError traceback after the first trial had trained)."""
    if recipe.data.shots:
        raise RecipeError(
            f"data.shots={recipe.data.shots}: a run drawing N texts per class keeps no validation "
            f"split, and {command} compares its runs on one; drop data.shots (train --shots "
            "trains one such run)"
        )
    dataset = recipe_dataset(recipe, data)
    if "train" not in dataset.splits:
        raise DataError(f"{dataset.source}: no train split for {command}")
    if "validation" not in dataset.splits:
        raise DataError(
            f"{dataset.source}: no validation split for {command} to compare on; give a "
            "validation file or keep data.val_fraction above 0"
        )
    return dataset


def data_digest(dataset: TextDataset) -> str:
    """SHA-256 of the texts and labels of the train and validation splits every candidate reads:
    what `tune --resume` and `auto --resume` compare, so that runs of other data are not taken."""
    digest = hashlib.sha256()
    for split in ("train", "validation"):
        texts = column_values(dataset.splits[split], "text")
        labels = column_values(dataset.splits[split], "label")
        digest.update(split.encode("utf-8"))
        for start in range(0, len(texts), DIGEST_ROWS):  # a block at a time: bounded memory
            block = [texts[start : start + DIGEST_ROWS], labels[start : start + DIGEST_ROWS]]
            digest.update(json.dumps(block, default=str).encode("utf-8"))
    return digest.hexdigest()
