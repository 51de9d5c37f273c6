"""Reading one data file (CSV, TSV, JSONL, Parquet, AG News' original CSV) into texts and raw
labels (`read_file`), or into texts alone (`read_texts`: what is classified needs no label column),
with the file and row of every problem in its message."""

from __future__ import annotations

import codecs
import csv
import json
import math
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass
from numbers import Number
from pathlib import Path
from typing import Any, BinaryIO

from attentext.data.json_keys import RepeatedKeys, marked_repeats, repeated_key_problem
from attentext.data.unicode import INVISIBLE, unpaired_surrogate
from attentext.errors import AttentextWarning, DataError, EncodingError, short_list, shown

SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
SPLIT_ALIASES = {
    "train": ("train",),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test",),
}
SNIFF_BYTES = 8192  # read first, so that a binary file is refused before it is read whole
MAX_FIELD_CHARS = 2**31 - 1  # csv's default limit (128 KiB) would refuse a 1 MB text
# A line ends with \n, \r\n or a lone \r (old Mac files), and with nothing else: str.splitlines()
# would also split on a form feed, \x1c-\x1e, \x85 or U+2028, which are characters of a text.
LINE_END = re.compile(r"\r\n|\r|\n")
LINE_ENDS = re.compile(rb"\r\n|\r|\n")  # of bytes
# the columns a labelled file is read by are the recipe's: `--set` chooses them when training;
# a trained run reads new files (evaluate, recalibrate, compare) by the same names
COLUMN_HINT = (
    "rename the file's columns, or train with --set data.text_column=NAME "
    "--set data.label_column=NAME"
)
# A list of labels in one cell (JSONL/Parquet list values) is kept as one string joined by this
# unit separator, a character no label holds: multi-label data splits on it.
LIST_MARK = "\x1f"
# the first whole number a float (a JSON number with a '.' or 'e', a Parquet double) cannot hold
# exactly: a label of this size or more read as a float has made-up digits (`checked_label`)
MAX_EXACT_FLOAT = 2.0**53
# what texts given as bytes come as (`text_list`): iterated, they are numbers
BYTES_LIKE = (bytes, bytearray, memoryview)
# the type names of pandas' missing values (`pd.NA`, `pd.NaT`), told without importing pandas
PANDAS_MISSING = frozenset({"NAType", "NaTType"})
# a boolean label as JSON (and pyarrow, Spark) writes it, not as Python does (`label_str`)
BOOLEAN_LABELS = {True: "true", False: "false"}
# A text of spaces and characters that draw nothing (the word tokenizer removes them: a soft
# hyphen, zero-width space, bidirectional marks, word joiner, BOM) is as empty as "": a zero-width
# space alone trained as a labelled text (an audit). Matched from the start: a text fails at once.
BLANK_TEXT = re.compile(f"[\\s{INVISIBLE}]*")
# what a file of texts is read as unless told otherwise (`predict --encoding`)
DEFAULT_ENCODING = "utf-8"
ASCII = bytes(range(128))
# how to turn a file in another encoding into UTF-8 (the usual one: Windows' Western European)
ICONV_HINT = "iconv -f cp1252 -t utf-8 IN > OUT"
# a TSV neither quoted nor plain (`tsv_unquoted`): how to write it so that it reads one way
QUOTE_HINT = (
    'write every text holding a tab, a line break or a leading \'"\' in quotes ("" for a quote '
    "inside), as pandas and csv.writer do, or remove those characters"
)


@dataclass
class RawTexts:
    """One file's texts, as read (checked by `check_texts`), and the file row of each."""

    texts: list[str]
    path: Path
    rows: list[int]  # the file row (1-based) of each text, for error messages


@dataclass
class RawSplit(RawTexts):
    """One file's rows with their raw labels, as strings (mapped to ids by `labels.to_ids`)."""

    labels: list[str]
    labels_are_indices: bool = False  # AG News format: 1-based class indices


STANDARD_INPUT = "-"  # `predict --input -`: the texts piped in, one per line (data.texts)
STANDARD_INPUT_NAME = Path("standard input")  # how messages name it


def split_lines(content: str) -> list[str]:
    """The lines of `content` (see LINE_END); a final line end adds no line."""
    lines = LINE_END.split(content)
    if lines[-1] == "":
        lines.pop()
    return lines


# the first bytes of the compressed files users give as text (`data.csv.gz`, a .txt gzipped)
COMPRESSED = {
    b"\x1f\x8b": ("gzip", "gunzip -c", ".gz"),
    b"BZh": ("bzip2", "bunzip2 -c", ".bz2"),
    b"\xfd7zXZ\x00": ("xz", "unxz -c", ".xz"),
    b"\x28\xb5\x2f\xfd": ("zstd", "unzstd -c", ".zst"),
    b"PK\x03\x04": ("zip", "unzip -p", ".zip"),
}

# the byte order marks of encodings whose ASCII is not ASCII bytes: Notepad's and Excel's
# "Unicode" (UTF-16 LE), PowerShell 5's redirections; UTF-32's first, as UTF-16's begins it
WIDE_BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}


def refuse_binary(path: Path, head: bytes) -> None:
    """A DataError if a file's first bytes are not text: a compressed file is named so, with
    the command that decompresses it (all of them were "contains NUL bytes; is it a binary or
    UTF-16 file?", which sent a user with a gzipped CSV to re-save it as UTF-8); else NUL bytes
    (binary, or UTF-16)."""
    for magic, (kind, command, suffix) in COMPRESSED.items():
        if head.startswith(magic) and (kind != "bzip2" or head[4:10] == b"1AY&SY"):
            name = shown(path.name)
            target = (
                name.removesuffix(path.suffix)
                if path.suffix.lower() == suffix
                else f"{shown(path.stem)}.decompressed{shown(path.suffix)}"
            )
            raise DataError(
                f"{path}: is {kind}-compressed; decompress it first ({command} {name} > "
                f"{target}) and give the file it makes"
            )
    for mark, kind in WIDE_BOMS.items():
        if head.startswith(mark):
            raise DataError(
                f"{path}: is {kind} text (it starts with a {kind} byte order mark), which is "
                f"not read here; convert it to UTF-8 first (iconv -f {kind} -t UTF-8 IN > OUT)"
            )
    if b"\x00" in head[:SNIFF_BYTES]:
        raise DataError(
            f"{path}: contains NUL bytes; is it a binary or UTF-16 file? save it as UTF-8 text"
        )


