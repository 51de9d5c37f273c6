"""Input files read in chunks of rows, never whole.

Parquet and CSV/TSV go through pyarrow's streaming readers, rebatched so that chunk `i` is
exactly rows `[i*N, (i+1)*N)` whatever the file's row groups or blocks (resume depends on it).
A TSV is read with csv quoting (as pandas writes it) or, where a quote would merge lines that
each hold a row, as unquoted TSV, a row per line (`tsv_lookahead`, `DelimitedSource._tsv_batches`).
JSONL and plain text are read a block of bytes at a time and split into lines here: a line that
is not valid UTF-8 (or the `--encoding` named) or JSON is then one bad row of the output, not a
failed file. Line ends are those of `data.readers.split_lines` (\\n, \\r\\n, a lone \\r), so
that a streamed text file has the lines `predict --input` always saw. Line ends, delimiters and
quotes are found as ASCII bytes before anything is decoded, which every encoding
`readers.text_encoding` accepts keeps: chunks, and resume, do not depend on the encoding. A
row's text is kept as read; `results.row_problems` decides which rows are classified.
"""

from __future__ import annotations

import csv
import json
import re
import stat
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from attentext.data.json_keys import RepeatedKeys, marked_repeats, repeated_key_problem
from attentext.data.readers import (
    DEFAULT_ENCODING,
    SNIFF_BYTES,
    SUFFIXES,
    check_unique_columns,
    decoded_segments,
    holds_json_array,
    is_int,
    json_array_items,
    refuse_binary,
    refuse_encoding_of_parquet,
    tsv_unquoted,
)
from attentext.data.unicode import unpaired_surrogate
from attentext.errors import AttentextWarning, DataError, short_list, shown
from attentext.scoring.csv_rows import (
    MAX_FIELD_BYTES,
    PROBLEM_COLUMN,
    csv_batches,
    quote_never_closed,
    with_problems,
)

NOT_UTF8 = "not valid UTF-8"  # a bad row's reason; predict counts them (an encoding hint)
NOT_UNICODE = "not valid Unicode (a lone surrogate, as an escape like \\ud800 writes)"

BLOCK_BYTES = 1 << 20  # read size of text and JSONL files, and pyarrow's CSV block
MAX_LINE_BYTES = MAX_FIELD_BYTES  # a longer line of a text or JSONL file is not held or read
LINE_END = re.compile(rb"\r\n|\r|\n")
BOM = b"\xef\xbb\xbf"
# a TSV's first bytes, read (once more) to decide whether it is quoted (`readers.tsv_unquoted`);
# past them `DelimitedSource` watches, as it streams, for a quote that merges lines
TSV_LOOKAHEAD_BYTES = 4 << 20
MERGED = r"[\t\n\r]"  # in a field read with quotes: the quote ran over a tab or a line end
# AG News' original CSV (no header: class index, title, description): its text is title + " " +
# description, as `data.readers` reads it; the three columns can be passed through by these names
AG_NEWS_COLUMNS = ("class", "title", "description")


@dataclass
class Chunk:
    """Rows `start .. start + len(texts) - 1` (0-based) of the input, as read."""

    index: int
    start: int
    texts: list[Any]  # the text of each row as read (None when missing); checked later
    columns: dict[str, Any]  # passed-through columns: name -> pyarrow array or list of values
    problems: dict[int, str] = field(default_factory=dict)  # row in chunk -> why unreadable
    lines: list[int] | None = None  # the file line of each row (line-based files)
    read_to: int = 0  # bytes of the file read when the chunk was (the progress of its size)

    def __len__(self) -> int:
        return len(self.texts)


def not_decoded(encoding: str) -> str:
    """A bad row's reason when its bytes are not of the encoding read (`NOT_UTF8` for UTF-8,
    the one predict counts to say the file may be in another)."""
    return NOT_UTF8 if encoding == DEFAULT_ENCODING else f"not valid {encoding}"


