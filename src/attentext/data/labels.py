"""Label names and ids: declared (classes.txt, a ClassLabel) or inferred from train, and checked.

Inferred names are where a data mistake turns silently into extra classes (`Sports`/`sports`, an
index `1` beside `Business`, a text column read as labels): they are checked here, once.
"""

from __future__ import annotations

import math
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path

from attentext.data.readers import (
    LIST_MARK,
    RawSplit,
    composed,
    is_int,
    label_lookup,
    read_text,
    split_lines,
)
from attentext.data.unicode import standard_text
from attentext.errors import AttentextWarning, DataError, did_you_mean, short_list, shown

# A label column with (nearly) a value per row is a text or an id column, not labels. Below this
# many rows a label per row can still be a toy data set, so it is not refused.
TEXT_LIKE_MIN_ROWS = 20
TEXT_LIKE_SHARE = 0.9  # distinct values / rows at or above which the column looks like text
# How a missing label reads once written as text: empty, Python's None and float NaN, NaN as
# JavaScript, Java or NumPy write it, pandas' NA, JSON's and SQL's null. `NaN` was a class of its
# own while `nan` was refused (an audit); `NA` and `none` stay labels (a region, a class "none").
MISSING_LABELS = frozenset(("", "nan", "NaN", "NAN", "-nan", "None", "<NA>", "null", "NULL"))


class UnknownLabel(DataError):
    """A label that is none of the classes (`to_ids`, `multilabel.to_id_lists`)."""


def is_number(value: str) -> bool:
    """Whether a label is a finite number, however written (`1`, `1.0`, `2.5`): a CSV written by
    pandas from a column that once held NaN writes its classes as `1.0`, `2.0`."""
    try:
        return math.isfinite(float(value.strip()))
    except ValueError:
        return False


def exact_value(label: str) -> Decimal:
    """The value a label that `is_number` writes, read from its digits exactly: through a float,
    `1.0000000000000001` was the index 1 (the class `b` of a classes.txt) and
    `9007199254740993` the class `9007199254740992`, numbers a float cannot tell apart (an
    audit; JSON's floats of 2**53 or more are refused, `readers.MAX_EXACT_FLOAT`, but a CSV
    label holds every digit it was written with). Equal values hash alike (`1`, `1.0`);
    Decimal reads every spelling float does (`1_000`, `.5`, `１`)."""
    return Decimal(label.strip())


def whole(label: str) -> str:
    """A whole number written as a float (`2.0`: pandas writes a column that once held NaN so)
    as the integer it is (`2`), to be read as an index; any other label as it is (a number
    whose digits are not whole, `1.0000000000000001`, is no index: `exact_value`)."""
    if "." in label and is_number(label):
        value = exact_value(label)
        if value == value.to_integral_value():
            return str(int(value))
    return label


def read_classes(folder: Path) -> list[str] | None:
    classes = folder / "classes.txt"
    if not classes.exists():
        return None
    names = composed([line.strip() for line in split_lines(read_text(classes)) if line.strip()])
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise DataError(f"{classes}: duplicate class names ({short_list(duplicates)})")
    return names


def check_labels(raw: RawSplit) -> None:
    """Every row of single-label data has one label."""
    for label, row in zip(raw.labels, raw.rows, strict=True):
        if label in MISSING_LABELS:
            raise DataError(f"{raw.path}: row {row}: label is missing")
        if LIST_MARK in label:
            raise DataError(
                f"{raw.path}: row {row}: label is a list of labels; for several labels per "
                "text pass --multi-label (or --set data.multi_label=true)"
            )


def infer_label_names(
    train: RawSplit, label_column: str = "label", distinct_lookalikes: bool = False
) -> list[str]:
    """Label names when none are declared: the sorted labels of train (numerically if integers).

    A column that looks like text is refused, and so are labels that print alike (`Sports` /
    `sports`, `1` / `01`: `check_lookalikes`) unless `distinct_lookalikes`; numbers mixed with
    names are kept as separate classes (some data sets mean them so), with an
    `AttentextWarning` that names them and the fix.
    """
    present = set(train.labels)
    rows = len(train.labels)
    if rows >= TEXT_LIKE_MIN_ROWS and len(present) >= TEXT_LIKE_SHARE * rows:
        raise DataError(
            f"{train.path}: column '{shown(label_column)}' has {len(present)} different values "
            f"in {rows} rows, so it looks like text, not labels; choose the label column with "
            "--set data.label_column=NAME"
        )
    check_lookalikes(train.path, Counter(train.labels), distinct_lookalikes)
    if all(is_int(label) for label in present):
        return sorted(present, key=lambda label: (int(label), label))
    if all(is_number(label) for label in present):  # 1.0, 2.0, ..., 10.0: by value
        return sorted(present, key=lambda label: (float(label), label))
    _warn_numbers_with_names(train.path, present)
    return sorted(present)


