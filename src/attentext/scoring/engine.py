"""`predict_file`: an input file of any size scored into an output file, chunk by chunk, each
chunk committed atomically, resumable after a crash (the design is in `attentext.scoring`)."""

from __future__ import annotations

import errno
import os
import stat
import time
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from attentext.bars import ProgressBar
from attentext.data.readers import DEFAULT_ENCODING, text_encoding
from attentext.decisions import threshold_vector
from attentext.errors import AttentextError, AttentextWarning, DataError, short_list
from attentext.files import folders_made
from attentext.inference.classifier import check_backend
from attentext.inference.ranking import note_top_k
from attentext.rundir import MARKER, open_run
from attentext.scoring.results import (
    ResultSpec,
    check_names,
    passthrough_names,
    result_columns,
    row_problems,
    split_rows,
)
from attentext.scoring.sinks import output_format, write_part
from attentext.scoring.sources import Chunk, Source, open_source
from attentext.scoring.workdir import (
    MANIFEST_FORMAT,
    WorkDir,
    at_stage,
    errors_path,
    holding,
    input_identity,
    open_work,
    parts_dir,
    run_identity,
)
from attentext.scoring.workers import cpu_count, start_scorer

DEFAULT_CHUNK_ROWS = 5000
# the longest name predict gives a file beside OUT, less OUT's: the temporary its errors file is
# written to, ".OUT.errors.jsonl.<8 random characters>.tmp" (`files.temporary_beside`)
NAME_ADDED_BYTES = len(".") + len(".errors.jsonl") + len(".12345678") + len(".tmp")


@dataclass(frozen=True)
class BatchOptions:
    """How to read, score and write (see `attentext predict --help`)."""

    text_column: str = "text"
    id_column: str | None = None
    columns: tuple[str, ...] = ()
    top_k: int = 1
    all_scores: bool = False
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    workers: int = 1
    backend: str = "torch"
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    encoding: str = DEFAULT_ENCODING  # of a text, CSV, TSV or JSON Lines input

    @property
    def passthrough(self) -> list[str]:
        return passthrough_names(self.id_column, self.columns)

    def shaping(self) -> dict[str, Any]:
        """The options an output's rows depend on: a resumed run must have the same ones
        (--workers is not one: any number of workers writes the same rows)."""
        kept = (
            "text_column",
            "id_column",
            "columns",
            "top_k",
            "all_scores",
            "chunk_rows",
            "encoding",  # a row another encoding decodes is another text, or a bad row
        )
        found = {name: value for name, value in asdict(self).items() if name in kept}
        return {**found, "columns": list(self.columns), "backend": self.backend}


@dataclass
class BatchSummary:
    """What a batch prediction wrote."""

    output: Path
    errors: Path  # the side file of the rows not classified
    rows: int
    not_classified: int
    resumed_rows: int  # rows found committed by an interrupted run, not scored again
    seconds: float
    not_utf8: int = 0  # of the rows not classified, those whose bytes are not UTF-8


@dataclass
class _Pending:
    chunk: Chunk
    bad: dict[int, str]
    mask: np.ndarray
    future: Any


def check_options(options: BatchOptions) -> None:
    """Refuse options no run can use, before any work. More workers than cores (2 on a machine
    of one) was taken: `--workers 1000` set out to spawn 1,000 processes, each loading the
    model, on 2 cores, filling the memory where none could have a core of its own."""
    check_backend(options.backend)
    for name, value in (
        ("--top-k", options.top_k),
        ("--chunk-rows", options.chunk_rows),
        ("--workers", options.workers),
    ):
        if value < 1:
            raise AttentextError(f"{name} must be at least 1, got {value}")
    if options.workers > (most := max(2, cpu_count())):
        raise AttentextError(
            f"--workers {options.workers}: at most {most}, the cores this process may use "
            f"({cpu_count()}); each worker is a process holding the model, with a core of its own"
        )


def _check_paths(input_path: Path, output: Path) -> None:
    _check_writable(output)
    if output.is_dir():
        raise DataError(f"{output}: is a directory; --output names the file to write")
    for written in (output, errors_path(output)):
        if _same_file(written, input_path):
            raise DataError(f"{written}: is the input; write the predictions to another file")
    _check_outside_runs(output)