def text_encoding(name: str) -> str:
    """The codec `name` stands for, by Python's name for it (`latin-1` is `iso8859-1`, `UTF8`
    is `utf-8`), so that one encoding is recorded by one name whatever it was written as.

    Refused in one line: an unknown name, a codec that is no text encoding (`base64`, `rot13`),
    and one that does not read ASCII bytes as ASCII (UTF-16, UTF-32, EBCDIC): line ends, tabs,
    commas and quotes are found as ASCII bytes before a text is decoded, so such a file would be
    cut in the wrong places."""
    try:
        codec = codecs.lookup(name)
    except (LookupError, ValueError):
        raise DataError(
            f"--encoding {shown(name)}: unknown encoding; name one Python knows (utf-8, "
            "cp1252, latin-1, shift_jis, ...)"
        ) from None
    if not getattr(codec, "_is_text_encoding", True):  # base64, zlib, rot13: bytes to bytes
        raise DataError(
            f"--encoding {shown(name)}: not a text encoding; name the characters' encoding "
            "(utf-8, cp1252, latin-1, ...)"
        )
    try:
        readable = ASCII.decode(codec.name) == ASCII.decode("ascii")
    except UnicodeDecodeError:  # UTF-32, UTF-7: not every ASCII byte is a character alone
        readable = False
    if not readable:
        raise DataError(
            f"--encoding {shown(name)}: not read here (its line ends, tabs and quotes are not "
            f"ASCII bytes); convert the file to UTF-8 first (iconv -f {shown(name)} -t utf-8 "
            "IN > OUT)"
        )
    return DEFAULT_ENCODING if codec.name == "utf-8-sig" else codec.name


def refuse_encoding_of_parquet(path: Path, encoding: str) -> None:
    """A Parquet file with an --encoding other than UTF-8, refused in one line: its strings
    are UTF-8 by its format, so the option would do nothing, without a word."""
    if path.suffix.lower() == ".parquet" and encoding != DEFAULT_ENCODING:
        raise DataError(
            f"{path}: --encoding {encoding} applies to text, CSV, TSV and JSON Lines files; a "
            "Parquet file's strings are UTF-8 by its format: leave --encoding out"
        )


def check_exists(path: Path) -> None:
    """`path` exists, or one line saying it does not: asked before slow work (loading a run)
    so that a mistyped name is said at once. (A folder may be a Parquet dataset.)"""
    if not path.exists():
        raise DataError(f"{path}: file not found")


def read_text(path: Path, encoding: str = DEFAULT_ENCODING) -> str:
    """The content of a text or data file decoded from `encoding` (a UTF-8 BOM dropped); a
    byte that is not of that encoding is one line naming the file, its row and the fix."""
    check_exists(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a data file")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    refuse_binary(path, head)
    return decoded(path.read_bytes(), path, encoding)


def decoded(raw: bytes, path: Path, encoding: str = DEFAULT_ENCODING) -> str:
    """`raw`, the bytes of `path` (a file, or standard input), decoded from `encoding` (a UTF-8
    BOM dropped): nothing but spaces is an empty file, a byte not of that encoding one line."""
    if not raw.strip():
        raise DataError(f"{path}: file is empty")
    try:
        return raw.decode("utf-8-sig" if encoding == DEFAULT_ENCODING else encoding)
    except UnicodeDecodeError as err:
        raise not_decodable(path, raw, err, encoding) from None


def not_decodable(
    path: Path,
    raw: bytes,
    error: UnicodeDecodeError,
    encoding: str,
    before: tuple[int, int] = (0, 0),
) -> EncodingError:
    """The one line for a file that is not in the encoding it was read in: its row and byte,
    and how to re-save it as UTF-8 (a cp1252 file from Excel or Windows is the usual case;
    "re-save the file as UTF-8" alone left the user to find how). `raw` may be a segment of
    the input, after `before` = (its rows, its bytes) before it."""
    row = before[0] + len(re.findall(rb"\r\n|\r|\n", raw[: error.start])) + 1
    where = f"{path}: row {row}: not valid"
    at = before[1] + error.start
    if encoding != DEFAULT_ENCODING:
        return EncodingError(
            f"{where} {encoding} (byte {at}); the file is in another encoding: name "
            "it with --encoding, or re-save the file as UTF-8"
        )
    return EncodingError(
        f"{where} UTF-8 (byte {at}); if the file is in another encoding (cp1252, "
        f"Latin-1), re-save it as UTF-8 ({ICONV_HINT})"
    )


def is_int(value: str) -> bool:
    try:
        int(value.strip())
    except ValueError:
        return False
    return True


def _kind(value: object) -> str:
    """What a value that is not a string is, for a message (never the value itself when it is a
    list or an object: it could be any size). NumPy's booleans and numbers are named so too
    (`np.int64(3)` was "of type int64")."""
    if isinstance(value, bool) or type(value).__name__ in ("bool", "bool_"):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, Number):
        return f"a number ({shown(str(value))})"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"of type {type(value).__name__}"


def is_missing(value: object) -> bool:
    """Whether `value` is a missing value: None, a NaN of any float type (NumPy's float32 too),
    or pandas' and NumPy's own markers (`pd.NA`, `pd.NaT`, `np.datetime64("NaT")`), which a
    pandas column of strings or an object array holds where a text is missing: `pd.NA` was
    "text is of type NAType" where NaN and None said "missing"."""
    if value is None or type(value).__name__ in PANDAS_MISSING:
        return True
    if isinstance(value, float) or getattr(value, "ndim", None) == 0:  # a NumPy scalar
        try:
            return bool(value != value)  # NaN and NaT alone are not equal to themselves
        except (TypeError, ValueError):
            return False
    return False


def text_problem(value: object) -> str | None:
    """Why `value` cannot be classified ("text is missing", "text is empty", "text is a number
    (3), not a string"), or None for a non-blank string: a streamed row is reported, not read
    whole first (`check_texts` refuses the file instead)."""
    if is_missing(value):
        return "text is missing"
    if not isinstance(value, str):
        return f"text is {_kind(value)}, not a string"
    if not value.strip():
        return "text is empty"
    # a JSON escape such as "\ud800" (JavaScript cutting a text inside an emoji writes one):
    # no tokenizer takes it, and one such row failed a whole streamed run at its chunk
    problem = unpaired_surrogate(value)
    return None if problem is None else f"text is not valid Unicode: {problem}"