def _same_label(name: str) -> str | Decimal:
    """What two spellings of one label share: the number (`1`, `01`, `1.0`), or the name
    case-folded, in NFKC (a full-width `Ａ` is `A`, a no-break space a space), without the
    characters that draw nothing (`standard_text`) and with its spaces collapsed. `World` beside
    `World<U+200B>` or `\ufeffWorld`, `New York` beside `New  York` were classes that print
    alike, trained apart, without the warning case variants got (an audit)."""
    if is_number(name):
        return exact_value(name)
    return " ".join(standard_text(unicodedata.normalize("NFKC", name)).split()).casefold()


# the setting that keeps labels printing alike apart (`check_lookalikes`), as `--set` takes it
DISTINCT_LOOKALIKES = "data.distinct_lookalike_labels=true"
# how two spellings of one label may differ, each step of `_same_label` in its order
_LOOKALIKE_STEPS = (
    ("invisible characters", standard_text),
    ("spacing", lambda name: " ".join(name.split())),  # a no-break space too
    ("width", lambda name: unicodedata.normalize("NFKC", name)),
    ("case", str.casefold),
)


def lookalike_groups(names: Iterable[str]) -> list[list[str]]:
    """The labels that print alike (`_same_label`), in groups of two or more, each sorted."""
    groups: dict[str | Decimal, list[str]] = {}
    for name in sorted(set(names)):
        groups.setdefault(_same_label(name), []).append(name)
    return [group for group in groups.values() if len(group) > 1]


def _how_they_differ(group: list[str]) -> str:
    """What tells the spellings of one label apart: "case", "spacing and case", ..."""
    if all(is_number(name) for name in group):
        return "how the number is written"
    kinds, spellings = [], list(group)
    for kind, step in _LOOKALIKE_STEPS:
        after = [step(name) for name in spellings]
        if after != spellings:
            kinds.append(kind)
        spellings = after
        if len(set(spellings)) == 1:
            break
    return " and ".join(kinds) or "how they are written"


def check_lookalikes(
    path: Path, rows: Mapping[str, int], distinct: bool = False, declared: bool = False
) -> None:
    """Refuse labels that print alike (`Sports`/`sports`/`Sports `, `A`/`Ａ`, `World` beside
    `World<U+200B>`, `1`/`1.0`): trained, they are two classes the user cannot tell apart in any
    output, each learning from part of one class's rows; a warning said so, and training went
    on (an audit). `rows`: each label's rows in the data (or classes.txt's names, `declared`),
    to say which spelling the rest should take. `distinct` (`DISTINCT_LOOKALIKES`) keeps them
    apart without a word, for data that means them so."""
    groups = lookalike_groups(rows)
    if not groups or distinct:
        return
    group = groups[0]
    kept = max(group, key=lambda name: rows[name])  # the most used spelling; the first of a tie
    others = [name for name in group if name != kept]
    named = " and ".join(f"'{shown(name, 30)}'" for name in group[:3])
    if declared:
        where = "the classes"
        merge = (
            f"remove {_quoted(others)} from {path.name} and write their rows as '{shown(kept, 30)}'"
        )
    else:
        where = "the labels"
        counts = ", ".join(f"'{shown(name, 30)}' {rows[name]:,}" for name in group[:3])
        named += f" (rows: {counts})"
        merge = f"write the rows of {_quoted(others)} as '{shown(kept, 30)}'"
    more = f" ({len(groups) - 1} more such group(s))" if len(groups) > 1 else ""
    raise DataError(
        f"{path}: {where} {named} differ only in {_how_they_differ(group)}, so they would be "
        f"classes that print alike{more}; if they are one class, {merge}; to keep them apart, "
        f"--set {DISTINCT_LOOKALIKES}"
    )


def _quoted(names: list[str]) -> str:
    return ", ".join(f"'{shown(name, 30)}'" for name in names[:3]) + (
        ", ..." if len(names) > 3 else ""
    )


def _warn_numbers_with_names(path: Path, names: set[str]) -> None:
    numbers = sorted((name for name in names if is_number(name)), key=float)
    words = sorted(name for name in names if not is_number(name))
    if numbers and words:
        warnings.warn(
            f"{path}: labels mix numbers ({short_list(numbers, limit=6)}) and names "
            f"({short_list(words, limit=6)}), so each number is a class of its own; if a number "
            "stands for a named class, write the name instead (or list the class names in order "
            "in classes.txt beside the data: numbers are then read as 0-based indices)",
            AttentextWarning,
            stacklevel=3,
        )


