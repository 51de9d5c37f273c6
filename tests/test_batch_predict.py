"""Streaming batch prediction (`predict --output`, `attentext.scoring`) and the Ray predictor:
every input and output format, chunk boundaries, bad rows, resume after a crash at every stage,
refusals, workers, and the same columns from Ray Data as from the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import AG_NEWS_LABELS, run_cli_here

import attentext
from attentext.errors import AttentextError, AttentextWarning, DataError
from attentext.scoring import workdir
from attentext.scoring.engine import BatchOptions, predict_file
from attentext.scoring.results import ResultSpec, result_columns

REPO = Path(__file__).resolve().parents[1]
BAD_TEXTS = {2: "", 5: "   ", 9: None}  # row (0-based) -> a text that is not classified


@pytest.fixture(scope="module")
def texts(ag_news_dir) -> list[str]:
    dataset = attentext.load_text_dataset(ag_news_dir, val_fraction=0.0)
    return list(dataset.splits["test"]["text"])[:60]


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("batch") / "tfidf"
    return Path(attentext.train("tfidf-logreg", ag_news_dir, out).run_dir)


@pytest.fixture(scope="module")
def seed_run(ag_news_dir, tmp_path_factory) -> Path:
    """A tiny seed transformer (a few steps) with an ONNX export, int8 included (forced: a model
    this small is near-uniform, its int8 labels are not what is tested here)."""
    out = tmp_path_factory.mktemp("batch") / "seed"
    run = Path(
        attentext.train("seed-transformer", ag_news_dir, out, max_steps=4, precision="fp32").run_dir
    )
    from attentext.export.onnx import export_onnx

    export_onnx(run, int8=True, force_int8=True)
    return run


@pytest.fixture(scope="module")
def rows(texts) -> pd.DataFrame:
    """60 rows: an id, the text (three of them bad), a category to pass through."""
    body = [BAD_TEXTS.get(i, text) for i, text in enumerate(texts)]
    return pd.DataFrame({"id": range(100, 100 + len(body)), "body": body, "source": "ag"})


def write_input(frame: pd.DataFrame, path: Path) -> Path:
    """`frame` as a CSV, TSV, JSONL, Parquet or text file (text: the body column only)."""
    suffix = path.suffix
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix in (".csv", ".tsv"):
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        path.write_text(
            "".join(f"{t if isinstance(t, str) else ''}\n" for t in frame["body"]), encoding="utf-8"
        )
    return path


def read_output(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", keep_default_na=True)


def errors_of(output: Path) -> list[dict]:
    text = Path(f"{output}.errors.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def options(**given) -> BatchOptions:
    return BatchOptions(**{"text_column": "body", "progress": False, **given})


def expected(run: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """label and score per row from in-process predict_proba (None where the text is bad)."""
    classifier = attentext.load(run, precision="fp32")
    good = [i for i, t in enumerate(frame["body"]) if isinstance(t, str) and t.strip()]
    probabilities = classifier.predict_proba([frame["body"][i] for i in good])
    labels: list = [None] * len(frame)
    scores: list = [None] * len(frame)
    for i, row in zip(good, probabilities, strict=True):
        labels[i] = classifier.labels[int(np.argmax(row))]
        scores[i] = round(float(row.max()), 6)
    return pd.DataFrame({"label": labels, "score": scores})


def labels_of(frame: pd.DataFrame) -> list[str | None]:
    return [x if isinstance(x, str) else None for x in frame["label"]]


def assert_rows(found: pd.DataFrame, wanted: pd.DataFrame, atol: float = 0.0) -> None:
    assert labels_of(found) == labels_of(wanted)
    scores = found["score"].astype(float).to_numpy()
    reference = wanted["score"].astype(float).to_numpy()
    assert np.allclose(scores, reference, atol=atol + 1e-9, equal_nan=True)


# ---------------------------------------------------------------------------------------------
# Formats, chunks, bad rows
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet", ".txt"])
def test_each_input_format_gives_one_row_per_input_row(suffix, tfidf_run, rows, tmp_path):
    source = write_input(rows, tmp_path / f"in{suffix}")
    output = tmp_path / "out.jsonl"
    passthrough = {} if suffix == ".txt" else {"id_column": "id"}

    summary = predict_file(tfidf_run, source, output, options(chunk_rows=16, **passthrough))

    found = read_output(output)
    assert summary.rows == len(rows) == len(found)
    assert_rows(found, expected(tfidf_run, rows))
    if passthrough:
        assert [str(v) for v in found["id"]] == [str(v) for v in rows["id"]]
    assert [e["row"] for e in errors_of(output)] == [i + 1 for i in sorted(BAD_TEXTS)]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".tsv", ".parquet"])
def test_each_output_format_holds_the_same_columns(suffix, tfidf_run, rows, tmp_path):
    source = write_input(rows, tmp_path / "in.parquet")
    output = tmp_path / f"out{suffix}"

    predict_file(
        tfidf_run,
        source,
        output,
        options(id_column="id", columns=("source",), top_k=2, all_scores=True, chunk_rows=25),
    )

    found = read_output(output)
    names = ["label", "score", "label_2", "score_2", *(f"prob_{x}" for x in AG_NEWS_LABELS)]
    assert list(found.columns) == ["id", "source", *names]
    assert list(found["id"]) == list(rows["id"]) and set(found["source"]) == {"ag"}
    assert_rows(found, expected(tfidf_run, rows))
    probs = found[[f"prob_{x}" for x in AG_NEWS_LABELS]].to_numpy(dtype=float)
    good = ~np.isnan(probs).any(axis=1)
    assert good.sum() == len(rows) - len(BAD_TEXTS)
    assert np.allclose(probs[good].sum(axis=1), 1.0, atol=1e-4)
    assert (found["score_2"][good] <= found["score"][good]).all()


def test_chunk_boundaries_do_not_change_results(seed_run, rows, tmp_path):
    source = write_input(rows, tmp_path / "in.parquet")
    found = {}
    for size in (1, 7, 1000):
        output = tmp_path / f"out-{size}.parquet"
        predict_file(seed_run, source, output, options(chunk_rows=size, all_scores=True))
        found[size] = read_output(output)
    probs = {
        size: f[[c for c in f.columns if c.startswith("prob_")]].to_numpy(float)
        for size, f in found.items()
    }
    for size in (7, 1000):  # batches of other sizes: float sums in another order, same values
        assert np.allclose(probs[size], probs[1], atol=1e-5, equal_nan=True)
        margin = np.sort(np.nan_to_num(probs[1]), axis=1)
        clear = (margin[:, -1] - margin[:, -2]) > 1e-4
        assert (found[size]["label"][clear] == found[1]["label"][clear]).all()


def test_top_k_ranks_like_the_printed_predictions():
    from attentext.inference.ranking import top_labels

    labels = ("a", "b", "c", "d")
    probabilities = np.array([[0.1, 0.4, 0.4, 0.1], [0.7, 0.1, 0.1, 0.1]], dtype=np.float32)
    columns = result_columns(probabilities, np.zeros(2, dtype=bool), ResultSpec(labels, top_k=3))
    for row in range(2):
        ranked = [
            (columns[f"label{s}"][row].as_py(), columns[f"score{s}"][row].as_py())
            for s in ("", "_2", "_3")
        ]
        assert ranked == top_labels(probabilities[row], list(labels), 3)


def test_bad_rows_keep_their_place_and_are_listed_with_why(tfidf_run, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"id": 1, "text": "Oil prices jump"}\n'
        '{"id": 2, "text": ""}\n'
        "\n"  # a blank line between records is not a row
        '{"id": 3, "text": 42}\n'
        "not json\n"
        '{"id": 5}\n'
        '{"id": 6, "text": null}\n'
        '{"id": 7, "text": "NASA launches a probe"}\n',
        encoding="utf-8",
    )
    output = tmp_path / "out.csv"

    summary = predict_file(tfidf_run, source, output, options(text_column="text", id_column="id"))

    found = read_output(output)
    assert len(found) == 7 and summary.not_classified == 5
    assert found["label"].notna().tolist() == [True, False, False, False, False, False, True]
    assert errors_of(output) == [
        {"row": 2, "line": 2, "id": 2, "error": "text is empty"},
        {"row": 3, "line": 4, "id": 3, "error": "text is a number (42), not a string"},
        {"row": 4, "line": 5, "id": None, "error": "invalid JSON (Expecting value)"},
        {"row": 5, "line": 6, "id": 5, "error": "no field 'text'"},
        {"row": 6, "line": 7, "id": 6, "error": "text is missing"},
    ]


def test_text_lines_end_as_predict_reads_them_across_block_boundaries(monkeypatch, tmp_path):
    from attentext.data.readers import split_lines
    from attentext.scoring import sources

    content = b"one\r\ntwo\rthree\n\r\nfour\r\rfive\r"
    path = tmp_path / "lines.txt"
    path.write_bytes(content)
    monkeypatch.setattr(sources, "BLOCK_BYTES", 4)  # \r\n split across blocks, often

    assert [line.decode() for line in sources.iter_lines(path)] == split_lines(content.decode())


def test_ag_news_original_csv_is_read_as_training_reads_it(tfidf_run, ag_news_dir, tmp_path):
    output = tmp_path / "out.jsonl"

    predict_file(
        tfidf_run, ag_news_dir / "test.csv", output, options(text_column="text", columns=("class",))
    )

    found = read_output(output)
    wanted = attentext.load_text_dataset(ag_news_dir, val_fraction=0.0).splits["test"]
    assert len(found) == len(wanted)
    reference = attentext.load(tfidf_run).predict(list(wanted["text"]))
    assert list(found["label"]) == reference


# An audit: a TSV written without quoting whose text starts with '"' was streamed with csv's
# quoting: the quote ran across tabs and lines to the next '"', and 10 input lines gave 7 output
# rows, three ids missing and the texts after them shifted. The decision is made on the file's
# first lines (TSV_LOOKAHEAD_BYTES) or, past them, at the first quote that merges lines.
@pytest.fixture(params=[None, 16], ids=["decided-from-the-start", "found-while-streaming"])
def tsv_lookahead(request, monkeypatch):
    """Decide from the start (the default look-ahead), or past a 16-byte look-ahead, mid-stream."""
    from attentext.scoring import sources

    if request.param is not None:
        monkeypatch.setattr(sources, "TSV_LOOKAHEAD_BYTES", request.param)


@pytest.mark.usefixtures("tsv_lookahead")
def test_an_unquoted_tsv_gives_one_output_row_per_line_in_order(tfidf_run, texts, tmp_path):
    bodies = list(texts[:30])
    bodies[4] = '"Sell everything, ' + bodies[4]  # a quote opened, never closed ...
    bodies[9] = bodies[9] + ' on a 27"'  # ... until this one: rows 5 to 10 were one
    bodies[14] = '"We will win," he said. ' + bodies[14]
    frame = pd.DataFrame({"id": range(100, 130), "body": bodies})
    source = tmp_path / "in.tsv"
    lines = "".join(f"{i}\t{body}\n" for i, body in zip(frame["id"], bodies, strict=True))
    source.write_text("id\tbody\n" + lines, encoding="utf-8")
    output = tmp_path / "out.csv"

    with pytest.warns(AttentextWarning, match="read as unquoted TSV"):
        summary = predict_file(tfidf_run, source, output, options(id_column="id", chunk_rows=4))

    found = read_output(output)
    assert summary.rows == 30 and list(found["id"]) == list(frame["id"])
    assert_rows(found, expected(tfidf_run, frame))


@pytest.mark.usefixtures("tsv_lookahead")
def test_a_quoted_tsv_as_pandas_writes_it_streams_as_before(tfidf_run, texts, tmp_path):
    bodies = list(texts[:20])
    bodies[3] = bodies[3].replace(" ", "\t", 1) + "\nand a second line"
    bodies[6] = '"Quoted" at the start, "hi" inside: ' + bodies[6]
    bodies[9] = "two\nlines " + bodies[9]
    frame = pd.DataFrame({"id": range(100, 120), "body": bodies})
    source = write_input(frame, tmp_path / "in.tsv")
    output = tmp_path / "out.csv"

    with warnings.catch_warnings():
        warnings.simplefilter("error", AttentextWarning)
        predict_file(tfidf_run, source, output, options(id_column="id", chunk_rows=4))

    found = read_output(output)
    assert list(found["id"]) == list(frame["id"])
    assert_rows(found, expected(tfidf_run, frame))


def test_a_tsv_neither_quoted_nor_plain_is_refused_before_any_work(tfidf_run, tmp_path):
    source = tmp_path / "in.tsv"
    source.write_text('id\ttext\n1\t"We will win," he said\n2\tmarkets\tfell\n3\tok\n')
    output = tmp_path / "out.csv"

    result = run_cli_here("predict", tfidf_run, "-i", source, "-o", output, "--id-column", "id")

    assert result.returncode == 2, result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: {source}: line 2: ")
    assert "line 3 has 3 tab-separated fields, not 2" in result.stderr
    assert not output.exists() and not workdir.parts_dir(output).exists()


# ---------------------------------------------------------------------------------------------
# Resume: a crash at every stage, then --resume writes each row once
# ---------------------------------------------------------------------------------------------

CRASHING = """
import os, sys
from attentext.scoring import workdir
from attentext.scoring.engine import BatchOptions, predict_file