def text_list(texts: object) -> list[str]:
    """`texts` as a list of strings, the one check of what `predict`/`predict_proba` take in Python.

    Any ordered collection is read in its order (a list, a tuple, a NumPy array, a pandas Series,
    a generator). A single string, a set or a dict (whose keys would be classified) is refused:
    results could not line up with the user's texts; so is an item that is not a string, by
    index, which one model failed on deep inside and another read as text (bytes).
    """
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not a single string; write [text]")
    if isinstance(texts, BYTES_LIKE):  # a bytearray or memoryview iterated as numbers
        raise TypeError(
            f"texts must be a list of strings, not {type(texts).__name__}: decode the bytes "
            "first (data.decode('utf-8')) and pass a list of texts"
        )
    if isinstance(texts, Set | Mapping) or not isinstance(texts, Iterable):
        unordered = isinstance(texts, Set | Mapping)
        why = ": it has no order for the results to follow" if unordered else ""
        raise TypeError(f"texts must be a list of strings, got a {type(texts).__name__}{why}")
    if getattr(texts, "ndim", 1) != 1:  # a DataFrame iterates over its column names
        raise TypeError(
            f"texts must be a list of strings, got a {type(texts).__name__} of "
            f"{getattr(texts, 'ndim', '?')} dimensions: pass its column of texts (df['text'])"
        )
    listed = list(texts)
    if not listed and isinstance(texts, Iterator):
        warnings.warn(  # an empty result, and the user's next line pairs it with nothing
            f"texts is a {type(texts).__name__} that gave no texts: an iterator (a generator, "
            "map, a file) is read once, so a second call gets none; pass a list to read the "
            "texts again",
            AttentextWarning,
            stacklevel=3,
        )
    for i, text in enumerate(listed):
        if not isinstance(text, str):
            raise TypeError(f"texts must be a list of strings; texts[{i}]: {text_problem(text)}")
        problem = unpaired_surrogate(text)
        if problem:
            raise DataError(f"texts[{i}] is not valid Unicode: {problem}; pass it as real text")
    return listed


def check_texts(raw: RawTexts, empty_ok: bool = False) -> None:
    """Every text is a string of valid Unicode; with `empty_ok` False (training data) none is
    empty either. A lone surrogate (a JSON escape "\\ud800") is named by its row: a text to
    classify was "texts[1] is not valid Unicode", an index into a chunk, and training stopped
    in a UnicodeEncodeError traceback.

    Texts to classify keep their empty rows (`empty_ok`): an output per input row must line up.
    """
    for text, row in zip(raw.texts, raw.rows, strict=True):
        if is_missing(text):
            raise DataError(f"{raw.path}: row {row}: text is missing")
        if not isinstance(text, str):
            raise DataError(f"{raw.path}: row {row}: text is {_kind(text)}, not a string")
        if not empty_ok and is_blank(text):
            raise DataError(f"{raw.path}: row {row}: text is empty; fill it in or remove the row")
        problem = unpaired_surrogate(text)
        if problem is not None:
            raise DataError(f"{raw.path}: row {row}: text is not valid Unicode: {problem}")


def is_blank(text: str) -> bool:
    """Whether a text has nothing to read: only spaces, or only characters that draw nothing
    (a zero-width space, a BOM, a soft hyphen, bidirectional marks) and spaces."""
    return BLANK_TEXT.fullmatch(text) is not None


def _missing_column(path: Path, column: str, columns: list[str], labelled: bool) -> DataError:
    """No `column`: the columns there are, and how to choose (texts to classify: by name)."""
    hint = (
        COLUMN_HINT
        if labelled
        else f"name the column of texts '{shown(column)}' (predict --input: or --text-column NAME)"
    )
    return DataError(
        f"{path}: no column '{shown(column)}' (columns: {short_list(columns)}); {hint}"
    )


def _raw(
    path: Path,
    texts: list,
    rows: list[int],
    labels: list[str] | None,
    indices: bool = False,
) -> RawTexts:
    """A RawSplit when labels were read, else RawTexts."""
    if labels is None:
        return RawTexts(texts, path, rows)
    return RawSplit(texts, path, rows, labels, indices)


def _csv_rows(
    path: Path, delimiter: str, encoding: str = DEFAULT_ENCODING
) -> list[tuple[int, list[str]]]:
    """The non-blank rows of a delimited file, numbered from 1 (by record: a quoted field over
    two lines is one row); a TSV that `tsv_unquoted` finds unquoted is read a row per line."""
    content = read_text(path, encoding)
    if "\x00" in content:
        raise DataError(f"{path}: contains NUL bytes; is it a binary file?")
    records, failure = _quoted_records(content, delimiter)
    if delimiter == "\t" and tsv_unquoted(path, content, quoted=(records, failure)):
        rows: Iterable[list[str]] = (line.split("\t") for line in split_lines(content))
    else:
        if failure is not None:
            raise _malformed(path, delimiter, failure)
        rows = (fields for _, _, fields in records)
    numbered = list(numbered_rows(rows))
    if not numbered:
        raise DataError(f"{path}: file is empty")
    return numbered


def numbered_rows(rows: Iterable[list[str]]) -> Iterator[tuple[int, list[str]]]:
    """The rows of a delimited file that are not blank (a cell of anything but spaces), each
    with its number among all rows from 1: which rows a read skips, and how it numbers the
    rest, streamed (`streamed_rows`) or whole."""
    for number, row in enumerate(rows, start=1):
        if any(cell.strip() for cell in row):
            yield number, row


def _malformed(path: Path, delimiter: str, failure: _Failure) -> DataError:
    """The one line for a row the csv module refused (`_quoted_records`' failure)."""
    _, line, error = failure
    return DataError(f"{path}: row {line}: malformed {delimiter!r} row ({error})")


