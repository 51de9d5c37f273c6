"""Evaluation reports, the TF-IDF baseline and the `compare` leaderboard."""

from __future__ import annotations

import csv
import json
import re
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli_here
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

import attentext
from attentext.cli.common import out as terminal
from attentext.errors import AttentextNote, AttentextWarning, DataError
from attentext.evaluation.metrics import (
    confident_mistakes,
    coverage_table,
    evaluation_report,
    expected_calibration_error,
)
from attentext.evaluation.reports import full_report, write_report
from attentext.evaluation.significance import accuracy_interval, macro_f1_bootstrap, mcnemar_p
from attentext.files import file_digest
from attentext.models.tfidf_logreg import TfidfLogRegClassifier
from attentext.recipes import load_recipe
from attentext.training.run import recipe_dataset

LABELS = ["World", "Sports", "Business", "Sci/Tech"]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (and a check that it is a PNG at all)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def tfidf_run(ag_news_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tfidf") / "tfidf"
    return Path(attentext.train("tfidf-logreg", ag_news_dir, out).run_dir)


def test_metrics_equal_scikit_learn_on_known_inputs():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, 4, 200))
    report = evaluation_report(y_true, y_pred, LABELS)
    assert report.accuracy == pytest.approx(accuracy_score(y_true, y_pred))
    assert report.macro_f1 == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert report.weighted_f1 == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred)
    for i, name in enumerate(LABELS):
        row = report.per_class[name]
        assert (row["precision"], row["recall"], row["f1"], row["support"]) == pytest.approx(
            (precision[i], recall[i], f1[i], support[i])
        )
    assert report.confusion == confusion_matrix(y_true, y_pred).tolist()


def test_calibration_error_of_a_calibrated_and_an_overconfident_model():
    y_true = np.array([0, 0, 0, 1])  # the top class is right 3 times in 4
    confident = np.array([[1.0, 0.0]] * 4)
    ece, bins = expected_calibration_error(confident, y_true)
    assert ece == pytest.approx(0.25)  # confidence 1.0, accuracy 0.75
    assert bins == [
        {
            "low": pytest.approx(14 / 15),
            "high": 1.0,
            "count": 4,
            "accuracy": 0.75,
            "confidence": 1.0,
        }
    ]
    calibrated = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(calibrated, y_true)[0] == pytest.approx(0.0)


def test_confident_mistakes_come_most_confident_first():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.99, 0.01]])
    mistakes = confident_mistakes(
        ["a", "b", "c", "d"], np.array([1, 1, 1, 0]), probabilities, ["x", "y"]
    )
    assert [m["text"] for m in mistakes] == ["a", "b"]
    assert mistakes[0] == {
        "index": 0,
        "text": "a",
        "label": "y",
        "predicted": "x",
        "confidence": 0.9,
    }


def test_coverage_table_counts_the_texts_kept_at_each_threshold_and_both_accuracies():
    """Five texts, top probabilities 0.95 (right), 0.9 (wrong), 0.85 (right), 0.6 (right), 0.55
    (wrong): at P = 0.9 two are kept (one right), the other three are right two times in three."""
    top = [0.95, 0.9, 0.85, 0.6, 0.55]
    probabilities = np.array([[p, 1 - p] for p in top])
    y_true = np.array([0, 1, 0, 0, 1])

    rows = {
        row["threshold"]: row for row in coverage_table(probabilities, y_true, (0.5, 0.9, 0.99))
    }

    assert rows[0.9] == {
        "threshold": 0.9,
        "kept": 2,
        "coverage": 0.4,
        "accuracy_kept": 0.5,
        "accuracy_rest": pytest.approx(2 / 3),
    }
    assert rows[0.5]["kept"] == 5 and rows[0.5]["accuracy_kept"] == 0.6
    assert rows[0.5]["accuracy_rest"] is None  # nothing sent to a person
    assert rows[0.99]["kept"] == 0 and rows[0.99]["accuracy_kept"] is None


def test_report_folder_holds_metrics_markdown_pngs_and_mistakes(tmp_path):
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 4, 100)
    probabilities = rng.dirichlet(np.ones(4), 100)
    report = full_report([f"text {i}" for i in range(100)], y_true, probabilities, LABELS)
    write_report(report, tmp_path, "a test")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(report.accuracy)
    assert "expected_calibration_error" in metrics
    width, height = png_size(tmp_path / "confusion_matrix.png")
    assert width > height > 200  # two matrices side by side
    assert png_size(tmp_path / "reliability.png")[0] > 200
    markdown = (tmp_path / "report.md").read_text()
    assert all(name in markdown for name in LABELS)
    lines = (tmp_path / "mistakes.jsonl").read_text().splitlines()
    assert len(lines) == min(50, int((probabilities.argmax(1) != y_true).sum()))