run, source, output, stage, chunk = sys.argv[1:6]
def crash(at, index):
    if at == stage and index == int(chunk):
        os._exit(137)  # as kill -9: no cleanup, no finally
workdir.fault_hook = crash
predict_file(run, source, output, BatchOptions(text_column="body", id_column="id", chunk_rows=16, progress=False))
sys.exit(3)  # not reached: the crash comes first
"""


@pytest.fixture(scope="module")
def resume_input(rows, tmp_path_factory) -> Path:
    return write_input(rows, tmp_path_factory.mktemp("resume") / "in.csv")


@pytest.fixture(scope="module")
def uninterrupted(tfidf_run, resume_input, tmp_path_factory) -> dict[str, bytes]:
    outputs = {}
    for suffix in (".jsonl", ".parquet"):
        output = tmp_path_factory.mktemp("whole") / f"out{suffix}"
        predict_file(tfidf_run, resume_input, output, options(id_column="id", chunk_rows=16))
        outputs[suffix] = (output.read_bytes(), Path(f"{output}.errors.jsonl").read_bytes())
    return outputs


@pytest.mark.parametrize(
    "stage, chunk, suffix",
    [
        ("read", 0, ".jsonl"),  # mid-chunk: read, not scored
        ("scored", 2, ".jsonl"),  # mid-chunk: scored, nothing written
        ("written", 1, ".parquet"),  # while committing: temporaries written, none renamed
        ("errors-committed", 1, ".jsonl"),  # while committing: errors renamed, part not
        ("committed", 2, ".parquet"),  # between chunks
        ("errors-assembled", -1, ".jsonl"),  # while joining: errors file in place, OUT not
        ("assembled", -1, ".parquet"),  # OUT in place, the work folder still there
    ],
)
def test_resume_after_a_crash_at_every_stage_writes_each_row_once(
    stage, chunk, suffix, tfidf_run, resume_input, uninterrupted, tmp_path
):
    output = tmp_path / f"out{suffix}"
    script = [sys.executable, "-c", CRASHING, tfidf_run, resume_input, output, stage, str(chunk)]
    crashed = subprocess.run(list(map(str, script)), capture_output=True, text=True, timeout=120)
    assert crashed.returncode == 137, crashed.stderr[-2000:]

    summary = predict_file(
        tfidf_run, resume_input, output, options(id_column="id", chunk_rows=16, resume=True)
    )

    assert (output.read_bytes(), Path(f"{output}.errors.jsonl").read_bytes()) == uninterrupted[
        suffix
    ]
    assert summary.rows == 60 and summary.not_classified == len(BAD_TEXTS)
    assert not workdir.parts_dir(output).exists()
    assert not list(tmp_path.glob(".*.tmp"))  # what the crash left half-written is gone


def test_kill_9_of_the_command_then_resume_gives_the_uninterrupted_output(
    tfidf_run, texts, tmp_path
):
    frame = pd.DataFrame({"id": range(3000), "body": [texts[i % len(texts)] for i in range(3000)]})
    source = write_input(frame, tmp_path / "in.parquet")
    args = [
        "predict",
        tfidf_run,
        "-i",
        source,
        "--text-column",
        "body",
        "--id-column",
        "id",
        "--chunk-rows",
        "50",
    ]
    whole = tmp_path / "whole.jsonl"
    assert run_cli_here(*args, "-o", whole).returncode == 0
    output = tmp_path / "out.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "attentext", *map(str, args), "-o", str(output)]
    process = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    parts = workdir.parts_dir(output)
    deadline = time.monotonic() + 120
    while (
        len(list(parts.glob("part-*"))) < 3
        and process.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    if not parts.exists():
        pytest.skip("the run finished before it could be killed")

    resumed = run_cli_here(*args, "-o", output, "--resume")

    assert resumed.returncode == 0, resumed.stderr
    assert "from the interrupted run" in resumed.stdout
    assert output.read_bytes() == whole.read_bytes()


def _interrupted(tfidf_run, source: Path, output: Path) -> None:
    """A run of `source` into `output` stopped after its first chunk."""

    def crash(stage: str, index: int) -> None:
        if stage == "committed" and index == 0:
            raise KeyboardInterrupt

    workdir.fault_hook = crash
    try:
        with pytest.raises(KeyboardInterrupt):
            predict_file(tfidf_run, source, output, options(id_column="id", chunk_rows=16))
    finally:
        workdir.fault_hook = None


def test_resume_refuses_a_changed_input_run_or_option(tfidf_run, seed_run, rows, tmp_path):
    source = write_input(rows, tmp_path / "in.csv")
    output = tmp_path / "out.jsonl"
    _interrupted(tfidf_run, source, output)
    resume = options(id_column="id", chunk_rows=16, resume=True)

    with pytest.raises(DataError, match="cannot resume: the model changed"):
        predict_file(seed_run, source, output, resume)
    with pytest.raises(DataError, match=r"cannot resume: options changed \(--top-k\)"):
        predict_file(
            tfidf_run, source, output, options(id_column="id", chunk_rows=16, top_k=2, resume=True)
        )
    with pytest.raises(DataError, match="add --resume to continue it, or --overwrite"):
        predict_file(tfidf_run, source, output, options(id_column="id", chunk_rows=16))
    source.write_text(source.read_text() + "999,one more row,ag\n", encoding="utf-8")
    with pytest.raises(DataError, match="cannot resume: the input file changed") as refused:
        predict_file(tfidf_run, source, output, resume)
    assert "\n" not in str(refused.value)
    assert (
        predict_file(
            tfidf_run, source, output, options(id_column="id", chunk_rows=16, overwrite=True)
        ).rows
        == 61
    )


def test_a_finished_output_is_replaced_only_with_overwrite(tfidf_run, rows, tmp_path):
    source = write_input(rows, tmp_path / "in.parquet")
    output = tmp_path / "out.jsonl"
    predict_file(tfidf_run, source, output, options())

    with pytest.raises(DataError, match="exists; add --overwrite"):
        predict_file(tfidf_run, source, output, options())
    assert predict_file(tfidf_run, source, output, options(overwrite=True)).rows == len(rows)


def test_a_json_array_in_a_jsonl_file_is_refused_with_the_way_to_convert_it(tfidf_run, tmp_path):
    """Streamed, a file of one array was a single row, "not a JSON object", in the errors file
    (found in session 60); in a `.jsonl` file it is refused in one line before any work (a
    `.json` file of one array is streamed an item at a time: round 16, R16-P1)."""
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps([{"text": "stocks fell"}, {"text": "a goal"}]), encoding="utf-8")
    output = tmp_path / "out.csv"

    with pytest.raises(DataError, match="one JSON array in a .jsonl file.*name it .json"):
        predict_file(tfidf_run, source, output, options())
    assert not output.exists() and not Path(f"{output}.errors.jsonl").exists()


def test_a_second_writer_of_one_output_is_refused(tfidf_run, rows, tmp_path):
    source = write_input(rows, tmp_path / "in.parquet")
    output = tmp_path / "out.jsonl"

    with (
        workdir.holding(output),
        pytest.raises(AttentextError, match="another attentext process is writing it"),
    ):
        predict_file(tfidf_run, source, output, options())


@pytest.mark.parametrize(
    "entry",
    [
        "notes.txt",  # the audit's case
        "manifest.json",  # a manifest, but not one predict writes
        "part-00000000.csv/notes.txt",  # a folder where predict writes a part
        "",  # OUT.parts is a file
    ],
)
def test_a_users_folder_named_like_the_work_folder_is_refused_not_removed(
    entry, tfidf_run, rows, tmp_path
):
    """`OUT.parts` of the user's (an audit: `predict --output pp/out.csv` deleted
    `pp/out.csv.parts/notes.txt`) is left as it is, whatever the options."""
    source = write_input(rows, tmp_path / "in.csv")
    output = tmp_path / "pp" / "out.csv"
    precious = workdir.parts_dir(output) / entry
    precious.parent.mkdir(parents=True)
    precious.write_text('{"precious": true}\n')

    for given in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(DataError, match="move it or choose another --output") as refused:
            predict_file(tfidf_run, source, output, options(**given))
        assert str(workdir.parts_dir(output)) in str(refused.value)
        assert "\n" not in str(refused.value)

    assert precious.read_text() == '{"precious": true}\n'
    assert not output.exists() and not Path(f"{output}.errors.jsonl").exists()


def test_the_command_refuses_a_users_parts_folder_in_one_line(tfidf_run, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("stocks fell\nthe team won\n", encoding="utf-8")
    output = tmp_path / "pp" / "out.csv"
    notes = workdir.parts_dir(output) / "notes.txt"
    notes.parent.mkdir(parents=True)
    notes.write_text("precious\n")

    result = run_cli_here("predict", tfidf_run, "--input", source, "--output", output)

    assert result.returncode != 0 and result.stderr.count("\n") == 1, result.stderr
    assert "notes.txt" in result.stderr and "move it or choose another --output" in result.stderr
    assert notes.read_text() == "precious\n" and not output.exists()


def test_an_errors_file_this_run_did_not_write_is_kept_without_overwrite(tfidf_run, rows, tmp_path):
    """A user's `OUT.errors.jsonl` (an audit: `predict --output pp/out2.csv` emptied it) is
    refused without --overwrite, and replaced with it."""
    source = write_input(rows, tmp_path / "in.csv")
    output = tmp_path / "pp" / "out2.csv"
    errors = Path(f"{output}.errors.jsonl")
    errors.parent.mkdir()
    errors.write_text("precious\n")

    for given in ({}, {"resume": True}):
        with pytest.raises(DataError, match="errors.jsonl: exists; add --overwrite") as refused:
            predict_file(tfidf_run, source, output, options(**given))
        assert "\n" not in str(refused.value)
    assert errors.read_text() == "precious\n"
    assert not output.exists() and not workdir.parts_dir(output).exists()

    summary = predict_file(tfidf_run, source, output, options(overwrite=True))

    assert summary.rows == len(rows) and len(errors_of(output)) == len(BAD_TEXTS)


def test_an_interrupted_runs_work_folder_is_still_resumed_or_replaced(
    tfidf_run, rows, uninterrupted, resume_input, tmp_path
):
    output = tmp_path / "out.jsonl"
    _interrupted(tfidf_run, resume_input, output)
    leftover = workdir.parts_dir(output) / ".part-00000001.jsonl.x1y2_z.tmp"
    leftover.write_text("half a part")  # as a kill -9 while writing chunk 1 leaves it

    summary = predict_file(
        tfidf_run, resume_input, output, options(id_column="id", chunk_rows=16, resume=True)
    )

    assert summary.resumed_rows == 16
    assert (output.read_bytes(), Path(f"{output}.errors.jsonl").read_bytes()) == uninterrupted[
        ".jsonl"
    ]
    assert not workdir.parts_dir(output).exists()

    output.unlink()
    Path(f"{output}.errors.jsonl").unlink()
    _interrupted(tfidf_run, resume_input, output)
    with pytest.raises(DataError, match="add --resume to continue it, or --overwrite"):
        predict_file(tfidf_run, resume_input, output, options(id_column="id", chunk_rows=16))
    summary = predict_file(
        tfidf_run, resume_input, output, options(id_column="id", chunk_rows=16, overwrite=True)
    )
    assert summary.resumed_rows == 0 and summary.rows == len(rows)
    assert output.read_bytes() == uninterrupted[".jsonl"][0]

    other = tmp_path / "empty.jsonl"
    workdir.parts_dir(other).mkdir()  # empty: nothing to keep, so it is used
    assert predict_file(tfidf_run, resume_input, other, options(id_column="id")).rows == len(rows)
    assert not workdir.parts_dir(other).exists()


# ---------------------------------------------------------------------------------------------
# Workers and the command line
# ---------------------------------------------------------------------------------------------


def test_two_workers_write_what_one_process_writes(tfidf_run, rows, tmp_path):
    source = write_input(rows, tmp_path / "in.parquet")
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    predict_file(tfidf_run, source, one, options(id_column="id", chunk_rows=7))

    predict_file(tfidf_run, source, two, options(id_column="id", chunk_rows=7, workers=2))

    assert two.read_bytes() == one.read_bytes()


def test_the_command_writes_a_file_and_says_so_in_one_line(tfidf_run, rows, tmp_path):
    source = write_input(rows, tmp_path / "in.tsv")
    output = tmp_path / "scored.parquet"

    result = run_cli_here(
        "predict",
        tfidf_run,
        "-i",
        source,
        "-o",
        output,
        "--text-column",
        "body",
        "--id-column",
        "id",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"wrote {output}: 60 rows in {result.stdout.split(' in ')[1].split(' s;')[0]} s; "
        f"3 not classified (listed in {output}.errors.jsonl)"
    )
    assert len(pd.read_parquet(output)) == 60


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--workers", "2"], "--workers applies to --output FILE"),
        (["-o", "{tmp}/x.xlsx"], "cannot tell the output format"),
        (["-o", "{tmp}/x.jsonl", "--json"], "--output writes the predictions of --input FILE"),
        (["-o", "{tmp}/x.jsonl", "--id-column", "nope"], "no column 'nope'"),
        (["-o", "{tmp}/x.jsonl", "--columns", "label"], "two columns named 'label'"),
    ],
)
def test_option_mistakes_are_one_line(extra, message, tfidf_run, tmp_path):
    source = write_input(
        pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]}), tmp_path / "in.csv"
    )

    result = run_cli_here(
        "predict", tfidf_run, "-i", source, *(e.format(tmp=tmp_path) for e in extra)
    )

    assert result.returncode == 2, result.stdout
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("header", "extra", "twice"),
    [
        ("text,label,text", [], "'text'"),
        ("id,text,id", ["--id-column", "id"], "'id'"),
    ],
)
def test_an_input_header_naming_a_read_column_twice_is_refused(
    header, extra, twice, tfidf_run, tmp_path
):
    """An audit: a CSV whose header was `text,label,text` was scored by its first `text`. The
    streaming reader refuses it in one line naming the file and the column."""
    source = tmp_path / "in.csv"
    source.write_text(f"{header}\na,b,c\nd,e,f\n", encoding="utf-8")

    result = run_cli_here("predict", tfidf_run, "-i", source, "-o", tmp_path / "out.jsonl", *extra)

    assert result.returncode == 2, result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    assert str(source) in result.stderr and f"{twice} more than once" in result.stderr
    assert not (tmp_path / "out.jsonl").exists()


# ---------------------------------------------------------------------------------------------
# The Ray predictor: the command line's columns, on every backend
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["torch", "onnx", "onnx-int8"])
def test_the_predictor_maps_every_batch_format_to_the_command_lines_columns(
    backend, seed_run, rows, tmp_path
):
    from attentext.integrations.ray import Predictor

    source = write_input(rows, tmp_path / "in.parquet")
    output = tmp_path / "out.parquet"
    predict_file(seed_run, source, output, options(id_column="id", top_k=2, backend=backend))
    cli = pd.read_parquet(output)
    predictor = Predictor(seed_run, backend=backend, text_column="body", id_column="id", top_k=2)

    frame = predictor(rows)
    table = predictor(pa.Table.from_pandas(rows, preserve_index=False))
    arrays = predictor({name: rows[name].to_numpy() for name in rows.columns})

    for found in (frame, table.to_pandas(), pd.DataFrame(arrays)):
        assert list(found.columns) == list(cli.columns)
        pd.testing.assert_frame_equal(
            found.reset_index(drop=True), cli, check_dtype=False, atol=1e-5
        )


def test_ray_data_with_the_predictor_matches_the_command_line(seed_run, rows, tmp_path):
    ray = pytest.importorskip(
        "ray", reason="Ray is an optional extra: pip install 'attentext[ray]'"
    )
    from attentext.integrations.ray import Predictor

    source = write_input(rows, tmp_path / "in.parquet")
    output = tmp_path / "out.parquet"
    predict_file(seed_run, source, output, options(id_column="id", all_scores=True))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        scored = (
            ray.data.read_parquet(str(source))
            .repartition(3)
            .map_batches(
                Predictor,
                fn_constructor_kwargs={
                    "run_dir": str(seed_run),
                    "text_column": "body",
                    "id_column": "id",
                    "all_scores": True,
                },
                concurrency=2,
                num_cpus=0.5,  # two actors on two CPUs leave room for the read tasks
                batch_size=16,
            )
            .to_pandas()
        )
    finally:
        ray.shutdown()

    found = scored.sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(found, pd.read_parquet(output), check_dtype=False, atol=1e-5)
