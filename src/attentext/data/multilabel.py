"""Several labels per text: a label cell split into a set of names, mapped to ids, checked.

A cell holds names joined by a separator (`joy|love`, `|` by default) or a list (JSONL,
Parquet); an empty cell is a text with no label, which multi-label data allows, and so is a
missing value (`labels.MISSING_LABELS`: a JSON null or NaN, `NaN` in a CSV). The label set is
the union seen in training (or classes.txt). Without `--multi-label`, a label column that looks
like sets (many cells split into a few shared names) is refused with the flag to use: read as
single labels, every combination would become a class of its own.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

from attentext.data.labels import (
    MISSING_LABELS,
    UnknownLabel,
    check_lookalikes,
    is_number,
    whole,
)
from attentext.data.readers import LIST_MARK, RawSplit, label_lookup
from attentext.errors import AttentextWarning, DataError, did_you_mean, short_list, shown

# between a text's labels where one string holds them all: `predict --output`'s `labels` column,
# the v2 route's `label` output
LABEL_JOIN = "|"
MULTI_LABEL_HINT = "pass --multi-label (or --set data.multi_label=true)"
LOOKS_MULTI_SHARE = 0.05  # share of cells holding the separator from which a column looks multi
MIN_ROWS_ONE_EACH = 20  # training rows, all of one label, from which --multi-label is doubted


def label_sets(raw: RawSplit, separator: str) -> list[list[str]]:
    """Each row's label names: split on `separator` (or a list's mark), stripped, de-duplicated.

    A missing value is no label, as a JSON null always was: a JSON NaN (or `NaN` in a CSV) was
    a label named `nan`, trained and reported as one (an audit). So is one inside a set
    (`["a", NaN]`, `a|null`), which was still a label `nan` or `null` (another audit)."""
    sets: list[list[str]] = []
    for label in raw.labels:
        if label in MISSING_LABELS:
            sets.append([])
            continue
        parts = label.split(LIST_MARK) if LIST_MARK in label else label.split(separator)
        names = []
        for part in (p.strip() for p in parts):
            if part not in MISSING_LABELS and part not in names:
                names.append(part)
        sets.append(names)
    return sets


def refuse_names_holding_the_join(names: list[str], path: Path, declared: bool) -> None:
    """Labels to train must not hold LABEL_JOIN: a JSONL list `["R&D|Tech"]` trained, then every
    prediction joined "R&D|Tech|sport", two labels or three, and a CSV of the same data split the
    name in two (an audit). `path` is the data file; the classes.txt beside it is named where
    it `declared` them."""
    held = next((name for name in names if LABEL_JOIN in name), None)
    if held is not None:
        classes = path.parent / "classes.txt"
        path = classes if declared and classes.exists() else path
        raise DataError(
            f"{path}: the label '{shown(held)}' holds '{LABEL_JOIN}', which joins a text's labels "
            "in predictions (predict --output, the v2 label output), so they could not be told "
            f"apart; rename the label without '{LABEL_JOIN}'"
        )


def warn_one_label_each(sets: list[list[str]], path: Path) -> None:
    """Warn, in one line, when `--multi-label` is given training data whose every text has exactly
    one label: each label is then learned as a yes/no of its own, so a text may get no label or
    several, and the headline accuracy is subset accuracy (French tweets, 3 sentiments: 0.35
    beside 0.55 read as one label per text), without a word. Data of label sets where this
    sample happens to hold single ones is still trained as asked."""
    if len(sets) >= MIN_ROWS_ONE_EACH and all(len(row) == 1 for row in sets):
        warnings.warn(
            f"{path}: every training text has exactly one label, yet --multi-label learns each "
            "label as a yes/no of its own (a text may get none or several); drop --multi-label "
            "(data.multi_label) for one label per text",
            AttentextWarning,
            stacklevel=3,
        )


def infer_multi_label_names(
    sets: list[list[str]], path: Path, distinct_lookalikes: bool = False
) -> list[str]:
    """The union of the training rows' labels, sorted; two or more are needed. Labels that
    print alike (`Sports|money` beside `sports`) are refused as single labels are
    (`labels.check_lookalikes`), unless `distinct_lookalikes`."""
    rows = Counter(name for row in sets for name in row)
    names = sorted(rows)
    check_lookalikes(path, rows, distinct_lookalikes)
    if len(names) < 2:
        raise DataError(
            f"{path}: {len(names)} label(s) in all of train; a classifier needs two or more"
        )
    return names


def to_id_lists(
    raw: RawSplit,
    sets: list[list[str]],
    names: list[str],
    declared: list[str] | None = None,
    separator: str = LABEL_JOIN,
) -> list[list[int]]:
    """Each row's label ids; an unknown label is one short line naming its row, and the cell it
    was split from (on `separator`): `R&D|Tech` beside a classes.txt of `R&D` was "unknown label
    'Tech'", which the file never wrote alone (an audit).

    Where the data declares its classes as words (classes.txt), a number is the class at that
    index, 0-based (1-based in AG News' format), as single labels read it: `0|2` beside a
    classes.txt was "unknown label '0' (known: World, Sports, Business)" (an audit).
    """
    lookup = label_lookup(names)
    indices = _declared_indices(raw, names, declared)
    ids = []
    for cell, row_names, row in zip(raw.labels, sets, raw.rows, strict=True):
        row_ids = set()
        for name in row_names:
            meant = name if name in lookup else indices.get(name) or indices.get(whole(name), name)
            if meant not in lookup:
                known = did_you_mean(shown(name), [shown(n) for n in names])
                declared_as = (
                    f" (the class '{shown(meant)}' in classes.txt)" if meant != name else ""
                )
                split = LIST_MARK not in cell and cell.strip() != name
                part = (
                    f", split from the cell '{shown(cell, 40)}' on '{separator}'" if split else ""
                )
                raise UnknownLabel(
                    f"{raw.path}: row {row}: unknown label '{shown(name)}'{declared_as}{part} "
                    f"({len(names)} known labels){known}"
                )
            row_ids.add(lookup[meant])
        ids.append(sorted(row_ids))
    return ids


def warn_labels_never_apart(raw: RawSplit, sets: list[list[str]], separator: str) -> None:
    """Warn, in one line, where labels are never apart in the training data (every row that
    holds one holds the others): two labels that always come together cannot be learned apart,
    however the data wrote them together. Split from one cell (`R&D|Tech`), they may be one
    label a CSV can write no other way, and the warning says how to keep it one; given as a
    list (JSON Lines, Parquet), it says to add texts where they come apart or to merge them.
    Without a classes.txt, `R&D|Tech` was two labels without a word (an audit); a list was
    not warned about at all, for the same two labels the model cannot tell apart."""
    rows_of: dict[str, list[int]] = {}
    first_row: dict[str, int] = {}  # a label's first row that holds other labels too
    for i, names in enumerate(sets):
        for name in names:
            rows_of.setdefault(name, []).append(i)
            if len(names) > 1:
                first_row.setdefault(name, i)
    together: dict[tuple[int, ...], list[str]] = {}
    for name in first_row:
        together.setdefault(tuple(rows_of[name]), []).append(name)
    groups = [group for group in together.values() if len(group) > 1]
    if not groups:
        return
    row = first_row[groups[0][0]]
    group = [name for name in sets[row] if name in groups[0]]  # in the row's order
    quoted = [f"'{shown(name, 30)}'" for name in group]
    named = ", ".join(quoted[:-1]) + " and " + quoted[-1]
    held = "both" if len(group) == 2 else "all of them"
    more = f" ({len(groups) - 1} more such group(s))" if len(groups) > 1 else ""
    warnings.warn(
        f"{raw.path}: the labels {named} are never apart (their {len(rows_of[group[0]]):,} "
        f"rows hold {held}, {_never_apart_advice(raw.labels[row], group, separator, raw.rows[row], more)}",
        AttentextWarning,
        stacklevel=3,
    )


def _never_apart_advice(cell: str, group: list[str], separator: str, row: int, more: str) -> str:
    """The rest of `warn_labels_never_apart`'s line: where the labels came together (a cell
    split on `separator`, or a list, on `row`), and what to do."""
    if LIST_MARK in cell:
        return (
            f"listed together on row {row}){more}: they train as {len(group)} labels, which "
            "cannot be learned apart; add texts where they come apart, or merge them into one "
            "label"
        )
    joined = shown(separator.join(group), 40)
    return (
        f"as '{joined}' on row {row}){more}: '{separator}' separates a cell's labels, so they "
        f"train as {len(group)} labels, which cannot be learned apart; if '{joined}' is one "
        f"label, write it without '{separator}' in the data"
    )


def _declared_indices(
    raw: RawSplit, names: list[str], declared: list[str] | None
) -> dict[str, str]:
    """The class each number stands for, where the data declares its classes as words; none
    where it declares none (a number is then a name) or where any class name is a number."""
    if declared is None or any(is_number(name) for name in (*names, *declared)):
        return {}
    offset = 1 if raw.labels_are_indices else 0
    return {str(i + offset): name for i, name in enumerate(declared)}


def check_every_label_trained(raw: RawSplit, ids: list[list[int]], names: list[str]) -> None:
    if not ids:
        raise DataError(f"{raw.path}: no data rows (only a header?)")
    seen = {i for row in ids for i in row}
    missing = [shown(name) for i, name in enumerate(names) if i not in seen]
    if missing:
        raise DataError(
            f"{raw.path}: no training examples for label(s) {short_list(missing)}; add examples "
            "or remove the label from classes.txt"
        )


def refuse_sets_read_as_classes(raw: RawSplit, separator: str) -> None:
    """Single-label mode: a column whose cells are label sets is refused with the flag to use.

    It looks like sets when enough cells hold the separator and their parts are fewer names than
    the distinct cells (`joy|love`, `joy`, `love`: three cells, two names).
    """
    if not separator or not raw.labels:
        return
    joined = [label for label in raw.labels if separator in label]
    if len(joined) < max(2, LOOKS_MULTI_SHARE * len(raw.labels)):
        return
    cells = set(raw.labels)
    parts = {part.strip() for label in cells for part in label.split(separator) if part.strip()}
    if len(parts) < len(cells):
        example = shown(joined[0], 40)
        raise DataError(
            f"{raw.path}: the label column holds sets of labels ('{example}': {len(cells)} "
            f"combinations of {len(parts)} names); {MULTI_LABEL_HINT}, or set "
            "data.label_separator to another character if '|' is part of your label names"
        )
