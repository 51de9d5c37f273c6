"""Hostile inputs, round 12, scoring: `attentext predict RUN --input FILE --output OUT` on the
files a user scoring millions of rows has. Each test failed before its fix:

R12-S1 A CSV or TSV row longer than pyarrow's 1 MiB block (a 3 MB text), or a row with another
       number of fields than the header, anywhere in the file: the whole run failed at that
       block, "malformed file (straddling object straddles two block boundaries ...)" or
       "(CSV parse error: Expected 2 columns, got 4 ...)", after scoring every chunk before it;
       `--resume` met the same row again, and a file edited to mend it is refused as changed.
       Python's csv module reads on from the row pyarrow reached: the long row is classified,
       the ragged one is one bad row in its place (`scoring.csv_rows`). What that reader must
       not take as a text: a quote never closed (every line after it one field, to the end of
       the file) and a field over 64 MiB are one line naming the line where they start.
R12-S2 A Parquet column of texts whose type holds no text (`--text-column id` on an int64
       column; floats, booleans, lists, structs, a column of nulls): every row scored "not
       classified", a million-row output of empty results, exit 0. Refused in one line before
       any work, naming the column and its type (`scoring.sources._check_text_type`).
R12-S3 `--output` an existing named pipe (`mkfifo out.jsonl`, a reader waiting on it) with
       --overwrite: the FIFO replaced by a plain file, "wrote out.jsonl", and the reader waited
       forever; without --overwrite "exists; add --overwrite", which did that. `-o -` and
       `-o /dev/stdout` were "cannot tell the output format". Each is refused in one line:
       --output writes a file whole and renames it into place, it never streams
       (`scoring.engine._check_not_a_stream`).
R12-S4 A text or JSON Lines file with one line of hundreds of MB (a file whose line ends were
       lost, a dump on one line): the line was held whole, joined and decoded: 1.1 GB of peak
       memory for a 300 MB line (7 GB for 2 GB), for one row no model reads past its start.
       A line over 64 MiB (`MAX_FIELD_BYTES`, the CSV fields' bound) is counted, not held:
       one bad row in its place, its size said (`scoring.sources.iter_lines`, `Overlong`).
R12-S5 A JSON Lines row holding a lone surrogate escape, `"\\ud800"` (valid JSON; JavaScript
       writes one when it cuts a text inside an emoji): as the text, the whole run failed at
       its chunk, "texts[2000] is not valid Unicode ...; pass it as real text" (an index in
       the chunk, not the row), and `--resume` met it again; as a passed-through id, a
       `UnicodeEncodeError` traceback when the chunk was written. Either is one bad row
       (`data.readers.text_problem`, which the Ray Predictor shares; `sources.not_unicode`).
R12-S6 A UTF-16 or UTF-32 file with its byte order mark (Excel's and Notepad's "Unicode
       text", PowerShell 5's `>`): "contains NUL bytes; is it a binary or UTF-16 file? save
       it as UTF-8 text", a guess without the way out (and `--encoding utf-16` is refused). Named
       by its mark, with the iconv command (`data.readers.refuse_binary`, every reader).
R12-S7 `zcat corpus.gz | attentext predict RUN --input - --json > out.jsonl` (standard input
       cannot be resumed, so --output refuses it; the way a pipeline scores): every line read
       to the end, every text held, then all classified at once: 630 MB for 1,000,000 short
       lines with tfidf-logreg, and not a line printed until the end (a pipe left open: never).
       Lines are read, classified and printed a 4 MiB segment at a time, rows numbered on
       (`data.texts.read_input_segments`): 310 MB, the same bytes out; an input of one segment
       is read and checked as before.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_one_line_error, batch_options, jsonl_rows, run_cli_here

import attentext
from attentext.data.readers import split_lines
from attentext.errors import DataError
from attentext.integrations.ray import Predictor
from attentext.scoring.engine import predict_file


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("round12") / "tfidf"
    return Path(attentext.train("tfidf-logreg", ag_news_dir, out).run_dir)


# ---------------------------------------------------------------------------------------------
# R12-S1: a row pyarrow's streaming reader cannot read
# ---------------------------------------------------------------------------------------------


def delimited(path: Path, rows: list[list[str]], delimiter: str = ",") -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator="\n").writerows(rows)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_r12_s1_a_row_longer_than_a_block_is_read_whole(suffix, tfidf_run, tmp_path):
    rows = [["id", "text"]] + [[str(i), "stocks fell on oil"] for i in range(30_000)]
    rows.insert(20_001, ["long", "the team won the cup " * 150_000])  # 3 MB: over a block
    source = delimited(tmp_path / f"in{suffix}", rows, "," if suffix == ".csv" else "\t")

    summary = predict_file(tfidf_run, source, tmp_path / "out.jsonl", batch_options(id_column="id"))

    written = jsonl_rows(tmp_path / "out.jsonl")
    assert summary.rows == 30_001 and summary.not_classified == 0
    assert [row["id"] for row in written] == [row[0] for row in rows[1:]]
    assert written[20_000]["label"] == "Sports"


def test_r12_s1_a_row_of_another_width_is_one_bad_row_in_its_place(tfidf_run, tmp_path):
    lines = ["id,text"] + [f"{i},stocks fell on oil" for i in range(12_000)]
    lines.insert(10_001, "bad,stocks,fell,again")
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = run_cli_here(
        "predict", tfidf_run, "-i", source, "-o", tmp_path / "out.jsonl", "--id-column", "id"
    )

    assert result.returncode == 0, result.stderr
    written = jsonl_rows(tmp_path / "out.jsonl")
    assert len(written) == 12_001
    assert written[10_000] == {"id": None, "label": None, "score": None}
    assert [row["id"] for row in written[10_001:]] == [str(i) for i in range(10_000, 12_000)]
    assert jsonl_rows(tmp_path / "out.jsonl.errors.jsonl") == [
        {"row": 10_001, "id": None, "error": "4 fields, expected 2"}
    ]


def test_r12_s1_a_quote_never_closed_is_named_not_read_as_one_text(tfidf_run, tmp_path):
    lines = ["id,text"] + [f"{i},stocks fell on oil" for i in range(100_000)]  # 2 MB
    lines.insert(15_001, 'open,"a quote that never closes')
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(DataError, match=r"line 15002: a '\"' opens a field that is never closed"):
        predict_file(tfidf_run, source, tmp_path / "out.jsonl", batch_options())


def test_r12_s1_a_field_over_the_bound_is_named_not_held(tfidf_run, tmp_path, monkeypatch):
    monkeypatch.setattr("attentext.scoring.csv_rows.MAX_FIELD_BYTES", 2 << 20)
    rows = [["id", "text"], ["0", "stocks"], ["1", "word " * 600_000], ["2", "oil"]]
    source = delimited(tmp_path / "in.csv", rows)

    with pytest.raises(DataError, match=r"in.csv: line 3: a field of over 2 MiB"):
        predict_file(tfidf_run, source, tmp_path / "out.jsonl", batch_options())


# ---------------------------------------------------------------------------------------------
# R12-S2: a Parquet column of texts that holds no text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "held"),
    [
        (pa.array([3, 4]), "values of type int64"),
        (pa.array([[1], [2]]), "values of type list<"),
        (pa.array([None, None], pa.null()), "only nulls"),
    ],
)
def test_r12_s2_a_parquet_text_column_of_no_text_type_is_refused_before_work(
    values, held, tfidf_run, tmp_path
):
    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": values, "text": ["stocks fell", "team won"]}), source)

    result = run_cli_here(
        "predict", tfidf_run, "-i", source, "-o", tmp_path / "out.jsonl", "--text-column", "id"
    )

    assert_one_line_error(result, "column 'id' holds", held, "--text-column")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_r12_s2_a_dictionary_or_large_string_text_column_is_classified(tfidf_run, tmp_path):
    texts = ["stocks fell", "team won", "stocks fell"]
    for kind, column in {
        "plain": pa.array(texts),
        "dictionary": pa.array(texts).dictionary_encode(),
        "large": pa.array(texts, pa.large_string()),
    }.items():
        pq.write_table(pa.table({"text": column}), tmp_path / f"{kind}.parquet")
        predict_file(
            tfidf_run, tmp_path / f"{kind}.parquet", tmp_path / f"{kind}.jsonl", batch_options()
        )

    plain = (tmp_path / "plain.jsonl").read_bytes()
    assert (tmp_path / "dictionary.jsonl").read_bytes() == plain
    assert (tmp_path / "large.jsonl").read_bytes() == plain


# ---------------------------------------------------------------------------------------------
# R12-S3: an output that is a stream, not a file
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_r12_s3_an_output_that_is_a_named_pipe_is_refused_and_left_a_pipe(
    overwrite, tfidf_run, tmp_path
):
    source = tmp_path / "in.txt"
    source.write_text("stocks fell\nteam won\n", encoding="utf-8")
    fifo = tmp_path / "out.jsonl"
    os.mkfifo(fifo)

    result = run_cli_here("predict", tfidf_run, "-i", source, "-o", fifo, *overwrite)

    assert_one_line_error(result, "out.jsonl: is a named pipe (FIFO)", "never streams")
    assert fifo.is_fifo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt", "out.jsonl"]


def test_r12_s3_standard_output_as_output_says_output_writes_a_file(tfidf_run, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("stocks fell\n", encoding="utf-8")

    result = run_cli_here("predict", tfidf_run, "-i", source, "-o", "-")

    assert_one_line_error(result, "-: is standard output", "--json")


# ---------------------------------------------------------------------------------------------
# R12-S4: a line of hundreds of MB
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".txt", ".jsonl"])
def test_r12_s4_a_line_over_the_bound_is_one_bad_row_in_its_place(
    suffix, tfidf_run, tmp_path, monkeypatch
):
    monkeypatch.setattr("attentext.scoring.sources.MAX_LINE_BYTES", 1 << 20)
    texts = ["stocks fell on oil", "the team won " * 200_000, "the team won the cup"]
    lines = texts if suffix == ".txt" else [json.dumps({"text": t}) for t in texts]
    source = tmp_path / f"in{suffix}"
    source.write_text("\n".join(lines), encoding="utf-8")  # the last line without its end

    summary = predict_file(tfidf_run, source, tmp_path / "out.jsonl", batch_options())

    written = jsonl_rows(tmp_path / "out.jsonl")
    assert summary.rows == 3 and summary.not_classified == 1
    assert [row["label"] for row in written] == ["Business", None, "Sports"]
    [error] = jsonl_rows(tmp_path / "out.jsonl.errors.jsonl")
    size = len(lines[1].encode())
    assert error == {
        "row": 2,
        "line": 2,
        "error": f"line of {size:,} bytes, over the 1 MiB a "
        "text is read up to (a file without line ends makes one)",
    }


MEMORY_PROBE = """
import sys
from pathlib import Path
from attentext.scoring.sources import iter_lines


