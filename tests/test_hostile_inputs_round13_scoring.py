"""Hostile inputs, round 13, scoring: what round 12 left of `attentext predict RUN -i FILE`.
Each test failed before its fix:

R13-S1 A quote never closed in the last column of a CSV row, where the rest of the file fits in
       pyarrow's last 1 MiB block: pyarrow's reader takes every line after it as one field, to
       the end of the file, without an error; the rows after it were one text, scored
       silently. The field that runs to the end of the file inside its quote is named, its
       row and line, in one line (`scoring.sources.DelimitedSource.batches`, `open_quote`).
R13-S2 An empty Parquet file (0 rows, or no row groups) was refused only after the model had
       loaded (seconds to minutes for an encoder): now before, as the other input checks.
R13-S3 CSV, TSV, JSON Lines and text inputs had a progress bar without an ETA (a row count needs
       another pass): the bar now counts the bytes read of the file's size.
R13-S4 Without --output a data file was read whole before anything was printed: past one
       segment (4 MiB) it is streamed as --output reads it, printed a chunk at a time.
R13-S5 An --input that is a pipe (`-i <(zcat x.gz)`, a FIFO) with --output was "not a file",
       without a word of why: --output reads its input twice (the --resume digest, the rows).
R13-S6 The Ray Predictor failed on a passed-through pandas column of mixed types (an id column
       of ints and strings): such a column is carried as it came.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import (
    assert_one_line_error,
    batch_options,
    jsonl_rows,
    run_cli_here,
    spied_predict_calls,
)

import attentext
from attentext.errors import DataError
from attentext.integrations.ray import Predictor
from attentext.scoring.engine import predict_file


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("round13") / "tfidf"
    return Path(attentext.train("tfidf-logreg", ag_news_dir, out).run_dir)


# ---------------------------------------------------------------------------------------------
# R13-S5: an input that is a pipe, with --output
# ---------------------------------------------------------------------------------------------


def test_r13_s5_a_pipe_as_input_of_output_says_it_is_read_twice(tfidf_run, tmp_path):
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)

    result = run_cli_here(
        "predict", tfidf_run, "-i", fifo, "-o", tmp_path / "out.jsonl", "--resume"
    )

    assert_one_line_error(result, "in.csv: is a pipe", "reads its input twice", "--resume")
    assert fifo.exists() and not (tmp_path / "out.jsonl").exists()


# ---------------------------------------------------------------------------------------------
# R13-S2: an empty Parquet file, before the model loads
# ---------------------------------------------------------------------------------------------


def _model_never_loaded(monkeypatch) -> None:
    def loaded(*args, **kwargs):
        raise AssertionError("the model was loaded before the input was checked")

    monkeypatch.setattr("attentext.inference.classifier.load", loaded)
    monkeypatch.setattr("attentext.scoring.engine.start_scorer", loaded)


@pytest.mark.parametrize("groups", [0, 1])
@pytest.mark.parametrize("output", [[], ["-o", "out.jsonl"]])
def test_r13_s2_an_empty_parquet_file_is_refused_before_the_model_loads(
    groups, output, tfidf_run, tmp_path, monkeypatch
):
    source = tmp_path / "in.parquet"
    schema = pa.schema([("text", pa.string())])
    if groups:  # one row group of 0 rows
        pq.write_table(pa.table({"text": pa.array([], pa.string())}), source)
    else:
        pq.ParquetWriter(source, schema).close()
    assert pq.ParquetFile(source).metadata.num_row_groups == groups
    _model_never_loaded(monkeypatch)

    result = run_cli_here("predict", tfidf_run, "-i", source, *output, cwd=tmp_path)

    assert_one_line_error(result, "in.parquet: no rows to classify")
    assert not (tmp_path / "out.jsonl").exists()


# ---------------------------------------------------------------------------------------------
# R13-S1: a quote never closed, where the rest of the file fits in pyarrow's last block
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "row", "open_row"),
    [
        ("id,text", "{i},stocks fell on oil", '{i},"a quote that never closes'),
        # the quote opened in a column that is not read: the rows after it were lost silently
        ("id,text,note", "{i},stocks fell on oil,x", '{i},stocks fell,"a note never closed'),
    ],
    ids=["text-column", "column-not-read"],
)
@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_r13_s1_a_quote_never_closed_in_the_last_block_is_named(
    header, row, open_row, end, tfidf_run, tmp_path
):
    lines = [header] + [row.format(i=i) for i in range(30_000)]  # 700 KB: the open quote's
    lines.insert(20_001, open_row.format(i="open"))  # rest fits in pyarrow's last block
    source = tmp_path / "in.csv"
    source.write_bytes(end.join(lines).encode() + end.encode())

    with pytest.raises(
        DataError, match=r"in.csv: row 20001, line 20002: a '\"' opens a field"
    ) as e:
        predict_file(tfidf_run, source, tmp_path / "out.jsonl", batch_options())

    assert "runs over the 10,000 lines after it to the end of the file" in str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "tail", ['9,"two\nlines"\n', '9,"two\nlines"', '9,"a ""quoted""\nword"\n', '9,"""\n"""\n']
)
def test_r13_s1_a_closed_quote_over_lines_at_the_end_is_read(tail, tfidf_run, tmp_path):
    """Checked and holding: a last row quoted over lines, its quote closed, is one text."""
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,stocks fell\n" + tail, encoding="utf-8")

    summary = predict_file(tfidf_run, source, tmp_path / "out.jsonl", batch_options(id_column="id"))

    assert summary.rows == 2 and summary.not_classified == 0
    assert [row["id"] for row in jsonl_rows(tmp_path / "out.jsonl")] == ["1", "9"]


# ---------------------------------------------------------------------------------------------
# R13-S6: the Ray Predictor and a passed-through column of mixed types
# ---------------------------------------------------------------------------------------------


def test_r13_s6_the_ray_predictor_carries_a_column_of_mixed_types_as_it_came(tfidf_run):
    """Without a Ray cluster: Ray Data calls the Predictor with such batches."""
    ids = [1, "a-7", 2.5, None]
    frame = pd.DataFrame(
        {"id": ids, "text": ["stocks fell", "the team won", "oil rose", "the cup"], "n": range(4)},
        index=[10, 11, 12, 13],
    )
    predictor = Predictor(tfidf_run, id_column="id", columns=["n"])
    plain = Predictor(tfidf_run)(frame[["text"]])

    found = predictor(frame)
    arrays = predictor({name: frame[name].to_numpy() for name in frame.columns})

    assert list(found.columns) == ["id", "n", "label", "score"] == list(arrays)
    assert found["id"].tolist() == ids == arrays["id"].tolist()
    assert found["n"].tolist() == [0, 1, 2, 3] == arrays["n"].tolist()
    assert found["label"].tolist() == plain["label"].tolist() == arrays["label"].tolist()


# ---------------------------------------------------------------------------------------------
# R13-S3: a progress bar with an ETA for inputs whose row count is not known
# ---------------------------------------------------------------------------------------------


class RecordedBar:
    """A bar in the engine's place (`bars.ProgressBar`): what it was given."""

    made: list[RecordedBar] = []

    def __init__(self, total=None, **options):
        self.total, self.unit, self.n, self.seen = total, options.get("unit"), 0, []
        RecordedBar.made.append(self)

    def update(self, n):
        self.n += n
        self.seen.append(self.n)

    def set_postfix_str(self, text, refresh=True):
        self.postfix = text

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@pytest.mark.parametrize("suffix", [".txt", ".jsonl", ".csv", ".tsv"])
def test_r13_s3_a_file_without_a_row_count_has_a_bar_by_bytes(
    suffix, tfidf_run, tmp_path, monkeypatch
):
    monkeypatch.setattr("attentext.scoring.sources.BLOCK_BYTES", 1 << 14)
    monkeypatch.setattr("attentext.scoring.engine.ProgressBar", RecordedBar)
    RecordedBar.made.clear()
    texts = [f"stocks fell {i} as oil rose" for i in range(20_000)]  # 600 KB
    rows = {
        ".txt": texts,
        ".jsonl": [json.dumps({"text": text}) for text in texts],
        ".csv": ["text", *texts],
        ".tsv": ["text", *texts],
    }[suffix]
    source = tmp_path / f"in{suffix}"
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")

    predict_file(tfidf_run, source, tmp_path / "out.jsonl", batch_options(chunk_rows=1000))

    (bar,) = RecordedBar.made
    size = source.stat().st_size
    assert (bar.total, bar.unit, bar.n) == (size, "B", size)  # the ETA is of the file's size
    assert bar.seen == sorted(bar.seen) and len(bar.seen) == 20
    assert any(0 < n < size // 2 for n in bar.seen)  # it moves as the file is read
    assert bar.postfix == "20,000 texts"


def test_r13_s3_a_parquet_bar_counts_rows_as_before(tfidf_run, tmp_path, monkeypatch):
    """Checked and holding: Parquet's metadata has the row count."""
    monkeypatch.setattr("attentext.scoring.engine.ProgressBar", RecordedBar)
    RecordedBar.made.clear()
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["stocks fell"] * 2500}), source)

    predict_file(tfidf_run, source, tmp_path / "out.jsonl", batch_options(chunk_rows=1000))

    (bar,) = RecordedBar.made
    assert (bar.total, bar.unit, bar.seen) == (2500, " texts", [1000, 2000, 2500])


