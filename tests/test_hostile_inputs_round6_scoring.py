"""Hostile inputs, round 6: scoring a corpus, `attentext predict RUN --input FILE --output FILE`
(`attentext.scoring`) and the Ray `Predictor`, with the files users really have. Each test failed
before its fix:

R6-S1  A Parquet column of texts stored as binary (BYTE_ARRAY without the UTF8 annotation, as
       Hive, Impala or old Spark write text): every row was "text is of type bytes, not a
       string", an output of empty results with exit 0; the Ray Predictor alike on a batch of
       bytes. Bytes are decoded as UTF-8 row by row, as a CSV's texts always were
       (`scoring.sources.decode_texts`, used by both).
R6-S2  The column of texts of a CSV or TSV passed through (`--id-column text`, `--columns text`,
       AG News' `title`): it is read as bytes to be decoded row by row, and was written as bytes:
       `"b'FOAFKey: ...'"` in JSON Lines, a binary column in Parquet. Passed through as text
       (`scoring.sources.DelimitedSource.column_of`).
R6-S3  A text file (or JSON Lines) with a 100 MB line: 41 s to split its lines before any scoring
       (time growing with the square of the line's length: the line read so far was searched
       for line ends again with each 1 MiB block). Each block is now searched once
       (`scoring.sources.iter_lines`): 1.2 s.
R6-S4  An output that cannot be written: inside a file (`-o notes.txt/out.jsonl`), in a
       read-only folder, a name too long for the files named after it, a disk filling up under
       way: tracebacks (`FileExistsError`, `OSError: [Errno 30] Read-only file system`, `[Errno
       36] File name too long`, `[Errno 28] No space left on device`). The first three are
       refused in one line before any work (`scoring.engine._check_writable`); a write failing
       under way is one line saying to free space and run the same command with --resume, which
       finishes the output as a straight run writes it (`engine._write_failed`).
R6-S5  A JSON Lines id over 64 bits (`123456789012345678901234567890`, valid JSON) passed through
       to a .csv or .parquet output: an `OverflowError` traceback. One line naming the column
       and the way out, .jsonl, which keeps it (`scoring.sinks._table`).
R6-S6  A float column with NaN or an infinity (pandas' missing value) passed through to a .jsonl
       output, or an id that is one in OUT.errors.jsonl: written as Python's `NaN` / `Infinity`,
       which are not JSON (Node's JSON.parse, Go, Java refuse the line; jq reads Infinity as
       1.797e+308). Written as null (`scoring.sinks.json_line`), as pandas' to_json does.
R6-S7  `-i in.jsonl -o out.jsonl --overwrite` where out.jsonl is a hard link to the input, or the
       input is out.jsonl.errors.jsonl (re-scoring the rows a run could not classify, into the
       same output): refused only for the same path or a symbolic link; the input named as the
       errors file was replaced by the new errors. Paths are compared as files (`os.path.
       samefile`), the errors file too (`scoring.engine._same_file`).
R6-S8  A gzip-compressed input (`corpus.csv.gz`, or a .txt gzipped), bzip2, xz, zstd or zip:
       "contains NUL bytes; is it a binary or UTF-16 file? save it as UTF-8 text" (or, with no
       NUL byte in the head, a row per line of compressed bytes, each "not valid UTF-8"). Named
       as compressed, with the command that decompresses it (`data.readers.refuse_binary`, read
       by the streamed reader and by the whole-file one).
R6-S9  A CSV or TSV in cp1252 whose passed-through column holds an `é` (`--columns source`, a
       value `Agence Française`): the whole run failed at that row's chunk, "malformed file (In
       CSV column #2: CSV conversion error to string: invalid UTF8 data)", the chunks before it
       scored for nothing and nothing to do said. Every column is read as bytes and decoded
       here: the value is null and its row one bad row, listed with why, as a JSON Lines row
       with such a byte always was (`scoring.sources.DelimitedSource.column_of`).
R6-S10 An input another process appends to while it is scored: the rows read were written, the
       last one cut where the writer was ("oil prices rose on Mon") and classified as a text,
       exit 0 without a word, while the run recorded the file as it was at the start. Now a
       warning line says the file changed while it was read, with its sizes
       (`scoring.engine._warn_if_changed`).
"""