def status_mb(field):
    line = next(x for x in open("/proc/self/status") if x.startswith(field + ":"))
    return int(line.split()[1]) // 1024


open("/proc/self/clear_refs", "w").write("5")  # the peak (VmHWM) starts again from here
before = status_mb("VmRSS")
count = sum(1 for _ in iter_lines(Path(sys.argv[1])))
print(count, status_mb("VmHWM") - before)
"""


def test_r12_s4_a_300_mb_line_is_read_in_bounded_memory(tmp_path):
    source = tmp_path / "in.txt"
    with open(source, "wb") as handle:
        handle.write(b"first\n")
        for _ in range(300):
            handle.write(b"stocks fell " * 87_382)  # about 1 MiB each, no line end
        handle.write(b"\nlast\n")

    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(source)], capture_output=True, text=True
    )

    lines, grown_mb = map(int, probe.stdout.split())
    assert lines == 3, probe.stderr
    assert grown_mb < 250, f"{grown_mb} MB grown to read a 300 MB line"  # before: 600 MB


# ---------------------------------------------------------------------------------------------
# R12-S5: a lone surrogate escape in JSON Lines
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_r12_s5_a_lone_surrogate_in_a_text_or_an_id_is_one_bad_row(suffix, tfidf_run, tmp_path):
    lines = [json.dumps({"id": f"d{i}", "text": "stocks fell on oil"}) for i in range(6_000)]
    lines[5_500] = '{"id": "d5500", "text": "cut emoji \\ud83d"}'
    lines[5_600] = '{"id": "d5600\\udfff", "text": "the team won"}'
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = tmp_path / f"out{suffix}"

    summary = predict_file(tfidf_run, source, output, batch_options(id_column="id"))

    assert summary.rows == 6_000 and summary.not_classified == 2
    errors = jsonl_rows(tmp_path / f"out{suffix}.errors.jsonl")
    assert [(e["row"], e["id"]) for e in errors] == [(5_501, "d5500"), (5_601, None)]
    assert errors[0]["error"] == (
        "text is not valid Unicode: character 10 is an unpaired surrogate (U+D83D)"
    )
    assert errors[1]["error"].startswith("column 'id' is not valid Unicode")


def test_r12_s5_the_ray_predictor_gives_a_lone_surrogate_text_an_empty_result(tfidf_run):
    predictor = Predictor(tfidf_run)

    texts = np.array(["stocks fell on oil", "cut emoji \ud83d"], dtype=object)

    out = predictor({"text": texts})  # Ray Data's default batch: a dict of numpy arrays

    assert out["label"][0] == "Business" and out["label"][1] is None


# ---------------------------------------------------------------------------------------------
# R12-S6: UTF-16 and UTF-32 named by their byte order mark
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "kind"), [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")]
)
@pytest.mark.parametrize("output", [[], ["-o", "out.jsonl"]])
def test_r12_s6_a_utf16_or_utf32_file_is_named_with_how_to_convert_it(
    encoding, kind, output, tfidf_run, tmp_path
):
    content = "text\tsource\nstocks fell\tAP\nthe team won\tAFP\n"
    mark = "\ufeff" if encoding == "utf-16-be" else ""  # the -be codec writes no mark itself
    source = tmp_path / "excel unicode.tsv"
    source.write_bytes((mark + content).encode(encoding))

    result = run_cli_here("predict", tfidf_run, "-i", source, *output, cwd=tmp_path)

    assert_one_line_error(result, f"is {kind} text", f"iconv -f {kind} -t UTF-8 IN > OUT")


# ---------------------------------------------------------------------------------------------
# R12-S7: standard input (and a text file) printed as it is read
# ---------------------------------------------------------------------------------------------


def test_r12_s7_lines_piped_in_are_printed_before_the_pipe_is_closed(tfidf_run):
    line = b"stocks fell on monday in heavy trading as oil prices rose again\n"
    command = [sys.executable, "-m", "attentext", "predict", str(tfidf_run), "-i", "-", "--json"]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    # 13 MB, three segments, written from a thread (the answers fill the other pipe meanwhile)
    # and the pipe left open: before, nothing was printed until the input ended
    writer = threading.Thread(target=_write_and_hold, args=(process.stdin, line * 200_000))
    writer.start()
    timer = threading.Timer(120, process.kill)  # a hang fails the test, it does not hold it
    timer.start()
    try:
        first = process.stdout.readline()
    finally:
        timer.cancel()
        process.kill()
        process.wait()
        writer.join()

    assert first and json.loads(first)["label"] == "Business", first


def _write_and_hold(pipe, data: bytes) -> None:
    """Write `data` to `pipe` without closing it (the reader must not see the input end)."""
    with contextlib.suppress(BrokenPipeError, ValueError):
        pipe.write(data)
        pipe.flush()


def test_r12_s7_a_text_file_read_in_segments_prints_what_one_read_prints(
    tfidf_run, tmp_path, monkeypatch
):
    generator = random.Random(12)
    pieces = ["stocks fell", "the team won", " ", "", "oil rose", "é"]
    ends = ["\n", "\r\n", "\r"]
    content = "".join(generator.choice(pieces) + generator.choice(ends) for _ in range(400))
    source = tmp_path / "in.txt"
    source.write_bytes(b"\xef\xbb\xbf" + content.encode())
    whole = run_cli_here("predict", tfidf_run, "-i", source, "--json")

    monkeypatch.setattr("attentext.data.texts.SEGMENT_BYTES", 7)
    segmented = run_cli_here("predict", tfidf_run, "-i", source, "--json")

    assert whole.returncode == 0 and segmented.returncode == 0, segmented.stderr
    assert segmented.stdout == whole.stdout
    assert len(whole.stdout.splitlines()) == len(split_lines(content))


def test_r12_s7_a_bad_byte_in_a_later_segment_names_its_row_of_the_input(
    tfidf_run, tmp_path, monkeypatch
):
    monkeypatch.setattr("attentext.data.texts.SEGMENT_BYTES", 64)
    source = tmp_path / "in.txt"
    source.write_bytes(b"stocks fell\n" * 100 + b"caf\xe9\n" + b"oil rose\n" * 5)

    result = run_cli_here("predict", tfidf_run, "-i", source, "--json")

    assert_one_line_error(result, "in.txt: row 101: not valid UTF-8 (byte 1203)", "--encoding")
