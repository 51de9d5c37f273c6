"""Load text-classification data from files or the Hugging Face hub into one shape.

Whatever the source, the result is a `TextDataset`: a `datasets.DatasetDict` whose splits have a
`text` (str) and a `label` (int) column, plus the label names in id order. Validation happens here,
at the boundary, so that everything downstream can trust the data.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import datasets

from attentext.errors import DataError

SPLIT_ALIASES = {
    "train": ("train",),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test",),
}
SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
HUB_PREFIX = "hf:"
SNIFF_BYTES = 8192  # read first, so that a binary file is refused before it is read whole
MAX_FIELD_CHARS = 2**31 - 1  # csv's default limit (128 KiB) would refuse a 1 MB text


@dataclass
class TextDataset:
    """Splits with `text`/`label` columns and the label names, in id order."""

    splits: datasets.DatasetDict
    label_names: list[str]
    source: str

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.label_names)}

    def __getitem__(self, split: str) -> datasets.Dataset:
        if split not in self.splits:
            raise DataError(f"{self.source}: no '{split}' split (found: {', '.join(self.splits)})")
        return self.splits[split]


# ---------------------------------------------------------------------------------------------
# Reading one file into (texts, raw labels)
# ---------------------------------------------------------------------------------------------


@dataclass
class _RawSplit:
    texts: list[str]
    labels: list[str]  # raw label values, as strings; mapped to ids later
    path: Path
    rows: list[int]  # the file row (1-based) of each example, for error messages
    labels_are_indices: bool = False  # AG News format: 1-based class indices


def _read_text(path: Path) -> str:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a data file")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if b"\x00" in head:
        raise DataError(
            f"{path}: contains NUL bytes; is it a binary or UTF-16 file? save it as UTF-8 text"
        )
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}: file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        row = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}: row {row}: not valid UTF-8 (byte {err.start}); re-save the file as UTF-8"
        ) from None


def _is_int(value: str) -> bool:
    try:
        int(value.strip())
    except ValueError:
        return False
    return True


def _read_delimited(path: Path, delimiter: str, text_column: str, label_column: str) -> _RawSplit:
    content = _read_text(path)
    if "\x00" in content:
        raise DataError(f"{path}: contains NUL bytes; is it a binary file?")
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True)
    try:
        rows = list(reader)
    except csv.Error as err:
        raise DataError(
            f"{path}: row {reader.line_num}: malformed {delimiter!r} row ({err})"
        ) from None
    numbered = [(i + 1, row) for i, row in enumerate(rows) if any(cell.strip() for cell in row)]
    if not numbered:
        raise DataError(f"{path}: file is empty")
    first = numbered[0][1]
    if delimiter == "," and len(first) == 3 and _is_int(first[0]) and text_column not in first:
        return _ag_news_rows(path, numbered)
    header = [name.strip() for name in first]
    for column in (text_column, label_column):
        if column not in header:
            other = next(
                (d for d in ("\t", ";", "|", ",") if d != delimiter and d in first[0]), None
            )
            if len(header) == 1 and other is not None:
                raise DataError(
                    f"{path}: the header {first[0]!r} is one column; the file looks "
                    f"{other!r}-separated, expected {delimiter!r} (use .tsv for tabs, "
                    "or re-save it with commas)"
                )
            raise DataError(
                f"{path}: no column '{column}' (columns: {', '.join(header)}); "
                "choose columns with --text-column/--label-column"
            )
    t, lab = header.index(text_column), header.index(label_column)
    texts, labels, lines = [], [], []
    for line, row in numbered[1:]:
        if len(row) != len(header):
            raise DataError(f"{path}: row {line}: {len(row)} fields, expected {len(header)}")
        texts.append(row[t])
        labels.append(row[lab].strip())
        lines.append(line)
    return _RawSplit(texts, labels, path, lines)


def _ag_news_rows(path: Path, numbered: list[tuple[int, list[str]]]) -> _RawSplit:
    """AG News' original format: class index (1-based), title, description; no header."""
    texts, labels, lines = [], [], []
    for line, row in numbered:
        if len(row) != 3:
            raise DataError(
                f"{path}: row {line}: {len(row)} fields, expected 3 (class, title, text)"
            )
        if not _is_int(row[0]):
            raise DataError(f"{path}: row {line}: class index '{row[0]}' is not an integer")
        texts.append(f"{row[1]} {row[2]}".strip())
        labels.append(row[0].strip())
        lines.append(line)
    return _RawSplit(texts, labels, path, lines, labels_are_indices=True)


