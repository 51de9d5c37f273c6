"""Texts without labels: what `predict --input` classifies and what an int8 export is checked on.

They are read without a label column (`readers.read_texts`) and checked like training texts (each
a string, file and row named otherwise), except that an empty text is kept: the caller shows it
as empty, so that outputs stay one per input line or row.
"""

from __future__ import annotations

import random
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import chain, islice
from pathlib import Path
from typing import Any, BinaryIO

from attentext.data.dataset import TextDataset
from attentext.data.readers import (
    COMPRESSED,
    DEFAULT_ENCODING,
    SNIFF_BYTES,
    STANDARD_INPUT,
    STANDARD_INPUT_NAME,
    SUFFIXES,
    RawTexts,
    check_exists,
    check_texts,
    decoded,
    decoded_segments,
    delimited_layout,
    delimited_row,
    find_split_files,
    holds_json_array,
    json_array_items,
    line_segments,
    not_decodable,
    parquet_texts,
    parsed_line,
    read_text,
    read_texts,
    record_row,
    refuse_binary,
    split_lines,
    streamed_rows,
)
from attentext.data.unicode import standard_text
from attentext.errors import DataError

SEGMENT_BYTES = 4 << 20  # of lines read, classified and printed at a time (`read_input_segments`)
SEGMENT_ROWS = 5000  # rows of a data file over SEGMENT_BYTES read at a time (`data_segments`)
STANDARD_INPUT_CLOSED = (
    f"{STANDARD_INPUT_NAME}: is closed; pipe the texts in, one per line "
    "(cat texts.txt | attentext predict RUN --input -)"
)


def sample_texts(
    source: str | Path, limit: int, seed: int = 0, split: str | None = None
) -> list[str]:
    """Up to `limit` non-empty texts of a data folder (`split`, or its test split, else
    validation, else train), a data file or a text file, drawn with a fixed seed: a sample of the
    user's own texts to check a model against (int8 export)."""
    path = Path(source)
    if path.is_dir():
        files = find_split_files(path)
        order = (split,) if split else ("test", "validation", "train")
        chosen = next((files[s] for s in order if s in files), None)
        if chosen is None:
            raise DataError(f"{path}: no train.*, validation.* or test.* data file")
        path = chosen
    texts = [text for text in load_texts(path) if text.strip()]
    if len(texts) <= limit:
        return texts
    return random.Random(seed).sample(texts, limit)


def load_texts(path: str | Path) -> list[str]:
    """Read texts to classify, one per input line or row, in order: each line of a text file, or
    the `text` column of a data file (.csv, .tsv, .jsonl, .parquet; other columns are ignored;
    a blank line between its rows or records is not a row).

    A line ends with \\n, \\r\\n or a lone \\r, and with nothing else (a form feed or U+2028 is
    part of its text); a final line end adds no line. Blank lines and empty rows are kept, as read
    ("" or only spaces), so that results line up with the input: callers decide what an empty
    text gets (`predict` shows it as empty, unclassified). A text that is not a string (null, a
    number, a list) is a DataError naming the file and row; so is a file without any text.
    """
    return read_input(path).texts


def read_input(
    path: str | Path,
    text_column: str = "text",
    encoding: str = DEFAULT_ENCODING,
    standard_input: bool = False,
) -> RawTexts:
    """`load_texts` with the file row of each text (the line, in a text file), for messages;
    `text_column` names the column of texts in a data file, `encoding` what its bytes are in
    (`readers.text_encoding`'s name: a cp1252 export from Excel is read as it is). With
    `standard_input`, `-` reads the lines piped in (`read_standard_input`); elsewhere it is a
    file name: an unlabeled pool or recalibration texts recorded as `-` could not be read again."""
    if standard_input and str(path) == STANDARD_INPUT:
        if text_column != "text":  # lines piped in are texts, not rows of a data file
            raise DataError(
                f"--text-column {text_column}: {STANDARD_INPUT_NAME} is read as one text per "
                "line, not as a data file; save it to a file (... > texts.csv) and give --input "
                "texts.csv"
            )
        return read_standard_input(encoding)
    path = Path(path)
    if path.suffix.lower() in SUFFIXES:
        raw = read_texts(path, text_column, encoding)
        check_texts(raw, empty_ok=True)
    else:
        lines = split_lines(read_text(path, encoding))
        raw = RawTexts(lines, path, list(range(1, len(lines) + 1)))
    if not any(text.strip() for text in raw.texts):
        raise DataError(f"{path}: no texts to classify (only blank lines or empty rows)")
    return raw


