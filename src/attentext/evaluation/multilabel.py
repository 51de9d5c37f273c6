"""Several labels per text: metrics (scikit-learn) and the decision thresholds tuned on validation.

A multi-label model gives each label a probability (sigmoid); the labels of a text are those at or
over their threshold. 0.5 is rarely best: rare labels get low probabilities, so thresholds are
tuned on the validation split, one global value (the best micro-F1) and, where it helps that
label's F1 on validation and the label has enough positive examples there, one per label.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, hamming_loss, precision_recall_fscore_support

from attentext.evaluation.significance import macro_f1_interval

THRESHOLD_GRID = np.round(np.arange(0.05, 0.96, 0.05), 2)
MIN_POSITIVES_PER_LABEL = 5  # fewer validation positives: the label keeps the global threshold


def multi_hot(id_lists: Any, n_labels: int, dtype: Any = np.int64) -> np.ndarray:
    """(rows, n_labels) 0/1 targets from each row's list of label ids."""
    targets = np.zeros((len(id_lists), n_labels), dtype=dtype)
    for row, ids in enumerate(id_lists):
        targets[row, list(ids)] = 1
    return targets


def multilabel_macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over the labels some text carries or is given (0.0 where none is).

    A label no text carries and none is given has no F1 to speak of; counted as 0 (scikit-learn
    over every column) it dragged macro-F1 down by the share of such labels: Reuters, 65 labels,
    a validation split of 30 texts carrying 8 of them, gave 0.09 for a run right on most texts.
    """
    present = np.flatnonzero((np.asarray(y_true).sum(axis=0) + np.asarray(y_pred).sum(axis=0)) > 0)
    if not len(present):
        return 0.0
    return float(f1_score(y_true[:, present], y_pred[:, present], average="macro", zero_division=0))


def multilabel_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The headline numbers, as used for model selection during training."""
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),  # subset accuracy: every label right
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "macro_f1": multilabel_macro_f1(np.asarray(y_true), np.asarray(y_pred)),
    }


def tune_thresholds(
    y_true: np.ndarray, probabilities: np.ndarray, label_names: list[str]
) -> dict[str, Any]:
    """A global threshold (best micro-F1 on these rows) and per-label ones where they help."""
    scores = [
        f1_score(y_true, probabilities >= t, average="micro", zero_division=0)
        for t in THRESHOLD_GRID
    ]
    best = float(THRESHOLD_GRID[int(np.argmax(scores))])
    per_label: dict[str, float] = {}
    for j, name in enumerate(label_names):
        if y_true[:, j].sum() < MIN_POSITIVES_PER_LABEL:
            continue
        f1 = [
            f1_score(y_true[:, j], probabilities[:, j] >= t, zero_division=0)
            for t in THRESHOLD_GRID
        ]
        global_f1 = f1_score(y_true[:, j], probabilities[:, j] >= best, zero_division=0)
        if max(f1) > global_f1:
            per_label[name] = float(THRESHOLD_GRID[int(np.argmax(f1))])
    return {"global": best, "per_label": per_label, "tuned_on": len(y_true)}


def multilabel_report(
    y_true: np.ndarray, probabilities: np.ndarray, label_names: list[str], cut: np.ndarray
) -> dict[str, Any]:
    """Micro/macro/samples F1, subset accuracy, Hamming loss, cardinalities and per-label table.

    Keys shared with the single-label report (`accuracy`: subset accuracy, `macro_f1`,
    `per_class`: per label) let the CLI, the server and the leaderboard read either.
    """
    y_pred = (probabilities >= cut).astype(np.int64)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=0
    )
    return {
        "problem_type": "multi_label",
        **multilabel_metrics(y_true, y_pred),
        "macro_f1_interval": macro_f1_interval(np.asarray(y_true), y_pred),
        "samples_f1": float(f1_score(y_true, y_pred, average="samples", zero_division=0)),
        "hamming_loss": float(hamming_loss(y_true, y_pred)),
        "label_cardinality": float(y_true.sum(axis=1).mean()) if len(y_true) else 0.0,
        "predicted_cardinality": float(y_pred.sum(axis=1).mean()) if len(y_pred) else 0.0,
        "n_examples": int(len(y_true)),
        "per_class": {
            name: {
                "precision": float(precision[j]),
                "recall": float(recall[j]),
                "f1": float(f1[j]),
                "support": int(support[j]),
            }
            for j, name in enumerate(label_names)
        },
        "label_names": list(label_names),
    }