def _check_not_a_stream(output: Path) -> None:
    """Refuse an output that is standard output (`-`) or, for it or its errors file, an
    existing named pipe, device or socket (`/dev/stdout.jsonl`'s like, `mkfifo out.jsonl`):
    predict writes a whole file beside it and renames it into place. With --overwrite a FIFO
    was replaced by a plain file, "wrote out.jsonl" said, and its reader waited forever."""
    for path in (output, errors_path(output)):
        if str(path) == "-":
            kind = "standard output"
        else:
            try:
                mode = os.stat(path).st_mode
            except (OSError, ValueError):  # not there (the usual case), or a name with a NUL
                continue
            if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
                continue
            kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device or socket"
        raise DataError(
            f"{path}: is {kind}; --output writes a file, chunk by chunk, and renames it into "
            "place when whole, so it never streams: write to a file and read it from there, or "
            "print the predictions with --json (without --output)"
        )


def _same_file(first: Path, second: Path) -> bool:
    """Whether two paths name one file: the same path, a symbolic link, or a hard link (by a
    path compared, a hard link to the input, or the input named as OUT.errors.jsonl, was
    replaced with --overwrite: the user's input file gone)."""
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist
        return False


def _check_writable(output: Path) -> None:
    """Refuse, before any work, an output that cannot be written: a path through a file, a
    folder without write permission or on a read-only file system, a name too long for the
    files named after it. Found when writing (the lock, the first chunk), each was a traceback
    (`FileExistsError`, `OSError: [Errno 30] Read-only file system`, `[Errno 36] File name too
    long`)."""
    folder = next((p for p in output.parents if os.path.lexists(p)), Path("."))
    if not folder.is_dir():
        raise DataError(
            f"{output}: --output is inside {folder}, which is not a folder; choose another --output"
        )
    longest = _name_max(folder) - NAME_ADDED_BYTES
    if len(os.fsencode(output.name)) > longest:
        raise DataError(
            f"{output}: --output's file name is {len(os.fsencode(output.name))} bytes; predict "
            f"writes files named after it, so here it can be at most {longest}; choose a shorter "
            "name"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(
            f"{output}: cannot write in {folder} (read-only, or no permission); choose another "
            "--output"
        )


def _name_max(folder: Path) -> int:
    """The longest file name the file system of `folder` takes, in bytes."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _write_failed(error: OSError, output: Path) -> AttentextError:
    """One line for a write that failed under way (a full disk, a folder made read-only or
    removed): what failed and what to do; the chunks committed so far are kept for --resume."""
    reason = error.strerror or str(error).splitlines()[0] or type(error).__name__
    fix = "free space" if error.errno in (errno.ENOSPC, errno.EDQUOT) else "fix the folder"
    try:
        kept = any(parts_dir(output).glob("part-*"))
    except OSError:
        kept = False
    then = (
        "run the same command with --resume (the chunks written are kept)"
        if kept
        else "run it again"
    )
    return AttentextError(f"{output}: could not write the predictions ({reason}); {fix} and {then}")


def _is_ours(error: OSError, output: Path) -> bool:
    """Whether `error` is about a file predict writes for `output` (or names none): those are
    in its folder, named after it."""
    if not error.filename:
        return True
    failed = Path(os.fsdecode(error.filename))
    return failed.parent.resolve() == output.parent.resolve() and output.name in failed.name


def _check_outside_runs(output: Path) -> None:
    """Refuse an output inside a run directory (a folder with a run marker, at any depth).

    A run holds its own files only: `-o RUN/training_log.jsonl --overwrite` replaced the run's
    training log (a file its marker lists) with predictions and left a `.errors.jsonl` beside
    it, and any predictions written there were deleted with the run by the next `train
    --overwrite` of it."""
    for folder in output.resolve().parents:
        if (folder / MARKER).is_file():
            raise DataError(
                f"{output}: is inside the run directory {folder}; write the predictions outside it"
            )


def predict_file(
    run_dir: str | Path,
    input_path: str | Path,
    output: str | Path,
    options: BatchOptions | None = None,
) -> BatchSummary:
    """Score every row of `input_path` with the run into `output` (format by its extension),
    a chunk at a time; rows that cannot be classified go to `<output>.errors.jsonl`."""
    options = options or BatchOptions()
    started = time.perf_counter()
    run_dir, input_path, output = Path(run_dir), Path(input_path), Path(output)
    check_options(options)
    # one name per encoding (`latin-1` and `iso-8859-1` alike), as the work folder records it
    options = replace(options, encoding=text_encoding(options.encoding))
    _check_not_a_stream(output)
    output_format(output)  # an output of no known format is refused before any work
    _check_paths(input_path, output)
    source = open_source(input_path, options.text_column, options.passthrough, options.encoding)
    _warn_of_bytes(source, output_format(output))
    try:
        rows, (bad, not_utf8), resumed = _predict(run_dir, input_path, output, options, source)
    except OSError as error:
        if not _is_ours(error, output):
            raise
        raise _write_failed(error, output) from None
    seconds = time.perf_counter() - started
    return BatchSummary(output, errors_path(output), rows, bad, resumed, seconds, not_utf8)


def _predict(
    run_dir: Path, input_path: Path, output: Path, options: BatchOptions, source: Source
) -> tuple[int, tuple[int, int], int]:
    """`predict_file`'s work, under the output's lock: (rows, (rows not classified, of them
    not UTF-8), resumed)."""
    fmt = output_format(output)
    with folders_made(output.parent), holding(output):
        before = input_path.stat()
        manifest = {
            "format": MANIFEST_FORMAT,
            "output": fmt,
            "run": run_identity(run_dir, options.backend),
            "input": input_identity(input_path),
            "options": options.shaping(),
        }
        work = open_work(output, manifest, options.resume, options.overwrite, fmt)
        with (
            _discarded_unless_committed(work),
            start_scorer(run_dir, options.backend, options.workers) as scorer,
        ):
            labels = tuple(scorer.labels)
            note_top_k(options.top_k, labels)
            spec = ResultSpec(
                labels, options.top_k, options.all_scores, thresholds_of(run_dir, labels)
            )
            check_names(options.passthrough, spec)
            rows, chunks, resumed = _score_chunks(source, work, scorer, spec, options)
        if rows == 0:
            work.discard()
            raise DataError(f"{input_path}: no rows to classify")
        _warn_if_changed(input_path, before)
        return rows, work.finish(output, chunks), resumed


@contextmanager
def _discarded_unless_committed(work: WorkDir) -> Iterator[None]:
    """Remove the work folder where the run fails before any chunk is committed: it holds
    nothing to resume (`workdir.open_work` starts such a folder over), and a command refused in
    one line leaves nothing behind. Committed chunks are kept for --resume."""
    try:
        yield
    except BaseException:
        if not work.committed:
            work.discard()
        raise


def _warn_of_bytes(source: Source, fmt: str) -> None:
    """One line naming the passed-through columns of bytes that are not all UTF-8, which a
    text output writes base64 (`sinks.as_text_columns`): the user sees that the values are
    encoded, and how to get the bytes back. A Parquet output keeps them as bytes."""
    if not source.bytes_columns or fmt == "parquet":
        return
    names = short_list(list(source.bytes_columns))
    warnings.warn(
        f"{source.path}: passed-through column(s) {names}: bytes that are not all UTF-8 text, "
        f"written base64 in the {fmt} output (base64.b64decode gives the bytes back)",
        AttentextWarning,
        stacklevel=2,
    )


def _warn_if_changed(input_path: Path, before: os.stat_result) -> None:
    """Say so where the input changed while it was read (a file another process appends to):
    the output holds the rows as they were read, the last one perhaps cut where the writer
    was, while the run records the file as it was at the start; without a word, a cut line
    was classified as a text and the output looked like the file's."""
    now = input_path.stat()
    if (now.st_size, now.st_mtime_ns, now.st_ino) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    ):
        return
    warnings.warn(
        f"{input_path}: changed while it was read ({before.st_size:,} bytes at the start, "
        f"{now.st_size:,} now): the output has the rows as they were read, the last perhaps "
        "cut; to score a file that grows, score a copy of it",
        AttentextWarning,
        stacklevel=2,
    )


