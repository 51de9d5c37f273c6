"""Which labelled texts a run is measured or recalibrated on, and whether it trained on them.

`evaluate`, `compare` and `recalibrate` name data and a split. A folder gives the split's file;
a file (or a dataset of one split) gives all its rows, whatever split is named. A folder without
the split named is refused, naming what it holds: it gave its only file, so `evaluate RUN
--data FOLDER` of a folder holding train.csv alone measured the run on the texts it learned
(accuracy 0.99 on ag_news_tiny) without a word. `evaluate --split validation` of a folder
without a validation file measures the validation split the run carved from train (the texts
its checkpoint and temperature were chosen on), carved again with its recipe's share and seed.
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Any

from attentext import rundir
from attentext.data.dataset import TextDataset, load_text_dataset
from attentext.data.readers import find_split_files, train_file
from attentext.errors import AttentextNote, DataError, shown
from attentext.files import file_digest
from attentext.recipes import Recipe
from attentext.rundir import open_run

VALIDATION = "validation"


def named_data(data: str | Path | TextDataset) -> str:
    """What a message or a report's title calls `data`: a path or a hub name as given, a
    `TextDataset` by its source (its repr is the whole DatasetDict, over many lines: report.md's
    title of `evaluate(run, load_text_dataset(...), output=...)` was that, escaped)."""
    return str(data.source if isinstance(data, TextDataset) else data)


def check_data_named(data: object, command: str) -> None:
    """`data` given as a path or a hub name, for a command that records where it read its texts
    (`recalibrate`'s `fitted_on`) and whether the run trained on them (`trained_on` compares
    files); a `TextDataset` or anything else a one-line `TypeError` naming what to give: it was
    "stat: path should be string, bytes, os.PathLike or integer, not TextDataset"."""
    if isinstance(data, str | os.PathLike):
        return
    source = f" ({shown(data.source, 200)})" if isinstance(data, TextDataset) else ""
    raise TypeError(
        f"data must be a path (a labelled file or folder) or a hub dataset's name, not a "
        f"{type(data).__name__}: {command} records where its texts came from; give the "
        f"dataset's source{source}"
    )


def labelled_split(
    run_dir: str | Path,
    data: str | Path | TextDataset,
    labels: list[str],
    split: str,
    *,
    carved_validation: bool = False,
) -> Any:
    """A labelled split to measure a run on, read with the run's columns and label names.

    With `carved_validation`, `split` "validation" of a folder without a validation file is the
    one the run carved from the folder's train split (said in a note)."""
    if isinstance(data, TextDataset):
        return _named_split(data, split)
    recipe = open_run(run_dir).recipe
    if carved_validation and split == VALIDATION and _carves_validation(data):
        return _carved_validation(Path(run_dir), recipe, data, labels)  # the folder read once
    dataset = _read(recipe or Recipe(), data, labels, 0.0)
    if split in dataset.splits or not Path(data).is_dir():
        return _named_split(dataset, split)
    if split != VALIDATION or "train" not in dataset.splits:
        raise DataError(
            f"{dataset.source}: no '{split}' split (found: {', '.join(dataset.splits)}); name "
            "one of those with --split, or give a labelled file"
        )
    raise DataError(
        f"{dataset.source}: no validation file; the validation split {run_dir} was "
        "carved from its train split, and its temperature was fitted there: give labelled "
        "texts it never saw (a file, or --split test)"
    )


def _carves_validation(data: str | Path) -> bool:
    """Whether `data` is a folder with a train file and no validation file."""
    if not Path(data).is_dir():
        return False
    files = find_split_files(Path(data))
    return "train" in files and VALIDATION not in files


def _named_split(dataset: TextDataset, split: str) -> Any:
    """The split named, or the only one there is (a file is every split it is asked for)."""
    if split in dataset.splits:
        return dataset.splits[split]
    if len(dataset.splits) == 1:
        return next(iter(dataset.splits.values()))
    raise DataError(f"{dataset.source}: no '{split}' split (found: {', '.join(dataset.splits)})")


def _read(recipe: Recipe, data: str | Path, labels: list[str], val_fraction: float) -> TextDataset:
    return load_text_dataset(
        data,
        text_column=recipe.data.text_column,
        label_column=recipe.data.label_column,
        val_fraction=val_fraction,
        seed=recipe.data_seed,
        label_names=labels,
        multi_label=recipe.data.multi_label,
        label_separator=recipe.data.label_separator,
    )


def _carved_validation(
    run_dir: Path, recipe: Recipe | None, data: str | Path, labels: list[str]
) -> Any:
    """The validation split carved from `data`'s train split as the run carved its own."""
    if recipe is None:
        raise DataError(
            f"{run_dir}: records no recipe to carve a validation split as it did; give "
            "labelled texts (a file, or --split test)"
        )
    if recipe.data.shots or recipe.data.val_fraction == 0:
        why = "drew its examples per class" if recipe.data.shots else "trained on all of it"
        raise DataError(
            f"{named_data(data)}: no validation file, and {run_dir} {why}, holding out no "
            "validation split; give labelled texts it never saw (a file, or --split test)"
        )
    carved = _read(recipe, data, labels, recipe.data.val_fraction).splits[VALIDATION]
    warnings.warn(
        f"{named_data(data)}: no validation file; measuring the {len(carved):,} texts carved from "
        f"its train split as {run_dir} carved its validation split (share "
        f"{recipe.data.val_fraction}, seed {recipe.data_seed})",
        AttentextNote,
        stacklevel=3,
    )
    return carved


def trained_on(run: rundir.Run, data: str | Path, split: str) -> str | None:
    """Whether `data`'s `split` is the training data the run records: read whole (a file, whose
    rows training carved its validation from) or by its train split; said as a phrase ("its
    rows are", "its train split is"), or None. Files are compared, not the paths given: a
    folder's train.csv named alone is the same texts as the folder's train split (audit round
    3), and a run that recorded its training file's SHA-256 (metrics.json `data_sha256`) knows
    it copied elsewhere or named from another folder; older runs compare the file by its path."""
    measured = _split_file(Path(data), split) if os.path.exists(data) else None
    if measured is None:
        return None
    digest, source = run.metrics.get("data_sha256"), run.metrics.get("data")
    if isinstance(digest, str):
        stat = measured.stat()
        same = _digest(measured, stat.st_size, stat.st_mtime_ns) == digest
    else:
        same = isinstance(source, str) and measured == train_file(source)
    if not same:
        return None
    return "its rows are" if Path(data).is_file() else "its train split is"


@functools.lru_cache(maxsize=8)
def _digest(path: Path, size: int, mtime_ns: int) -> str:
    """`files.file_digest`, once per file as it is now (size and time in the key): `compare`
    asks for each of its runs whether the same file is its training file."""
    return file_digest(path)


def _split_file(data: Path, split: str) -> Path | None:
    """The file a path reads `split` from, resolved: a file is every split it is asked for (a
    run trained on one carved its validation from its rows), a folder its split's file."""
    found = data if data.is_file() else find_split_files(data).get(split)
    return found.resolve() if found is not None else None