def to_ids(raw: RawSplit, names: list[str], declared: list[str] | None = None) -> list[int]:
    """Map raw labels to ids: by name, or by index (1-based in AG News' format, else 0-based).

    Indices are accepted only when the names are words (classes.txt, a ClassLabel): when the
    names are integers themselves, "0" must mean the class named "0", never the first class.
    A number counts in the data's own order of classes (`declared`) where it has one, which
    fixed `names` (a run's, to evaluate it) need not share: read in the run's order, the
    numbers of a folder whose classes.txt is sorted otherwise were other classes (an audit).
    Unless the data declares its classes (numbers among names are then its way to write them),
    names on some rows and a number on another are refused: against a run's names '1' among
    'Business' and 'World' was read silently as its second class (an audit).
    Names that are numbers in any spelling (`1.0`) are never indices, and a label matches such a
    name by value (`1` is the class `1.0`): a run trained on a CSV of `1.0`, `2.0`, `3.0`
    read the labels `1`, `2` of a test file as indices, the classes `2.0` and `3.0` (an audit).
    An index may be written as a float (`2.0`, `whole`).
    """
    lookup = label_lookup(names)
    order = declared or names
    indices: dict[str, str] = {}
    if not any(is_number(name) for name in (*names, *order)):
        offset = 1 if raw.labels_are_indices else 0
        indices = {str(i + offset): name for i, name in enumerate(order)}
    by_value = _ids_by_value(names)
    ids = []
    first_name = first_number = None
    for label, line in zip(raw.labels, raw.rows, strict=True):
        if label in lookup:
            ids.append(lookup[label])
            first_name = first_name or (line, label)
        elif (meant := indices.get(label) or indices.get(whole(label))) in lookup:
            ids.append(lookup[meant])
            first_number = first_number or (line, label, meant)
        elif is_number(label) and exact_value(label) in by_value:
            ids.append(by_value[exact_value(label)])
        else:
            raise _unknown_label(raw.path, line, label, meant, names)
    if first_name and first_number and declared is None:
        read_as = first_number[2]
        raise _names_with_numbers(raw.path, first_name, first_number[:2], read_as)
    return ids


def _ids_by_value(names: list[str]) -> dict[Decimal, int]:
    """The id of each name that is a number, by its exact value (`exact_value`); a value two
    names share (`1`, `1.0`: classes of their own, with a warning at training) matches neither
    but by its exact spelling."""
    values = [exact_value(name) if is_number(name) else None for name in names]
    return {
        value: i for i, value in enumerate(values) if value is not None and values.count(value) == 1
    }


def _unknown_label(
    path: Path, line: int, label: str, declared_as: str | None, names: list[str]
) -> DataError:
    """A label that is none of `names`; or a number whose class, as the data declares it, is not."""
    if declared_as is not None:
        return DataError(
            f"{path}: row {line}: label '{shown(label)}' is the class '{shown(declared_as)}' in "
            f"the data's classes.txt, not one of the model's ({short_list(names)})"
        )
    known = did_you_mean(shown(label), [shown(name) for name in names])
    return UnknownLabel(f"{path}: row {line}: unknown label '{shown(label)}'{known}")


def _names_with_numbers(
    path: Path, name: tuple[int, str], number: tuple[int, str], read_as: str
) -> DataError:
    """Labels named on one row and numbered on another: which way the file means cannot be told."""
    return DataError(
        f"{path}: row {number[0]}: label '{shown(number[1])}' is a number, read as the class "
        f"'{shown(read_as)}', while row {name[0]} names its class ('{shown(name[1])}'); write "
        "every label as a name, or every one as a number (or list the classes in order in "
        "classes.txt beside the data)"
    )


def check_every_class_trained(raw: RawSplit, ids: list[int], names: list[str]) -> None:
    if not ids:
        raise DataError(f"{raw.path}: no data rows (only a header?)")
    trained = set(ids)
    missing = [shown(name) for i, name in enumerate(names) if i not in trained]
    if missing:
        raise DataError(
            f"{raw.path}: no training examples for class(es) {short_list(missing)}; "
            "add examples or remove the class from classes.txt"
        )
    if len(names) < 2:
        raise DataError(
            f"{raw.path}: only one class ('{shown(names[0])}'); a classifier needs two or more"
        )