def thresholds_of(run_dir: Path, labels: tuple[str, ...]) -> tuple[float, ...] | None:
    """A multi-label run's decision thresholds in label order; None for one label per text."""
    run = open_run(run_dir)
    if not run.multi_label:
        return None
    return tuple(float(t) for t in threshold_vector(run.thresholds, list(labels)))


def _score_chunks(
    source: Source, work: WorkDir, scorer: Any, spec: ResultSpec, options: BatchOptions
) -> tuple[int, int, int]:
    """Score and commit every chunk not committed yet, in order, with up to
    `scorer.in_flight` chunks waiting for workers; (rows, chunks, rows resumed)."""
    pending: deque[_Pending] = deque()
    rows = chunks = resumed = 0
    with Progress(source, options.progress) as bar:
        for chunk in source.chunks(options.chunk_rows):
            rows, chunks = rows + len(chunk), chunks + 1
            if chunk.index in work.committed:
                resumed += len(chunk)
                bar.advance(chunk)
                continue
            at_stage("read", chunk.index)
            bad = row_problems(chunk.texts, chunk.problems)
            texts, mask = split_rows(chunk.texts, bad)
            pending.append(_Pending(chunk, bad, mask, scorer.submit(texts)))
            while pending and (len(pending) > scorer.in_flight or pending[0].future.done()):
                _commit(work, scorer, pending.popleft(), spec, options, bar)
        while pending:
            _commit(work, scorer, pending.popleft(), spec, options, bar)
    return rows, chunks, resumed