def read_input_segments(
    path: str | Path,
    text_column: str = "text",
    encoding: str = DEFAULT_ENCODING,
    standard_input: bool = False,
) -> Iterator[RawTexts]:
    """`read_input`, a segment of about `SEGMENT_BYTES` at a time where the input is lines
    (standard input, a text file), so that `predict` without --output prints as it reads, in
    bounded memory: `cat 1M_lines.txt | predict RUN --input -` held every text, then every
    probability, 630 MB, and printed nothing until the end. An input of one segment is read
    and checked as `read_input` reads it; past one, rows are numbered on from the last segment,
    and a row not in `encoding` is said when its segment is read. A data file is read whole
    where it is one segment or less, else `SEGMENT_ROWS` rows at a time (`data_segments`)."""
    piped = standard_input and str(path) == STANDARD_INPUT
    if not piped and streams(Path(path)):
        yield from data_segments(Path(path), text_column, encoding)
        return
    if (not piped and Path(path).suffix.lower() in SUFFIXES) or (piped and text_column != "text"):
        yield read_input(path, text_column, encoding, standard_input)
        return
    name = STANDARD_INPUT_NAME if piped else Path(path)
    if not piped:
        check_exists(Path(path))
        if Path(path).is_dir():
            raise DataError(f"{path}: is a directory, expected a data file")
    with _lines_source(path, piped) as handle:
        segments = line_segments(handle, SEGMENT_BYTES)
        first, second = next(segments, b""), next(segments, None)
        if second is None:  # all of it in one: read as it always was
            yield (
                read_standard_input(encoding, first)
                if piped
                else read_input(path, text_column, encoding, standard_input)
            )
            return
        yield from _numbered_segments(name, piped, encoding, [first, second], segments)


def streams(path: Path) -> bool:
    """Whether `path` is a data file read a segment at a time (`data_segments`): over
    SEGMENT_BYTES, and CSV, TSV, JSON Lines, Parquet or a `.json` file of one JSON array (one
    of another shape, a pandas object of columns, is read whole, as it is checked)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES or not path.is_file() or path.stat().st_size <= SEGMENT_BYTES:
        return False
    return suffix != ".json" or holds_json_array(path)


def data_segments(
    path: Path, text_column: str = "text", encoding: str = DEFAULT_ENCODING, rows: int = 0
) -> Iterator[RawTexts]:
    """`read_input` of a data file too big to hold, `rows` rows (`SEGMENT_ROWS`) at a time,
    its rows read by the whole read's own functions (`readers.streamed_rows`, `record_row`,
    `parquet_texts`), so that the same rows are skipped (a CSV row of blank cells), numbered
    and refused with the same words; a problem is said where it is met, the rows before it
    given. The first segment is read before this returns: the file's header, columns and first
    rows are checked before the caller goes on (to load a run)."""
    texts = _data_texts(path, text_column, encoding)
    segments = _checked(path, texts, rows or SEGMENT_ROWS)
    first = next(segments)
    return chain([first], segments)


def _checked(path: Path, texts: Iterator[tuple[int, Any]], rows: int) -> Iterator[RawTexts]:
    """`texts` (row, text) as RawTexts of `rows` each, checked as `read_input` checks them."""
    seen = False
    while batch := list(islice(texts, rows)):
        raw = RawTexts([text for _, text in batch], path, [row for row, _ in batch])
        check_texts(raw, empty_ok=True)
        seen = seen or any(text.strip() for text in raw.texts)
        yield raw
    if not seen:
        raise DataError(f"{path}: no texts to classify (only blank lines or empty rows)")


def _data_texts(path: Path, text_column: str, encoding: str) -> Iterator[tuple[int, Any]]:
    """(row, text) of a data file, as the whole read (`readers.read_texts`) reads them."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        done = 0
        for texts in parquet_texts(path, text_column):
            yield from enumerate(texts, start=done + 1)
            done += len(texts)
        return
    segments = lambda: decoded_segments(path, encoding, SEGMENT_BYTES)  # noqa: E731 (read again, for a TSV)
    if suffix in (".csv", ".tsv"):
        delimiter = "," if suffix == ".csv" else "\t"
        numbered = streamed_rows(path, delimiter, segments)
        first = next(numbered, None)
        if first is None:
            raise DataError(f"{path}: file is empty")
        layout = delimited_layout(path, delimiter, first[1], text_column, None)
        for line, row in chain([first], numbered) if layout.header is None else numbered:
            yield line, delimited_row(path, line, row, layout, delimiter)[0]
        return
    if suffix == ".json":  # one JSON array (`streams`)
        records = json_array_items(path, segments)
    else:
        lines = enumerate((line for s in segments() for line in split_lines(s)), start=1)
        records = ((n, parsed_line(path, n, line)) for n, line in lines if line.strip())
    for row, record in records:
        yield row, record_row(path, row, record, text_column, None)[0]