from __future__ import annotations

import bz2
import errno
import gzip
import json
import lzma
import os
import random
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import batch_options, jsonl_rows, run_cli_here

import attentext
from attentext.data.readers import split_lines
from attentext.errors import AttentextError, AttentextWarning
from attentext.integrations.ray import Predictor
from attentext.scoring import engine, sinks, sources, workdir
from attentext.scoring.engine import predict_file
from attentext.scoring.sources import BOM, LINE_END


@pytest.fixture(scope="module")
def texts(ag_news_dir) -> list[str]:
    dataset = attentext.load_text_dataset(ag_news_dir, val_fraction=0.0)
    return list(dataset.splits["test"]["text"])[:12]


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("round6") / "tfidf"
    return Path(attentext.train("tfidf-logreg", ag_news_dir, out).run_dir)


def strings_table(texts: list[str]) -> pa.Table:
    return pa.table({"id": list(range(len(texts))), "text": texts})


# ---------------------------------------------------------------------------------------------
# R6-S1: texts stored as bytes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binary", "large_binary", "dictionary"])
def test_r6_s1_a_parquet_column_of_texts_stored_as_bytes_is_classified(
    kind, tfidf_run, texts, tmp_path
):
    as_bytes = pa.array(
        [t.encode() for t in texts], pa.large_binary() if kind == "large_binary" else pa.binary()
    )
    column = as_bytes.dictionary_encode() if kind == "dictionary" else as_bytes
    pq.write_table(
        pa.table({"id": list(range(len(texts))), "text": column}), tmp_path / "b.parquet"
    )
    pq.write_table(strings_table(texts), tmp_path / "s.parquet")

    predict_file(
        tfidf_run, tmp_path / "b.parquet", tmp_path / "b.jsonl", batch_options(id_column="id")
    )
    predict_file(
        tfidf_run, tmp_path / "s.parquet", tmp_path / "s.jsonl", batch_options(id_column="id")
    )

    assert (tmp_path / "b.jsonl").read_bytes() == (tmp_path / "s.jsonl").read_bytes()
    assert (tmp_path / "b.jsonl.errors.jsonl").read_bytes() == b""


def test_r6_s1_bytes_that_are_not_utf8_are_one_bad_row_named_so(tfidf_run, texts, tmp_path):
    values = [t.encode() for t in texts[:3]] + ["Café".encode("latin-1")]
    pq.write_table(pa.table({"text": pa.array(values, pa.binary())}), tmp_path / "b.parquet")

    summary = predict_file(tfidf_run, tmp_path / "b.parquet", tmp_path / "b.jsonl", batch_options())

    assert summary.rows == 4 and summary.not_classified == 1
    assert [r["label"] is None for r in jsonl_rows(tmp_path / "b.jsonl")] == [False] * 3 + [True]
    assert jsonl_rows(tmp_path / "b.jsonl.errors.jsonl") == [{"row": 4, "error": "not valid UTF-8"}]


def test_r6_s1_training_and_predict_without_output_read_a_parquet_of_bytes(ag_news_dir, tmp_path):
    """Training and `predict --input` without --output read the whole file another way: they
    refused texts stored as bytes, and a label column of bytes made the classes "b'World'"."""
    dataset = attentext.load_text_dataset(ag_news_dir, val_fraction=0.0)
    train = dataset.splits["train"]
    names = [dataset.label_names[i] for i in train["label"]]
    folder = tmp_path / "bytes"
    folder.mkdir()
    table = {
        "text": pa.array([t.encode() for t in train["text"]], pa.binary()),
        "label": pa.array([n.encode() for n in names], pa.binary()),
    }
    pq.write_table(pa.table(table), folder / "train.parquet")
    run = attentext.train("tfidf-logreg", folder, tmp_path / "run", val_fraction=0.0).run_dir
    assert sorted(attentext.load(run).labels) == sorted(dataset.label_names)
    texts = pa.array([t.encode() for t in train["text"][:3]], pa.binary())
    pq.write_table(pa.table({"text": texts}), tmp_path / "t.parquet")
    done = run_cli_here("predict", run, "--input", tmp_path / "t.parquet")
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3, done.stderr[-400:]
    bad = pa.array([b"ok", "Caf\xe9".encode("latin-1")], pa.binary())
    pq.write_table(pa.table({"text": bad}), tmp_path / "bad.parquet")
    refused = run_cli_here("predict", run, "--input", tmp_path / "bad.parquet")
    assert refused.returncode == 2 and "row 2: text is bytes that are not UTF-8" in refused.stderr