class Source:
    """An input file and the columns read from it; `chunks(n)` yields it n rows at a time,
    its bytes decoded from `encoding` (a name of `readers.text_encoding`)."""

    total: int | None = None  # rows, where known without reading the file (Parquet)
    # bytes of the file read so far: where `total` is unknown (a second pass would count the
    # rows), the progress bar measures this against the file's size, and has an ETA
    read_bytes: int = 0
    # passed-through columns of bytes that are not all UTF-8 text (Parquet binary: a hash, a
    # UUID's 16 bytes): kept as bytes, which a text output writes base64 (`sinks.as_text_columns`)
    bytes_columns: tuple[str, ...] = ()

    def __init__(
        self, path: Path, text_column: str, columns: list[str], encoding: str = DEFAULT_ENCODING
    ) -> None:
        self.path = path
        self.text_column = text_column
        self.columns = columns
        self.encoding = encoding

    def chunks(self, rows: int) -> Iterator[Chunk]:
        raise NotImplementedError

    def _read(self, position: int) -> None:
        """Note that the file has been read up to byte `position`."""
        self.read_bytes = position

    def row_number(self, chunk: Chunk, position: int) -> int:
        """The row of a chunk's row as a whole read numbers it (`data.texts.read_input`): its
        line in a file of lines, else its place, 1-based."""
        if chunk.lines is not None:
            return chunk.lines[position]
        return chunk.start + position + 1

    def _check_columns(self, names: list[str], what: str = "column") -> None:
        """Every column asked for is in `names`; else one line that lists those there are."""
        for name in (self.text_column, *self.columns):
            if name not in names:
                option = "--text-column" if name == self.text_column else "--id-column/--columns"
                raise DataError(
                    f"{self.path}: no {what} '{shown(name)}' ({what}s: {short_list(names)}); "
                    f"choose it with {option}"
                )


def open_source(
    path: str | Path, text_column: str, columns: list[str], encoding: str = DEFAULT_ENCODING
) -> Source:
    """The input `path` as a `Source`, by its extension (.parquet, .csv, .tsv, .jsonl/.json;
    anything else is plain text, one text per line), its columns checked where it has a header;
    a text file's bytes read in `encoding` (Parquet's strings are UTF-8: another is refused)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: {_not_a_file(path)}")
    refuse_encoding_of_parquet(path, encoding)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return ParquetSource(path, text_column, columns)
    if suffix in (".csv", ".tsv"):
        delimiter = "," if suffix == ".csv" else "\t"
        return DelimitedSource(path, text_column, columns, delimiter, encoding)
    if suffix == ".json" and holds_json_array(path):
        return JsonArraySource(path, text_column, columns, encoding)
    if suffix in (".jsonl", ".json"):
        _refuse_json_array(path)
        return JsonlSource(path, text_column, columns, encoding)
    if columns:
        raise DataError(
            f"{path}: a text file has one text per line and no columns; --id-column and "
            f"--columns need a data file ({', '.join(SUFFIXES)})"
        )
    return TextSource(path, text_column, columns, encoding)


def _not_a_file(path: Path) -> str:
    """Why `path` cannot be streamed, and what to do: a pipe (`-i <(zcat x.gz)`, a FIFO) is read
    once only, and `--output` reads its input twice (a digest for --resume, then the rows); it
    was "not a file" without a word of why, though the same pipe prints without --output."""
    if path.is_dir():
        return "is a directory; expected a data file or a text file"
    kind = "a pipe" if stat.S_ISFIFO(path.stat().st_mode) else "not a regular file"
    return (
        f"is {kind}, which can be read only once; --output reads its input twice (once to "
        "record it for --resume, once to score it): save it to a file first (zcat x.gz > "
        "texts.csv) and give --input texts.csv, or print the predictions without --output"
    )


def _refuse_json_array(path: Path) -> None:
    """A `.jsonl` file is JSON Lines; one JSON array in it would be a single row that is no
    object (every reader takes an array from a `.json` file). Said in one line before any work,
    with the way to convert it."""
    if holds_json_array(path):
        raise DataError(
            f"{path}: one JSON array in a .jsonl file, which holds one object per line: name it "
            ".json, or convert it (jq -c '.[]' FILE > OTHER.jsonl)"
        )


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Lists of `size` items (the last one shorter): itertools.batched before Python 3.12."""
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


@dataclass(frozen=True)
class Overlong:
    """A line of more than `MAX_LINE_BYTES`, in place of its bytes (never held): its size."""

    size: int

    @property
    def problem(self) -> str:
        return (
            f"line of {self.size:,} bytes, over the {MAX_LINE_BYTES >> 20} MiB a text is read "
            "up to (a file without line ends makes one)"
        )