def _read_jsonl(path: Path, text_column: str, label_column: str) -> _RawSplit:
    content = _read_text(path)
    texts, labels, lines = [], [], []
    # split on newlines only: str.splitlines() also splits on \x0c, \x85, \u2028 inside a text
    for line, raw in enumerate(content.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: row {line}: invalid JSON ({err.msg})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}: row {line}: expected a JSON object per line")
        for column in (text_column, label_column):
            if column not in record:
                raise DataError(f"{path}: row {line}: no field '{column}'")
        if isinstance(record[label_column], list | dict):
            raise DataError(
                f"{path}: row {line}: label {record[label_column]!r} is not a string or a number"
            )
        texts.append(record[text_column])
        labels.append(_label_str(record[label_column]))
        lines.append(line)
    return _RawSplit(texts, labels, path, lines)


def _read_parquet(path: Path, text_column: str, label_column: str) -> _RawSplit:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a bad file
        raise DataError(f"{path}: not a readable Parquet file ({err})") from None
    for column in (text_column, label_column):
        if column not in table.column_names:
            raise DataError(
                f"{path}: no column '{column}' (columns: {', '.join(table.column_names)}); "
                "choose columns with --text-column/--label-column"
            )
    texts = table.column(text_column).to_pylist()
    labels = [_label_str(v) for v in table.column(label_column).to_pylist()]
    if not texts:
        raise DataError(f"{path}: file is empty")
    return _RawSplit(texts, labels, path, list(range(1, len(texts) + 1)))