@pytest.mark.parametrize("batch_format", ["pyarrow", "pandas", "numpy"])
def test_r6_s1_the_ray_predictor_classifies_a_batch_of_bytes(batch_format, tfidf_run, texts):
    predictor = Predictor(tfidf_run, id_column="id")
    strings = strings_table(texts)
    as_bytes = pa.table({"id": strings["id"], "text": pa.array([t.encode() for t in texts])})
    if batch_format == "pandas":
        strings, as_bytes = strings.to_pandas(), as_bytes.to_pandas()
    elif batch_format == "numpy":
        strings = {n: strings[n].to_numpy() for n in strings.column_names}
        as_bytes = {n: as_bytes[n].to_numpy() for n in as_bytes.column_names}

    found, wanted = predictor(as_bytes), predictor(strings)

    assert list(found["label"]) == list(wanted["label"])
    assert all(label is not None for label in list(wanted["label"]))


# ---------------------------------------------------------------------------------------------
# R6-S2: the column of texts passed through from a CSV
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_r6_s2_the_column_of_texts_passed_through_is_text(suffix, tfidf_run, texts, tmp_path):
    frame = strings_table(texts[:4]).to_pandas()
    source = tmp_path / f"in{suffix}"
    frame.to_csv(source, index=False, sep="\t" if suffix == ".tsv" else ",")
    wanted = batch_options(id_column="text", columns=("id",))

    predict_file(tfidf_run, source, tmp_path / "out.jsonl", wanted)
    predict_file(tfidf_run, source, tmp_path / "out.parquet", wanted)

    assert [r["text"] for r in jsonl_rows(tmp_path / "out.jsonl")] == texts[:4]
    written = pq.read_table(tmp_path / "out.parquet")
    assert written.schema.field("text").type == pa.string()
    assert written.column("text").to_pylist() == texts[:4]


def test_r6_s2_ag_news_title_passed_through_is_text(tfidf_run, ag_news_dir, tmp_path):
    output = tmp_path / "out.jsonl"
    predict_file(tfidf_run, ag_news_dir / "test.csv", output, batch_options(columns=("title",)))

    first = jsonl_rows(output)[0]["title"]
    assert first == "FOAFKey: FOAF, PGP, Key Distribution, and Bloom Filters"


# ---------------------------------------------------------------------------------------------
# R6-S3: a very long line
# ---------------------------------------------------------------------------------------------


class CountingLineEnds:
    """`sources.LINE_END`, counting the bytes it searches."""

    def __init__(self) -> None:
        self.searched = 0

    def split(self, data: bytes) -> list[bytes]:
        self.searched += len(data)
        return LINE_END.split(data)


def test_r6_s3_a_long_line_is_searched_for_line_ends_once(monkeypatch, tmp_path):
    long_line = b"oil stocks " * 20_000  # 220 KB: 860 blocks of 256 bytes
    path = tmp_path / "long.txt"
    path.write_bytes(b"first\r\n" + long_line + b"\r\nlast\n")
    counting = CountingLineEnds()
    monkeypatch.setattr(sources, "BLOCK_BYTES", 256)
    monkeypatch.setattr(sources, "LINE_END", counting)

    lines = list(sources.iter_lines(path))

    assert lines == [b"first", long_line, b"last"]
    assert counting.searched <= path.stat().st_size  # before: 96 MB searched for 220 KB