def streamed_rows(
    path: Path, delimiter: str, segments: Callable[[], Iterator[str]]
) -> Iterator[tuple[int, list[str]]]:
    """`_csv_rows` of a file too big to hold, from `segments()`: its text from the start, a
    segment at a time, each cut after a line end. The same parser, quoting and TSV decision
    (over the whole file, as `tsv_unquoted` decides it: a file with a quote is read through
    once more first) give the same rows, skipped and numbered alike; a malformed row or a NUL
    byte is said where it is met, the rows before it given."""
    segments = _refusing_nul(path, segments)
    unquoted = delimiter == "\t" and _streamed_tsv_unquoted(path, segments)
    if unquoted:
        rows: Iterable[list[str]] = (
            line.split("\t") for segment in segments() for line in split_lines(segment)
        )
    else:
        records = _Records(segments, delimiter)
        rows = (fields for _, _, fields in records)
    yield from numbered_rows(rows)
    if not unquoted and records.failure is not None:
        raise _malformed(path, delimiter, records.failure)


class _Records:
    """`_quoted_records` of a file's text from `segments()`, streamed: iterated, each record in
    turn, then `failure`, where the csv module refused one (as whole records are read)."""

    def __init__(self, segments: Callable[[], Iterator[str]], delimiter: str) -> None:
        self.segments = segments
        self.delimiter = delimiter
        self.failure: _Failure | None = None
        self.read = False  # read to the end (or to its failure) once

    def __iter__(self) -> Iterator[_Record]:
        csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
        lines = (line for segment in self.segments() for line in _lines_kept(segment))
        reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
        start, self.failure = 1, None
        try:
            for fields in reader:
                yield start, reader.line_num, fields
                start = reader.line_num + 1
        except csv.Error as error:
            self.failure = (start, reader.line_num, error)
        self.read = True

    def final_failure(self) -> _Failure | None:
        """`failure`, the records read through first where they have not been."""
        if not self.read:
            for _ in self:
                pass
        return self.failure


def _refusing_nul(path: Path, segments: Callable[[], Iterator[str]]) -> Callable[[], Iterator[str]]:
    """`segments`, a NUL byte refused as `_csv_rows` refuses it (there the whole file's, at once)."""

    def checked() -> Iterator[str]:
        for segment in segments():
            if "\x00" in segment:
                raise DataError(f"{path}: contains NUL bytes; is it a binary file?")
            yield segment

    return checked


def _streamed_tsv_unquoted(path: Path, segments: Callable[[], Iterator[str]]) -> bool | None:
    """`tsv_unquoted` over a whole file read from `segments()` a segment at a time: a file
    without a quote reads alike both ways (None, at once); else its records are read through
    as the whole read reads them, to the first line where the two readings part."""
    if not any('"' in segment for segment in segments()):
        return None
    records = _Records(segments, "\t")
    lines = lambda: (row.split("\t") for s in segments() for row in split_lines(s))  # noqa: E731
    return _tsv_reading(path, lambda: records, records.final_failure, lines)


_Record = tuple[int, int, list[str]]  # first line, last line, fields
_Failure = tuple[int, int, csv.Error]  # the line its record starts on, the line csv stopped at


# a line and its ending as `open(newline="")` splits them: "\r\n", "\r" or "\n" (not the other
# breaks str.splitlines knows, which csv must read as characters of a field)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _lines_kept(content: str) -> Iterator[str]:
    """The lines of `content` with their endings, one at a time, for csv: `io.StringIO` holds
    its whole text as 4-byte characters (400 MB for one 100 MB text of ASCII) where these are
    slices of `content`'s own kind, made as csv asks for them."""
    for match in _LINE.finditer(content):
        yield match.group()


def _quoted_records(
    content: str, delimiter: str, whole: bool = True
) -> tuple[list[_Record], _Failure | None]:
    """The records of `content` read with csv's quoting (a field in '"' may hold the delimiter,
    line breaks and "" for a quote), each with the lines it spans, and where csv refused, if it
    did. The start of a file (`whole` False) may cut a record: what csv could not finish at its
    end is not a failure but a record of the lines it had, without fields."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))
    reader = csv.reader(_lines_kept(content), delimiter=delimiter, strict=True)
    records: list[_Record] = []
    start = 1
    try:
        for fields in reader:
            records.append((start, reader.line_num, fields))
            start = reader.line_num + 1
    except csv.Error as error:
        if whole or reader.line_num < len(split_lines(content)):
            return records, (start, reader.line_num, error)
        records.append((start, reader.line_num, []))
    return records, None


def _first_merge(
    records: Iterable[_Record], failure: Callable[[], _Failure | None]
) -> tuple[int, str] | None:
    """The first line where reading with quotes and reading a row per line part ways (a quoted
    field over several lines, holding a tab, or malformed), and what the quote does there;
    `failure()` is asked once `records` have been read through."""
    for start, end, fields in records:
        if end > start:
            return start, f"merges lines {start}-{end} into one row"
        if any("\t" in field for field in fields):
            return start, "holds a tab, as if two fields were one"
    refused = failure()
    if refused is None:
        return None
    start, end, error = refused
    reason = shown(str(error), 80)  # csv's own words, a tab in them shown as \t
    if end > start:
        return start, f"runs over lines {start}-{end} and is malformed ({reason})"
    return start, f"is malformed ({reason})"


def _misfit_line(rows: Iterable[tuple[int, list[str]]]) -> tuple[int, int, int] | None:
    """The first non-blank row whose number of fields is not the first one's: (line, fields,
    expected); None where every row has the header's number of fields."""
    expected = None
    for line, fields in rows:
        if not any(cell.strip() for cell in fields):
            continue
        expected = len(fields) if expected is None else expected
        if len(fields) != expected:
            return line, len(fields), expected
    return None


def tsv_unquoted(
    path: Path,
    content: str,
    whole: bool = True,
    quoted: tuple[list[_Record], _Failure | None] | None = None,
) -> bool | None:
    """Whether a TSV is unquoted (IANA TSV: a line is a row, split on tabs, '"' a character)
    rather than quoted as pandas and csv.writer write TSV; None where reading it with quotes
    merges no lines, so that both readings give the same rows (read with quotes, as always).

    In an unquoted file a text starting with '"' opens a quote that runs across tabs and lines to
    the next '"': rows merged without a word. So where the quotes merge lines, hold a tab or are
    malformed while every line has the header's number of tab-separated fields, the file is
    unquoted (said in one warning line); where neither reading lines up it is refused at the
    first line they part on, rather than guessed. `content` is the whole file, or its first whole
    lines (`whole` False: the streaming reader's look-ahead). `quoted`: `_quoted_records` of
    `content`, where the caller has read it so already (the file is then parsed once).
    """
    records, failure = quoted or _quoted_records(content, "\t", whole)
    lines = [row.split("\t") for row in split_lines(content)]
    return _tsv_reading(path, lambda: records, lambda: failure, lambda: lines)