# ---------------------------------------------------------------------------------------------
# R13-S4: a data file printed without --output, streamed past one segment
# ---------------------------------------------------------------------------------------------


def _data_file(suffix: str, folder: Path) -> Path:
    """600 rows of a data file of every format: empty texts, a quoted text over two lines."""
    texts = [
        ["stocks fell on oil", "the team won the cup", "", "  ", 'a "quoted"\nword', "café é"][
            i % 6
        ]
        + (f" {i}" if i % 6 not in (2, 3) else "")
        for i in range(600)
    ]
    path = folder / f"in{suffix}"
    if suffix == ".parquet":
        pq.write_table(pa.table({"id": range(600), "text": texts}), path, row_group_size=250)
    elif suffix == ".jsonl":
        lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(texts)]
        lines[100:100] = [""]  # a blank line: no row
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif suffix == ".ag.csv":  # AG News' headerless file: class, title, description
        rows = [["3", f"title {i}", t] for i, t in enumerate(texts)]
        _write_delimited(path, rows, ",")
    else:
        rows = [["id", "text"], *([str(i), t] for i, t in enumerate(texts))]
        _write_delimited(path, rows, "," if suffix == ".csv" else "\t")
    return path


def _write_delimited(path: Path, rows: list[list[str]], delimiter: str) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator="\r\n").writerows(rows)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet", ".ag.csv"])
@pytest.mark.parametrize("json_output", [["--json"], []])
def test_r13_s4_a_data_file_over_a_segment_prints_what_one_read_prints(
    suffix, json_output, tfidf_run, tmp_path, monkeypatch
):
    source = _data_file(suffix, tmp_path)
    calls = spied_predict_calls(monkeypatch)
    whole = run_cli_here("predict", tfidf_run, "-i", source, *json_output)
    classified = 600 if suffix == ".ag.csv" else 400  # 200 empty texts are not classified
    assert calls == [classified], calls
    calls.clear()

    monkeypatch.setattr("attentext.data.texts.SEGMENT_BYTES", 1000)
    monkeypatch.setattr("attentext.scoring.engine.DEFAULT_CHUNK_ROWS", 128)
    streamed = run_cli_here("predict", tfidf_run, "-i", source, *json_output)

    assert whole.returncode == 0 and streamed.returncode == 0, streamed.stderr
    assert streamed.stdout == whole.stdout and len(whole.stdout.splitlines()) == 600
    assert len(calls) == 5 and sum(calls) == classified  # 600 rows, 128 at a time


def test_r13_s4_a_data_file_prints_its_rows_before_a_bad_row_past_the_first_segment(
    tfidf_run, tmp_path, monkeypatch
):
    lines = [json.dumps({"text": f"stocks fell {i}"}) for i in range(3000)] + ["{not json"]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr("attentext.data.texts.SEGMENT_BYTES", 1000)
    monkeypatch.setattr("attentext.scoring.engine.DEFAULT_CHUNK_ROWS", 1000)

    result = run_cli_here("predict", tfidf_run, "-i", source, "--json")

    assert_one_line_error(result, "in.jsonl: row 3001: invalid JSON")
    assert len(result.stdout.splitlines()) == 3000  # printed as it was read, in order
