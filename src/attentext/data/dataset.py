"""Load text-classification data from files or the Hugging Face hub into one shape.

Whatever the source, the result is a `TextDataset`: a `datasets.DatasetDict` whose splits have a
`text` (str) and a `label` (int) column, plus the label names in id order. Validation happens here,
at the boundary, so that everything downstream can trust the data.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow.compute as pc
from datasets.utils.stratify import stratified_shuffle_split_generate_indices

from attentext.data.labels import (
    UnknownLabel,
    check_every_class_trained,
    check_labels,
    check_lookalikes,
    infer_label_names,
    read_classes,
    to_ids,
)
from attentext.data.multilabel import (
    check_every_label_trained,
    infer_multi_label_names,
    label_sets,
    refuse_names_holding_the_join,
    refuse_sets_read_as_classes,
    to_id_lists,
    warn_labels_never_apart,
    warn_one_label_each,
)
from attentext.data.readers import (
    COLUMN_HINT,
    SPLIT_ALIASES,
    SUFFIXES,
    RawSplit,
    check_texts,
    checked_label,
    composed,
    find_split_files,
    read_file,
)
from attentext.errors import AttentextWarning, DataError, short_list, shown

HUB_PREFIX = "hf:"
# labels a carved validation split holds no text of, from which a warning says so (at least
# this many, and this share of the labels): a label or two of a small file is no news, hundreds
# of rare labels unmeasured and untuned are (`_label_sets_split`)
UNMEASURED_LABELS = 2
UNMEASURED_SHARE = 0.1


def column_values(split: datasets.Dataset, name: str) -> list:
    """A column as a Python list, converted from Arrow at once.

    `split[name]` in datasets 5 is a lazy column that yields one row at a time through the
    formatting machinery: 60 s for a million texts (`benchmarks/train_scale.py`), against
    well under a second here.
    """
    return split.with_format("arrow")[name].to_pylist()


def iter_column(split: datasets.Dataset, name: str, batch_size: int = 10_000) -> Iterator[Any]:
    """A column's values one by one, converted a batch at a time: for one pass over a large
    split without a list of all of it (a million texts as Python strings are ~0.4 GB)."""
    for batch in split.select_columns([name]).with_format("arrow").iter(batch_size):
        yield from batch[name].to_pylist()


@dataclass
class TextDataset:
    """Splits with `text`/`label` columns and the label names, in id order.

    Single-label data has one label id per row; multi-label data (`multi_label`) a list of ids
    per row, possibly empty.
    """

    splits: datasets.DatasetDict
    label_names: list[str]
    source: str
    multi_label: bool = False

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}

    def texts(self, split: str) -> list[str]:
        """The split's texts, as a list (`column_values`)."""
        return column_values(self[split], "text")

    def labels(self, split: str) -> list:
        """The split's label ids (lists of ids for multi-label data), as a list."""
        return column_values(self[split], "label")

    def __getitem__(self, split: str) -> datasets.Dataset:
        if split not in self.splits:
            raise DataError(
                f"{self.source}: no '{shown(split)}' split (found: {short_list(list(self.splits))})"
            )
        return self.splits[split]


