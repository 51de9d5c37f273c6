"""Label names and ids: declared (classes.txt, a ClassLabel) or inferred from train, and checked."""

from __future__ import annotations

import math
from pathlib import Path

from attentext.data.readers import RawSplit, is_int, read_text
from attentext.errors import DataError


def read_classes(folder: Path) -> list[str] | None:
    classes = folder / "classes.txt"
    if not classes.exists():
        return None
    names = [line.strip() for line in read_text(classes).splitlines() if line.strip()]
    if len(set(names)) != len(names):
        raise DataError(f"{classes}: duplicate class names")
    return names


def check_texts(raw: RawSplit) -> None:
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


def infer_label_names(train: RawSplit) -> list[str]:
    """Label names when none are declared: the sorted labels of train (numerically if integers)."""
    present = set(train.labels)
    if all(is_int(label) for label in present):
        return [str(v) for v in sorted(int(label) for label in present)]
    return sorted(present)


def to_ids(raw: RawSplit, names: list[str]) -> list[int]:
    """Map raw labels to ids: by name, or by index (1-based in AG News' format, else 0-based).

    Indices are accepted only when the names are words (classes.txt, a ClassLabel): when the
    names are integers themselves, "0" must mean the class named "0", never the first class.
    """
    lookup = {name: i for i, name in enumerate(names)}
    if not any(is_int(name) for name in names):
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


def check_every_class_trained(raw: RawSplit, ids: list[int], names: list[str]) -> None:
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
