"""The rows of a CSV or TSV read by Python's `csv` module, where pyarrow's streaming reader
stops: a row longer than its block ("straddling object straddles two block boundaries") or a
row with another number of fields than the header ("Expected 2 columns, got 4"). Either failed
the whole run at that block, after every chunk before it had been scored, and `--resume` met
the same row again: the file could not be scored at all without editing it, which a resume
then refuses (the input changed). `sources.DelimitedSource` reads on from the row pyarrow
reached with this reader, a row of any length, and a row of the wrong width is one bad row that
keeps its place (`PROBLEM_COLUMN`), as a line of invalid JSON is in JSON Lines.

Values are kept as bytes, as pyarrow reads them here, for `sources.decode_texts` to decode in
the `--encoding` asked for: the file is read as Latin-1, which maps each byte to one character
and back, and the delimiter, quote and line ends are ASCII in every encoding predict reads.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa

from attentext.errors import DataError, shown

# a column no file can name (NUL bytes are refused): why a row could not be read, or null
PROBLEM_COLUMN = "\x00problem"
BATCH_ROWS = 8192  # rows a batch, as pyarrow's reader gives them
# the longest field read (bytes, as Latin-1 characters): 640 times tfidf-logreg's 100,000
# characters, more than a token model reads; one longer is a quote never closed, not a text
MAX_FIELD_BYTES = 64 << 20
BOM = "\xef\xbb\xbf"  # a UTF-8 byte order mark, read as Latin-1


def with_problems(batch: pa.RecordBatch, include: list[str]) -> pa.RecordBatch:
    """A batch of pyarrow's reader with the columns `include` and an empty `PROBLEM_COLUMN`:
    the shape of `csv_batches`' batches, so that both join into one chunk."""
    arrays = [batch.column(name) for name in include]
    nulls = pa.nulls(batch.num_rows, pa.string())
    return pa.record_batch([*arrays, nulls], names=[*include, PROBLEM_COLUMN])


def csv_batches(
    path: Path,
    names: list[str],
    include: list[str],
    delimiter: str,
    quoting: bool,
    skip: int,
    on_read: Callable[[int], None] | None = None,
) -> Iterator[pa.RecordBatch]:
    """The rows of `path` after its first `skip` (the header counts), `BATCH_ROWS` a batch, as
    `with_problems` shapes them; blank lines are no rows, as pyarrow reads them. A row of
    another number of fields than `names` has null values and its reason in `PROBLEM_COLUMN`.
    A field over `MAX_FIELD_BYTES`, or a quote still open at the end of the file, is one line
    naming where: a quote never closed makes one field of every line after it. `on_read` is
    told how far the file has been read, at each batch."""
    where = [names.index(name) for name in include]
    with open(path, encoding="latin-1", newline="") as handle:
        if handle.read(len(BOM)) != BOM:
            handle.seek(0)
        reader = csv.reader(handle, **_dialect(delimiter, quoting))
        rows = islice(_numbered(reader), skip, None)
        last = (0, 0)  # the lines of the last row read: where it starts, where it ends
        while True:
            try:
                with _field_limit(MAX_FIELD_BYTES):
                    batch = list(islice(rows, BATCH_ROWS))
            except csv.Error as error:
                raise _unreadable(path, reader.line_num, str(error)) from None
            if not batch:
                break
            last = (batch[-1][0], reader.line_num)
            if on_read is not None:
                on_read(handle.buffer.tell())
            yield _batch([row for _, row in batch], len(names), where, include)
    if quoting and last[1] > last[0] and _quote_left_open(path, last[0], delimiter):
        raise DataError(f"{path}: line {last[0]}: {quote_never_closed(last[1] - last[0])}")


def quote_never_closed(lines: int) -> str:
    """What is wrong with a field whose quote is never closed, running over `lines` lines."""
    return (
        f"a '\"' opens a field that is never closed: it runs over the {lines:,} lines after it "
        'to the end of the file; close the quote (a quote inside a field is written "")'
    )


def _dialect(delimiter: str, quoting: bool) -> dict[str, Any]:
    """The csv reader's options: pyarrow's quoting (double quotes, doubled inside), or none."""
    if quoting:
        return {"delimiter": delimiter, "quotechar": '"', "doublequote": True}
    return {"delimiter": delimiter, "quoting": csv.QUOTE_NONE, "quotechar": None}


def _numbered(reader: Any) -> Iterator[tuple[int, list[str]]]:
    """The reader's non-blank rows, each with the line it starts on."""
    start = 1
    for row in reader:
        if row:
            yield start, row
        start = reader.line_num + 1


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    """The csv module's field limit (a setting of the whole process) as `limit` while rows are
    read, as it was after: the whole-file readers raise it for training's long texts."""
    before = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def _unreadable(path: Path, line: int, reason: str) -> DataError:
    """One line for a row the csv module cannot read: a field over the limit, or a NUL."""
    if "field larger than field limit" in reason:
        return DataError(
            f"{path}: line {line}: a field of over {MAX_FIELD_BYTES >> 20} MiB, more than any "
            "text predict reads (a '\"' never closed makes one of the lines after it); close "
            "the quote or cut the field"
        )
    return DataError(f"{path}: line {line}: malformed ({shown(reason, 120)})")


def _quote_left_open(path: Path, line: int, delimiter: str) -> bool:
    """Whether the row starting on `line` (the last, read over several lines) ends inside a
    quote: the csv module keeps such a field whole to the end of the file without a word, and
    only its strict mode says so."""
    with open(path, encoding="latin-1", newline="") as handle:
        tail = islice(handle, line - 1, None)
        reader = csv.reader(tail, **_dialect(delimiter, True), strict=True)
        try:
            with _field_limit(MAX_FIELD_BYTES):
                for _ in reader:
                    pass
        except csv.Error as error:
            return str(error).startswith("unexpected end of data")
    return False


def _batch(
    rows: list[list[str]], width: int, where: list[int], include: list[str]
) -> pa.RecordBatch:
    """Rows of fields as a batch of the columns at `where` (bytes) and their problems."""
    values: list[list[bytes | None]] = [[] for _ in where]
    problems: list[str | None] = []
    for row in rows:
        whole = len(row) == width
        problems.append(None if whole else f"{len(row)} fields, expected {width}")
        for column, index in zip(values, where, strict=True):
            column.append(row[index].encode("latin-1") if whole else None)
    arrays = [pa.array(column, pa.binary()) for column in values]
    return pa.record_batch(
        [*arrays, pa.array(problems, pa.string())], names=[*include, PROBLEM_COLUMN]
    )