def load_text_dataset(
    source: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    val_fraction: float = 0.05,
    seed: int = 42,
    label_names: list[str] | None = None,
    multi_label: bool = False,
    label_separator: str = "|",
    distinct_lookalike_labels: bool = False,
) -> TextDataset:
    """Load train/validation/test splits from a folder, a file or a Hugging Face dataset name.

    A folder holds `train.*` and optionally `test.*` and `validation.*` (csv, tsv, jsonl,
    parquet) and `classes.txt`. A single file is the train split. A name that is not a local path
    (or starts with `hf:`) goes to `datasets.load_dataset`. When no validation split exists,
    `val_fraction` of train is carved out with `seed`, stratified by label. `label_names` fixes
    the label set, as when evaluating a trained model on new data (which, being
    measured and not trained on, need not hold every class). With `multi_label`, a label
    cell holds several names joined by `label_separator` (or a list), and each row gets a list.
    Labels to train that print alike (`Sports` / `sports`) are refused unless
    `distinct_lookalike_labels` (`data.distinct_lookalike_labels` in a recipe).
    """
    if not isinstance(source, str | os.PathLike):  # str(None) would be looked up on the hub
        raise TypeError(
            "data must be a path (a data file or folder) or a Hugging Face dataset name, "
            f"got a {type(source).__name__}"
        )
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    raws, declared = _read_sources(str(source), text_column, label_column)
    for raw in raws.values():
        check_texts(raw)
        if not multi_label:
            check_labels(raw)
            refuse_sets_read_as_classes(raw, label_separator)
    if declared is not None and not label_names:  # classes to train: none may print alike
        first = raws.get("train") or raws["test"]
        classes = first.path.parent / "classes.txt"
        where = classes if classes.exists() else first.path
        check_lookalikes(where, dict.fromkeys(declared, 0), distinct_lookalike_labels, True)
    read = _multi_label_ids if multi_label else _single_label_ids
    names, ids, label_feature = read(
        raws, declared, label_names, label_column, label_separator, distinct_lookalike_labels
    )
    features = datasets.Features({"text": datasets.Value("string"), "label": label_feature})
    splits = {
        split: datasets.Dataset.from_dict(
            {"text": raw.texts, "label": ids[split]}, features=features
        )
        for split, raw in raws.items()
    }
    if "train" in splits and "validation" not in splits and val_fraction > 0:
        splits.update(
            _carve_validation(splits.pop("train"), val_fraction, seed, raws["train"].path)
        )
    return TextDataset(datasets.DatasetDict(splits), list(names), str(source), multi_label)


def _single_label_ids(
    raws: dict[str, RawSplit],
    declared: list[str] | None,
    label_names: list[str] | None,
    label_column: str,
    _separator: str,
    distinct_lookalikes: bool,
) -> tuple[list[str], dict[str, list], Any]:
    """One label per text: the names, each split's ids and the label feature."""
    first = raws.get("train") or raws["test"]
    names = list(
        label_names or declared or infer_label_names(first, label_column, distinct_lookalikes)
    )
    ids = _split_ids(raws, lambda _, raw: to_ids(raw, names, declared), label_names or declared)
    if "train" in raws and not label_names:
        check_every_class_trained(raws["train"], ids["train"], names)
    return names, ids, datasets.ClassLabel(names=names)


def _multi_label_ids(
    raws: dict[str, RawSplit],
    declared: list[str] | None,
    label_names: list[str] | None,
    _label_column: str,
    separator: str,
    distinct_lookalikes: bool,
) -> tuple[list[str], dict[str, list], Any]:
    """Several labels per text: the names, each split's lists of ids and the label feature."""
    first = raws.get("train") or raws["test"]
    sets = {split: label_sets(raw, separator) for split, raw in raws.items()}
    first_sets = sets.get("train") or sets["test"]
    names = (
        label_names
        or declared
        or infer_multi_label_names(first_sets, first.path, distinct_lookalikes)
    )
    if not label_names:  # names to train: each must come back whole from a prediction
        refuse_names_holding_the_join(names, first.path, declared is not None)
    if not label_names and not declared:  # a name holding the separator was read as two
        warn_labels_never_apart(first, first_sets, separator)
    ids = _split_ids(
        raws,
        lambda s, raw: to_id_lists(raw, sets[s], names, declared, separator),
        label_names or declared,
    )
    if "train" in raws and not label_names:  # fixed names: data to measure, not to train
        check_every_label_trained(raws["train"], ids["train"], names)
        warn_one_label_each(sets["train"], raws["train"].path)
    return names, ids, datasets.Sequence(datasets.ClassLabel(names=names))