def _tsv_reading(
    path: Path,
    records: Callable[[], Iterable[_Record]],
    failure: Callable[[], _Failure | None],
    lines: Callable[[], Iterable[list[str]]],
) -> bool | None:
    """`tsv_unquoted`'s decision from a file's `records()` read with quotes (then `failure()`,
    where csv refused one) and its `lines()` split on tabs: each may be read more than once,
    and a streamed file's are read again from the start (`_streamed_tsv_unquoted`)."""
    merge = _first_merge(records(), failure)
    if merge is None:
        return None
    line, what = merge
    misfit = _misfit_line(enumerate(lines(), 1))
    # in a file of one column every line fits: only a quote csv refuses tells it is unquoted
    columns = next((len(fields) for fields in lines() if any(c.strip() for c in fields)), 0)
    if misfit is None and (columns > 1 or failure() is not None):
        warnings.warn(
            f"{path}: line {line}: a '\"' starts a field that, read as a quote, {what}; read as "
            "unquoted TSV instead: one row per line, split on tabs, quotes kept as written",
            AttentextWarning,
            stacklevel=4,
        )
        return True
    quoted_misfit = _misfit_line((start, fields) for start, _, fields in records() if fields)
    if failure() is None and quoted_misfit is None:
        return False  # quoted as pandas writes texts holding tabs and line breaks
    bad, found, expected = misfit
    raise DataError(
        f"{path}: line {line}: a '\"' starts a field that, read as a quote, {what}, and read "
        f"without quotes line {bad} has {found} tab-separated fields, not {expected}: the file "
        f"is neither quoted nor plain TSV; {QUOTE_HINT}"
    )


def _read_delimited(
    path: Path,
    delimiter: str,
    text_column: str,
    label_column: str | None,
    encoding: str = DEFAULT_ENCODING,
) -> RawTexts:
    numbered = _csv_rows(path, delimiter, encoding)
    layout = delimited_layout(path, delimiter, numbered[0][1], text_column, label_column)
    texts, labels, lines = [], [], []
    for line, row in numbered if layout.header is None else numbered[1:]:
        text, label = delimited_row(path, line, row, layout, delimiter)
        texts.append(text)
        labels.append(label)
        lines.append(line)
    labelled = label_column is not None
    return _raw(path, texts, lines, labels if labelled else None, indices=layout.header is None)


@dataclass(frozen=True)
class DelimitedLayout:
    """Where a delimited file's text and label are: the header's columns (None for AG News'
    original headerless file: class index, title, description) and their places."""

    header: list[str] | None
    text: int = 0
    label: int | None = None
    labelled: bool = False


def delimited_layout(
    path: Path, delimiter: str, first: list[str], text_column: str, label_column: str | None
) -> DelimitedLayout:
    """The layout of a delimited file whose first row is `first`, its header checked (the
    columns read are there, each once)."""
    labelled = label_column is not None
    if delimiter == "," and len(first) == 3 and is_int(first[0]) and text_column not in first:
        return DelimitedLayout(None, labelled=labelled)
    header = [name.strip() for name in first]
    for column in (text_column, label_column):
        if column is not None and column not in header:
            _refuse_header(path, delimiter, first, column, labelled)
    check_unique_columns(path, header, (text_column, label_column))
    label = header.index(label_column) if label_column is not None else None
    return DelimitedLayout(header, header.index(text_column), label, labelled)


def delimited_row(
    path: Path, line: int, row: list[str], layout: DelimitedLayout, delimiter: str
) -> tuple[str, str | None]:
    """The text and raw label (None where none is read) of data row `line` of a delimited file;
    a row of another number of fields is one line naming it."""
    if layout.header is None:  # AG News' original format, its class index 1-based
        if len(row) != 3:
            raise DataError(
                f"{path}: row {line}: {len(row)} fields, expected 3 (class, title, text)"
            )
        if layout.labelled and not is_int(row[0]):
            raise DataError(f"{path}: row {line}: class index '{shown(row[0])}' is not an integer")
        return f"{row[1]} {row[2]}".strip(), row[0].strip() if layout.labelled else None
    if len(row) != len(layout.header):
        raise DataError(f"{path}: row {line}: {len(row)} fields, expected {len(layout.header)}")
    if layout.label is None:  # texts to classify keep every row, as batch predict does
        return row[layout.text], None
    _refuse_repeated_header(path, line, row, layout.header, delimiter)
    return row[layout.text], row[layout.label].strip()


def _refuse_repeated_header(
    path: Path, line: int, row: list[str], header: list[str], delimiter: str
) -> None:
    """A data row that is the header again (a BOM before it or not) is refused in one line: it is
    where two files were joined with their headers (`cat a.csv b.csv`), and read as a row its
    `label` became a class of its own, trained and reported, without a word (an audit). Only
    labelled data is checked: a text to classify that repeats the header gets its own output
    row, in line with the input, as the streaming `predict --output` gives it."""
    if row[0].strip().lstrip("\ufeff").strip() != header[0]:
        return  # the common case, decided on one cell
    if [cell.strip().lstrip("\ufeff").strip() for cell in row] == header:
        shown_header = shown(delimiter.join(header), 60)
        raise DataError(
            f"{path}: row {line} repeats the header ('{shown_header}'), as where files are "
            "joined with their headers; remove that line (keep the first file's header only)"
        )


def check_unique_columns(path: Path, header: list[str], read: Iterable[str | None]) -> None:
    """Refuse, in one line, a header that names a column it is read by more than once: which one
    is meant cannot be told (an audit: `text,label,text` was read silently by its first `text`).
    A repeated name that is never read (`notes,notes`, blank names of trailing commas) is fine."""
    wanted = dict.fromkeys(name for name in read if name is not None)
    twice = [name for name in wanted if header.count(name) > 1]
    if twice:
        names = ", ".join(f"'{shown(name)}'" for name in twice)
        raise DataError(
            f"{path}: the header names {names} more than once; rename or remove the repeated "
            "column so that one is read"
        )


