"""Hostile inputs, round 7: three items round 6 left as they were, mended at their mechanism.
Each test failed before its fix:

R7-I1  A text file in another encoding (cp1252, as Excel and Windows save it in Western Europe):
       `predict --input FILE` refused it ("not valid UTF-8 ...; re-save the file as UTF-8") and
       `predict --input FILE --output OUT` gave one bad row per accented line. `--encoding NAME`
       (checked with `codecs.lookup`; one that does not read ASCII as ASCII, UTF-16, refused)
       decodes .txt, .csv, .tsv and .jsonl inputs on both paths; Parquet refuses it (its
       strings are UTF-8); a resumed run records it (a resume with another is refused). The
       training readers' refusal names the file and how to convert it (iconv).
R7-I2  A Parquet binary column passed through (`--id-column`/`--columns`): written as "b'...'" in
       JSON Lines, refused for CSV ("holds lists or objects"). Decided per column for the file:
       bytes that are all UTF-8 are text; others are written base64 in text outputs, with one
       warning naming the column, and kept as bytes in a Parquet output.
R7-I3  `--top-k` above the run's number of labels gave every label without a word: it still
       does, with one note on stderr saying how many labels the run has (both paths).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import batch_options, jsonl_rows, run_cli_here

import attentext
from attentext.data.readers import read_file
from attentext.errors import AttentextError, AttentextWarning, DataError
from attentext.scoring import workdir
from attentext.scoring.engine import predict_file

ACCENTS = " (café, naïve, Zürich – €5)"


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("round7") / "tfidf"
    return Path(attentext.train("tfidf-logreg", ag_news_dir, out).run_dir)


@pytest.fixture(scope="module")
def texts(ag_news_dir) -> list[str]:
    """Twelve AG News texts, every other one with accented characters and a euro sign."""
    dataset = attentext.load_text_dataset(ag_news_dir, val_fraction=0.0)
    return [t + (ACCENTS if i % 2 else "") for i, t in enumerate(dataset.splits["test"]["text"])][
        :12
    ]


def contents(kind: str, texts: list[str]) -> str:
    """The texts as a file of `kind` (txt, csv, tsv, jsonl), an id beside each where it can."""
    if kind == "txt":
        return "".join(t + "\n" for t in texts)
    if kind == "jsonl":
        return "".join(
            json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(texts)
        )
    sep = "," if kind == "csv" else "\t"
    quoted = [
        ('"' + t.replace('"', '""') + '"') if kind == "csv" else t.replace("\t", " ") for t in texts
    ]
    return f"id{sep}text\n" + "".join(f"{i}{sep}{t}\n" for i, t in enumerate(quoted))


def both_encodings(folder: Path, kind: str, texts: list[str]) -> tuple[Path, Path]:
    """The same file written in UTF-8 and in cp1252."""
    folder.mkdir(parents=True, exist_ok=True)
    utf8, cp1252 = folder / f"utf8.{kind}", folder / f"cp1252.{kind}"
    utf8.write_bytes(contents(kind, texts).encode("utf-8"))
    cp1252.write_bytes(contents(kind, texts).encode("cp1252"))
    return utf8, cp1252


# ---------------------------------------------------------------------------------------------
# R7-I1: --encoding
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["txt", "csv", "tsv", "jsonl"])
def test_r7_i1_a_cp1252_file_streamed_with_its_encoding_is_scored_as_its_utf8_copy(
    kind, tfidf_run, texts, tmp_path
):
    utf8, cp1252 = both_encodings(tmp_path, kind, texts)
    passed = {} if kind == "txt" else {"id_column": "id", "columns": ("text",)}
    predict_file(tfidf_run, utf8, tmp_path / "a.jsonl", batch_options(**passed))

    summary = predict_file(
        tfidf_run, cp1252, tmp_path / "b.jsonl", batch_options(encoding="cp1252", **passed)
    )

    assert summary.not_classified == 0
    assert (tmp_path / "b.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()
    if kind != "txt":
        assert [r["text"] for r in jsonl_rows(tmp_path / "b.jsonl")] == texts


@pytest.mark.parametrize("kind", ["txt", "csv", "jsonl"])
def test_r7_i1_predict_input_reads_a_cp1252_file_with_its_encoding(
    kind, tfidf_run, texts, tmp_path
):
    utf8, cp1252 = both_encodings(tmp_path, kind, texts)
    expected = run_cli_here("predict", tfidf_run, "-i", utf8, "--json")
    assert expected.returncode == 0, expected.stderr[-400:]

    refused = run_cli_here("predict", tfidf_run, "-i", cp1252, "--json")
    done = run_cli_here("predict", tfidf_run, "-i", cp1252, "--json", "--encoding", "cp1252")

    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "not valid UTF-8" in refused.stderr and "--encoding cp1252" in refused.stderr
    assert "iconv -f cp1252 -t utf-8" in refused.stderr and str(cp1252) in refused.stderr
    assert done.returncode == 0, done.stderr[-400:]
    assert done.stdout == expected.stdout
    assert [json.loads(line)["text"] for line in done.stdout.splitlines()] == texts


def test_r7_i1_a_resumed_run_needs_the_same_encoding_and_gives_a_straight_runs_bytes(
    tfidf_run, texts, tmp_path, monkeypatch
):
    _, source = both_encodings(tmp_path, "csv", texts)
    wanted = {"id_column": "id", "columns": ("text",), "chunk_rows": 4, "encoding": "cp1252"}
    predict_file(tfidf_run, source, tmp_path / "straight.csv", batch_options(**wanted))
    output = tmp_path / "out.csv"

    def crash(stage: str, index: int) -> None:
        if stage == "committed" and index == 0:
            raise KeyboardInterrupt

    monkeypatch.setattr(workdir, "fault_hook", crash)
    with pytest.raises(KeyboardInterrupt):
        predict_file(tfidf_run, source, output, batch_options(**wanted))
    monkeypatch.setattr(workdir, "fault_hook", None)

    with pytest.raises(DataError, match=r"cannot resume: options changed \(--encoding\)"):
        predict_file(
            tfidf_run,
            source,
            output,
            batch_options(**{**wanted, "encoding": "utf-8", "resume": True}),
        )
    # the same encoding by another of its names is the same encoding
    summary = predict_file(
        tfidf_run,
        source,
        output,
        batch_options(**{**wanted, "encoding": "Windows-1252", "resume": True}),
    )

    assert summary.resumed_rows == 4 and summary.not_classified == 0
    assert output.read_bytes() == (tmp_path / "straight.csv").read_bytes()


def test_r7_i1_an_encoding_predict_cannot_read_is_one_line(tfidf_run, texts, tmp_path):
    utf8, _ = both_encodings(tmp_path, "txt", texts)
    pq.write_table(pa.table({"text": texts}), tmp_path / "t.parquet")
    cases = {
        "no-such-codec": "unknown encoding",
        "utf-16": "convert the file to UTF-8 first (iconv -f utf-16 -t utf-8",
        "base64": "not a text encoding",
    }
    for name, said in cases.items():
        for extra in ([], ["-o", tmp_path / f"{name}.jsonl"]):
            done = run_cli_here("predict", tfidf_run, "-i", utf8, "--encoding", name, *extra)
            assert done.returncode == 2 and said in done.stderr, done.stderr
            assert len(done.stderr.strip().splitlines()) == 1
    for extra in ([], ["-o", tmp_path / "p.jsonl"]):
        parquet = run_cli_here(
            "predict", tfidf_run, "-i", tmp_path / "t.parquet", "--encoding", "latin-1", *extra
        )
        assert parquet.returncode == 2, parquet.stderr
        assert "Parquet file's strings are UTF-8" in parquet.stderr
    with pytest.raises(AttentextError, match="unknown encoding"):
        predict_file(tfidf_run, utf8, tmp_path / "x.jsonl", batch_options(encoding="nope"))


def test_r7_i1_the_summary_of_a_file_in_another_encoding_names_the_option(
    tfidf_run, texts, tmp_path
):
    _, cp1252 = both_encodings(tmp_path, "txt", texts)
    done = run_cli_here("predict", tfidf_run, "-i", cp1252, "-o", tmp_path / "out.jsonl")
    assert done.returncode == 0, done.stderr[-400:]
    assert "6 of them not valid UTF-8" in done.stdout and "--encoding cp1252" in done.stdout


def test_r7_i1_training_data_in_cp1252_is_refused_naming_the_file_and_iconv(tmp_path):
    path = tmp_path / "train.csv"
    path.write_bytes(
        "text,label\nstocks fell,Business\nCafé prices rose,Business\n".encode("cp1252")
    )
    with pytest.raises(DataError) as refused:
        read_file(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: row 3: not valid UTF-8") and "\n" not in message
    assert "iconv -f cp1252 -t utf-8" in message


# ---------------------------------------------------------------------------------------------
# R7-I2: Parquet binary columns passed through
# ---------------------------------------------------------------------------------------------


def binary_table(texts: list[str]) -> tuple[pa.Table, list[bytes]]:
    """Texts with an id stored as bytes that are UTF-8 (as Hive writes strings), the same as a
    dictionary and as fixed-width bytes, and a 16-byte digest that is not UTF-8 (a hash)."""
    ids = [f"doc-{i:02d}" for i in range(len(texts))]
    digests = [hashlib.md5(t.encode()).digest() for t in texts]
    digests[0] = b"\xff" + digests[0][1:]  # surely not UTF-8
    as_bytes = pa.array([i.encode() for i in ids], pa.binary())
    table = pa.table(
        {
            "id": as_bytes,
            "source": as_bytes.dictionary_encode(),
            "code": pa.array([i.encode() for i in ids], pa.binary(6)),
            "hash": pa.array(digests, pa.binary()),
            "text": texts,
        }
    )
    return table, digests


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_r7_i2_a_parquet_binary_column_passed_through_is_text_or_base64_by_the_whole_file(
    fmt, tfidf_run, texts, tmp_path
):
    table, digests = binary_table(texts)
    pq.write_table(table, tmp_path / "in.parquet")
    output = tmp_path / f"out.{fmt}"
    wanted = batch_options(id_column="id", columns=("source", "code", "hash"), chunk_rows=4)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        summary = predict_file(tfidf_run, tmp_path / "in.parquet", output, wanted)

    assert summary.not_classified == 0
    said = [str(w.message) for w in caught if issubclass(w.category, AttentextWarning)]
    read = pq.read_table(output) if fmt == "parquet" else None
    if fmt == "jsonl":
        rows = jsonl_rows(output)
    elif fmt == "csv":
        with open(output, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    else:
        rows = read.to_pylist()
    ids = [f"doc-{i:02d}" for i in range(len(texts))]
    assert [r["id"] for r in rows] == ids
    assert [r["source"] for r in rows] == ids and [r["code"] for r in rows] == ids
    if fmt == "parquet":  # a Parquet output holds bytes: kept as they are, without a word
        assert read.schema.field("id").type == pa.string()
        assert [r["hash"] for r in rows] == digests and said == []
        return
    # the first digest alone is not UTF-8: every chunk of the column is base64, not only its own
    assert [r["hash"] for r in rows] == [base64.b64encode(d).decode() for d in digests]
    assert len(said) == 1 and "\n" not in said[0]  # one line, naming that column alone
    assert "column(s) hash: bytes that are not all UTF-8 text, written base64" in said[0]


def test_r7_i2_an_id_of_bytes_in_the_errors_file_is_base64(tfidf_run, texts, tmp_path):
    table, digests = binary_table(texts)
    texts_with_a_blank = ["", *texts[1:]]
    table = table.set_column(4, "text", pa.array(texts_with_a_blank))
    pq.write_table(table, tmp_path / "in.parquet")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AttentextWarning)
        predict_file(
            tfidf_run,
            tmp_path / "in.parquet",
            tmp_path / "out.jsonl",
            batch_options(id_column="hash"),
        )
    errors = jsonl_rows(tmp_path / "out.jsonl.errors.jsonl")
    assert [e["id"] for e in errors] == [base64.b64encode(digests[0]).decode()]


# ---------------------------------------------------------------------------------------------
# R7-I3: --top-k above the number of labels
# ---------------------------------------------------------------------------------------------


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("note: --top-k")]


def test_r7_i3_a_top_k_above_the_labels_gives_every_label_and_says_how_many_there_are(
    tfidf_run, texts, tmp_path
):
    done = run_cli_here("predict", tfidf_run, texts[0], texts[1], "--top-k", "10", "--json")
    exact = run_cli_here("predict", tfidf_run, texts[0], "--top-k", "4", "--json")

    assert done.returncode == 0, done.stderr[-400:]
    answers = [json.loads(line) for line in done.stdout.splitlines()]  # stdout: JSON alone
    assert [len(a["top_k"]) for a in answers] == [4, 4]
    assert notes(done.stderr) == ["note: --top-k 10: the run has 4 labels; each text gets all 4"]
    assert exact.returncode == 0 and notes(exact.stderr) == []


def test_r7_i3_a_streamed_top_k_above_the_labels_says_so_once(tfidf_run, texts, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    output = tmp_path / "out.jsonl"
    done = run_cli_here(
        "predict", tfidf_run, "-i", source, "-o", output, "--top-k", "9", "--chunk-rows", "4"
    )

    assert done.returncode == 0, done.stderr[-400:]
    assert notes(done.stderr) == ["note: --top-k 9: the run has 4 labels; each text gets all 4"]
    first = jsonl_rows(output)[0]
    assert "label_4" in first and "label_5" not in first