def iter_lines(
    path: Path, on_read: Callable[[int], None] | None = None
) -> Iterator[bytes | Overlong]:
    """The lines of a file as bytes, a block at a time; a UTF-8 BOM is dropped, a final line end
    adds no line. Each block is searched for line ends once: a line longer than a block is kept
    as pieces, joined when it ends (holding it as one string searched again with each block
    took 41 s to split a 100 MB line, time growing with the square of its length). A line over
    `MAX_LINE_BYTES` is counted, not held, and given as `Overlong`: a 2 GB line was held whole,
    then joined and decoded, 7 GB of memory for one row that no model reads past its start.
    `on_read` is told how far the file has been read, at each block."""
    pieces: list[bytes] = []  # the line being read, so far (none once it is over the bound)
    size = 0  # the line's bytes so far
    after_cr = False  # the last block ended with \r: a \n starting the next one ends no line
    with open(path, "rb") as handle:
        first = handle.read(BLOCK_BYTES)
        refuse_binary(path, first[:SNIFF_BYTES])
        block = first.removeprefix(BOM) or handle.read(BLOCK_BYTES)
        while block:
            if on_read is not None:
                on_read(handle.tell())
            if after_cr and block.startswith(b"\n"):
                block = block[1:]
            after_cr = block.endswith(b"\r")
            *ended, rest = LINE_END.split(block)
            if ended:
                yield _joined(pieces, ended[0], size)
                yield from ended[1:]  # lines within a block: shorter than the bound
                pieces, size = [], 0
            size += len(rest)
            if size <= MAX_LINE_BYTES:
                pieces.append(rest)
            else:
                pieces.clear()
            block = handle.read(BLOCK_BYTES)
    if size:
        yield _joined(pieces, b"", size)


def _joined(pieces: list[bytes], last: bytes, size: int) -> bytes | Overlong:
    """A line of `pieces` then `last` (`size` bytes before `last`), or `Overlong`."""
    if size + len(last) > MAX_LINE_BYTES:
        return Overlong(size + len(last))
    return b"".join([*pieces, last])


class TextSource(Source):
    """A plain text file: each line one text (blank lines are rows, with an empty text)."""

    def chunks(self, rows: int) -> Iterator[Chunk]:
        numbered = enumerate(iter_lines(self.path, self._read), start=1)
        for index, batch in enumerate(batched(numbered, rows)):
            texts: list[Any] = []
            problems: dict[int, str] = {}
            for position, (_, raw) in enumerate(batch):
                if isinstance(raw, Overlong):
                    texts.append(None)
                    problems[position] = raw.problem
                    continue
                try:
                    texts.append(raw.decode(self.encoding))
                except UnicodeDecodeError:
                    texts.append(None)
                    problems[position] = not_decoded(self.encoding)
            lines = [line for line, _ in batch]
            yield Chunk(index, index * rows, texts, {}, problems, lines, self.read_bytes)


def parse_record(
    raw: bytes | Overlong, encoding: str = DEFAULT_ENCODING
) -> tuple[dict[str, Any] | None, str | None]:
    """A JSONL line as an object, or None and why not (over the bound, not of `encoding`,
    invalid JSON, not an object)."""
    if isinstance(raw, Overlong):
        return None, raw.problem
    try:
        record = json.loads(raw.decode(encoding), object_pairs_hook=marked_repeats)
    except UnicodeDecodeError:
        return None, not_decoded(encoding)
    except json.JSONDecodeError as error:
        return None, f"invalid JSON ({error.msg})"
    except RecursionError:
        return None, "invalid JSON (nested too deeply)"
    except ValueError:  # an integer of more than 4300 digits
        return None, "invalid JSON (a number too long)"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    if isinstance(record, RepeatedKeys):  # json keeps the last value without a word
        return None, repeated_key_problem(record)
    return record, None


def not_unicode(value: Any) -> bool:
    """Whether a JSON value holds a string that is not valid Unicode: a lone surrogate, which a
    JSON escape such as "\\ud800" makes (JavaScript cutting a string inside an emoji writes
    one). Passed through, it failed the whole run when its chunk was written."""
    if isinstance(value, str):
        return unpaired_surrogate(value) is not None
    if isinstance(value, list | dict):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return True
    return False


def _blank(raw: bytes | Overlong) -> bool:
    """Whether a JSONL line is blank (no row); one over the bound is a row, not read."""
    return not isinstance(raw, Overlong) and not raw.strip()