def _split_ids(
    raws: dict[str, RawSplit], ids_of: Callable[[str, RawSplit], list], fixed: list[str] | None
) -> dict[str, list]:
    """Each split's label ids (`ids_of`). Where the classes are train's (none `fixed` by a run or
    a classes.txt), a label of a validation or test file that train lacks says where its
    examples must be: the line named only the label (an audit)."""
    ids = {}
    for split, raw in raws.items():
        try:
            ids[split] = ids_of(split, raw)
        except UnknownLabel as error:
            if fixed or split == "train" or "train" not in raws:
                raise
            raise UnknownLabel(
                f"{error}; the classes are those of {raws['train'].path.name}: add examples of "
                f"it there, or remove its rows from {raw.path.name}"
            ) from None
    return ids


def _read_sources(
    source: str, text_column: str, label_column: str
) -> tuple[dict[str, RawSplit], list[str] | None]:
    """Every split's raw rows, and label names declared beside them (classes.txt, a ClassLabel).
    A leading `~` is the home folder, as a shell reads it (no hub name starts with one)."""
    path = Path(source).expanduser()
    if source.startswith(HUB_PREFIX) or not path.exists():
        looks_local = path.suffix.lower() in SUFFIXES or source.startswith((".", "/", "~"))
        if looks_local and not source.startswith(HUB_PREFIX):
            raise DataError(f"{path}: file or folder not found")
        return _load_hub(source.removeprefix(HUB_PREFIX), text_column, label_column)
    if path.is_dir():
        files = find_split_files(path)
        if "train" not in files and "test" not in files:
            raise DataError(
                f"{path}: no train.* or test.* data file (expected train.csv, train.jsonl, ...)"
            )
        raws = {split: read_file(f, text_column, label_column) for split, f in files.items()}
        return raws, read_classes(path)
    return {"train": read_file(path, text_column, label_column)}, read_classes(path.parent)


def _carve_validation(
    train: datasets.Dataset, val_fraction: float, seed: int, path: Path
) -> dict[str, datasets.Dataset]:
    """A seeded validation split, stratified by class where every class can spare a row.

    The same rows as `Dataset.train_test_split(stratify_by_column="label")`, from the same
    function of `datasets`, but fed the label column as one array: `train_test_split` reads it
    row by row (91 of 104 s to load a 1M-row CSV, `benchmarks/train_scale.py`). Where that
    draw holds out a class's every row (2 rows of 15 at val_fraction 0.8: the run trained
    without it, an audit), the mended random split (`_random_split`) is taken instead.
    """
    n_val = max(1, round(len(train) * val_fraction))
    if len(train) - n_val < 1:
        raise DataError(f"{path}: too few rows ({len(train)}) to carve a validation split")
    n_train = len(train) - n_val
    if not isinstance(train.features["label"], datasets.ClassLabel):  # label sets
        val_rows, train_rows = _label_sets_split(train, n_val, seed, path)
        return {"train": train.select(train_rows), "validation": train.select(val_rows)}
    try:
        labels = train.with_format("arrow")["label"].to_numpy()
        train_rows, val_rows = next(
            stratified_shuffle_split_generate_indices(
                labels, n_train, n_val, rng=np.random.default_rng(seed)
            )
        )
        if not np.isin(labels[val_rows], labels[train_rows]).all():  # a class's every row held
            raise ValueError("a class held out whole")  # out (a large val_fraction): mended below
    except ValueError:  # a class too small to stratify: a plain random split
        val_rows, train_rows = _random_split(train, n_val, seed, path)
    return {"train": train.select(train_rows), "validation": train.select(val_rows)}