class Progress:
    """A bar on stderr with an ETA: by rows where the row count is known (Parquet's metadata),
    else by the bytes read of the file's size, the texts scored beside them. A CSV, TSV, JSON
    Lines or text file's rows would need a pass of their own to count: its bar had texts/s and
    no ETA, for hours on a large file. In a log it is drawn every 30 s and at its end
    (`bars.ProgressBar`), where it was not drawn at all."""

    def __init__(self, source: Source, enabled: bool) -> None:
        self.by_bytes = source.total is None
        self.texts = 0
        self.bar = ProgressBar(
            total=source.path.stat().st_size if self.by_bytes else source.total,
            desc="scoring",
            unit="B" if self.by_bytes else " texts",
            unit_scale=True,
            unit_divisor=1024 if self.by_bytes else 1000,
            dynamic_ncols=True,
            smoothing=0.1,
            disable=not enabled,
        )

    def advance(self, chunk: Chunk) -> None:
        """Count a chunk scored (or found committed): its rows, or the bytes read up to it."""
        self.texts += len(chunk)
        if not self.by_bytes:
            self.bar.update(len(chunk))
            return
        self.bar.set_postfix_str(f"{self.texts:,} texts", refresh=False)
        self.bar.update(max(chunk.read_to - self.bar.n, 0))

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.close()


def _commit(
    work: WorkDir,
    scorer: Any,
    item: _Pending,
    spec: ResultSpec,
    options: BatchOptions,
    bar: Progress,
) -> None:
    """Wait for a chunk's probabilities, write its rows and errors, commit it."""
    probabilities = scorer.result(item.future)
    chunk = item.chunk
    at_stage("scored", chunk.index)
    columns = {name: chunk.columns[name] for name in options.passthrough}
    columns.update(result_columns(probabilities, item.mask, spec))
    errors = [
        _error(chunk, position, reason, options.id_column)
        for position, reason in sorted(item.bad.items())
    ]
    work.commit(
        chunk.index, lambda path: write_part(work.fmt, columns, path, chunk.index == 0), errors
    )
    bar.advance(chunk)


def _error(chunk: Chunk, position: int, reason: str, id_column: str | None) -> dict[str, Any]:
    """A row not classified, for the side file: its row (1-based, as in the output), its file
    line where the input has lines, its id, and why."""
    record: dict[str, Any] = {"row": chunk.start + position + 1}
    if chunk.lines is not None:
        record["line"] = chunk.lines[position]
    if id_column is not None:
        value = chunk.columns[id_column][position]
        record["id"] = value.as_py() if hasattr(value, "as_py") else value
    record["error"] = reason
    return record