def _refuse_header(
    path: Path, delimiter: str, first: list[str], column: str, labelled: bool
) -> None:
    """The header lacks `column`: say so, or that the file has another delimiter."""
    header = [name.strip() for name in first]
    other = next((d for d in ("\t", ";", "|", ",") if d != delimiter and d in first[0]), None)
    if len(header) == 1 and other is not None:
        raise DataError(
            f"{path}: the header '{shown(first[0])}' is one column; the file looks "
            f"{other!r}-separated, expected {delimiter!r} (use .tsv for tabs, "
            "or re-save it with commas)"
        )
    raise _missing_column(path, column, header, labelled)


def json_error_reason(error: BaseException) -> str | None:
    """Why `json.loads` refused a text or bytes, in a few words; None for an error it does not
    raise. Its syntax errors say so themselves; the rest say nothing a user can act on."""
    if isinstance(error, json.JSONDecodeError):
        return error.msg
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if isinstance(error, UnicodeDecodeError):  # bytes given: decoded as UTF-8 (or -16, -32)
        return f"not UTF-8 from byte {error.start}; send it encoded as UTF-8"
    if isinstance(error, ValueError):  # an integer of more than 4300 digits
        return "a number too long"  # (sys.get_int_max_str_digits)
    return None


def _parsed(path: Path, where: str, raw: str) -> Any:
    """One JSON value, or a one-line DataError naming `where` (a row, or the file)."""
    try:
        return json.loads(raw, object_pairs_hook=marked_repeats)
    except (ValueError, RecursionError) as err:
        raise DataError(f"{path}: {where}: invalid JSON ({json_error_reason(err)})") from None


def _json_records(path: Path, content: str) -> Iterator[tuple[int, Any]]:
    """(row number, value) of JSON Lines; or, for a `.json` file holding one JSON array (as
    `json.dump(rows)` writes), of its items, each a row numbered from 1."""
    if path.suffix.lower() == ".json" and content.lstrip().startswith("["):
        records = _parsed(path, "the file", content)
        if isinstance(records, list):
            yield from enumerate(records, start=1)
            return
    if path.suffix.lower() == ".json" and content.lstrip().startswith("{"):
        _refuse_columns_object(path, content)
    for line, raw in enumerate(split_lines(content), start=1):
        if raw.strip():
            yield line, _parsed(path, f"row {line}", raw)


def _refuse_columns_object(path: Path, content: str) -> None:
    """A `.json` file that is one object of columns, as pandas' `to_json` writes a DataFrame by
    default (`{"text": {"0": ...}, "label": {...}}`, or `orient="split"`), is refused in one line
    saying how to write records: read as a row, it was "row 1: label is an object" (an audit).
    One object whose values are not all lists or objects is a row, as in JSON Lines."""
    try:
        whole = json.loads(content)
    except (ValueError, RecursionError):
        return  # JSON Lines: an object per line, read as such
    values = list(whole.values()) if isinstance(whole, dict) else []
    if values and all(isinstance(value, dict | list) for value in values):
        raise DataError(
            f"{path}: holds one JSON object of columns ({short_list(list(whole))}), as pandas' "
            "to_json writes a table unless told otherwise, not a row per record; write it with "
            "to_json(path, orient='records'), or as JSON Lines (orient='records', lines=True)"
        )


def _read_jsonl(
    path: Path, text_column: str, label_column: str | None, encoding: str = DEFAULT_ENCODING
) -> RawTexts:
    texts, labels, lines = [], [], []
    for line, record in _json_records(path, read_text(path, encoding)):
        text, label = record_row(path, line, record, text_column, label_column)
        texts.append(text)
        labels.append(label)
        lines.append(line)
    return _raw(path, texts, lines, labels if label_column is not None else None)


def record_row(
    path: Path, line: int, record: Any, text_column: str, label_column: str | None
) -> tuple[Any, str | None]:
    """The text (as read: `check_texts` judges it) and checked label (None where none is
    read) of row `line` of JSON Lines or of a JSON array, whole or streamed."""
    if not isinstance(record, dict):
        raise DataError(f"{path}: row {line}: expected a JSON object per line")
    if isinstance(record, RepeatedKeys):  # json keeps the last value without a word
        raise DataError(f"{path}: row {line}: {repeated_key_problem(record)}")
    for column in (text_column, label_column):
        if column is not None and column not in record:
            raise DataError(f"{path}: row {line}: no field '{shown(column)}'")
    label = None if label_column is None else checked_label(path, line, record[label_column])
    return record[text_column], label


def parsed_line(path: Path, line: int, raw: str) -> Any:
    """The JSON value of line `line` of JSON Lines, or one line naming it."""
    return _parsed(path, f"row {line}", raw)


def _read_parquet(path: Path, text_column: str, label_column: str | None) -> RawTexts:
    check_exists(path)
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for a bad file
        reason = shown(str(err).splitlines()[0] if str(err) else type(err).__name__, 120)
        raise DataError(f"{path}: not a readable Parquet file ({reason})") from None
    for column in (text_column, label_column):
        if column is not None and column not in table.column_names:
            raise _missing_column(path, column, table.column_names, label_column is not None)
    texts = _decoded(path, table.column(text_column).to_pylist(), "text")
    if not texts:
        raise DataError(f"{path}: file is empty")
    labels = None
    if label_column is not None:
        values = _decoded(path, table.column(label_column).to_pylist(), "label")
        labels = [checked_label(path, row, v) for row, v in enumerate(values, start=1)]
    return _raw(path, texts, list(range(1, len(texts) + 1)), labels)


