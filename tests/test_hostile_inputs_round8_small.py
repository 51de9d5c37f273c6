"""Hostile inputs, round 8 (three items rounds 6 and 7 left). Each test failed before its fix:

R8-S1  `predict RUN --input - --top-k 0` (a bad --backend, a run folder that is not one): the
       option refused only after standard input had been read whole (a pipe cannot be read
       twice: the texts were gone for the corrected command). The run and every option are
       checked before any text is read.
R8-S2  `compare A B` where A and B have one accuracy: "best" (and the p-values against it) was
       whichever was given first. A tie on accuracy is broken by macro-F1, then the order
       given, and said on the terminal and in leaderboard.md.
R8-S3  One 100 MB text given to tfidf-logreg (training or predict): scikit-learn's vectorizer
       held every word and bigram of it as a Python string (2 GB and more). The baseline reads
       at most `model.options.max_chars` characters of a text (100,000 by default, recorded in
       the recipe), as the token models read at most max_length tokens, and says once per call
       how many texts were cut.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import run_cli_here

import attentext
from attentext.errors import RecipeError
from attentext.evaluation.leaderboard import write_leaderboard
from attentext.evaluation.metrics import classification_metrics
from attentext.evaluation.significance import with_significance


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    """A TF-IDF run on ag_news_tiny (seconds)."""
    folder = tmp_path_factory.mktemp("round8small")
    return Path(attentext.train("tfidf-logreg", ag_news_dir, folder / "tfidf").run_dir)


def piped(monkeypatch) -> io.BytesIO:
    """Standard input holding two texts, as a pipe gives them; returns its bytes' stream, whose
    position tells whether anything was read."""
    stream = io.BytesIO(b"Stocks fell as oil rose\nThe Lakers won again\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(stream))
    return stream


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--top-k", "0"), "--top-k must be at least 1, got 0"),
        (("--top-k", "-3"), "--top-k must be at least 1, got -3"),
        (("--backend", "tensorrt"), "unknown backend 'tensorrt'"),
    ],
    ids=["top-k-0", "top-k-negative", "backend"],
)
def test_r8_s1_a_bad_option_is_refused_before_standard_input_is_read(
    tfidf_run, monkeypatch, args, expected
):
    stream = piped(monkeypatch)

    result = run_cli_here("predict", tfidf_run, "--input", "-", *args)

    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and expected in result.stderr
    assert stream.tell() == 0  # the texts are still there for the corrected command


def test_r8_s1_a_folder_that_is_no_run_is_refused_before_standard_input_is_read(
    tmp_path, monkeypatch
):
    stream = piped(monkeypatch)

    result = run_cli_here("predict", tmp_path / "no-such-run", "--input", "-")

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "no-such-run" in result.stderr
    assert stream.tell() == 0


def _rows_and_outcomes(given: dict[str, list[int]], gold: list[int]):
    """Rows (as `leaderboard.measure_run` gives them) and outcomes of runs that gave the labels
    `given[name]` to texts whose labels are `gold`, ten times over."""
    truth = np.eye(2, dtype=int)[np.array(gold * 10)]
    rows, outcomes = [], []
    for name, labels in given.items():
        decided = np.eye(2, dtype=int)[np.array(labels * 10)]
        scores = classification_metrics(truth.argmax(axis=1), decided.argmax(axis=1))
        rows.append({"model": name, **scores})
        outcomes.append((truth, decided))
    return rows, outcomes


def test_r8_s2_a_tie_on_accuracy_is_broken_by_macro_f1_and_said(tmp_path):
    # both right on half the texts; "even" is right on both classes, "one-sided" on one only
    rows, outcomes = _rows_and_outcomes(
        {"one-sided": [0, 0, 0, 0], "even": [0, 1, 0, 1]}, gold=[0, 0, 1, 1]
    )
    assert rows[0]["accuracy"] == rows[1]["accuracy"] and rows[1]["macro_f1"] > rows[0]["macro_f1"]

    write_leaderboard(with_significance(rows, outcomes, multi_label=False), tmp_path)

    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert [row["model"] for row in board] == ["even", "one-sided"]
    assert board[0]["p_vs_best"] is None and board[1]["p_vs_best"] is not None
    table = (tmp_path / "leaderboard.md").read_text()
    assert "best: even, tied on accuracy with one-sided; ranked by macro-F1" in table


def test_r8_s2_multi_label_runs_tied_on_macro_f1_keep_the_order_given_and_say_so(tmp_path):
    rows, outcomes = _rows_and_outcomes({"b": [0, 1, 0, 1], "a": [0, 1, 1, 0]}, gold=[0, 0, 1, 1])
    rows = [{**row, "micro_f1": row["accuracy"]} for row in rows]  # what multi-label rows have
    assert rows[0]["macro_f1"] == rows[1]["macro_f1"]

    write_leaderboard(with_significance(rows, outcomes, multi_label=True), tmp_path)

    board = json.loads((tmp_path / "leaderboard.json").read_text())
    assert [row["model"] for row in board] == ["b", "a"] and board[0]["p_vs_best"] is None
    table = (tmp_path / "leaderboard.md").read_text()
    assert "best: b, tied on macro-F1 with a; ranked in the order given" in table


def test_r8_s2_compare_says_on_the_terminal_and_in_the_table_when_the_best_is_tied(
    tfidf_run, ag_news_dir, tmp_path
):
    copy = tmp_path / "copy"
    shutil.copytree(tfidf_run, copy)  # right and wrong on the very texts the run is

    result = run_cli_here("compare", tfidf_run, copy, "--data", ag_news_dir, "-o", tmp_path / "b")

    assert result.returncode == 0, result.stderr[-2000:]
    said = (
        "best: tfidf, tied on accuracy with copy; ranked by macro-F1, then in the order given "
        "(tied on macro-F1 too with copy)"
    )
    assert said in result.stdout
    assert said in (tmp_path / "b" / "leaderboard.md").read_text()
    untied = run_cli_here("compare", tfidf_run, "--data", ag_news_dir, "-o", tmp_path / "one")
    assert "tied" not in untied.stdout


# a text over the bound: a Business head of 100,000 characters and more, then Sports words the
# run knows, which change its scores where it is read whole
HEAD = "Stocks fell as oil prices rose and shares of the bank slid. " * 1_800
TAIL = "NFL players and coaches won the NBA title with the record numbers of wins. " * 2_000
LONG = HEAD + TAIL


def test_r8_s3_the_bound_is_recorded_in_the_runs_recipe_and_config(tfidf_run):
    recipe = yaml.safe_load((tfidf_run / "recipe.yaml").read_text(encoding="utf-8"))
    config = json.loads((tfidf_run / "tfidf_config.json").read_text(encoding="utf-8"))

    assert recipe["model"]["options"]["max_chars"] == 100_000
    assert config["params"]["max_chars"] == 100_000


def test_r8_s3_predict_reads_a_long_text_up_to_the_bound_and_says_so_once(tfidf_run, tmp_path):
    assert len(HEAD) > 100_000
    texts = tmp_path / "texts.txt"
    texts.write_text(f"{LONG}\nStocks fell\n{LONG}\n", encoding="utf-8")

    result = run_cli_here("predict", tfidf_run, "--input", texts, "--json")

    assert result.returncode == 0, result.stderr[-2000:]
    notes = [line for line in result.stderr.splitlines() if "max_chars" in line]
    assert notes == [
        "note: 2 text(s) of over 100,000 characters: tfidf-logreg reads the first 100,000 of "
        "each (model.options.max_chars)"
    ]
    scores = [json.loads(line)["score"] for line in result.stdout.splitlines()]
    head = attentext.load(tfidf_run).predict_proba([LONG[:100_000]])
    assert scores[0] == scores[2] == pytest.approx(float(head.max()), abs=1e-6)


def test_r8_s3_a_run_saved_before_the_bound_reads_with_it(tfidf_run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(tfidf_run, old)
    config_file = old / "tfidf_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["params"].pop("max_chars", None)  # what a run saved before it has
    config_file.write_text(json.dumps(config), encoding="utf-8")
    classifier = attentext.load(old)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        whole, cut = classifier.predict_proba([LONG, LONG[:100_000]])

    np.testing.assert_allclose(whole, cut, atol=1e-9)
    assert sum("max_chars" in str(w.message) for w in caught) == 1


def test_r8_s3_training_reads_texts_up_to_the_recipes_bound_with_a_note_per_call(
    ag_news_dir, tmp_path
):
    with pytest.raises(RecipeError, match="max_chars must be at least 1, got 0"):
        attentext.train(
            "tfidf-logreg", ag_news_dir, tmp_path / "zero", overrides=["model.options.max_chars=0"]
        )

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = attentext.train(
            "tfidf-logreg",
            ag_news_dir,
            tmp_path / "short",
            overrides=["model.options.max_chars=40"],
        )

    notes = [str(w.message) for w in caught if "max_chars" in str(w.message)]
    assert re.fullmatch(
        r"[\d,]+ text\(s\) of over 40 characters: tfidf-logreg reads the first 40 of each "
        r"\(model.options.max_chars\)",
        notes[0],
    )
    assert len(notes) < 10  # once per call (the fit, each split scored), never once per text
    recipe = yaml.safe_load((Path(run.run_dir) / "recipe.yaml").read_text(encoding="utf-8"))
    assert recipe["model"]["options"]["max_chars"] == 40


def test_r8_s2_auto_breaks_a_tie_on_its_metric_by_the_other_metric():
    """auto's best/ on a tie: the other metric decides (as compare's leaderboard does), then
    the earlier run; it was the earlier run alone."""
    from attentext.automl.auto import best_by

    rows = {
        "tfidf-logreg": {"accuracy": 0.9, "macro_f1": 0.80},
        "seed-transformer": {"accuracy": 0.9, "macro_f1": 0.85},
        "attention-rnn": {"accuracy": 0.8, "macro_f1": 0.90},
    }
    names = list(rows)
    assert best_by(names, rows, "accuracy") == "seed-transformer"
    assert best_by(names, rows, "macro_f1") == "attention-rnn"
    rows["attention-rnn"]["macro_f1"] = 0.85
    assert best_by(names, rows, "macro_f1") == "seed-transformer"  # tied: accuracy decides
    rows["attention-rnn"]["accuracy"] = 0.9
    assert best_by(names, rows, "macro_f1") == "seed-transformer"  # tied on both: the earlier


def test_r8_s6_a_measurement_cell_has_its_decimals_whatever_its_size():
    """Latency, size and seconds cells: 2 decimals under 10, 1 above; a p95 of exactly 1.0 ms
    read "1.0" beside another run's "0.7800" (4 decimals, as a score)."""
    from attentext.evaluation.leaderboard import row_cell

    row = {"latency_p50_ms": 0.78, "latency_p95_ms": 1.0, "size_mb": 12.78, "accuracy": 1.0}
    assert row_cell(row, "latency_p50_ms") == "0.78"
    assert row_cell(row, "latency_p95_ms") == "1.00"
    assert row_cell(row, "size_mb") == "12.8"
    assert row_cell(row, "accuracy") == "1.0000"


def test_r8_s7_a_huge_text_is_split_in_slices_that_give_str_split_s_words(monkeypatch):
    """The data's profile and copy check read a text's words a slice at a time (one 100 MB text
    was one list of 17 million strings before any model read it); the words, the counts and the
    normalised form are str.split()'s, whatever the whitespace at a slice's edge."""
    import random

    from attentext.data import texts
    from attentext.data.profile import word_lengths

    monkeypatch.setattr(texts, "SPLIT_SLICE", 7)
    pieces = ["a", "bc", "D", " ", "  ", "\t", "\n", "\u00a0", "\u2003", "\x1c", "é", "xxxxx"]
    rng = random.Random(0)
    for _ in range(2000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 60)))
        slices = list(texts.split_words(text))
        assert [word for words in slices for word in words] == text.split()
        assert texts.word_count(text) == len(text.split())
        assert texts.normalized(text) == " ".join(texts.standard_text(text).lower().split())
    assert len(list(texts.split_words("ab " * 100))) > 1  # sliced, not one list
    assert word_lengths(["one two three " * 10])["p50"] == 30
