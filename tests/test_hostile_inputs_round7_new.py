"""Hostile inputs, round 7 (the features of the same day): `compare`'s intervals and p-values,
`evaluate`'s coverage and intervals, `predict --input -`, `--version`, tried as a demanding user
would. Each test failed before its fix:

R7-N1  `compare` on a terminal 60 or 150 columns wide cut the interval to "0.579-…" or
       "0.5101-1.…"; runs of several labels per text showed two empty columns (no interval, no
       p) in the six an 80-column terminal has. The columns shown are those with a value that
       fit the width with no number cut, the last of them left out first.
R7-N2  `predict RUN --input - <&-` (standard input closed: `sys.stdin` is None): an
       AttributeError traceback. One line: standard input is closed; pipe the texts in.
R7-N3  `cat data.csv | predict RUN --input - --text-column body`: the option ignored without a
       word, each line of the CSV (its header too) classified as a text. Refused in one line:
       standard input is one text per line; save it to a file and give --input FILE.
R7-N4  `evaluate` of 400 texts of which 1 has a top probability of 0.97: "p >= 0.95: 0% of
       texts at accuracy 1.000" (an accuracy of none). A share that is not none or all is
       never written 0% or 100%: "<1% of texts at accuracy 1.000".
R7-N5  The model card of a run whose metrics.json was edited by hand: an interval of NaN, of
       two ends reversed or outside [0, 1] was printed ("nan-1.0000", "0.9000-0.1000",
       "-5.0000-7.0000") on the card the Hub shows. Only an interval that is one is shown.
R7-N6  `compare --limit 4` where a run gets every text right: leaderboard.md and the terminal
       wrote its accuracy and macro-F1 "1.0" beside "0.5000" and its interval "0.5101-1.0000".
       Scores have 4 decimals.
R7-N7  `auto`'s leaderboard (compare on the validation split) was headed "test acc" (and its
       plots "test accuracy") beside auto.md's test accuracy of the best run: 0.8000 on 10
       validation texts read as a test figure. The column is "accuracy": compare measures
       what it is given.
R7-N8  `compare x/best y/best` (two `auto` outputs) gave two rows named "best", one of them
       with "best" in its p column; `compare tf1 ./tf1/` compared a run with itself (p 1.000).
       Runs whose folders share a name are shown by the path given; a run given twice is
       refused in one line.
R7-N9  `compare --split train` (or the runs' training file as --data): intervals and p-values
       of the texts the runs learned (0.9900, 0.964-0.997, p 3.2e-30) without a word, where
       `evaluate` warns. Each run measured on its training texts is said so, as evaluate does.
R7-N10 A run wrong on every one of AG News' 7,600 test texts beside one right on 90 %:
       McNemar's p underflows to 0.0, written "0.0e+00" (p = 0) in leaderboard.md and on the
       terminal. Written "<1e-300".
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli_here

import attentext
from attentext.cli.common import out as terminal
from attentext.cli.evaluate import _coverage_line
from attentext.evaluation.evaluate import compare
from attentext.evaluation.leaderboard import leaderboard_markdown
from attentext.evaluation.metrics import coverage_table
from attentext.evaluation.significance import with_significance


@pytest.fixture(scope="module")
def tfidf_runs(ag_news_dir, tmp_path_factory) -> list[Path]:
    """A TF-IDF run, its copy under a long folder name, and a weak run (C=0.01)."""
    folder = tmp_path_factory.mktemp("round7new")
    first = Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)
    copy = folder / "a-run-with-a-rather-long-folder-name-2026-12-07"
    shutil.copytree(first, copy)
    weak = attentext.train(
        "tfidf-logreg", ag_news_dir, folder / "weak", overrides=["model.options.C=0.01"]
    )
    return [first, copy, Path(weak.run_dir)]


@pytest.fixture(scope="module")
def multi_label_data(ag_news_dir, tmp_path_factory) -> Path:
    """ag_news_tiny with a second label, `long`, on texts of over 200 characters."""
    folder = tmp_path_factory.mktemp("multi") / "data"
    folder.mkdir()
    names = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}
    for split in ("train", "test"):
        with open(ag_news_dir / f"{split}.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        with open(folder / f"{split}.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            for label, title, body in rows:
                labels = [names[label], *(["long"] if len(body) > 200 else [])]
                writer.writerow([f"{title}. {body}", "|".join(labels)])
    return folder


@pytest.mark.parametrize("width", [60, 80, 150])
def test_r7_n1_compare_shows_every_interval_whole_at_any_width(
    tfidf_runs, ag_news_dir, tmp_path, monkeypatch, width
):
    monkeypatch.setattr(terminal, "_width", width)
    out = tmp_path / "board"

    result = run_cli_here("compare", *tfidf_runs, "--data", ag_news_dir, "-o", out, "--limit", "4")

    assert result.returncode == 0, result.stderr[-2000:]
    shown = result.stdout
    assert "…" not in shown
    assert max(len(line) for line in shown.splitlines()) <= width
    digits = 4 if width >= 200 else 3
    for row in json.loads((out / "leaderboard.json").read_text()):
        low, high = row["accuracy_low"], row["accuracy_high"]
        assert f"{low:.{digits}f}-{high:.{digits}f}" in shown or f"{low:.4f}-{high:.4f}" in shown


def test_r7_n1_a_terminal_too_narrow_for_the_accuracy_folds_names_not_numbers(
    tfidf_runs, ag_news_dir, tmp_path, monkeypatch
):
    monkeypatch.setattr(terminal, "_width", 24)

    result = run_cli_here("compare", *tfidf_runs, "--data", ag_news_dir, "-o", tmp_path / "b")

    assert result.returncode == 0, result.stderr[-2000:]
    assert "…" not in result.stdout and "accuracy" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 24


def test_r7_n1_compare_of_multi_label_runs_shows_no_empty_columns(
    multi_label_data, tmp_path, monkeypatch
):
    runs = [
        attentext.train("tfidf-logreg", multi_label_data, tmp_path / name, multi_label=True)
        for name in ("ml1", "ml2")
    ]
    monkeypatch.setattr(terminal, "_width", 80)

    result = run_cli_here(
        "compare", *(r.run_dir for r in runs), "--data", multi_label_data, "-o", tmp_path / "b"
    )

    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "b" / "leaderboard.json").read_text())
    assert all("accuracy_low" not in row for row in rows)  # no accuracy interval: no column
    assert all(row["macro_f1_low"] <= row["macro_f1"] <= row["macro_f1_high"] for row in rows)
    header = result.stdout.split("───")[0]
    assert "macro-F1" in header and "p vs" in header and "best" in result.stdout
    assert " 95% interval" not in header.replace("macro-F1 95% interval", "")


def test_r7_n2_predict_from_a_closed_standard_input_is_one_line(tfidf_runs, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)  # what Python makes of a closed file descriptor 0

    result = run_cli_here("predict", tfidf_runs[0], "--input", "-")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: standard input: is closed; pipe the texts in, one per line "
        "(cat texts.txt | attentext predict RUN --input -)"
    ]


def test_r7_n3_a_text_column_given_with_standard_input_is_refused(tfidf_runs, monkeypatch):
    piped = io.TextIOWrapper(io.BytesIO(b"body,label\nstocks fell,Business\n"))
    monkeypatch.setattr(sys, "stdin", piped)

    result = run_cli_here("predict", tfidf_runs[0], "--input", "-", "--text-column", "body")

    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "--text-column body: standard input is read as one text per line" in result.stderr


def test_r7_n4_a_few_sure_texts_of_many_are_not_said_to_be_none():
    probabilities = np.full((400, 4), 0.25)
    probabilities[0] = [0.97, 0.01, 0.01, 0.01]  # the one sure text, right
    probabilities[1:5] = [0.005, 0.005, 0.005, 0.985]  # 4 more, wrong: 5 of 400 kept at 0.95
    gold = np.zeros(400, dtype=int)

    (line,) = _coverage_line({"coverage": coverage_table(probabilities, gold)})

    assert "p >= 0.8: 1% of texts at accuracy 0.200" in line
    probabilities[1:5] = 0.25
    (line,) = _coverage_line({"coverage": coverage_table(probabilities, gold)})
    assert "p >= 0.95: <1% of texts at accuracy 1.000" in line
    assert "0% of texts at" not in line


@pytest.mark.parametrize("interval", [[float("nan"), 1.0], [0.9, 0.1], [-5, 7]])
def test_r7_n5_the_card_shows_no_interval_that_is_not_one(tfidf_runs, tmp_path, interval):
    run = tmp_path / "edited"
    shutil.copytree(tfidf_runs[0], run)
    whole = run_cli_here("card", run).stdout
    assert "Accuracy's 95 % interval (Wilson): 0." in whole  # as trained
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("validation", "test"):
        metrics[split]["accuracy_interval"] = interval
        metrics[split]["macro_f1_interval"] = interval
    (run / "metrics.json").write_text(json.dumps(metrics))

    result = run_cli_here("card", run, "--write", "--overwrite")

    assert result.returncode == 0, result.stderr[-2000:]
    assert "interval" not in (run / "README.md").read_text()


def test_r7_n6_a_perfect_score_has_the_decimals_of_the_others(tfidf_runs, ag_news_dir, tmp_path):
    out = tmp_path / "board"

    result = run_cli_here("compare", *tfidf_runs, "--data", ag_news_dir, "-o", out, "--limit", "4")

    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((out / "leaderboard.json").read_text())
    assert 1.0 in [row["accuracy"] for row in rows]  # the 4 texts drawn with seed 0, all right
    table = (out / "leaderboard.md").read_text()
    for row in rows:
        assert f"| {row['accuracy']:.4f} | {row['accuracy_low']:.4f}-" in table
        assert f"| {row['macro_f1']:.4f} |" in table
    # the score columns only: a latency of exactly 1.0 ms is written "1.0" (a timing, not a score)
    header, _, *lines = [line.split(" | ") for line in table.splitlines() if line.startswith("|")]
    scores = [i for i, name in enumerate(header) if name in ("accuracy", "macro-F1")]
    assert len(scores) == 2
    assert all(cells[i] != "1.0" for cells in lines for i in scores)
    assert "1.0000" in result.stdout  # the perfect accuracy on the terminal too


def test_r7_n7_a_leaderboard_on_validation_is_not_headed_test(tfidf_runs, ag_news_dir, tmp_path):
    dataset = attentext.load_text_dataset(ag_news_dir, val_fraction=0.1)  # as auto reads it

    compare(tfidf_runs[::2], dataset, tmp_path / "board", split="validation")

    header = (tmp_path / "board" / "leaderboard.md").read_text().splitlines()[0]
    assert "| accuracy | 95% interval |" in header and "test" not in header


def test_r7_n8_runs_of_one_folder_name_are_told_apart_and_a_run_twice_is_refused(
    tfidf_runs, ag_news_dir, tmp_path
):
    for folder, run in (("x", tfidf_runs[0]), ("y", tfidf_runs[2])):
        shutil.copytree(run, tmp_path / folder / "best")  # what two `auto` runs leave

    result = run_cli_here(
        "compare", "x/best", "y/best", "--data", ag_news_dir, "-o", "board", cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    assert [row["model"] for row in rows] == ["x/best", "y/best"]
    twice = run_cli_here("compare", "x/best", "./x/best/", "--data", ag_news_dir, cwd=tmp_path)
    assert twice.returncode == 2
    assert twice.stderr.splitlines() == ["error: x/best: given twice; give each run once"]


def test_r7_n9_compare_on_the_texts_the_runs_trained_on_says_so(tfidf_runs, ag_news_dir, tmp_path):
    runs = tfidf_runs[::2]
    result = run_cli_here(
        "compare", *runs, "--data", ag_news_dir, "--split", "train", "-o", tmp_path / "b"
    )

    assert result.returncode == 0, result.stderr[-2000:]
    for run in runs:
        assert f"its train split is what {run} was trained on" in result.stderr
    on_test = run_cli_here("compare", *runs, "--data", ag_news_dir, "-o", tmp_path / "t")
    assert "trained on" not in on_test.stderr


def test_r7_n10_a_p_value_that_underflows_is_not_written_zero():
    good = np.arange(7600) % 10 != 0  # 90 % right
    wrong = np.zeros(7600, dtype=bool)  # every text wrong
    rows = [
        {"model": name, "accuracy": float(hits.mean())}
        for name, hits in (("good", good), ("wrong", wrong))
    ]

    truth = np.eye(2, dtype=int)[np.zeros(7600, dtype=int)]  # every text's label is the first
    outcomes = [(truth, np.eye(2, dtype=int)[(~hits).astype(int)]) for hits in (good, wrong)]
    table = leaderboard_markdown(with_significance(rows, outcomes, multi_label=False))

    assert "| \\<1e-300 |" in table and "0.0e+00" not in table  # Markdown shows "<1e-300"
