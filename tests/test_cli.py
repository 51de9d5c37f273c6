"""The command line on tiny data: `attentext ...` in this process (`run_cli_here`), and its entry
point as a real subprocess (`python -m attentext`)."""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from conftest import AG_NEWS_LABELS, labelled_csv, run_cli
from conftest import run_cli_here as cli

import attentext
from attentext.data.texts import load_texts
from attentext.errors import DataError

REPO = Path(__file__).resolve().parents[1]


def ok(*args: str | Path) -> str:
    result = cli(*args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_train_writes_a_run_directory(ag_news_dir, tmp_path):
    out = tmp_path / "run"

    stdout = ok(
        "train",
        "seed-transformer",
        "--data",
        ag_news_dir,
        "--output",
        out,
        "--epochs",
        "1",
        "--precision",
        "fp32",
        "--set",
        "training.batch_size=64",
    )

    assert (out / "attentext.json").exists()
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["epochs"] == 1.0 and metrics["precision"] == "fp32"
    assert metrics["global_steps"] == 3  # --set took effect: ceil(190 / 64) steps in one epoch
    assert "batch_size: 64" in (out / "recipe.yaml").read_text(encoding="utf-8")
    assert "Trained seed-transformer" in stdout
    assert f"{metrics['test']['accuracy']:.4f}" in stdout
    assert all(name in stdout for name in AG_NEWS_LABELS)


def test_evaluate_prints_accuracy_and_class_names(trained, run_dir, ag_news_dir):
    stdout = ok("evaluate", run_dir, "--data", ag_news_dir)

    assert f"accuracy {trained.metrics['test']['accuracy']:.4f}" in stdout
    assert "80 examples" in stdout
    assert all(name in stdout for name in AG_NEWS_LABELS)


def test_predict_texts(run_dir):
    stdout = ok("predict", run_dir, "Stocks rallied on Wall Street", "The Lakers won again")

    lines = stdout.strip().splitlines()
    assert len(lines) == 2
    for line, text in zip(
        lines, ["Stocks rallied on Wall Street", "The Lakers won again"], strict=True
    ):
        match = re.fullmatch(r"(\S+) (\d\.\d{3})\s+(.*)", line)
        assert match, line
        assert match[1] in AG_NEWS_LABELS
        assert 0.0 < float(match[2]) <= 1.0
        assert match[3] == text


def test_the_entry_point_prints_what_the_command_in_this_process_prints(run_dir):
    """`python -m attentext` (the installed command's code path, a fresh interpreter) and the
    in-process runner the other tests use give the same output."""
    texts = ["Stocks rallied on Wall Street", "The Lakers won again"]
    process = run_cli("predict", run_dir, *texts)

    assert process.returncode == 0, process.stderr
    assert "Traceback" not in process.stderr
    assert process.stdout == ok("predict", run_dir, *texts)


def test_predict_input_file(run_dir, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text(
        "Oil prices jump as OPEC cuts output\n\nNASA launches a new probe\n", encoding="utf-8"
    )

    lines = ok("predict", run_dir, "--input", texts).strip().splitlines()

    assert len(lines) == 3  # one per input line: the blank one says so
    assert re.fullmatch(r"-\s+\(row 2 is empty: not classified\)", lines[1]), lines[1]
    assert lines[2].endswith("NASA launches a new probe")


def test_predict_input_lines_line_up_with_any_line_end(run_dir, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_bytes(b"Oil prices jump\r\r  \rNASA launches a probe\r\nThe Lakers won\n")

    stdout = ok("predict", run_dir, "--input", texts, "--json")

    records = [json.loads(line) for line in stdout.strip().splitlines()]
    assert [r["text"] for r in records] == [
        "Oil prices jump",
        "",
        "  ",
        "NASA launches a probe",
        "The Lakers won",
    ]
    for record in records[1:3]:
        assert record["label"] is None and record["score"] is None and record["top_k"] == []
    assert all(r["label"] in AG_NEWS_LABELS for r in records[::3])


def test_train_refuses_in_one_line_label_case_variants(tmp_path):
    # a warning until round 13 (R13-L2); data.distinct_lookalike_labels keeps them apart
    data = tmp_path / "d.csv"
    rows = [("a goal in extra time", "Sports"), ("the match", "sports"), ("a vote", "World")]
    data.write_text(labelled_csv(rows * 4), encoding="utf-8")

    result = cli("train", "tfidf-logreg", "--data", data, "--output", tmp_path / "out")

    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "'Sports' and 'sports'" in result.stderr, result.stderr


def test_predict_json_lines(run_dir, tmp_path):
    texts = tmp_path / "texts.txt"
    texts.write_text("Oil prices jump as OPEC cuts output\n", encoding="utf-8")

    stdout = ok(
        "predict", run_dir, "The Lakers won again", "--input", texts, "--json", "--top-k", "2"
    )

    records = [json.loads(line) for line in stdout.strip().splitlines()]
    assert [r["text"] for r in records] == [
        "The Lakers won again",
        "Oil prices jump as OPEC cuts output",
    ]
    for record in records:
        assert record["label"] in AG_NEWS_LABELS
        assert 0.0 < record["score"] <= 1.0
        assert [k["label"] for k in record["top_k"]][0] == record["label"]
        assert len(record["top_k"]) == 2
        assert record["top_k"][0]["score"] >= record["top_k"][1]["score"]


def test_summary_prints_the_keras_parameter_count():
    stdout = ok("summary", "seed-transformer")

    assert "659,592" in stdout
    assert "648,192" in stdout and "10,656" in stdout
    assert "(None, 256, 32)" in stdout


def test_recipes_lists_seed_transformer():
    assert "seed-transformer:" in ok("recipes")


@pytest.mark.parametrize(
    "case",
    ["missing_data", "unknown_recipe", "bad_set", "evaluate_non_run", "predict_no_texts"],
)
def test_user_errors_are_one_line_without_traceback(case, ag_news_dir, run_dir, tmp_path):
    args = {
        "missing_data": [
            "train",
            "seed-transformer",
            "--data",
            tmp_path / "nope",
            "--output",
            tmp_path / "o",
        ],
        "unknown_recipe": [
            "train",
            "seed-transfomer",
            "--data",
            ag_news_dir,
            "--output",
            tmp_path / "o",
        ],
        "bad_set": [
            "train",
            "seed-transformer",
            "--data",
            ag_news_dir,
            "--output",
            tmp_path / "o",
            "--set",
            "training.epoch=3",
        ],
        "evaluate_non_run": ["evaluate", tmp_path, "--data", ag_news_dir],
        "predict_no_texts": ["predict", run_dir],
    }[case]
    expected = {
        "missing_data": "not found",
        "unknown_recipe": "did you mean 'seed-transformer'",
        "bad_set": "did you mean 'epochs'",
        "evaluate_non_run": "not a finished attentext run",
        "predict_no_texts": "no texts",
    }[case]

    result = cli(*args)

    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    assert expected in lines[0]
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


def test_help_reflows_a_commands_paragraphs_and_keeps_every_word(monkeypatch):
    """A command's docstring is hard-wrapped at 100 columns; --help used to keep those line
    ends, breaking sentences mid-line ("...the training data; texts" / "from where ...")."""
    monkeypatch.setenv("COLUMNS", "200")

    result = cli("recalibrate", "--help")

    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "carved from the training data; texts from where the model will be used" in text
    assert re.search(r"data; texts\s*\n", result.stdout) is None
    assert "prob_LABEL" in " ".join(cli("predict", "--help").stdout.split())


def test_version_names_attentext_and_the_libraries_a_bug_report_needs():
    """`attentext --version` was "No such option"; a bug report needs the versions that decide a
    result (torch, transformers, tokenizers, onnxruntime), read without importing them."""
    result = cli("--version")

    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith(f"attentext {attentext.__version__} (")
    assert f"torch {metadata.version('torch')}" in line
    assert f"transformers {metadata.version('transformers')}" in line
    assert "Python 3." in line


def piped(monkeypatch, data: bytes) -> None:
    """Standard input holding `data`, as a pipe gives it (not a terminal)."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_predict_input_dash_reads_the_texts_piped_in_one_per_line(run_dir, tmp_path, monkeypatch):
    """`cat texts.txt | attentext predict RUN --input -` was "-: file not found": standard input
    is read as a text file is, one text per line, a blank line kept in its place."""
    lines = ["Stocks fell as oil rose", "", "The Lakers won again", "café prices rise"]
    as_file = tmp_path / "texts.txt"
    as_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from_file = cli("predict", run_dir, "--input", as_file, "--json")
    piped(monkeypatch, "\n".join(lines).encode("cp1252"))

    result = cli("predict", run_dir, "--input", "-", "--json", "--encoding", "cp1252")

    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["text"] for row in rows] == lines
    assert rows[1]["label"] is None
    assert result.stdout == from_file.stdout


@pytest.mark.parametrize(
    ("data", "args", "expected"),
    [
        (b"one text\n", ("--output", "out.jsonl"), "standard input cannot be"),
        (gzip.compress(b"one text\n"), (), "gzip-compressed; pipe it through gunzip -c"),
        (b"", (), "nothing was read; pipe the texts in"),
        (b"caf\xe9\n", (), "--encoding cp1252"),
    ],
    ids=["output", "gzip", "nothing", "cp1252"],
)
def test_predict_input_dash_says_in_one_line_what_it_cannot_read(
    run_dir, tmp_path, monkeypatch, data, args, expected
):
    piped(monkeypatch, data)

    result = cli("predict", run_dir, "--input", "-", *args, cwd=tmp_path)

    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_only_predict_reads_standard_input_for_a_dash(monkeypatch):
    """`recalibrate --texts -` and an unlabeled pool named `-` read standard input through the
    shared reader, by accident: a run recording `-` could not read its pool again. `-` is a file
    name there (not found), whatever is piped in."""
    piped(monkeypatch, b"a text piped in\n")

    with pytest.raises(DataError, match="-: file not found"):
        load_texts("-")