@pytest.mark.parametrize("block", [1, 2, 3, 5, 8])
def test_r6_s3_lines_across_blocks_are_those_predict_reads(block, monkeypatch, tmp_path):
    generator = random.Random(block)
    monkeypatch.setattr(sources, "BLOCK_BYTES", block)
    for attempt in range(200):
        content = "".join(generator.choice(["a", "bc", "\r", "\n", "\r\n", " "]) for _ in range(12))
        path = tmp_path / f"{attempt}.txt"
        path.write_bytes((BOM if block >= len(BOM) else b"") + content.encode())

        found = [line.decode() for line in sources.iter_lines(path)]

        assert found == (split_lines(content) if content else []), repr(content)


# ---------------------------------------------------------------------------------------------
# R6-S4: an output that cannot be written
# ---------------------------------------------------------------------------------------------


def one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return lines[0]


def text_file(folder: Path, texts: list[str]) -> Path:
    path = folder / "in.txt"
    path.write_text("".join(f"{t}\n" for t in texts), encoding="utf-8")
    return path


def test_r6_s4_an_output_inside_a_file_is_refused_in_one_line(tfidf_run, texts, tmp_path):
    source = text_file(tmp_path, texts)

    line = one_line_error(
        run_cli_here("predict", tfidf_run, "-i", source, "-o", source / "o.jsonl")
    )

    assert line == f"error: {source / 'o.jsonl'}: --output is inside {source}, which is not a " + (
        "folder; choose another --output"
    )


def test_r6_s4_an_output_name_too_long_for_the_files_beside_it_is_refused(
    tfidf_run, texts, tmp_path
):
    source = text_file(tmp_path, texts)
    output = tmp_path / ("a" * 240 + ".jsonl")  # 246 bytes: its errors file's would be 273

    line = one_line_error(run_cli_here("predict", tfidf_run, "-i", source, "-o", output))

    assert "file name is 246 bytes" in line and "at most 228" in line
    assert list(tmp_path.iterdir()) == [source]


def test_r6_s4_a_folder_that_cannot_be_written_is_refused_before_any_work(
    tfidf_run, texts, tmp_path, monkeypatch
):
    source = text_file(tmp_path, texts)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # root: as on a read-only mount, where root cannot either
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, m: Path(p) != folder and real(p, m))

    line = one_line_error(run_cli_here("predict", tfidf_run, "-i", source, "-o", folder / "o.csv"))

    assert line.endswith("ro (read-only, or no permission); choose another --output")


def test_r6_s4_a_full_disk_is_one_line_and_resume_finishes_the_output(
    tfidf_run, texts, tmp_path, monkeypatch
):
    source = text_file(tmp_path, texts)
    straight = tmp_path / "straight.parquet"
    predict_file(tfidf_run, source, straight, batch_options(chunk_rows=3))
    output = tmp_path / "out.parquet"
    written = []

    def write_until_full(fmt, columns, path, header):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written.append(path)
        sinks.write_part(fmt, columns, path, header)

    monkeypatch.setattr(engine, "write_part", write_until_full)
    with pytest.raises(AttentextError) as failed:
        predict_file(tfidf_run, source, output, batch_options(chunk_rows=3))
    monkeypatch.undo()
    predict_file(tfidf_run, source, output, batch_options(chunk_rows=3, resume=True))

    assert str(failed.value) == (
        f"{output}: could not write the predictions (No space left on device); free space and "
        "run the same command with --resume (the chunks written are kept)"
    )
    assert output.read_bytes() == straight.read_bytes()


