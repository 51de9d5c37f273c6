"""Hostile inputs, round 5: the commands on top of training with other shapes of data.

Findings (each test failed before its fix):

- S1: macro-F1 counted a class absent from the texts scored, and never predicted there, as an F1
  of 0: on trec_fine (50 classes, a validation split of 75 texts holding 23 of them) `train`
  reported validation macro-F1 0.2393 for a run at 0.5201 on the classes there; on Reuters (65
  labels, 30 validation texts carrying 8) 0.0907 for a run right on most texts. `auto`, `tune`,
  `evaluate`, the card and the leaderboard read that number. Now the average is over the classes
  present in the gold labels or the predictions (`metrics.macro_f1`,
  `multilabel.multilabel_macro_f1`); the per-class table still lists every class.
"""

from __future__ import annotations

import numpy as np
import pytest

from attentext.evaluation.metrics import classification_metrics, evaluation_report
from attentext.evaluation.multilabel import multilabel_metrics, multilabel_report


def test_s1_macro_f1_ignores_a_class_absent_from_the_texts_and_never_predicted() -> None:
    names = ["a", "b", "c", "d"]  # c and d: no text of theirs, never predicted
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 0, 1, 1])
    report = evaluation_report(y_true, y_pred, names)
    assert report.macro_f1 == pytest.approx(1.0)
    assert report.macro_f1 == pytest.approx(classification_metrics(y_true, y_pred)["macro_f1"])
    assert set(report.per_class) == set(names)  # the table still lists every class
    # a class predicted but absent from the gold labels still counts (a false positive)
    wrong = evaluation_report(y_true, np.array([0, 2, 1, 1]), names)
    assert wrong.macro_f1 == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)


def test_s1_multi_label_macro_f1_ignores_a_label_no_text_carries_or_is_given() -> None:
    names = ["earn", "acq", "lumber"]  # lumber: on no text, given to none
    y_true = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0]])
    probabilities = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.1], [0.7, 0.6, 0.0]])
    cut = np.full(3, 0.5)
    report = multilabel_report(y_true, probabilities, names, cut)
    assert report["macro_f1"] == pytest.approx(1.0)
    assert report["per_class"]["lumber"]["support"] == 0
    y_pred = (probabilities >= cut).astype(np.int64)
    assert multilabel_metrics(y_true, y_pred)["macro_f1"] == pytest.approx(1.0)
