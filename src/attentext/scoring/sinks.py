"""Writing result columns in the output's format, one part per chunk, and joining the parts.

The format is the output's extension: .jsonl (one object per row, UTF-8), .json (one array of
those objects, as `predict` reads a .json input), .csv and .tsv (a header, then rows; nulls are
empty cells), .parquet. Parts of the text formats are joined by concatenating their bytes (only
the first part has the CSV header; a .json output's parts are JSON Lines, joined into the array
with a comma after each line but the last); Parquet parts are copied row
group by row group into one file whose schema unifies theirs (a column that is null in a whole
chunk is typed by the others). Bytes passed through (a Parquet binary column not all UTF-8:
a hash, a UUID) are written base64 in the text formats and kept as bytes in Parquet.
"""

from __future__ import annotations

import base64
import json
import math
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from attentext.errors import DataError, shown

FORMATS = {
    ".jsonl": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
}
COPY_BYTES = 1 << 20


def _json_default(value: Any) -> Any:
    """What JSON has no type for: bytes as base64 (as `as_text_columns` writes them), anything
    else as its string."""
    return base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else str(value)


JSON = json.JSONEncoder(ensure_ascii=False, default=_json_default, allow_nan=False)


def output_format(path: Path) -> str:
    """The format of an output file, from its extension; one line naming those there are."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise DataError(
            f"{path}: cannot tell the output format from '{shown(path.suffix or path.name)}'; "
            f"name the output with one of {', '.join(FORMATS)}"
        )
    return found


def part_suffix(fmt: str) -> str:
    return next(suffix for suffix, name in FORMATS.items() if name == fmt)


def _values(column: Any) -> list[Any]:
    return column.to_pylist() if hasattr(column, "to_pylist") else list(column)


def _table(columns: dict[str, Any], fmt: str) -> pa.Table:
    """The chunk's columns as one Arrow table; a passed-through column Arrow cannot type (values
    of mixed types; an integer over 64 bits, which JSON allows: an `OverflowError` traceback
    before) is one line naming it."""
    try:
        return pa.table(columns)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
        name = next((n for n in columns if _untyped(columns[n])), "?")
        why = (
            f"an integer over 64 bits, which a {fmt} output cannot hold"
            if isinstance(error, OverflowError)
            else f"values of mixed types ({shown(str(error), 100)}), and a {fmt} output needs "
            "one type per column"
        )
        raise DataError(
            f"the passed-through column '{shown(name)}' has {why}; write .jsonl, or pass other "
            "columns"
        ) from None


def _untyped(column: Any) -> bool:
    """Whether Arrow fails to make one typed array of `column`."""
    try:
        pa.array(column) if not isinstance(column, pa.Array | pa.ChunkedArray) else None
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return True
    return False


def json_line(record: dict[str, Any]) -> str:
    """`record` as one line of JSON, a float that is NaN or infinite written as null: JSON has
    no word for them, and Python's `NaN` / `Infinity` (what a Parquet float column with a
    missing value, passed through, gave) made lines that JSON.parse, Go or Java refuse and jq
    reads as 1.797e+308."""
    try:
        return JSON.encode(record)
    except ValueError:  # a NaN or an infinity somewhere in the record
        return JSON.encode(_finite(record))


def _finite(value: Any) -> Any:
    """`value` with every NaN or infinite float, at any depth, replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def as_text_columns(columns: dict[str, Any]) -> dict[str, Any]:
    """The columns with each binary array (bytes that are not all UTF-8: `sources.ParquetSource`
    passes those through as bytes) written base64, the text form of bytes that JSON and CSV
    readers decode back (`base64.b64decode`); a Parquet output keeps the bytes as they are.
    Written as they were, they were `"b'\\x9f...'"` in JSON Lines and refused for CSV."""
    return {
        name: _base64(column)
        if isinstance(column, pa.Array) and column.type == pa.binary()
        else column
        for name, column in columns.items()
    }


def _base64(column: pa.Array) -> pa.Array:
    values = column.to_pylist()
    encoded = [None if v is None else base64.b64encode(v).decode("ascii") for v in values]
    return pa.array(encoded, type=pa.string())


def write_part(fmt: str, columns: dict[str, Any], path: Path, header: bool) -> None:
    """Write one chunk's columns to `path` in `fmt` (the CSV header only when `header`)."""
    if fmt != "parquet":
        columns = as_text_columns(columns)
    if fmt in ("jsonl", "json"):  # a .json output's parts are lines too (`assemble`)
        names = list(columns)
        rows = zip(*(_values(column) for column in columns.values()), strict=True)
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(json_line(dict(zip(names, row, strict=True))) + "\n" for row in rows)
        return
    table = _table(columns, fmt)
    if fmt == "parquet":
        pq.write_table(table, path)
        return
    delimiter = "\t" if fmt == "tsv" else ","
    try:
        pacsv.write_csv(table, path, pacsv.WriteOptions(include_header=header, delimiter=delimiter))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise DataError(
            f"a passed-through column holds lists or objects, which a {fmt} file cannot; write "
            ".jsonl or .parquet, or pass other columns"
        ) from None


def assemble(fmt: str, parts: list[Path], target: Path) -> None:
    """Join the parts, in order, into `target` (a temporary the caller renames)."""
    if fmt == "json":
        _assemble_array(parts, target)
        return
    if fmt != "parquet":
        with open(target, "wb") as out:
            for part in parts:
                with open(part, "rb") as handle:
                    shutil.copyfileobj(handle, out, COPY_BYTES)
        return
    schemas = [pq.read_schema(part) for part in parts]
    try:
        schema = pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise DataError(
            f"a passed-through column changes type between chunks ({shown(str(error), 100)}); "
            "write .jsonl, or pass other columns"
        ) from None
    with pq.ParquetWriter(target, schema) as writer:
        for part in parts:
            writer.write_table(pq.read_table(part).cast(schema))


def _assemble_array(parts: list[Path], target: Path) -> None:
    """JSON Lines parts joined into one JSON array, a row to a line, in bounded memory: a
    newline byte ends a row (JSON writes a newline inside a string as the escape), so each
    becomes a comma and a newline, and the last comma is taken back."""
    with open(target, "wb") as out:
        out.write(b"[\n")
        for part in parts:
            with open(part, "rb") as handle:
                while block := handle.read(COPY_BYTES):
                    out.write(block.replace(b"\n", b",\n"))
        end = out.tell()
        if end > 2:  # a row was written: its comma goes
            out.seek(end - 2)
            out.truncate()
            out.write(b"\n")
        out.write(b"]\n")