# ---------------------------------------------------------------------------------------------
# R6-S5: a passed-through value Arrow cannot type
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_r6_s5_an_id_over_64_bits_is_one_line_naming_the_column(suffix, tfidf_run, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": 123456789012345678901234567890, "text": "oil stocks"}\n'
        '{"id": 2, "text": "football"}\n',
        encoding="utf-8",
    )

    line = one_line_error(
        run_cli_here(
            "predict", tfidf_run, "-i", source, "-o", tmp_path / f"o{suffix}", "--id-column", "id"
        )
    )

    assert line == (
        f"error: the passed-through column 'id' has an integer over 64 bits, which a "
        f"{suffix[1:]} output cannot hold; write .jsonl, or pass other columns"
    )
    predict_file(tfidf_run, source, tmp_path / "o.jsonl", batch_options(id_column="id"))
    assert jsonl_rows(tmp_path / "o.jsonl")[0]["id"] == 123456789012345678901234567890


# ---------------------------------------------------------------------------------------------
# R6-S6: NaN and infinities in JSON Lines
# ---------------------------------------------------------------------------------------------


def strict_json(line: str) -> dict:
    """A line parsed as JSON readers other than Python's parse it: NaN and Infinity refused."""

    def refuse(word: str) -> None:
        raise ValueError(f"{word} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_r6_s6_a_nan_or_infinity_passed_through_is_written_as_null(tfidf_run, texts, tmp_path):
    source = tmp_path / "in.parquet"
    nan, inf = float("nan"), float("inf")
    pq.write_table(
        pa.table(
            {
                "id": [1.0, nan, inf, -inf],
                "extra": [[1.0, nan], None, [inf], []],
                "text": [texts[0], texts[1], None, texts[3]],
            }
        ),
        source,
    )
    output = tmp_path / "out.jsonl"

    predict_file(tfidf_run, source, output, batch_options(id_column="id", columns=("extra",)))

    rows = [strict_json(line) for line in output.read_text(encoding="utf-8").splitlines()]
    assert [row["id"] for row in rows] == [1.0, None, None, None]
    assert [row["extra"] for row in rows] == [[1.0, None], None, [None], []]
    errors = Path(f"{output}.errors.jsonl").read_text(encoding="utf-8").splitlines()
    assert [strict_json(line) for line in errors] == [
        {"row": 3, "id": None, "error": "text is missing"}
    ]


# ---------------------------------------------------------------------------------------------
# R6-S7: the input written over
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["hard-link", "errors-file", "errors-file-hard-link"])
def test_r6_s7_an_output_that_is_the_input_by_another_name_is_refused(
    how, tfidf_run, texts, tmp_path
):
    source = text_file(tmp_path, texts)
    content = source.read_bytes()
    output = tmp_path / "out.jsonl"
    if how == "hard-link":
        os.link(source, output)
        named = output
    elif how == "errors-file":
        source = source.rename(tmp_path / "out.jsonl.errors.jsonl")
        named = source
    else:
        named = tmp_path / "out.jsonl.errors.jsonl"
        os.link(source, named)

    result = run_cli_here("predict", tfidf_run, "-i", source, "-o", output, "--overwrite")

    assert one_line_error(result) == (
        f"error: {named}: is the input; write the predictions to another file"
    )
    assert source.read_bytes() == content


# ---------------------------------------------------------------------------------------------
# R6-S8: a compressed input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "compress", "kind", "advice"),
    [
        ("in.txt", gzip.compress, "gzip", "gunzip -c in.txt > in.decompressed.txt"),
        ("in.csv.gz", gzip.compress, "gzip", "gunzip -c in.csv.gz > in.csv"),
        ("in.jsonl", bz2.compress, "bzip2", "bunzip2 -c in.jsonl > in.decompressed.jsonl"),
        ("in.tsv", lzma.compress, "xz", "unxz -c in.tsv > in.decompressed.tsv"),
    ],
)
@pytest.mark.parametrize("streamed", [True, False], ids=["output", "printed"])
def test_r6_s8_a_compressed_input_is_named_so_with_how_to_decompress_it(
    name, compress, kind, advice, streamed, tfidf_run, tmp_path
):
    source = tmp_path / name
    source.write_bytes(compress(b"text\noil stocks\nfootball\n"))
    output = ["-o", tmp_path / "out.jsonl"] if streamed else []

    line = one_line_error(run_cli_here("predict", tfidf_run, "-i", source, *output))

    assert line == (
        f"error: {source}: is {kind}-compressed; decompress it first ({advice}) and give the "
        "file it makes"
    )