def parquet_texts(path: Path, text_column: str) -> Iterator[list[Any]]:
    """The texts of a Parquet file as `_read_parquet` reads them (bytes decoded, rows numbered
    from 1 on), a batch at a time, one reader per row group: a file too big to hold."""
    import pyarrow.parquet as pq  # deferred: pyarrow is a heavy import

    try:
        file = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a bad file
        reason = shown(str(err).splitlines()[0] if str(err) else type(err).__name__, 120)
        raise DataError(f"{path}: not a readable Parquet file ({reason})") from None
    names = file.schema_arrow.names
    if text_column not in names:
        raise _missing_column(path, text_column, names, False)
    done = 0
    for group in range(file.metadata.num_row_groups):
        for batch in file.iter_batches(
            batch_size=8192, row_groups=[group], columns=[text_column], use_threads=False
        ):
            yield _decoded(path, batch.column(0).to_pylist(), "text", done)
            done += batch.num_rows
    if not done:
        raise DataError(f"{path}: file is empty")


def holds_json_array(path: Path) -> bool:
    """Whether the file is one JSON array (`json.dump(rows)`): its first character, after a BOM
    and white space, a `[`."""
    with open(path, "rb") as handle:
        return handle.read(SNIFF_BYTES).removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"[")


def line_segments(handle: BinaryIO, size: int) -> Iterator[bytes]:
    """The bytes of `handle`, about `size` at a time, each cut after a line end (\\r\\n kept
    whole, as a \\r at the end of what was read may be its first half)."""
    pieces: list[bytes] = []
    while block := handle.read(size):
        pieces.append(block)
        if b"\n" not in block and b"\r" not in block:
            continue  # a line longer than a segment goes on: joined once it ends
        held = b"".join(pieces)
        cut = max(held.rfind(b"\n"), held.rfind(b"\r", 0, len(held) - 1)) + 1
        if cut:
            yield held[:cut]
        pieces = [held[cut:]] if cut < len(held) else []
    if tail := b"".join(pieces):
        yield tail


def decoded_segments(
    path: Path, encoding: str, size: int, read: Callable[[int], None] | None = None
) -> Iterator[str]:
    """The text of a file a segment at a time (`line_segments`: each cut after a line end), decoded
    and checked as `readers.read_text` checks the whole: a binary file refused, a byte not of
    `encoding` one line naming its row and byte. `read(n)`: told the bytes read after each
    segment (a progress bar's measure)."""
    with open(path, "rb") as handle:
        refuse_binary(path, handle.read(SNIFF_BYTES))
        handle.seek(0)
        lines = done = 0
        for raw in line_segments(handle, size):
            codec = "utf-8-sig" if encoding == DEFAULT_ENCODING and not done else encoding
            try:
                text = raw.decode(codec)
            except UnicodeDecodeError as error:
                raise not_decodable(path, raw, error, encoding, (lines, done)) from None
            yield text
            lines, done = lines + len(LINE_ENDS.findall(raw)), done + len(raw)
            if read is not None:
                read(done)


def json_array_items(
    path: Path, segments: Callable[[], Iterator[str]]
) -> Iterator[tuple[int, Any]]:
    """(row, item) of a `.json` file that is one JSON array (as `json.dump(rows)` writes), as
    `_json_records` reads it, from `segments()`: its text a segment at a time, each cut after a
    line end, which no JSON token spans (a string holds none). Read whole, a 210 MB array of
    a million records peaked at 1.0 GB where the same rows as JSON Lines streamed in 253 MB
    (`predict --json`). An item is decoded once it is whole; where the array is not valid
    JSON, the one line says what `json.loads` of the file says (`the file: invalid JSON`)."""
    decoder = json.JSONDecoder(object_pairs_hook=marked_repeats)
    buffer, at, row, expected = "", 0, 0, "["
    cut: json.JSONDecodeError | None = None  # why the item read last did not end
    for segment in segments():
        buffer, at = buffer[at:] + segment, 0
        while True:
            at = _after_spaces(buffer, at)
            if at == len(buffer):
                break
            if expected == "value" or (expected == "first" and buffer[at] != "]"):
                try:
                    item, end = decoder.raw_decode(buffer, at)
                except (ValueError, RecursionError) as error:
                    if isinstance(error, json.JSONDecodeError) and not buffer[error.pos :].strip():
                        cut = error  # the item goes on in the next segment
                        break
                    raise _not_json(path, error) from None
                row, at, expected, cut = row + 1, end, ",", None
                yield row, item
                continue
            expected, at = _json_punctuation(path, buffer[at], expected), at + 1
    if cut is not None:  # the file ended inside an item
        raise _not_json(path, cut)
    if expected != "end":
        reason = "Expecting ',' delimiter" if expected == "," else "Expecting value"
        raise DataError(f"{path}: the file: invalid JSON ({reason})")


def _after_spaces(text: str, at: int) -> int:
    """The first place from `at` that is not JSON whitespace."""
    while at < len(text) and text[at] in " \t\r\n":
        at += 1
    return at


def _json_punctuation(path: Path, char: str, expected: str) -> str:
    """What a JSON array's reader expects after `char`, met where it `expected` one of "[",
    "first" (an item or "]"), "," (or "]") or "end" (nothing more)."""
    if expected == "[" and char == "[":
        return "first"
    if expected in ("first", ",") and char == "]":
        return "end"
    if expected == "," and char == ",":
        return "value"
    reason = {"end": "Extra data", ",": "Expecting ',' delimiter"}.get(expected, "Expecting value")
    raise DataError(f"{path}: the file: invalid JSON ({reason})")


def _not_json(path: Path, error: BaseException) -> DataError:
    return DataError(f"{path}: the file: invalid JSON ({json_error_reason(error)})")


def _decoded(path: Path, values: list[Any], what: str, before: int = 0) -> list[Any]:
    """A Parquet column's values with bytes read as UTF-8: many writers store text as bytes
    (BYTE_ARRAY without the UTF8 annotation: Hive, Impala, old Spark). Texts were refused
    ("text is of type bytes") where `predict --output` read them (round 6), and labels became
    the classes "b'World'", "b'Sports'" without a word."""
    for row, value in enumerate(values, start=before + 1):
        if isinstance(value, bytes):
            try:
                values[row - before - 1] = value.decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(
                    f"{path}: row {row}: {what} is bytes that are not UTF-8; write the column "
                    "as UTF-8 text"
                ) from None
    return values