def _label_str(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def read_file(
    path: str | Path, text_column: str = "text", label_column: str = "label"
) -> _RawSplit:
    """Read one data file, choosing the parser by its suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_delimited(path, ",", text_column, label_column)
    if suffix == ".tsv":
        return _read_delimited(path, "\t", text_column, label_column)
    if suffix in (".jsonl", ".json"):
        return _read_jsonl(path, text_column, label_column)
    if suffix == ".parquet":
        return _read_parquet(path, text_column, label_column)
    raise DataError(
        f"{path}: unsupported file type '{suffix}' (expected one of {', '.join(SUFFIXES)})"
    )


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------


def _read_classes(folder: Path) -> list[str] | None:
    classes = folder / "classes.txt"
    if not classes.exists():
        return None
    names = [line.strip() for line in _read_text(classes).splitlines() if line.strip()]
    if len(set(names)) != len(names):
        raise DataError(f"{classes}: duplicate class names")
    return names


def _check_texts(raw: _RawSplit) -> None:
    for text, line in zip(raw.texts, raw.rows, strict=True):
        if text is None or (isinstance(text, float) and math.isnan(text)):
            raise DataError(f"{raw.path}: row {line}: text is missing")
        if not isinstance(text, str):
            raise DataError(f"{raw.path}: row {line}: text is not a string ({text!r})")
        if not text.strip():
            raise DataError(f"{raw.path}: row {line}: text is empty; fill it in or remove the row")
    for label, line in zip(raw.labels, raw.rows, strict=True):
        if label in ("", "nan", "None"):
            raise DataError(f"{raw.path}: row {line}: label is missing")


def _infer_label_names(train: _RawSplit) -> list[str]:
    """Label names when none are declared: the sorted labels of train (numerically if integers)."""
    present = set(train.labels)
    if all(_is_int(label) for label in present):
        return [str(v) for v in sorted(int(label) for label in present)]
    return sorted(present)


def _to_ids(raw: _RawSplit, names: list[str]) -> list[int]:
    """Map raw labels to ids: by name, or by index (1-based in AG News' format, else 0-based).

    Indices are accepted only when the names are words (classes.txt, a ClassLabel): when the
    names are integers themselves, "0" must mean the class named "0", never the first class.
    """
    lookup = {name: i for i, name in enumerate(names)}
    if not any(_is_int(name) for name in names):
        offset = 1 if raw.labels_are_indices else 0
        for i in range(len(names)):
            lookup.setdefault(str(i + offset), i)
    ids = []
    for label, line in zip(raw.labels, raw.rows, strict=True):
        if label not in lookup:
            raise DataError(
                f"{raw.path}: row {line}: unknown label '{label}' (known labels: "
                f"{', '.join(names)})"
            )
        ids.append(lookup[label])
    return ids


def _check_every_class_trained(raw: _RawSplit, ids: list[int], names: list[str]) -> None:
    if not ids:
        raise DataError(f"{raw.path}: no data rows (only a header?)")
    missing = [name for i, name in enumerate(names) if i not in set(ids)]
    if missing:
        raise DataError(
            f"{raw.path}: no training examples for class(es) {', '.join(missing)}; "
            "add examples or remove the class from classes.txt"
        )
    if len(names) < 2:
        raise DataError(
            f"{raw.path}: only one class ('{names[0]}'); a classifier needs two or more"
        )


# ---------------------------------------------------------------------------------------------
# Folders, files and hub names -> TextDataset
# ---------------------------------------------------------------------------------------------


def _find_split_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for split, names in SPLIT_ALIASES.items():
        for name in names:
            for suffix in SUFFIXES:
                candidate = folder / f"{name}{suffix}"
                if candidate.exists() and split not in found:
                    found[split] = candidate
    return found


def load_text_dataset(
    source: str | Path,
    *,
    text_column: str = "text",
    label_column: str = "label",
    val_fraction: float = 0.05,
    seed: int = 42,
    label_names: list[str] | None = None,
) -> TextDataset:
    """Load train/validation/test splits from a folder, a file or a Hugging Face dataset name.

    A folder holds `train.*` and optionally `test.*` and `validation.*` (csv, tsv, jsonl,
    parquet) and `classes.txt`. A single file is the train split. A name that is not a local path
    (or starts with `hf:`) goes to `datasets.load_dataset`. When no validation split exists,
    `val_fraction` of train is carved out with `seed`, stratified by label. `label_names` fixes
    the label set, as when evaluating a trained model on new data.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    source_str = str(source)
    path = Path(source_str)
    if source_str.startswith(HUB_PREFIX) or not path.exists():
        looks_local = path.suffix.lower() in SUFFIXES or source_str.startswith((".", "/", "~"))
        if looks_local and not source_str.startswith(HUB_PREFIX):
            raise DataError(f"{path}: file or folder not found")
        raws, declared = _load_hub(source_str.removeprefix(HUB_PREFIX), text_column, label_column)
    elif path.is_dir():
        files = _find_split_files(path)
        if "train" not in files and "test" not in files:
            raise DataError(
                f"{path}: no train.* or test.* data file (expected train.csv, train.jsonl, ...)"
            )
        raws = {split: read_file(f, text_column, label_column) for split, f in files.items()}
        declared = _read_classes(path)
    else:
        raws = {"train": read_file(path, text_column, label_column)}
        declared = _read_classes(path.parent)
    for raw in raws.values():
        _check_texts(raw)

    if label_names is not None:
        names = list(label_names)
    elif declared is not None:
        names = declared
    else:
        names = _infer_label_names(raws.get("train") or raws["test"])
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    splits = {}
    for split, raw in raws.items():
        ids = _to_ids(raw, names)
        if split == "train":
            _check_every_class_trained(raw, ids, names)
        splits[split] = datasets.Dataset.from_dict(
            {"text": raw.texts, "label": ids}, features=features
        )
    if "train" in splits and "validation" not in splits and val_fraction > 0:
        splits.update(
            _carve_validation(splits.pop("train"), val_fraction, seed, raws["train"].path)
        )
    return TextDataset(datasets.DatasetDict(splits), names, source_str)


def _carve_validation(
    train: datasets.Dataset, val_fraction: float, seed: int, path: Path
) -> dict[str, datasets.Dataset]:
    n_val = max(1, round(len(train) * val_fraction))
    if len(train) - n_val < 1:
        raise DataError(f"{path}: too few rows ({len(train)}) to carve a validation split")
    try:
        parts = train.train_test_split(test_size=n_val, seed=seed, stratify_by_column="label")
    except ValueError:  # a class too small to stratify: fall back to a plain random split
        parts = train.train_test_split(test_size=n_val, seed=seed)
    return {"train": parts["train"], "validation": parts["test"]}


def _load_hub(
    name: str, text_column: str, label_column: str
) -> tuple[dict[str, _RawSplit], list[str] | None]:
    """Load a dataset by hub name or local HF dataset path with `datasets.load_dataset`."""
    try:
        loaded = datasets.load_dataset(name)
    except Exception as err:  # datasets raises many types: offline, not found, bad config
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(
            f"{name}: not a local file or folder, and loading it as a Hugging Face dataset "
            f"failed ({message})"
        ) from None
    raws: dict[str, _RawSplit] = {}
    declared: list[str] | None = None
    for split_name, split in loaded.items():
        split_key = next((k for k, v in SPLIT_ALIASES.items() if split_name in v), None)
        if split_key is None:
            continue
        for column in (text_column, label_column):
            if column not in split.column_names:
                raise DataError(
                    f"{name} [{split_name}]: no column '{column}' (columns: "
                    f"{', '.join(split.column_names)}); choose columns with --text-column/--label-column"
                )
        feature = split.features[label_column]
        if isinstance(feature, datasets.ClassLabel):
            declared = list(feature.names)
        labels = [_label_str(v) for v in split[label_column]]
        raws[split_key] = _RawSplit(
            list(split[text_column]),
            labels,
            Path(f"{name} [{split_name}]"),
            list(range(1, len(split) + 1)),
        )
    if not raws:
        raise DataError(f"{name}: no train/validation/test split (found: {', '.join(loaded)})")
    return raws, declared


def sample_texts(
    source: str | Path, limit: int, seed: int = 0, split: str | None = None
) -> list[str]:
    """Up to `limit` texts of a data folder (`split`, or its test split, else validation, else
    train), a data file or a text file, drawn with a fixed seed: a sample of the user's own texts
    to check a model against (int8 export)."""
    path = Path(source)
    if path.is_dir():
        files = _find_split_files(path)
        order = (split,) if split else ("test", "validation", "train")
        chosen = next((files[s] for s in order if s in files), None)
        if chosen is None:
            raise DataError(f"{path}: no train.*, validation.* or test.* data file")
        path = chosen
    texts = load_texts(path)
    if len(texts) <= limit:
        return texts
    import random

    return random.Random(seed).sample(texts, limit)


def load_texts(path: str | Path) -> list[str]:
    """Read texts to classify: one per line of a .txt file, or the `text` column of a data file."""
    path = Path(path)
    if path.suffix.lower() in SUFFIXES:
        return read_file(path, "text", "text").texts
    lines = _read_text(path).split("\n")  # not splitlines(): a form feed is part of a text
    texts = [line.removesuffix("\r") for line in lines if line.strip()]
    if not texts:
        raise DataError(f"{path}: no texts (one text per line expected)")
    return texts