class _RecordSource(Source):
    """A source of JSON objects, one a row (JSON Lines, a JSON array): their chunks built alike."""

    def _chunk(
        self,
        index: int,
        rows: int,
        records: list[tuple[dict[str, Any] | None, str | None]],
        lines: list[int] | None,
    ) -> Chunk:
        """Chunk `index` (of `rows` rows each) of (record, problem) pairs: each record's text
        and passed-through fields, and its problem, or the one it has (no text field, a field
        that is not valid Unicode). A field missing from a record reads as null."""
        texts: list[Any] = []
        columns: dict[str, list[Any]] = {name: [] for name in self.columns}
        problems: dict[int, str] = {}
        for position, (record, problem) in enumerate(records):
            record = record or {}
            if problem is None and self.text_column not in record:
                problem = f"no field '{shown(self.text_column)}'"
            if problem is not None:
                problems[position] = problem
            texts.append(record.get(self.text_column))
            for name, values in columns.items():
                value = record.get(name)
                if not_unicode(value):  # no UTF-8 output, nor the errors file, holds it
                    problems.setdefault(position, f"column '{shown(name)}' is {NOT_UNICODE}")
                    value = None
                values.append(value)
        return Chunk(index, index * rows, texts, dict(columns), problems, lines, self.read_bytes)


class JsonlSource(_RecordSource):
    """JSON Lines: one object per non-blank line (a blank line is not a row, as in training
    data)."""

    def __init__(
        self, path: Path, text_column: str, columns: list[str], encoding: str = DEFAULT_ENCODING
    ) -> None:
        super().__init__(path, text_column, columns, encoding)
        for raw in iter_lines(path):  # the first record names the fields, as a header would
            record, _ = parse_record(raw, encoding) if not _blank(raw) else (None, None)
            if record is not None:
                self._check_columns(list(record), what="field")
                break

    def chunks(self, rows: int) -> Iterator[Chunk]:
        read = enumerate(iter_lines(self.path, self._read), 1)
        numbered = ((n, raw) for n, raw in read if not _blank(raw))
        for index, batch in enumerate(batched(numbered, rows)):
            records = [parse_record(raw, self.encoding) for _, raw in batch]
            yield self._chunk(index, rows, records, [line for line, _ in batch])


def array_record(item: Any) -> tuple[dict[str, Any] | None, str | None]:
    """An item of a JSON array as a row's record, or None and why not (as `parse_record` says
    it of a line)."""
    if not isinstance(item, dict):
        return None, "not a JSON object"
    if isinstance(item, RepeatedKeys):  # json keeps the last value without a word
        return None, repeated_key_problem(item)
    return item, None


class JsonArraySource(_RecordSource):
    """A `.json` file of one JSON array of objects, streamed an item at a time: each item a
    row, as a JSON Lines file's lines are (an item that is no object, or lacks the text field,
    a bad row of the output). The array's own syntax and the file's bytes are the file's: where
    they break, the command stops in one line, in the whole read's words, the chunks before it
    kept for --resume."""

    def __init__(
        self, path: Path, text_column: str, columns: list[str], encoding: str = DEFAULT_ENCODING
    ) -> None:
        super().__init__(path, text_column, columns, encoding)
        for _, item in self._items():  # the first object names the fields, as a header would
            if isinstance(item, dict):
                self._check_columns(list(item), what="field")
                break

    def _items(self) -> Iterator[tuple[int, Any]]:
        segments = lambda: decoded_segments(self.path, self.encoding, BLOCK_BYTES, self._read)  # noqa: E731
        return json_array_items(self.path, segments)

    def chunks(self, rows: int) -> Iterator[Chunk]:
        for index, batch in enumerate(batched(self._items(), rows)):
            yield self._chunk(index, rows, [array_record(item) for _, item in batch], None)