def test_tfidf_baseline_round_trips_predictions_exactly_without_pickle(tfidf_run, ag_news_dir):
    files = sorted(p.name for p in tfidf_run.iterdir())
    assert not any(name.endswith((".pkl", ".joblib", ".bin", ".pt")) for name in files)
    texts = [
        line.split('","')[1] for line in (ag_news_dir / "test.csv").read_text().splitlines()[:40]
    ]
    loaded = attentext.load(tfidf_run)
    assert isinstance(loaded, TfidfLogRegClassifier)
    metrics = json.loads((tfidf_run / "metrics.json").read_text())
    report = attentext.evaluate(tfidf_run, ag_news_dir)
    assert report.accuracy == pytest.approx(
        metrics["test"]["accuracy"]
    )  # same predictions as at training
    again = TfidfLogRegClassifier.load(tfidf_run)
    again.temperature = loaded.temperature  # the run's calibration, applied by attentext.load
    assert np.array_equal(loaded.predict_proba(texts), again.predict_proba(texts))
    assert set(loaded.predict(texts)) <= set(LABELS)


def test_tfidf_loading_refuses_files_that_disagree(tfidf_run, tmp_path):
    import shutil

    from attentext.errors import RunDirError

    broken = tmp_path / "broken"
    shutil.copytree(tfidf_run, broken)
    vocabulary = json.loads((broken / "vocabulary.json").read_text())
    vocabulary["an extra term"] = len(vocabulary)
    (broken / "vocabulary.json").write_text(json.dumps(vocabulary))
    with pytest.raises(RunDirError, match="disagree"):
        attentext.load(broken)


