"""Few-shot training data: N labelled examples per class, drawn from the training split.

The draw is stratified (exactly N of every class) and seeded, so a run's `recipe.yaml`
(`data.shots`, and `data.seed` or else `training.seed`) names its training examples. A class with
fewer than N examples is refused rather than sampled short: an unbalanced "N-shot" run would not
be what it says.
The validation split is dropped: in a few-shot setting the N per class are all the labels there
are, and early stopping or calibration on a handful of held-out rows would be noise.
"""

from __future__ import annotations

import datasets
import numpy as np

from attentext.data.dataset import TextDataset
from attentext.errors import DataError, shown


def shot_indices(labels: list[int] | np.ndarray, shots: int, seed: int) -> np.ndarray:
    """Row indices of `shots` examples of every class present, drawn with `seed`, shuffled."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):  # sorted: the same draw whatever the row order of classes
        rows = np.flatnonzero(labels == label)
        chosen.append(rng.choice(rows, size=shots, replace=False))
    return rng.permutation(np.concatenate(chosen))


def sample_shots(dataset: TextDataset, shots: int, seed: int) -> TextDataset:
    """The dataset with its train split cut to `shots` examples per class (seeded, stratified)
    and no validation split; a one-line DataError when a class has fewer than `shots`."""
    if dataset.multi_label:
        raise DataError(
            f"{dataset.source}: data.shots draws N texts per class, one label each; "
            "multi-label data has no such draw"
        )
    train = dataset["train"]
    labels = np.asarray(dataset.labels("train"))
    counts = np.bincount(labels, minlength=len(dataset.label_names))
    short = [i for i, count in enumerate(counts) if count < shots]
    if short:
        name, fewest = dataset.label_names[short[0]], int(counts.min())
        more = f" (and {len(short) - 1} other class(es))" if len(short) > 1 else ""
        raise DataError(
            f"{dataset.source}: --shots {shots} needs {shots} training examples of every class; "
            f"'{shown(name)}' has {int(counts[short[0]])}{more}; use --shots {fewest} or fewer"
        )
    sampled = train.select(shot_indices(labels, shots, seed).tolist())
    splits = {name: split for name, split in dataset.splits.items() if name != "validation"}
    splits["train"] = sampled
    return TextDataset(
        datasets.DatasetDict(splits), dataset.label_names, dataset.source, dataset.multi_label
    )