def rebatch(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Tables of exactly `rows` rows (the last one shorter) from batches of any sizes."""
    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        held.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(held)
            yield table.slice(0, rows)
            rest = table.slice(rows)
            held, count = rest.to_batches(), rest.num_rows
    if count:
        yield pa.Table.from_batches(held)


def decode_texts(
    values: list[Any], encoding: str = DEFAULT_ENCODING
) -> tuple[list[Any], dict[int, str]]:
    """Texts as read, those read as bytes decoded one by one from `encoding` (a row that is not
    in it is a bad row); other values are kept for `results.row_problems` to judge.

    Bytes are how a CSV's texts are read here, and how many writers store a Parquet column of
    text (BYTE_ARRAY without the UTF8 annotation: Hive, Impala, old Spark): unread, every such
    row was "text is of type bytes, not a string", a whole output of empty results."""
    texts: list[Any] = []
    problems: dict[int, str] = {}
    for position, value in enumerate(values):
        if not isinstance(value, bytes):
            texts.append(value)
            continue
        try:
            texts.append(value.decode(encoding))
        except UnicodeDecodeError:
            texts.append(None)
            problems[position] = not_decoded(encoding)
    return texts, problems


class TableSource(Source):
    """A file pyarrow reads as record batches: the chunk's texts and passed-through columns."""

    def batches(self) -> Iterator[pa.RecordBatch]:
        raise NotImplementedError

    def texts_of(self, table: pa.Table) -> tuple[list[Any], dict[int, str]]:
        return decode_texts(table.column(self.text_column).to_pylist(), self.encoding)

    def chunks(self, rows: int) -> Iterator[Chunk]:
        for index, table in enumerate(rebatch(self.batches(), rows)):
            texts, problems = self.texts_of(table)
            if PROBLEM_COLUMN in table.column_names:  # a row the reader could not split
                unread = table.column(PROBLEM_COLUMN).to_pylist()
                problems.update({at: why for at, why in enumerate(unread) if why is not None})
            columns: dict[str, Any] = {}
            for name in self.columns:
                columns[name], unreadable = self.column_of(table, name)
                for position in unreadable:
                    reason = not_decoded(self.encoding)
                    problems.setdefault(position, f"column '{shown(name)}' is {reason}")
            yield Chunk(index, index * rows, texts, columns, problems, read_to=self.read_bytes)

    def column_of(self, table: pa.Table, name: str) -> tuple[pa.Array, list[int]]:
        """A passed-through column as read, and the rows whose value could not be read."""
        return table.column(name).combine_chunks(), []

    @property
    def needed(self) -> list[str]:
        return list(dict.fromkeys([self.text_column, *self.columns]))


class ParquetSource(TableSource):
    """A Parquet file, read a buffered page at a time (never a whole row group's column)."""

    def __init__(self, path: Path, text_column: str, columns: list[str]) -> None:
        super().__init__(path, text_column, columns)
        try:
            self.file = pq.ParquetFile(path, buffer_size=BLOCK_BYTES)
        except Exception as error:  # pyarrow raises several types for a bad file
            reason = shown(str(error).splitlines()[0] if str(error) else type(error).__name__, 120)
            raise DataError(f"{path}: not a readable Parquet file ({reason})") from None
        self._check_columns(self.file.schema_arrow.names)
        _check_text_type(path, text_column, self.file.schema_arrow.field(text_column).type)
        self.total = self.file.metadata.num_rows
        if not self.total:  # found before the model loads, not after (seconds to minutes)
            raise DataError(f"{path}: no rows to classify (a Parquet file of 0 rows)")
        schema = self.file.schema_arrow
        binary = [name for name in dict.fromkeys(columns) if is_bytes(schema.field(name).type)]
        self.text_columns = {name for name in binary if self._all_utf8(name)}
        self.bytes_columns = tuple(name for name in binary if name not in self.text_columns)

    def batches(self, columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        """The file's batches (of `columns`, by default those needed), one reader per row
        group: a single reader over the whole file keeps Arrow memory of each row group it has
        passed until the end (pyarrow 26: 37 MB to 164 MB over ten row groups of 100,000 texts),
        one per group stays flat."""
        for group in range(self.file.metadata.num_row_groups):
            yield from self.file.iter_batches(
                batch_size=8192,
                row_groups=[group],
                columns=columns or self.needed,
                use_threads=False,
            )

    def _all_utf8(self, name: str) -> bool:
        """Whether every value of the binary column `name`, in the whole file, is UTF-8: the
        column is then text, in every chunk alike (decided chunk by chunk, a file's first chunks
        could be written as text and its later ones as base64; and a resumed run must decide as
        the straight one did, which the file's contents, recorded in the manifest, make sure)."""
        for batch in self.batches([name]):
            try:
                plain_bytes(batch.column(0)).cast(pa.string())
            except pa.ArrowInvalid:
                return False
        return True

    def column_of(self, table: pa.Table, name: str) -> tuple[pa.Array, list[int]]:
        """A passed-through column as read; a binary one as text where the file's values are
        all UTF-8 (as the texts are read: `decode_texts`), else as plain bytes. Passed through
        as they were read, bytes were written `"b'...'"` in JSON Lines and refused for CSV."""
        column = table.column(name).combine_chunks()
        if name in self.text_columns:
            return plain_bytes(column).cast(pa.string()), []
        if name in self.bytes_columns:
            return plain_bytes(column), []
        return column, []


def _check_text_type(path: Path, name: str, kind: pa.DataType) -> None:
    """Refuse, before any work, a Parquet column of texts whose type holds no text (numbers,
    booleans, dates, lists, structs, or only nulls): every row would be "not classified", and
    a million rows were scored to an output of empty results, exit 0 (`--text-column id`)."""
    value = kind.value_type if pa.types.is_dictionary(kind) else kind
    textual = (is_bytes, pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    if any(holds(value) for holds in textual):
        return
    held = "only nulls" if pa.types.is_null(value) else f"values of type {value}, not texts"
    raise DataError(
        f"{path}: column '{shown(name)}' holds {held}, so no row could be classified; "
        "choose the column of texts with --text-column"
    )


def is_bytes(kind: pa.DataType) -> bool:
    """Whether an Arrow type holds bytes (binary of any width or layout, or a dictionary of
    them): what Hive, Impala and old Spark write text as, and what a hash or UUID column is."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return (
        pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
        or pa.types.is_fixed_size_binary(kind)
        or pa.types.is_binary_view(kind)
    )


def plain_bytes(column: pa.Array) -> pa.Array:
    """A column of `is_bytes` type as a plain binary array (dictionary decoded)."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    return column.cast(pa.binary())


def first_row(path: Path, delimiter: str, encoding: str = DEFAULT_ENCODING) -> list[str]:
    """The first row of a delimited file (its header), parsed as `csv` would."""
    for raw in iter_lines(path):
        try:
            if isinstance(raw, Overlong):
                raise csv.Error(raw.problem)
            return next(csv.reader([raw.decode(encoding)], delimiter=delimiter))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            raise DataError(f"{path}: row 1: not a readable header") from None
    raise DataError(f"{path}: file is empty")


def tsv_lookahead(path: Path, encoding: str = DEFAULT_ENCODING) -> bool | None:
    """`readers.tsv_unquoted` on a TSV's first TSV_LOOKAHEAD_BYTES, cut after their last whole
    line (the whole file where it is no longer): True or False decides the file; None (no quote
    merges lines there) leaves it to `DelimitedSource` to watch the rest as it streams."""
    with open(path, "rb") as handle:
        head = handle.read(TSV_LOOKAHEAD_BYTES + 1)
    whole = len(head) <= TSV_LOOKAHEAD_BYTES
    if not whole:  # a \r at the very end may be the first half of a \r\n
        head = head[: max(head.rfind(b"\n"), head.rfind(b"\r", 0, len(head) - 1)) + 1]
    content = head.removeprefix(BOM).decode(encoding, errors="replace")
    return tsv_unquoted(path, content, whole)


def open_quote(path: Path, value: bytes) -> tuple[int, int] | None:
    """Where the file's last field, read as `value`, is a quote never closed: the line of its
    opening quote and the lines it runs over; None where the quote closed. Such a field runs to
    the very end of the file, so the file ends with the quote and the value as written (its
    quotes doubled), and the value holds a line end (a quote left open on the last line merges
    nothing). A field whose quote closed ends with the closing quote (and a line end) instead."""
    if b"\n" not in value and b"\r" not in value:
        return None
    written = b'"' + value.replace(b'"', b'""')
    size = path.stat().st_size
    if size < len(written):
        return None
    with open(path, "rb") as handle:
        handle.seek(size - len(written))
        if handle.read() != written:
            return None
        after = len(LINE_END.findall(value)) - bool(LINE_END.search(value[-1:]))
        return line_at(handle, size - len(written)), after


def line_at(handle: Any, offset: int) -> int:
    """The line (1-based) of byte `offset` of a binary file, line ends as `split_lines` has
    them (a \r\n cut between two blocks counted once)."""
    handle.seek(0)
    ends, left, before = 0, offset, b""
    while left > 0:
        block = handle.read(min(BLOCK_BYTES, left))
        if not block:
            break
        ends += len(LINE_END.findall(block)) - (before == b"\r" and block.startswith(b"\n"))
        before, left = block[-1:], left - len(block)
    return ends + 1


def merged_row(batch: pa.RecordBatch) -> int | None:
    """The first row of `batch` (read with quotes) with a tab or a line end in a field, in any
    column: a quoted field that held them, or a quote that ran over them; None where none has."""
    found = [
        pc.index(pc.match_substring_regex(column, MERGED), True).as_py() for column in batch.columns
    ]
    return min((row for row in found if row >= 0), default=None)


def skip_rows(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """`batches` without their first `rows` rows."""
    for batch in batches:
        if rows < batch.num_rows:
            yield batch.slice(rows)
        rows = max(rows - batch.num_rows, 0)


class DelimitedSource(TableSource):
    """CSV or TSV with a header (every column read as text, so that no type is guessed from
    the first block), or AG News' original headerless CSV."""

    def __init__(
        self,
        path: Path,
        text_column: str,
        columns: list[str],
        delimiter: str,
        encoding: str = DEFAULT_ENCODING,
    ) -> None:
        super().__init__(path, text_column, columns, encoding)
        self.delimiter = delimiter
        header = first_row(path, delimiter, encoding)
        self.ag_news = (
            delimiter == ","
            and len(header) == 3
            and is_int(header[0])
            and text_column not in header
        )
        self.names = list(AG_NEWS_COLUMNS) if self.ag_news else [h.strip() for h in header]
        if not self.ag_news:
            self._check_columns(self.names)
            check_unique_columns(path, self.names, (text_column, *columns))
        elif any(name not in AG_NEWS_COLUMNS for name in columns):
            self._check_columns(list(AG_NEWS_COLUMNS))
        # CSV is quoted; a TSV may be unquoted (a line a row), decided before any work is done
        self.unquoted = tsv_lookahead(path, encoding) if delimiter == "\t" else False
        self.quoting = not self.unquoted  # as read now (a watched TSV may switch under way)

    @property
    def include(self) -> list[str]:
        """The columns read: the text's (AG News: title and description) and those passed."""
        text_columns = ["title", "description"] if self.ag_news else [self.text_column]
        return list(dict.fromkeys([*text_columns, *self.columns]))

    def _reader(self, quoting: bool = True, every_column: bool = False) -> Any:
        """pyarrow's streaming reader, with csv quoting or a row per line; `every_column` reads
        the columns not asked for too (as bytes), for `merged_row` to see a quote in any."""
        # the last column too, where quoted: a quote opened there and never closed runs to the
        # end of the file without an error (`_refuse_open_quote` looks at it)
        include = list(
            dict.fromkeys([*self.include, *self.names[-1:]] if quoting else self.include)
        )
        types = {name: pa.binary() for name in self.names} if every_column else {}
        types.update({name: pa.binary() for name in include})  # decoded here (`column_of`)
        return pacsv.open_csv(
            self.path,
            read_options=pacsv.ReadOptions(
                column_names=self.names, skip_rows=0 if self.ag_news else 1, block_size=BLOCK_BYTES
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.delimiter,
                quote_char='"' if quoting else False,
                newlines_in_values=quoting,
            ),
            convert_options=pacsv.ConvertOptions(
                include_columns=[] if every_column else include,  # [] reads every column
                column_types=types,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    def _tsv_batches(self) -> Iterator[pa.RecordBatch]:
        """A TSV's batches as `tsv_lookahead` decided; where its look-ahead showed no quote that
        merges lines, read with quotes and watched: at the first row whose quote ran over lines
        that each hold a row, the file is unquoted, and is read a row per line from that row on
        (the rows before it are one line each in both readings: chunks keep their rows)."""
        if self.unquoted is not None:
            yield from self._reader(quoting=not self.unquoted)
            return
        done = 0
        batches = iter(self._reader(quoting=True, every_column=True))
        for batch in batches:
            row = merged_row(batch)
            if row is None:
                done += batch.num_rows
                yield batch
                continue
            if not self._lines_hold_rows(batch, row):  # quoted as pandas writes such texts
                yield batch
                yield from batches
                return
            warnings.warn(
                f"{self.path}: row {done + row + 1}: a '\"' starts a field that, read as a quote, "
                "merges the lines after it into one row; read as unquoted TSV from that row on: "
                "one row per line, split on tabs, quotes kept as written",
                AttentextWarning,
                stacklevel=2,
            )
            yield batch.slice(0, row)
            self.quoting = False
            yield from skip_rows(self._reader(quoting=False), done + row)
            return

    def _lines_hold_rows(self, batch: pa.RecordBatch, row: int) -> bool:
        """Whether the lines a quoted row spans (its fields joined by tabs: quotes are neither
        tabs nor line ends) each hold the header's number of tab-separated fields. In a file of
        one column every line would: that tells nothing, and the file stays quoted."""
        values = [column[row].as_py() for column in batch.columns]
        joined = b"\t".join(v if isinstance(v, bytes) else v.encode() for v in values)
        lines = LINE_END.split(joined)
        fields = len(self.names)
        return fields > 1 and all(not line or line.count(b"\t") + 1 == fields for line in lines)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """pyarrow's batches; where its reader stops (a row longer than its block, a row of
        another width), Python's csv reads on from the row it reached (`csv_rows`): a long row
        is read whole, a row of another width is one bad row in its place. The last batch is
        held until the file has ended, for `_refuse_open_quote` to see its last row first."""
        self.quoting = not self.unquoted
        done, held, size = 0, None, self.path.stat().st_size
        try:
            for blocks, batch in enumerate(
                self._tsv_batches() if self.delimiter == "\t" else self._reader(), 1
            ):
                if held is not None:
                    yield with_problems(held, self.include)
                    done += held.num_rows
                held = batch
                # a batch is a block parsed: the file's position runs 32 blocks ahead of it
                self._read(min(blocks * BLOCK_BYTES, size))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            if held is not None:
                yield with_problems(held, self.include)
                done += held.num_rows
            header = 0 if self.ag_news else 1
            yield from csv_batches(
                self.path,
                self.names,
                self.include,
                self.delimiter,
                self.quoting,
                header + done,
                self._read,
            )
            return
        self._read(size)
        if held is not None:
            if self.quoting:
                self._refuse_open_quote(held, done)
            yield with_problems(held, self.include)

    def _refuse_open_quote(self, batch: pa.RecordBatch, done: int) -> None:
        """One line where the file's last row ends inside a quote it opened in its last column
        (`open_quote`): pyarrow's reader takes every line after such a quote as one field, to
        the end of the file, without an error where they fit in its last block; they were one
        text, scored without a word. (A quote opened in another column leaves the row short of
        fields, which the reader refuses, and `csv_rows` names it.)"""
        value = batch.column(self.names[-1])[batch.num_rows - 1].as_py()
        found = open_quote(self.path, value if isinstance(value, bytes) else value.encode())
        if found is not None:
            line, lines = found
            raise DataError(
                f"{self.path}: row {done + batch.num_rows}, line {line}: {quote_never_closed(lines)}"
            )

    def row_number(self, chunk: Chunk, position: int) -> int:
        """The row as a whole read numbers it: the header is row 1 (AG News' file has none)."""
        return chunk.start + position + 1 + (0 if self.ag_news else 1)

    def column_of(self, table: pa.Table, name: str) -> tuple[pa.Array, list[int]]:
        """A passed-through column as text. Every column is read as bytes and decoded here: a
        value that is not UTF-8 (a cp1252 `é`) is null and its row a bad row, as in JSON Lines;
        read as text by pyarrow, it failed the whole file mid-stream ("malformed file (... CSV
        conversion error to string: invalid UTF8 data)"), the chunks before it scored for
        nothing. (Passed through as bytes, the column of texts was written as `"b'...'"`.)"""
        column = table.column(name).combine_chunks()
        if self.encoding == DEFAULT_ENCODING:
            try:
                return column.cast(pa.string()), []
            except pa.ArrowInvalid:  # some value is not UTF-8: decoded one by one
                pass
        values, problems = decode_texts(column.to_pylist(), self.encoding)
        return pa.array(values, type=pa.string()), sorted(problems)

    def texts_of(self, table: pa.Table) -> tuple[list[Any], dict[int, str]]:
        if not self.ag_news:
            return decode_texts(table.column(self.text_column).to_pylist(), self.encoding)
        titles, problems = decode_texts(table.column("title").to_pylist(), self.encoding)
        bodies, more = decode_texts(table.column("description").to_pylist(), self.encoding)
        texts = [
            f"{t} {b}".strip() if t is not None and b is not None else None
            for t, b in zip(titles, bodies, strict=True)
        ]
        return texts, {**problems, **more}
