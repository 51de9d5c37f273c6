"""The data a search or a budgeted choice reads: loaded once, with the validation split every
candidate is measured on (the same texts for all, or the comparison means nothing)."""

from __future__ import annotations

from pathlib import Path

from attentext.data.dataset import TextDataset
from attentext.errors import DataError
from attentext.recipes import Recipe
from attentext.training.run import recipe_dataset


def shared_dataset(recipe: Recipe, data: str | Path | TextDataset, command: str) -> TextDataset:
    """`data` as the recipe reads it (columns, validation share, seed), with a train and a
    validation split; a one-line error without them."""
    dataset = recipe_dataset(recipe, data)
    if "train" not in dataset.splits:
        raise DataError(f"{dataset.source}: no train split for {command}")
    if "validation" not in dataset.splits:
        raise DataError(
            f"{dataset.source}: no validation split for {command} to compare on; give a "
            "validation file or keep data.val_fraction above 0"
        )
    return dataset