def _numbered_segments(
    name: Path | str, piped: bool, encoding: str, held: list[bytes], rest: Iterator[bytes]
) -> Iterator[RawTexts]:
    """The segments of an input of more than one, decoded, their rows numbered on; the first
    checked as a whole input's start is (compressed, binary), the whole for a text at the end."""
    if piped:
        _refuse_compressed_stream(held[0])
    refuse_binary(name, held[0][:SNIFF_BYTES])
    rows = done = 0
    seen = False
    for raw in chain(held, rest):
        codec = "utf-8-sig" if encoding == DEFAULT_ENCODING and not done else encoding
        try:
            lines = split_lines(raw.decode(codec))
        except UnicodeDecodeError as error:
            raise not_decodable(name, raw, error, encoding, (rows, done)) from None
        yield RawTexts(lines, name, list(range(rows + 1, rows + len(lines) + 1)))
        seen = seen or any(line.strip() for line in lines)
        rows, done = rows + len(lines), done + len(raw)
    if not seen:
        raise DataError(f"{name}: no texts to classify (only blank lines)")


@contextmanager
def _lines_source(path: str | Path, piped: bool) -> Iterator[BinaryIO]:
    """Standard input's bytes (one line where it is closed), or the file's."""
    if piped:
        if sys.stdin is None:
            raise DataError(STANDARD_INPUT_CLOSED)
        yield sys.stdin.buffer
        return
    with open(path, "rb") as handle:
        yield handle


def read_standard_input(encoding: str = DEFAULT_ENCODING, raw: bytes | None = None) -> RawTexts:
    """The lines piped in (`cat texts.txt | attentext predict RUN --input -`), read to the end
    (or `raw`, all of them) and checked as a text file is: one text per line, decoded from
    `encoding`. A compressed stream is named with the command to pipe it through; NUL bytes
    are binary or UTF-16."""
    raw = _standard_input_bytes() if raw is None else raw
    if not raw.strip():
        raise DataError(
            f"{STANDARD_INPUT_NAME}: nothing was read; pipe the texts in, one per line "
            "(cat texts.txt | attentext predict RUN --input -)"
        )
    _refuse_compressed_stream(raw)
    refuse_binary(STANDARD_INPUT_NAME, raw[:SNIFF_BYTES])
    lines = split_lines(decoded(raw, STANDARD_INPUT_NAME, encoding))
    raw_texts = RawTexts(lines, STANDARD_INPUT_NAME, list(range(1, len(lines) + 1)))
    if not any(text.strip() for text in lines):
        raise DataError(f"{STANDARD_INPUT_NAME}: no texts to classify (only blank lines)")
    return raw_texts


def _refuse_compressed_stream(raw: bytes) -> None:
    """A compressed stream piped in, named with the command to pipe it through first."""
    for magic, (kind, command, _) in COMPRESSED.items():
        if raw.startswith(magic):
            raise DataError(
                f"{STANDARD_INPUT_NAME}: is {kind}-compressed; pipe it through {command} first"
            )


def _standard_input_bytes() -> bytes:
    """All the bytes of standard input; where it is closed (`<&-`, a service started without
    one: Python's `sys.stdin` is then None) one line, not an AttributeError traceback."""
    if sys.stdin is None:
        raise DataError(STANDARD_INPUT_CLOSED)
    return sys.stdin.buffer.read()


EVALUATION_SPLITS = ("validation", "test")


def normalized(text: str) -> str:
    """A text compared with case, spacing, Unicode composition and characters that draw nothing
    ignored (how a copy of a text is recognised): a copy saved on macOS (decomposed accents) or
    pasted from a web page (a zero-width space) is the same text to every model here."""
    return " ".join(" ".join(words) for words in split_words(standard_text(text).lower()) if words)


SPLIT_SLICE = 1 << 20  # characters split at once: ~200,000 words of prose
WHITESPACE = re.compile(r"\s")  # what str.split() splits on


def split_words(text: str) -> Iterator[list[str]]:
    """`text.split()`, a list per slice of about SPLIT_SLICE characters cut at whitespace: one
    text of 100 MB (a CSV quote never closed makes one) was one list of 17 million strings,
    1.2 GB, in the data's profile and copy check before any model read it."""
    start, end_of_text = 0, len(text)
    while start < end_of_text:
        end = start + SPLIT_SLICE
        if end < end_of_text:
            space = WHITESPACE.search(text, end)
            end = space.start() if space else end_of_text
        yield text[start:end].split()
        start = end


def word_count(text: str) -> int:
    """`len(text.split())` without the list of every word (`split_words`)."""
    return sum(len(words) for words in split_words(text))


def without_evaluation_texts(texts: list[str], dataset: TextDataset) -> tuple[list[str], int]:
    """`texts` without those that are also validation or test texts of `dataset` (case and
    spacing ignored), in order; and how many were left out.

    Unlabeled texts come from wherever the user kept them, often the same source as the labelled
    ones: ag_news_unlabeled holds 80 of the 759 validation texts of ag_news. A text trained on
    (with the teacher's or the model's own label) and then scored makes validation read high,
    which picks the checkpoint and fits the temperature, and test no longer held out.
    """
    held_out = {
        normalized(text)
        for split in EVALUATION_SPLITS
        if split in dataset.splits
        for text in dataset.texts(split)
    }
    kept = [text for text in texts if normalized(text) not in held_out]
    return kept, len(texts) - len(kept)