# ---------------------------------------------------------------------------------------------
# R6-S9: a passed-through value that is not UTF-8
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_r6_s9_a_cp1252_value_in_a_passed_through_column_is_one_bad_row(
    suffix, tfidf_run, texts, tmp_path
):
    sep = "\t" if suffix == ".tsv" else ","
    lines = [f"id{sep}text{sep}source"] + [
        f"{i}{sep}{texts[i % len(texts)].replace(sep, ' ').replace(chr(34), '')}{sep}wire"
        for i in range(40)
    ]
    lines[35] = f"34{sep}Coffee prices rise{sep}Agence Fran\u00e7aise"
    source = tmp_path / f"in{suffix}"
    source.write_bytes("\n".join(lines).encode("cp1252") + b"\n")
    output = tmp_path / "out.jsonl"

    summary = predict_file(
        tfidf_run, source, output, batch_options(id_column="id", columns=("source",), chunk_rows=16)
    )

    rows = jsonl_rows(output)
    assert summary.rows == 40 and [row["id"] for row in rows] == [str(i) for i in range(40)]
    assert rows[34]["source"] is None and rows[34]["label"] is None
    assert all(row["label"] is not None for i, row in enumerate(rows) if i != 34)
    assert jsonl_rows(Path(f"{output}.errors.jsonl")) == [
        {"row": 35, "id": "34", "error": "column 'source' is not valid UTF-8"}
    ]


# ---------------------------------------------------------------------------------------------
# R6-S10: an input that grows while it is read
# ---------------------------------------------------------------------------------------------


def test_r6_s10_an_input_appended_to_while_it_is_read_is_said(
    tfidf_run, texts, tmp_path, monkeypatch
):
    source = tmp_path / "growing.txt"
    source.write_text("".join(f"{t}\n" for t in texts), encoding="utf-8")

    def append(stage: str, chunk: int) -> None:
        if stage == "read" and chunk == 0:  # another process writing: a line not ended yet
            with open(source, "a", encoding="utf-8") as handle:
                handle.write("oil prices rose on Mon")

    monkeypatch.setattr(workdir, "fault_hook", append)
    with pytest.warns(AttentextWarning, match=r"growing.txt: changed while it was read \("):
        summary = predict_file(
            tfidf_run, source, tmp_path / "out.jsonl", batch_options(chunk_rows=4)
        )

    assert summary.rows == len(texts) + 1


def test_r6_s10_an_input_left_alone_gives_no_warning(tfidf_run, texts, tmp_path):
    source = text_file(tmp_path, texts)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AttentextWarning)
        predict_file(tfidf_run, source, tmp_path / "out.jsonl", batch_options(chunk_rows=4))


def test_r6_s11_a_file_in_another_encoding_is_said_to_be_one(tfidf_run, tmp_path):
    """A cp1252 text file streamed with --output gave one bad row per accented line and a
    summary of how many were not classified, nothing of why: the summary names the encoding."""
    path = tmp_path / "latin1.txt"
    path.write_bytes("Café prices rose\nstocks fell\nnaïve team won\n".encode("cp1252"))
    summary = predict_file(tfidf_run, path, tmp_path / "out.jsonl", batch_options())
    assert (summary.rows, summary.not_classified, summary.not_utf8) == (3, 2, 2)
    done = run_cli_here("predict", tfidf_run, "-i", path, "-o", tmp_path / "cli.jsonl")
    assert done.returncode == 0, done.stderr[-400:]
    assert "2 of them not valid UTF-8" in done.stdout and "re-save it as UTF-8" in done.stdout
    clean = tmp_path / "utf8.txt"
    clean.write_text("Café prices rose\nstocks fell\n", encoding="utf-8")
    assert predict_file(tfidf_run, clean, tmp_path / "clean.jsonl", batch_options()).not_utf8 == 0