def _random_split(
    train: datasets.Dataset, n_val: int, seed: int, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """(validation rows, training rows) of a plain seeded split, mended where it would hold out
    a class's every row: trained without it, the model could never predict it (a 3-row file,
    'b' once, ended in scikit-learn's "needs samples of at least 2 classes" traceback). Each
    class's first row in the draw then stays in training, and validation comes from the rest;
    a split that left every class in training is unchanged. (Label sets are carved by
    `_label_sets_split`.)"""
    permutation = np.random.default_rng(seed).permutation(len(train))
    val_rows, train_rows = permutation[:n_val], permutation[n_val:]
    rows, labels = _row_labels(train)
    rank = np.empty(len(train), dtype=np.int64)
    rank[permutation] = np.arange(len(train))  # each row's place in the draw
    held_out = rank[rows] < n_val
    if np.isin(labels[held_out], labels[~held_out]).all():
        return val_rows, train_rows
    in_draw_order = np.argsort(rank[rows], kind="stable")
    _, first = np.unique(labels[in_draw_order], return_index=True)
    rest = permutation[~np.isin(permutation, rows[in_draw_order][first])]
    if not len(rest):
        raise DataError(
            f"{path}: every class has a single row, so none can be held out for validation; "
            "add rows or a validation file, or train without one (--val-fraction 0)"
        )
    val_rows = rest[:n_val]
    return val_rows, permutation[~np.isin(permutation, val_rows)]


def _label_sets_split(
    train: datasets.Dataset, n_val: int, seed: int, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """(validation rows, training rows) of label sets: the plain seeded draw where it keeps
    every label in training (the carve of every run before, kept so that `evaluate --split
    validation` and `ensemble` carve a run's validation as it did), else iterative
    stratification (Sechidis et al. 2011): labels from the rarest, each of its rows to the
    split that wants more of it, so that each label's share of validation is the carve's where
    it has the texts to spare; rows of no label make up the rest, as many as their share. A row
    goes to validation only where each of its labels has a row in training already: every
    label is trained on. The draw mended per label kept each rare label's first row in
    training, so that over hundreds of rare labels validation filled with texts of no label (52 %
    of it, 29 % of the data) and held 7 of 254 labels. Labels that cannot be spared a row are
    said in one warning, where they are many (`UNMEASURED_LABELS`, `UNMEASURED_SHARE`)."""
    rows, labels = _row_labels(train)
    permutation = np.random.default_rng(seed).permutation(len(train))
    rank = np.empty(len(train), dtype=np.int64)  # each row's place in the seeded draw
    rank[permutation] = np.arange(len(train))
    held_out = rank[rows] < n_val
    if np.isin(labels[held_out], labels[~held_out]).all():  # every label kept: as before
        return permutation[:n_val], permutation[n_val:]
    side = _stratified_sides(rows, labels, rank, n_val)
    _fill_validation(side, rows, labels, rank, n_val)
    val_rows = np.flatnonzero(side == 1)
    if not len(val_rows):
        raise DataError(
            f"{path}: every label has a single row, so none can be held out for validation; "
            "add rows or a validation file, or train without one (--val-fraction 0)"
        )
    missing = np.setdiff1d(np.unique(labels), labels[side[rows] == 1])
    if len(missing) >= max(UNMEASURED_LABELS, UNMEASURED_SHARE * len(np.unique(labels))):
        names = train.features["label"].feature.names
        shown_names = short_list([shown(names[i]) for i in missing])
        warnings.warn(
            f"{path}: {len(missing):,} of {len(np.unique(labels)):,} labels have too few texts "
            f"to spare one for the validation split carved from it ({shown_names}): trained on, "
            "but neither measured nor given thresholds of their own there; give a validation "
            "file beside the training data, or more texts of them",
            AttentextWarning,
            stacklevel=4,
        )
    draw = np.argsort(rank, kind="stable")  # both splits in the draw's order
    return draw[side[draw] == 1], draw[side[draw] == 0]


def _stratified_sides(
    rows: np.ndarray, labels: np.ndarray, rank: np.ndarray, n_val: int
) -> np.ndarray:
    """Each row's split from its labels (1 validation, 0 training, -1 a row of no label):
    labels from the rarest (then by id), their rows in the draw's order, each row not yet
    placed going where its label's wanted count is larger (validation wants the carve's share
    of each label's rows) while validation has room and its labels are all in training."""
    share = n_val / len(rank)
    count = np.bincount(labels, minlength=int(labels.max(initial=-1)) + 1)
    want = [(count * (1 - share)).tolist(), (count * share).tolist()]  # [training, validation]
    by_row = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[by_row], np.arange(len(rank) + 1)).tolist()
    labels_of = labels[by_row].tolist()
    side = [-1] * len(rank)
    trained = [False] * len(count)
    room = n_val
    order = np.lexsort((rank[rows], labels, count[labels]))
    for label, row in zip(labels[order].tolist(), rows[order].tolist(), strict=True):
        if side[row] >= 0:
            continue
        its = labels_of[bounds[row] : bounds[row + 1]]
        to_val = room > 0 and want[1][label] >= want[0][label] and all(trained[i] for i in its)
        side[row] = int(to_val)
        room -= to_val
        for i in its:
            want[side[row]][i] -= 1
            trained[i] = trained[i] or not to_val
    return np.array(side, dtype=np.int8)


def _fill_validation(
    side: np.ndarray, rows: np.ndarray, labels: np.ndarray, rank: np.ndarray, n_val: int
) -> None:
    """Validation made up to `n_val` rows: rows of no label first, in the draw's order (the rest
    of them to training); then, where those run short, rows in training whose labels each keep
    another row there."""
    free = np.flatnonzero(side < 0)
    free = free[np.argsort(rank[free], kind="stable")]
    room = max(n_val - int((side == 1).sum()), 0)
    side[free[:room]] = 1
    side[free[room:]] = 0
    room -= min(room, len(free))
    if not room:
        return
    in_training = np.bincount(labels[side[rows] == 0], minlength=int(labels.max()) + 1).tolist()
    by_row = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[by_row], np.arange(len(rank) + 1)).tolist()
    labels_of = labels[by_row].tolist()
    for row in np.argsort(rank, kind="stable").tolist():
        its = labels_of[bounds[row] : bounds[row + 1]]
        if room and side[row] == 0 and all(in_training[i] > 1 for i in its):
            side[row], room = 1, room - 1
            for i in its:
                in_training[i] -= 1