def checked_label(path: Path, row: int, value: object) -> str:
    """`label_str` of a label read from JSON or Parquet, refusing an object (a JSON `{}`, a
    Parquet struct) there or in a list: inside a list or from Parquet it became a label named
    by Python's repr, "{'a': 1}", where JSON Lines refused one alone (an audit)."""
    if isinstance(value, Mapping):
        raise DataError(f"{path}: row {row}: label is an object, not a string or a number")
    if isinstance(value, list | tuple) and any(_holds_object(item) for item in value):
        raise DataError(
            f"{path}: row {row}: label is a list holding an object; write each label as a "
            "string or a number"
        )
    inexact = _inexact_number(value)
    if inexact is not None:
        raise DataError(
            f"{path}: row {row}: label {inexact!r} is a number of 2**53 or more written as a "
            "float, which holds it to 16 digits only (its class name would be digits the float "
            "made up); write the label as a string, or as a whole number without a '.' or 'e'"
        )
    return label_str(value)


def _inexact_number(value: object) -> float | None:
    """A float in `value` (a label, or a list of them) that `label_str` would write as a whole
    number of digits it does not hold: 2**53 or more (1e300 became a 301-digit class name).
    Smaller whole floats (2.0, as pandas writes a column that once held NaN) are the integer
    they are (`label_str`, `labels.whole`); other floats keep the digits Python writes."""
    if isinstance(value, list | tuple):
        return next((v for v in map(_inexact_number, value) if v is not None), None)
    if isinstance(value, float) and math.isfinite(value) and abs(value) >= MAX_EXACT_FLOAT:
        return value
    return None


def _holds_object(value: object) -> bool:
    if isinstance(value, list | tuple):
        return any(_holds_object(item) for item in value)
    return isinstance(value, Mapping)


def label_str(value: object) -> str:
    """A raw label as a string; a list of labels (JSONL, Parquet) joined by LIST_MARK, which also
    starts it, so that a list of one label is still known for a list. A boolean (JSON's `true`,
    a Parquet or Hugging Face bool column: a binary task's natural label) is written as JSON
    writes it, `true`/`false`, in every reader: Python's `True`/`False` was the class name of
    the same data beside a CSV or a JSON string of `true` (`BOOLEAN_LABELS`)."""
    if isinstance(value, list | tuple):
        return LIST_MARK + LIST_MARK.join(label_str(item) for item in value)
    if isinstance(value, bool):
        return BOOLEAN_LABELS[value]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return "" if value is None else str(value).strip()


def _read_any(
    path: Path, text_column: str, label_column: str | None, encoding: str = DEFAULT_ENCODING
) -> RawTexts:
    """Read one data file, choosing the parser by its suffix (labels only when `label_column`),
    its text decoded from `encoding` (training data is UTF-8; `predict --encoding` names another)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_delimited(path, ",", text_column, label_column, encoding)
    if suffix == ".tsv":
        return _read_delimited(path, "\t", text_column, label_column, encoding)
    if suffix in (".jsonl", ".json"):
        return _read_jsonl(path, text_column, label_column, encoding)
    refuse_encoding_of_parquet(path, encoding)
    if suffix == ".parquet":
        return _read_parquet(path, text_column, label_column)
    raise DataError(
        f"{path}: unsupported file type '{shown(suffix)}' (expected one of {', '.join(SUFFIXES)})"
    )


def read_file(path: str | Path, text_column: str = "text", label_column: str = "label") -> RawSplit:
    """Read one labelled data file: texts and raw labels (unchecked: see `check_texts`), the
    labels in Unicode's composed form (`composed`)."""
    raw = _read_any(Path(path), text_column, label_column)
    assert isinstance(raw, RawSplit)  # a label column was asked for
    raw.labels = composed(raw.labels)
    return raw


def composed(labels: list[str]) -> list[str]:
    """`labels` in NFC: `négatif` written with `e` + U+0301 (as macOS writes it) and with `é`
    are one label. Kept as written, they were two classes that print the same, trained apart,
    without a word (an audit). Texts are left as written (the word tokenizer composes them)."""
    return [label if label.isascii() else unicodedata.normalize("NFC", label) for label in labels]


def label_lookup(names: list[str]) -> dict[str, int]:
    """Each label name's id, found by the name as written and in NFC (`composed`): a run whose
    names were written decomposed still reads labels read in NFC. A run trained on boolean
    labels before they were read as `true`/`false` (`label_str`) named its classes `True` and
    `False`: those read the booleans of its own data still."""
    lookup = {name: i for i, name in enumerate(names)}
    for name, i in list(lookup.items()):
        lookup.setdefault(unicodedata.normalize("NFC", name), i)
    for value, spelled in BOOLEAN_LABELS.items():
        if str(value) in lookup:
            lookup.setdefault(spelled, lookup[str(value)])
    return lookup


def read_texts(
    path: str | Path, text_column: str = "text", encoding: str = DEFAULT_ENCODING
) -> RawTexts:
    """Read the texts of one data file, whatever other columns it has (none need be labels),
    decoded from `encoding`."""
    return _read_any(Path(path), text_column, None, encoding)


def train_file(source: str | Path) -> Path | None:
    """The local file a data source's train split is read from (a file is its own train split,
    a folder its train file), resolved; None for a hub dataset or a folder without one."""
    path = Path(source)
    if path.is_file():
        return path.resolve()
    found = find_split_files(path).get("train") if path.is_dir() else None
    return found.resolve() if found is not None else None


def find_split_files(folder: Path) -> dict[str, Path]:
    """Each split's data file in `folder`, its name and suffix in any case (`Test.CSV`, which a
    file given by path reads). Two files for one split are refused: the first suffix in
    SUFFIXES' order was read and the other ignored without a word, its rows never trained on
    (train.csv beside train.jsonl, validation.csv beside dev.csv: an audit)."""
    split_of = {name: split for split, names in SPLIT_ALIASES.items() for name in names}
    found: dict[str, list[Path]] = {split: [] for split in SPLIT_ALIASES}
    for entry in sorted(folder.iterdir()):
        split = split_of.get(entry.stem.lower())
        if split is not None and entry.suffix.lower() in SUFFIXES:
            found[split].append(entry)
    for split, files in found.items():
        if len(files) > 1:
            raise DataError(
                f"{folder}: {short_list([f.name for f in files])}: {len(files)} files for the "
                f"{split} split, of which only one would be read; keep one (join their rows "
                "into it) and move the others out of the folder"
            )
    return {split: files[0] for split, files in found.items() if files}
