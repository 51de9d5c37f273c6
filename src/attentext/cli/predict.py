"""`attentext predict`: labels and probabilities of texts, from arguments or a file.

Printed (without `--output`): one output per text, in order. A blank line (or an empty text) of
`--input` is not classified: it gets an explicit empty result (JSON `"label": null, "score":
null, "top_k": []`; in plain text `-<TAB>(row N is empty: not classified)`), so that outputs line
up with the input's lines. A text given as an argument is always classified, even empty: the
user asked for it. Lines (standard input, a text file) are read, classified and printed a
segment at a time, in bounded memory; a data file over one segment (a `.json` array too) a
chunk at a time, by the whole read's own functions: the same rows skipped, numbered and refused.

A text, CSV, TSV or JSON Lines input in another encoding than UTF-8 (cp1252, as Excel saves
it) is read on both paths with `--encoding NAME`; Parquet's strings are UTF-8 by its format.

Written (`--output FILE`): the input is streamed, a chunk at a time, into a JSONL, CSV, TSV or
Parquet file, resumable after a crash (`--resume`), on several processes (`--workers`); rows
that cannot be classified keep their place with empty results and are listed in
`FILE.errors.jsonl`. The work is `attentext.scoring`'s; this module only reads the options.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attentext.cli.common import (
    BackendOption,
    argument_texts,
    cell,
    err,
    out,
    quiet_libraries,
)
from attentext.data.readers import (
    DEFAULT_ENCODING,
    STANDARD_INPUT,
    RawTexts,
    check_exists,
    text_encoding,
)
from attentext.errors import AttentextError, DataError, EncodingError

if TYPE_CHECKING:
    from attentext.inference.classifier import Classifier
    from attentext.scoring.engine import BatchOptions

InputOption = Annotated[
    Path | None,
    typer.Option(
        "--input",
        "-i",
        help="File of texts: one per line (\\n, \\r\\n or \\r line ends), or a data file "
        "(.csv, .tsv, .jsonl, .parquet) with a text column; - reads standard input, one text "
        "per line. A blank line gets an empty, unclassified result.",
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write the predictions of --input to this .jsonl, .json, .csv, .tsv or .parquet file, "
        "streaming the input a chunk at a time (any size), with a progress bar; rows that cannot "
        "be classified are listed in OUTPUT.errors.jsonl.",
    ),
]
TextColumnOption = Annotated[str, typer.Option(help="The column (field) of texts in a data file.")]
IdColumnOption = Annotated[
    str | None, typer.Option(help="A column copied to the output first, to join results back.")
]
ColumnsOption = Annotated[
    str | None, typer.Option(help="Other columns copied to the output, comma-separated: a,b.")
]
AllScoresOption = Annotated[
    bool, typer.Option("--all-scores", help="Also the probability of every label: prob_LABEL.")
]
ChunkRowsOption = Annotated[
    int | None,
    typer.Option(
        help="Rows read, scored and committed at a time (default 5000); memory grows "
        "with it. A --resume needs the same value."
    ),
]
WorkersOption = Annotated[
    int, typer.Option(help="Processes scoring chunks, each with cores/N threads; order is kept.")
]
ResumeOption = Annotated[
    bool,
    typer.Option(
        "--resume",
        help="Continue an interrupted --output run: committed chunks are kept, the rest scored; "
        "refused if the model, the input or an option changed.",
    ),
]
EncodingOption = Annotated[
    str,
    typer.Option(
        "--encoding",
        help="The encoding of a text, CSV, TSV or JSON Lines --input: cp1252 for a file saved "
        "by Excel or Windows in Western Europe, latin-1, shift_jis... (Parquet is UTF-8). A "
        "--resume needs the same one.",
    ),
]
OverwriteOption = Annotated[
    bool,
    typer.Option(
        "--overwrite", help="Replace an existing --output (once the new one is complete)."
    ),
]


def predict_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    input_file: InputOption = None,
    output: OutputOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    top_k: Annotated[int, typer.Option(help="Labels shown (written) per text.")] = 1,
    backend: BackendOption = "torch",
    text_column: TextColumnOption = "text",
    id_column: IdColumnOption = None,
    columns: ColumnsOption = None,
    all_scores: AllScoresOption = False,
    chunk_rows: ChunkRowsOption = None,
    workers: WorkersOption = 1,
    resume: ResumeOption = False,
    overwrite: OverwriteOption = False,
    encoding: EncodingOption = DEFAULT_ENCODING,
) -> None:
    """Classify texts: the label name and its probability for each; with --output, a file of
    any size, streamed and resumable."""
    quiet_libraries()
    encoding = text_encoding(encoding)
    if input_file is None and encoding != DEFAULT_ENCODING:
        raise AttentextError("--encoding applies to --input FILE; add --input")
    if output is None:
        file_only = {
            "--id-column": id_column is not None,
            "--columns": columns is not None,
            "--all-scores": all_scores,
            "--chunk-rows": chunk_rows is not None,
            "--workers": workers != 1,
            "--resume": resume,
            "--overwrite": overwrite,
        }
        if given := [name for name, used in file_only.items() if used]:
            raise AttentextError(f"{given[0]} applies to --output FILE; add --output")
        # the run and every option first: a bad --top-k was refused after `--input -` had been
        # read whole (standard input cannot be read twice, and a big file is read for nothing)
        if input_file is not None and str(input_file) != STANDARD_INPUT:
            check_exists(input_file)  # a mistyped name said at once, not after loading the run
        source = _streamed_source(input_file, text_column, encoding)
        classifier = _loaded_for_printing(run_dir, bool(texts or input_file), top_k, backend)
        for wanted in _read_wanted(texts, input_file, text_column, encoding, source):
            _print_predictions(classifier, wanted, json_output, top_k)
        return
    _check_streamed(texts, input_file, json_output)
    from attentext.scoring.engine import DEFAULT_CHUNK_ROWS, BatchOptions

    options = BatchOptions(
        text_column=text_column,
        id_column=id_column,
        columns=tuple(c.strip() for c in (columns or "").split(",") if c.strip()),
        top_k=top_k,
        all_scores=all_scores,
        chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS,
        workers=workers,
        backend=backend,
        resume=resume,
        overwrite=overwrite,
        encoding=encoding,
    )
    _write_predictions(run_dir, input_file, output, options)


def _streamed_source(
    input_file: Path | None, text_column: str, encoding: str
) -> Iterator[RawTexts] | None:
    """The data file --input read a chunk at a time, where it is over one segment
    (`data.texts.streams`; read whole, a 200 MB CSV was held, and its results, before a line
    was printed), by the whole read's own functions (`data.texts.data_segments`): the same rows
    skipped, numbered and refused alike. Its first chunk is read before the run loads (seconds
    to minutes for an encoder), so its columns are checked first; so is a Parquet file's
    metadata (its text column's type, rows at all: an empty file was refused only once the
    model had loaded) where it is read whole."""
    from attentext.data import texts
    from attentext.scoring.engine import DEFAULT_CHUNK_ROWS
    from attentext.scoring.sources import open_source

    if input_file is None or str(input_file) == STANDARD_INPUT or not input_file.is_file():
        return None
    if texts.streams(input_file):
        with _encoding_hinted(encoding):
            return texts.data_segments(input_file, text_column, encoding, DEFAULT_CHUNK_ROWS)
    if input_file.suffix.lower() == ".parquet":
        open_source(input_file, text_column, [], encoding)
    return None


@contextmanager
def _encoding_hinted(encoding: str) -> Iterator[None]:
    """A file that is not UTF-8, read as UTF-8: its line says how to read it as it is."""
    try:
        yield
    except EncodingError as error:
        if encoding != DEFAULT_ENCODING:
            raise
        raise DataError(f"{error}, or read it as it is with --encoding cp1252") from None


def _check_standard_output() -> None:
    """Refuse to print to a closed standard output (`>&-`, a service started without one):
    print() wrote nowhere, and the command exited 0 with every prediction lost."""
    if sys.stdout is None:
        raise AttentextError(
            "standard output is closed, so the predictions printed would be lost; redirect it "
            "(> predictions.txt) or write them with --output FILE"
        )


def _check_streamed(texts: list[str] | None, input_file: Path | None, json_output: bool) -> None:
    """What `--output` refuses: an input it cannot read again, or options of printing."""
    if input_file is not None and str(input_file) == STANDARD_INPUT:
        raise AttentextError(
            "--output reads its input again to --resume, which standard input cannot be: save "
            "it to a file first (... > texts.txt) and give --input texts.txt"
        )
    if texts or input_file is None or json_output:
        raise AttentextError(
            "--output writes the predictions of --input FILE (no TEXT arguments; the format "
            "comes from the output's extension, not --json)"
        )


def _write_predictions(
    run_dir: Path, input_file: Path, output: Path, options: BatchOptions
) -> None:
    """`scoring.engine.predict_file`, and one line saying what it wrote."""
    from attentext.scoring.engine import predict_file

    try:
        summary = predict_file(run_dir, input_file, output, options)
    except KeyboardInterrupt:
        err.print(
            f"interrupted; the chunks committed so far are kept: the same command with --resume "
            f"continues {output}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(130) from None  # its line said it all: not `main`'s as well
    resumed = (
        f", {summary.resumed_rows:,} of them from the interrupted run"
        if summary.resumed_rows
        else ""
    )
    encoding = (
        f"; {summary.not_utf8:,} of them not valid UTF-8: if {input_file} is in another "
        f"encoding, name it: --encoding cp1252 (how Windows and Excel save Western European "
        f"text), or re-save it as UTF-8 (iconv -f cp1252 -t utf-8 IN > OUT)"
        if summary.not_utf8
        else ""
    )
    out.print(
        f"wrote {summary.output}: {summary.rows:,} rows{resumed} in {summary.seconds:.1f} s; "
        f"{summary.not_classified:,} not classified (listed in {summary.errors}){encoding}",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def _read_wanted(
    texts: list[str] | None,
    input_file: Path | None,
    text_column: str,
    encoding: str,
    source: Iterator[RawTexts] | None = None,
) -> Iterator[tuple[list[str], dict[int, int]]]:
    """The TEXT arguments, then the --input texts (decoded from `encoding`) a segment at a time
    where they are lines (`read_input_segments`: printed as they are read, in bounded memory)
    or a chunk at a time from `source` (`_streamed_source`), each with its rows not classified
    (index in the texts -> row of --input)."""
    from attentext.data.texts import read_input_segments

    if texts:
        yield argument_texts(texts), {}
    if input_file is None:
        return
    if source is not None:
        segments = source
    else:
        if str(input_file) == STANDARD_INPUT and sys.stdin is not None and sys.stdin.isatty():
            err.print("reading texts from standard input, one per line; end with Ctrl-D")
        segments = read_input_segments(input_file, text_column, encoding, standard_input=True)
    while True:
        with _encoding_hinted(encoding):
            raw = next(segments, None)
        if raw is None:
            return
        skipped = {
            i: row
            for i, (text, row) in enumerate(zip(raw.texts, raw.rows, strict=True))
            if not text.strip()
        }
        yield raw.texts, skipped


def _loaded_for_printing(run_dir: Path, given: bool, top_k: int, backend: str) -> Classifier:
    """The run, loaded, once what `predict` is asked for is checked: texts `given` at all,
    `--top-k`, `--backend`, the run directory (and its ONNX files for an ONNX backend): all
    that needs no text, before any text is read."""
    _check_standard_output()
    from attentext.inference.classifier import load
    from attentext.inference.ranking import check_top_k, note_top_k

    if not given:
        raise AttentextError(
            "no texts to classify; pass TEXT arguments, --input FILE, or --input - to read "
            "them from standard input"
        )
    check_top_k(top_k)
    classifier = load(run_dir, backend=backend)  # `--backend` checked first, then the run
    note_top_k(top_k, classifier.labels)
    return classifier


def _print_predictions(
    classifier: Classifier,
    wanted: tuple[list[str], dict[int, int]],
    json_output: bool,
    top_k: int,
) -> None:
    """Classify the texts of `_read_wanted`, and print each (those skipped as empty)."""
    from attentext.decisions import decide
    from attentext.inference.ranking import top_labels

    items, skipped = wanted
    probabilities = classifier.predict_proba(
        [text for i, text in enumerate(items) if i not in skipped]
    )
    multi_label = getattr(classifier, "multi_label", False)
    sets = iter(
        decide(probabilities, classifier.labels, True, classifier.thresholds) if multi_label else []
    )
    rows = iter(probabilities)
    for i, text in enumerate(items):
        if i in skipped:
            _show_empty(text, skipped[i], json_output)
            continue
        row = next(rows)
        if multi_label:
            ranked_all = dict(top_labels(row, classifier.labels, len(row)))
            _show_set(text, next(sets), ranked_all, json_output, top_k)
            continue
        ranked = [
            {"label": label, "score": score}
            for label, score in top_labels(row, classifier.labels, top_k)
        ]
        _show(text, ranked, json_output)


def _show(text: str, ranked: list[dict], json_output: bool) -> None:
    if json_output:
        line = {"text": text, "label": ranked[0]["label"], "score": ranked[0]["score"]}
        print(json.dumps({**line, "top_k": ranked}))
    else:
        _print_line(", ".join(f"{cell(r['label'])} {r['score']:.3f}" for r in ranked), text)


def _show_set(
    text: str, labels: list[str], scores: dict[str, float], json_output: bool, top_k: int = 1
) -> None:
    """A multi-label prediction: the labels at or over their thresholds, and every score
    (`scores`, most probable first); with `--top-k N` (N > 1) also the N most probable, as
    `--output` writes them (the option was ignored: "(no label)" for `--top-k 3`)."""
    top = list(scores.items())[:top_k] if top_k > 1 else []
    if json_output:
        line = {"text": text, "labels": labels, "scores": scores}
        ranked = [{"label": label, "score": score} for label, score in top]
        print(json.dumps({**line, "top_k": ranked} if top else line))
        return
    shown = ", ".join(f"{cell(label)} {scores[label]:.3f}" for label in labels) or "(no label)"
    if top:
        shown += "; top: " + ", ".join(f"{cell(label)} {score:.3f}" for label, score in top)
    _print_line(shown, text)


def _print_line(shown: str, text: str) -> None:
    """One line per text: its labels, a tab, its first 60 characters, line breaks and other
    control characters in either written as escapes (a text or label holding a line break
    printed as two lines, the second looking like another prediction)."""
    preview = cell(text)
    preview = preview if len(preview) <= 60 else preview[:57] + "..."
    out.print(f"{shown}\t{preview}", markup=False, highlight=False)


def _show_empty(text: str, row: int, json_output: bool) -> None:
    """An empty line or row of --input: an explicit result in its place, not a classification."""
    if json_output:
        print(json.dumps({"text": text, "label": None, "score": None, "top_k": []}))
    else:
        out.print(f"-\t(row {row} is empty: not classified)", markup=False, highlight=False)
