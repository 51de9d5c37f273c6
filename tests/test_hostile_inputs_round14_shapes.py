"""Hostile inputs, round 14: extreme but real shapes of data through every output (R14-M).

R14-M1. A run of many classes (2,000 of 2 texts each): metrics.json held each split's whole
    confusion matrix, 4 million numbers a split written one a line (88 MB, 23 s to write), which
    the run's own reader refuses past 64 MB: `train` failed at its very end ("metrics.json is
    over 67,108,864 bytes; the run directory is damaged") after 75 s, nothing published. Now
    past 100 classes metrics.json holds the matrix's nonzero cells (`confusion_cells`).
R14-M2. Macro-F1's bootstrap interval counted a class none of whose texts a resample drew as an
    F1 of 0: with one text per class a run at macro-F1 1.0 was given 0.57-0.70 (report.md, the
    card, compare's interval and p). Now each resample averages the classes it holds.
R14-M3. The per-class tables of many classes: 2,000 classes printed 4,000 rows after `train`
    (validation and test), and the card and report.md held them all, beside a card sentence
    naming all 2,000 labels. Now at most 50 rows, the classes of most texts, and a line counting
    the rest (in metrics.json); the card names 50 labels and counts the rest.
R14-M4. explain's page gave every text a bar for every label: 2,000 rows a text. Now the 20 most
    probable and the text's own labels, and a row counting the rest.
R14-M6. The page at `/` of a served run of many labels drew a bar for every label in the run's
    order (150 here, 2,000 for a big run), the predicted one far down. Now the 20 most probable
    and the labels given, then a line counting the rest.
R14-M5. A validation split the model gets all right (two texts of one class beside a class of
    one training text; any small split of easy texts): the likelihood has no maximum, the
    temperature ran to its bound (T = 0.26: test NLL 1.79 where T = 1 gave 0.64) and the card
    said "ECE after 0.0000". Now T stays 1, said in one warning.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import attentext
from attentext.cli.common import per_class_table
from attentext.errors import AttentextWarning
from attentext.evaluation.calibration import calibrate, calibrate_isotonic
from attentext.evaluation.metrics import evaluation_report
from attentext.evaluation.multilabel_report import full_multilabel_report, write_multilabel_report
from attentext.evaluation.reports import write_report
from attentext.evaluation.significance import macro_f1_interval
from attentext.serving import create_app
from tests.conftest import (
    NODE_MISSING,
    labelled_csv,
    run_cli_here,
    try_it_page,
    write_file,
)

N_CLASSES = 150


def _many_classes_csv(folder: Path, name: str, per_class: int) -> Path:
    """`per_class` texts for each of N_CLASSES classes, each class with words of its own."""
    rows = ["text,label"]
    for c in range(N_CLASSES):
        for j in range(per_class):
            rows.append(f"k{c}a k{c}b k{c}c {name} {j} common,topic {c:03d}")
    return write_file(folder, name, "\n".join(rows) + "\n")


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> Path:
    """A tfidf-logreg run of 150 classes (3 training texts each), and its test file."""
    folder = tmp_path_factory.mktemp("many")
    _many_classes_csv(folder / "data", "train.csv", 3)
    _many_classes_csv(folder / "data", "test.csv", 1)
    attentext.train("tfidf-logreg", folder / "data", folder / "run")
    return folder


def _table_rows(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("| topic ")]


# ---------------------------------------------------------------------------------------------
# R14-M1: metrics.json of many classes
# ---------------------------------------------------------------------------------------------


def test_r14_m1_metrics_json_of_many_classes_holds_the_confusion_cells(many):
    metrics = json.loads((many / "run" / "metrics.json").read_text())

    for split in ("validation", "test"):
        report = metrics[split]
        assert "confusion_matrix" not in report
        cells = np.array(report["confusion_cells"])
        matrix = np.zeros((N_CLASSES, N_CLASSES), dtype=int)
        matrix[cells[:, 0], cells[:, 1]] = cells[:, 2]
        assert matrix.sum() == report["n_examples"]
        assert np.trace(matrix) == round(report["accuracy"] * report["n_examples"])
    assert (many / "run" / "metrics.json").stat().st_size < 200_000  # 1.2 MB before


def test_r14_m1_a_report_of_2000_classes_writes_a_small_metrics_json(tmp_path):
    names = [f"class {i}" for i in range(2000)]
    truth = np.arange(2000)
    report = evaluation_report(truth, np.roll(truth, 1), names)

    payload = json.dumps(report.to_dict())

    assert len(payload) < 400_000  # 4 million numbers (over 8 MB) before
    assert report.to_dict()["confusion_cells"][:2] == [[0, 1999, 1], [1, 0, 1]]
    assert np.asarray(report.confusion).shape == (2000, 2000)  # the Python object keeps it whole


def test_r14_m1_a_few_classes_keep_their_whole_matrix():
    report = evaluation_report(np.array([0, 1, 2, 2]), np.array([0, 2, 2, 2]), ["a", "b", "c"])

    assert report.to_dict()["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 0, 2]]


# ---------------------------------------------------------------------------------------------
# R14-M2: macro-F1's interval where classes have one text
# ---------------------------------------------------------------------------------------------


def test_r14_m2_macro_f1_interval_of_one_text_per_class_holds_the_score():
    eye = np.eye(200, dtype=int)
    truth = np.arange(200)

    assert macro_f1_interval(eye[truth], eye[truth]) == [1.0, 1.0]  # 0.565-0.695 before

    report = evaluation_report(truth, truth, [str(i) for i in range(200)])
    low, high = report.extra["macro_f1_interval"]
    assert low <= report.macro_f1 <= high


def test_r14_m2_the_cards_interval_holds_its_macro_f1(many):
    card = (many / "run" / "README.md").read_text()

    (test_part,) = re.findall(r"### test split.*?(?=###|## )", card, flags=re.S)
    score = float(re.search(r"Macro F1 (\d\.\d+)", test_part).group(1))
    low, high = map(float, re.search(r"bootstrap\): (\d\.\d+)-(\d\.\d+)", test_part).groups())
    assert low <= score <= high


# ---------------------------------------------------------------------------------------------
# R14-M3: per-class tables of many classes
# ---------------------------------------------------------------------------------------------


def test_r14_m3_the_card_shows_fifty_classes_a_split_and_counts_the_rest(many):
    card = (many / "run" / "README.md").read_text()

    assert len(_table_rows(card)) == 2 * 50  # validation and test: 300 rows before
    assert card.count("Shown: the 50 labels of most texts here, most first; 100 more labels") == 2
    (sentence,) = [line for line in card.splitlines() if "It sorts a text into one of" in line]
    assert sentence.count("`topic ") == 50 and "and 100 more (all in the front matter)" in sentence
    assert card.count("\n- topic ") == N_CLASSES  # the front matter still lists every label


def test_r14_m3_train_and_evaluate_print_fifty_rows_and_report_md_holds_fifty(many, tmp_path):
    evaluated = run_cli_here("evaluate", many / "run", "-d", many / "data", "-o", tmp_path / "r")

    assert evaluated.returncode == 0, evaluated.stderr
    assert evaluated.stdout.count("│ topic ") == 50  # 150 before
    assert "100 more classes in metrics.json" in evaluated.stdout
    report = (tmp_path / "r" / "report.md").read_text()
    assert len(_table_rows(report)) == 50
    assert "Shown: the 50 classes of most texts here, most first; 100 more classes" in report
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert len(metrics["per_class"]) == N_CLASSES  # every class stays in metrics.json


def test_r14_m3_the_classes_shown_are_those_of_most_texts(tmp_path):
    names = [f"topic {i:03d}" for i in range(80)]
    truth = np.concatenate([np.arange(80), np.full(5, 79), np.full(3, 40)])
    write_report(evaluation_report(truth, truth, names), tmp_path, "many")

    rows = _table_rows((tmp_path / "report.md").read_text())
    assert rows[0].startswith("| topic 079 |") and rows[1].startswith("| topic 040 |")
    assert len(rows) == 50


def test_r14_m3_a_multi_label_report_of_many_labels_shows_fifty(tmp_path):
    rng = np.random.default_rng(0)
    names = [f"topic {i:03d}" for i in range(120)]
    id_lists = [sorted(rng.choice(120, size=2, replace=False).tolist()) for _ in range(300)]
    report = full_multilabel_report(id_lists, rng.random((300, 120)), names, np.full(120, 0.5))

    write_multilabel_report(report, tmp_path, "many labels")

    text = (tmp_path / "report.md").read_text()
    assert len(_table_rows(text)) == 50
    assert "Shown: the 50 labels of most texts here, most first; 70 more labels" in text


def test_r14_m3_the_terminal_calls_a_multi_label_runs_rows_labels():
    per_class = {
        f"topic {i:03d}": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": i}
        for i in range(60)
    }

    _, rest = per_class_table({"problem_type": "multi_label", "per_class": per_class}, "test")
    _, rest_single = per_class_table({"per_class": per_class}, "test")

    assert rest == "the 50 labels of most texts here, most first; 10 more labels in metrics.json"
    assert rest_single.endswith("10 more classes in metrics.json")


# ---------------------------------------------------------------------------------------------
# R14-M4: explain's page of many labels
# ---------------------------------------------------------------------------------------------


def test_r14_m4_explains_page_shows_twenty_labels_and_counts_the_rest(many, tmp_path):
    attentext.explain(many / "run", ["k7a k7b k7c", "k9a common"], output_dir=tmp_path / "x")

    page = (tmp_path / "x" / "explanation.html").read_text()
    sections = page.split('<section id="text-')[1:]
    assert len(sections) == 2
    for section in sections:
        assert section.count('<div class="name"') == 20  # 150 before
        assert re.search(r"130 more labels, each at most 0\.\d{3}", section)
    assert 'class="best"><td><div class="name" title="topic 007">' in sections[0]


# ---------------------------------------------------------------------------------------------
# R14-M5: a temperature fitted on a split without a mistake
# ---------------------------------------------------------------------------------------------

ONE_NEGATIVE = [(f"a good film number {i} great", "pos") for i in range(30)] + [
    ("terrible awful bad", "neg")
]


def test_r14_m5_a_validation_split_all_right_leaves_the_temperature_at_one(tmp_path):
    data = tmp_path / "data"
    write_file(data, "train.csv", labelled_csv(ONE_NEGATIVE))
    write_file(data, "test.csv", labelled_csv([("good one", "pos"), ("bad awful", "neg")]))

    with pytest.warns(AttentextWarning, match="all classified right, so no temperature fits"):
        result = attentext.train("tfidf-logreg", data, tmp_path / "run")

    calibration = json.loads((tmp_path / "run" / "calibration.json").read_text())
    assert calibration["temperature"] == 1.0  # 0.258 before
    assert result.metrics["validation"]["accuracy"] == 1.0


def test_r14_m5_isotonic_too_and_a_split_with_a_mistake_is_fitted_as_before():
    logits = np.array([[3.0, 0.0], [2.0, 1.0], [0.0, 4.0]])
    with pytest.warns(AttentextWarning, match="all classified right"):
        assert calibrate_isotonic(np.array([0, 0, 1]), logits, "test").temperature == 1.0

    wrong = np.array([1, 0, 1])  # the first text is wrong: a temperature fits (a control)
    assert calibrate(wrong, logits, "validation").temperature != 1.0


# ---------------------------------------------------------------------------------------------
# R14-M6: the page at / of a run of many labels
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(NODE_MISSING, reason="needs node to run the page's script")
def test_r14_m6_the_try_it_page_draws_twenty_bars_most_probable_first(many):
    text = "k123a k123b k123c"
    with TestClient(create_app([many / "run"])) as client:
        page = try_it_page(client, text, top_k=N_CLASSES)

    assert page["label"] == "topic 123"
    assert len(page["bars"]) == 20 and page["bars"][0] == "topic 123"  # 150, topic 000 first