def test_compare_two_runs_writes_a_leaderboard_with_both_rows_and_plots(
    tfidf_run, run_dir, ag_news_dir, tmp_path
):
    out = tmp_path / "leaderboard"
    result = run_cli_here("compare", tfidf_run, run_dir, "--data", ag_news_dir, "--output", out)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((out / "leaderboard.json").read_text())
    assert {row["model"] for row in rows} == {tfidf_run.name, run_dir.name}
    for row in rows:
        assert 0.0 <= row["accuracy"] <= 1.0 and row["texts_per_second"] > 0 and row["size_mb"] > 0
        assert row["latency_p95_ms"] >= row["latency_p50_ms"] > 0
    assert rows[0]["accuracy"] >= rows[1]["accuracy"]  # sorted best first
    with open(out / "leaderboard.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 2
    assert tfidf_run.name in (out / "leaderboard.md").read_text()
    for plot in ("accuracy_vs_train_time.png", "accuracy_vs_throughput.png"):
        assert png_size(out / plot)[0] > 200


def test_compare_gives_each_accuracy_its_interval_and_a_paired_p_against_the_best(
    tfidf_run, run_dir, ag_news_dir, tmp_path, monkeypatch
):
    """An 80-text test split knows an accuracy to about +-0.1: the leaderboard said 0.8750 against
    0.8500 as if it were a ranking. Each row has its 95 % interval (Wilson) and McNemar's p
    against the best run on the same texts; an 80-column terminal shows them (and whole model
    names) instead of 13 columns cut to three characters each."""
    monkeypatch.setattr(terminal, "_width", 80)  # the console's width, read once at import
    out = tmp_path / "leaderboard"

    result = run_cli_here("compare", tfidf_run, run_dir, "--data", ag_news_dir, "--output", out)

    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((out / "leaderboard.json").read_text())
    hits = [significance_hits(row_dir, ag_news_dir) for row_dir in (tfidf_run, run_dir)]
    by_name = {row["model"]: row for row in rows}
    for name, run_hits in zip((tfidf_run.name, run_dir.name), hits, strict=True):
        row = by_name[name]
        assert row["accuracy"] == pytest.approx(run_hits.mean())
        assert (row["accuracy_low"], row["accuracy_high"]) == pytest.approx(
            accuracy_interval(run_hits)
        )
        assert row["accuracy_low"] < row["accuracy"] < row["accuracy_high"]
        assert row["macro_f1_low"] <= row["macro_f1"] <= row["macro_f1_high"]
    assert rows[0]["p_vs_best"] is None
    assert rows[1]["p_vs_best"] == pytest.approx(mcnemar_p(*hits))
    with open(out / "leaderboard.csv") as handle:
        assert {"accuracy_low", "accuracy_high", "p_vs_best"} <= set(
            csv.DictReader(handle).fieldnames
        )
    assert "| 95% interval | p vs best |" in (out / "leaderboard.md").read_text()
    shown = result.stdout
    assert "best" in shown and "more columns" in shown and "…" not in shown
    assert max(len(line) for line in shown.splitlines()) <= 80


def significance_hits(run: Path, data: Path) -> np.ndarray:
    """Which test texts `run` classifies right, computed apart from compare."""
    texts, gold = tiny_test_split(data)
    classifier = attentext.load(run)
    return np.array(classifier.predict(texts)) == np.array(gold)


def tiny_test_split(data: Path) -> tuple[list[str], list[str]]:
    with open(data / "test.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    names = (data / "classes.txt").read_text().split("\n")
    return [f"{t} {d}".strip() for _, t, d in rows], [names[int(c) - 1] for c, _, _ in rows]


def test_accuracy_interval_and_mcnemar_match_their_formulas():
    """Wilson's interval by its closed form; McNemar's exact p on 8 against 2 discordant texts
    is 2 * P(X <= 2), X ~ Binomial(10, 1/2) = 2 * 56 / 1024."""
    hits = np.array([True] * 70 + [False] * 30)
    z, p, n = 1.959963984540054, 0.7, 100
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    assert accuracy_interval(hits) == pytest.approx((centre - half, centre + half))

    a = np.array([True] * 8 + [False] * 2 + [True] * 5)
    b = np.array([False] * 8 + [True] * 2 + [True] * 5)
    assert mcnemar_p(a, b) == pytest.approx(2 * 56 / 1024)
    assert mcnemar_p(a, a) == 1.0


def test_compare_refuses_a_folder_of_other_files_unless_overwrite(tfidf_run, ag_news_dir, tmp_path):
    """An audit: `compare --output DIR` silently replaced a leaderboard.md of the user's in a
    folder of their files. A folder holding files compare never writes is refused in one line
    naming them and --overwrite; with --overwrite compare writes beside them."""
    out = tmp_path / "results"
    out.mkdir()
    (out / "leaderboard.md").write_text("our own notes", encoding="utf-8")
    (out / "paper.tex").write_text("a draft", encoding="utf-8")

    refused = run_cli_here("compare", tfidf_run, "--data", ag_news_dir, "--output", out)

    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), refused.stderr
    assert str(out) in lines[0] and "paper.tex" in lines[0] and "--overwrite" in lines[0]
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.md", "paper.tex"]
    assert (out / "leaderboard.md").read_text(encoding="utf-8") == "our own notes"
    forced = run_cli_here(
        "compare", tfidf_run, "--data", ag_news_dir, "--output", out, "--overwrite"
    )
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert (out / "paper.tex").read_text(encoding="utf-8") == "a draft"
    assert tfidf_run.name in (out / "leaderboard.md").read_text(encoding="utf-8")


def test_compare_runs_again_into_its_own_folder(tfidf_run, ag_news_dir, tmp_path):
    """Guard: a folder holding only compare's own files (an earlier leaderboard) is written
    again without a flag."""
    out = tmp_path / "leaderboard"
    for _ in range(2):
        result = run_cli_here("compare", tfidf_run, "--data", ag_news_dir, "--output", out)
        assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "leaderboard.json").read_text())[0]["model"] == tfidf_run.name


