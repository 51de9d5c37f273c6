"""Reading one data file (CSV, TSV, JSONL, Parquet, AG News' original CSV) into texts and raw
labels, with the file and row of every problem in its message."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

from attentext.errors import DataError

SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
SPLIT_ALIASES = {
    "train": ("train",),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test",),
}
SNIFF_BYTES = 8192  # read first, so that a binary file is refused before it is read whole
MAX_FIELD_CHARS = 2**31 - 1  # csv's default limit (128 KiB) would refuse a 1 MB text


@dataclass
class RawSplit:
    """One file's rows: texts, raw labels, and where each came from."""

    texts: list[str]
    labels: list[str]  # raw label values, as strings; mapped to ids later
    path: Path
    rows: list[int]  # the file row (1-based) of each example, for error messages
    labels_are_indices: bool = False  # AG News format: 1-based class indices


def read_text(path: Path) -> str:
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


def is_int(value: str) -> bool:
    try:
        int(value.strip())
    except ValueError:
        return False
    return True


def _read_delimited(path: Path, delimiter: str, text_column: str, label_column: str) -> RawSplit:
    content = read_text(path)
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
    if delimiter == "," and len(first) == 3 and is_int(first[0]) and text_column not in first:
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
                "choose columns with --set data.text_column=NAME --set data.label_column=NAME"
            )
    t, lab = header.index(text_column), header.index(label_column)
    texts, labels, lines = [], [], []
    for line, row in numbered[1:]:
        if len(row) != len(header):
            raise DataError(f"{path}: row {line}: {len(row)} fields, expected {len(header)}")
        texts.append(row[t])
        labels.append(row[lab].strip())
        lines.append(line)
    return RawSplit(texts, labels, path, lines)


def _ag_news_rows(path: Path, numbered: list[tuple[int, list[str]]]) -> RawSplit:
    """AG News' original format: class index (1-based), title, description; no header."""
    texts, labels, lines = [], [], []
    for line, row in numbered:
        if len(row) != 3:
            raise DataError(
                f"{path}: row {line}: {len(row)} fields, expected 3 (class, title, text)"
            )
        if not is_int(row[0]):
            raise DataError(f"{path}: row {line}: class index '{row[0]}' is not an integer")
        texts.append(f"{row[1]} {row[2]}".strip())
        labels.append(row[0].strip())
        lines.append(line)
    return RawSplit(texts, labels, path, lines, labels_are_indices=True)


def _read_jsonl(path: Path, text_column: str, label_column: str) -> RawSplit:
    content = read_text(path)
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
        labels.append(label_str(record[label_column]))
        lines.append(line)
    return RawSplit(texts, labels, path, lines)


def _read_parquet(path: Path, text_column: str, label_column: str) -> RawSplit:
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
                "choose columns with --set data.text_column=NAME --set data.label_column=NAME"
            )
    texts = table.column(text_column).to_pylist()
    labels = [label_str(v) for v in table.column(label_column).to_pylist()]
    if not texts:
        raise DataError(f"{path}: file is empty")
    return RawSplit(texts, labels, path, list(range(1, len(texts) + 1)))


def label_str(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def read_file(path: str | Path, text_column: str = "text", label_column: str = "label") -> RawSplit:
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


def find_split_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for split, names in SPLIT_ALIASES.items():
        for name in names:
            for suffix in SUFFIXES:
                candidate = folder / f"{name}{suffix}"
                if candidate.exists() and split not in found:
                    found[split] = candidate
    return found