def _row_labels(train: datasets.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """(row, label id) of every label of every row, as two arrays: a row per row of
    single-label data; a pair per label of a label set (none for an empty set)."""
    column = train.with_format("arrow")["label"]
    if isinstance(train.features["label"], datasets.ClassLabel):
        return np.arange(len(train)), column.to_numpy()
    sets = column.combine_chunks()
    parents = pc.list_parent_indices(sets).to_numpy(zero_copy_only=False)
    return parents.astype(np.int64), pc.list_flatten(sets).to_numpy(zero_copy_only=False)


def _load_hub(
    name: str, text_column: str, label_column: str
) -> tuple[dict[str, RawSplit], list[str] | None]:
    """Load a dataset by hub name or local HF dataset path with `datasets.load_dataset`."""
    try:
        loaded = datasets.load_dataset(name)
    except Exception as err:  # datasets raises many types: offline, not found, bad config
        message = shown(str(err).splitlines()[0] if str(err) else type(err).__name__, 160)
        raise DataError(
            f"{name}: not a local file or folder, and loading it as a Hugging Face dataset "
            f"failed ({message})"
        ) from None
    raws: dict[str, RawSplit] = {}
    declared: list[str] | None = None
    for split_name, split in loaded.items():
        split_key = next((k for k, v in SPLIT_ALIASES.items() if split_name in v), None)
        if split_key is None:
            continue
        for column in (text_column, label_column):
            if column not in split.column_names:
                raise DataError(
                    f"{name} [{split_name}]: no column '{shown(column)}' (columns: "
                    f"{short_list(split.column_names)}); {COLUMN_HINT}"
                )
        feature = split.features[label_column]
        if isinstance(feature, datasets.ClassLabel):
            declared = list(feature.names)
        where = Path(f"{name} [{split_name}]")
        values = enumerate(split[label_column], start=1)
        labels = composed([checked_label(where, row, value) for row, value in values])
        raws[split_key] = RawSplit(
            texts=list(split[text_column]),
            path=where,
            rows=list(range(1, len(split) + 1)),
            labels=labels,
        )
    if not raws:
        raise DataError(
            f"{name}: no train/validation/test split (found: {short_list(list(loaded))})"
        )
    return raws, declared