def test_evaluate_cli_writes_the_report(run_dir, ag_news_dir, tmp_path):
    result = run_cli_here(
        "evaluate", run_dir, "--data", ag_news_dir, "--output", tmp_path / "report"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "accuracy" in result.stdout
    shown = " ".join(result.stdout.split())
    assert "decided above a probability: p >= 0.8:" in shown
    assert re.search(r"accuracy 0\.\d{4} \(95 % interval 0\.\d{4}-[01]\.\d{4}\)", shown)
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    kept = [row["kept"] for row in metrics["coverage"]]
    assert kept == sorted(kept, reverse=True) and kept[0] <= metrics["n_examples"]
    assert "| P | texts kept |" in (tmp_path / "report" / "report.md").read_text()
    low, high = metrics["accuracy_interval"]
    assert low < metrics["accuracy"] < high
    for name in (
        "report.md",
        "metrics.json",
        "confusion_matrix.png",
        "reliability.png",
        "mistakes.jsonl",
    ):
        assert (tmp_path / "report" / name).exists(), name


def test_evaluate_takes_a_file_that_holds_only_some_of_the_classes(run_dir, tmp_path):
    """Data to measure a trained run on need not hold every class (training data must)."""
    from conftest import labelled_csv

    rows = [("Stocks fell as oil prices rose", "Business"), ("The team won the cup", "Sports")]
    path = tmp_path / "two_classes.csv"
    path.write_text(labelled_csv(rows * 5), encoding="utf-8")
    report = attentext.evaluate(run_dir, path).to_dict()
    assert report["n_examples"] == 10 and 0.0 <= report["accuracy"] <= 1.0


def test_a_folder_without_the_split_named_is_refused_not_read_as_its_train_file(
    tfidf_run, ag_news_dir, tmp_path
):
    """`evaluate RUN --data FOLDER` of a folder holding train.csv alone measured the run on the
    texts it learned (0.99 on ag_news_tiny) without a word: a folder gave its only file for any
    split named."""
    only_train = tmp_path / "only_train"
    only_train.mkdir()
    (only_train / "train.csv").write_bytes((ag_news_dir / "train.csv").read_bytes())
    with pytest.raises(DataError, match=r"no 'test' split \(found: train\)"):
        attentext.evaluate(tfidf_run, only_train)
    result = run_cli_here("evaluate", tfidf_run, "--data", only_train)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


def test_evaluate_split_validation_measures_the_split_the_run_carved(tfidf_run, ag_news_dir):
    """`--split validation` of a folder without a validation file was 'no validation split',
    though training carved one: it measures those texts now, carved as the run carved them."""
    recipe = load_recipe(tfidf_run / "recipe.yaml")
    carved = recipe_dataset(recipe, ag_news_dir)["validation"]
    with pytest.warns(AttentextNote, match=r"carved from its train split .*share 0\.05"):
        report = attentext.evaluate(tfidf_run, ag_news_dir, split="validation")
    assert report.n_examples == len(carved)
    classifier = attentext.load(tfidf_run)
    predicted = classifier.predict_proba(carved["text"]).argmax(axis=1)
    assert report.accuracy == pytest.approx(np.mean(predicted == np.asarray(carved["label"])))
    with pytest.raises(DataError, match="temperature was fitted there"):  # not to refit on
        attentext.recalibrate(tfidf_run, ag_news_dir, split="validation")


def test_evaluate_of_the_texts_a_run_trained_on_says_so(tfidf_run, ag_news_dir):
    with pytest.warns(AttentextWarning, match="these figures say how well it fits them"):
        attentext.evaluate(tfidf_run, ag_news_dir / "train.csv")
    with pytest.warns(AttentextWarning, match="its train split is what"):
        attentext.evaluate(tfidf_run, ag_news_dir, split="train")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AttentextWarning)
        attentext.evaluate(tfidf_run, ag_news_dir)  # its test split: nothing to say


def test_a_copy_of_the_training_file_is_known_by_its_bytes_not_its_path(
    tfidf_run, ag_news_dir, tmp_path
):
    """The run records its training file's SHA-256: evaluate knows the file copied elsewhere (or
    named by a relative path from another folder, which the path alone missed) and warns; the
    copy's test split is still measured without a word."""
    copy = tmp_path / "copy"
    shutil.copytree(ag_news_dir, copy)
    metrics = json.loads((tfidf_run / "metrics.json").read_text())
    assert metrics["data_sha256"] == file_digest(ag_news_dir / "train.csv")

    with pytest.warns(AttentextWarning, match="its train split is what"):
        attentext.evaluate(tfidf_run, copy, split="train")
    with pytest.warns(AttentextWarning, match="its rows are what"):
        attentext.evaluate(tfidf_run, copy / "train.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error", AttentextWarning)
        attentext.evaluate(tfidf_run, copy)


def test_the_macro_f1_bootstrap_holds_the_score_and_pairs_the_runs():
    """Macro-F1 has no closed-form interval: texts resampled (the same resamples for every run).
    Its interval holds the score; a run equal to the best has p 1, one right on 80 % of the
    texts against one right on all has the smallest p 1,000 resamples can give."""
    rng = np.random.default_rng(1)
    gold = rng.integers(0, 4, 500)
    given = np.where(rng.random(500) < 0.8, gold, rng.integers(0, 4, 500))
    one_hot = np.eye(4, dtype=int)
    runs = [(one_hot[gold], one_hot[given]), (one_hot[gold], one_hot[gold])]

    intervals, p_values = macro_f1_bootstrap([*runs, runs[1]], best=1)

    score = f1_score(gold, given, average="macro")
    assert intervals[0][0] < score < intervals[0][1] and intervals[1] == (1.0, 1.0)
    assert p_values == [pytest.approx(2 / 1001), None, 1.0]
