"""Metrics of a classifier on labelled texts: accuracy, F1 and a per-class table (scikit-learn)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score

from attentext.confidence import top_label_hits
from attentext.evaluation.significance import accuracy_interval, macro_f1_interval

# the most classes whose confusion matrix metrics.json holds whole (10,000 cells; trec_fine has
# 50); beyond, its nonzero cells (`confusion_cells`), as many as the texts at most: 2,000 classes
# made a matrix of 4 million numbers per split, an 88 MB metrics.json (23 s to write) that the
# run's own reader then refused as over its 64 MB, so training failed at its very end
DENSE_CONFUSION_CLASSES = 100

# the scores a report shows of itself (`repr`, a notebook's cell), in this order, where it has them
HEADLINE = ("accuracy", "macro_f1", "micro_f1", "weighted_f1", "n_examples")


def headline(values: dict[str, Any]) -> str:
    """A report's headline scores, `accuracy=0.9123, macro_f1=0.9101, n_examples=7600`.

    A report's default repr held all of it: the per-class table, the confusion matrix and the
    50 most confident mistakes with their whole texts (20 KB for 80 AG News texts; megabytes for
    long documents), printed by a notebook for `attentext.evaluate(...)` as a cell's last line.
    """
    shown = [
        f"{name}={value:.4f}" if isinstance(value, float) else f"{name}={value}"
        for name in HEADLINE
        if isinstance(value := values.get(name), int | float) and not isinstance(value, bool)
    ]
    return ", ".join(shown)


def report_repr(kind: str, values: dict[str, Any]) -> str:
    """`Kind(accuracy=..., ...; to_dict() has every figure)`: a report as a notebook shows it."""
    return f"{kind}({headline(values)}; to_dict() has every figure)"


@dataclass
class EvaluationReport:
    accuracy: float
    macro_f1: float
    weighted_f1: float
    per_class: dict[str, dict[str, float]]  # label -> precision, recall, f1, support
    confusion: list[list[int]]
    label_names: list[str]
    n_examples: int
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return report_repr(type(self).__name__, self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "n_examples": self.n_examples,
            "per_class": self.per_class,
            **confusion_record(self.confusion),
            "label_names": self.label_names,
            **self.extra,
        }


def confusion_record(confusion: list[list[int]]) -> dict[str, Any]:
    """A confusion matrix as metrics.json holds it: `confusion_matrix` (rows true, columns
    predicted) up to DENSE_CONFUSION_CLASSES classes; beyond, `confusion_cells`, each nonzero
    cell as `[true id, predicted id, count]` in row order (ids index `label_names`)."""
    if len(confusion) <= DENSE_CONFUSION_CLASSES:
        return {"confusion_matrix": confusion}
    matrix = np.asarray(confusion, dtype=np.int64).reshape(len(confusion), len(confusion))
    rows, columns = np.nonzero(matrix)
    cells = np.stack([rows, columns, matrix[rows, columns]], axis=1)
    return {"confusion_cells": cells.tolist()}


def present_labels(y_true: np.ndarray, y_pred: np.ndarray) -> list[int]:
    """The label ids macro-F1 averages over: those in the gold labels or the predictions.

    A class absent from the texts scored and never predicted there has no F1 to speak of; counted
    as 0 it dragged macro-F1 down by the share of such classes (trec_fine, 50 classes, a
    validation split of 75 texts holding 23 of them: 0.24 for a run at 0.52 on the classes
    there), and the report's number differed from the one training selected checkpoints by.
    """
    present = np.union1d(np.asarray(y_true).ravel(), np.asarray(y_pred).ravel())
    return [int(label) for label in present]


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro-F1 over the classes present in the gold labels or the predictions (`present_labels`);
    0.0 for no rows."""
    labels = present_labels(y_true, y_pred)
    if not labels:
        return 0.0
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The two headline numbers, as used for model selection during training."""
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": macro_f1(y_true, y_pred),
    }


def evaluation_report(
    y_true: np.ndarray, y_pred: np.ndarray, label_names: list[str]
) -> EvaluationReport:
    """Full report of predictions `y_pred` against `y_true` (label ids), the accuracy and
    macro-F1 with their 95 % intervals (`significance`: 10 validation texts know an accuracy to
    +-0.25)."""
    labels = list(range(len(label_names)))
    table = classification_report(
        y_true, y_pred, labels=labels, target_names=label_names, output_dict=True, zero_division=0
    )
    per_class = {
        name: {
            "precision": float(table[name]["precision"]),
            "recall": float(table[name]["recall"]),
            "f1": float(table[name]["f1-score"]),
            "support": int(table[name]["support"]),
        }
        for name in label_names
    }
    return EvaluationReport(
        accuracy=float(accuracy_score(y_true, y_pred)),
        macro_f1=macro_f1(y_true, y_pred),
        weighted_f1=float(
            f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)
        ),
        per_class=per_class,
        confusion=confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        label_names=list(label_names),
        n_examples=len(y_true),
        extra=_intervals(np.asarray(y_true), np.asarray(y_pred), len(label_names)),
    )


def _intervals(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> dict[str, Any]:
    """The accuracy's 95 % interval (Wilson) and macro-F1's (bootstrap), where there are texts."""
    if not len(y_true):
        return {}
    one_hot = np.eye(n_labels, dtype=np.int64)
    return {
        "accuracy_interval": list(accuracy_interval(y_true == y_pred)),
        "macro_f1_interval": macro_f1_interval(one_hot[y_true], one_hot[y_pred]),
    }


def expected_calibration_error(
    probabilities: np.ndarray, y_true: np.ndarray, n_bins: int = 15
) -> tuple[float, list[dict[str, float]]]:
    """ECE of the top-class confidence (equal-width bins), and the bins for a reliability diagram.

    `y_true`: label ids, or a reference's probabilities (top_label_hits)."""
    confidence = probabilities.max(axis=1)
    correct = top_label_hits(probabilities, y_true)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins, ece = [], 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if not inside.any():
            continue
        accuracy, mean_conf = float(correct[inside].mean()), float(confidence[inside].mean())
        ece += inside.mean() * abs(accuracy - mean_conf)
        bins.append(
            {
                "low": float(low),
                "high": float(high),
                "count": int(inside.sum()),
                "accuracy": accuracy,
                "confidence": mean_conf,
            }
        )
    return float(ece), bins


COVERAGE_THRESHOLDS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.99)


def coverage_table(
    probabilities: np.ndarray,
    y_true: np.ndarray,
    thresholds: tuple[float, ...] = COVERAGE_THRESHOLDS,
) -> list[dict[str, Any]]:
    """For each threshold P: how many texts have a top probability of at least P, their share,
    their accuracy, and the accuracy of the others.

    Why: a classifier in use decides the texts it is sure of and sends the rest to a person
    (selective classification). With calibrated probabilities the accuracy of the texts kept at P
    is at least about P; this table says what a threshold buys on the user's own data: read on
    validation to choose it, on test to check it. An empty side has an accuracy of None.
    """
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == np.asarray(y_true)
    rows = []
    for threshold in thresholds:
        kept = confidence >= threshold
        rows.append(
            {
                "threshold": float(threshold),
                "kept": int(kept.sum()),
                "coverage": float(kept.mean()) if len(kept) else 0.0,
                "accuracy_kept": float(correct[kept].mean()) if kept.any() else None,
                "accuracy_rest": float(correct[~kept].mean()) if (~kept).any() else None,
            }
        )
    return rows


def confident_mistakes(
    texts: list[str],
    y_true: np.ndarray,
    probabilities: np.ndarray,
    label_names: list[str],
    k: int = 50,
) -> list[dict[str, Any]]:
    """The `k` wrong predictions made with the highest confidence: where to look first."""
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    order = wrong[np.argsort(-probabilities[wrong, predicted[wrong]], kind="stable")][:k]
    return [
        {
            "index": int(i),
            "text": texts[i],
            "label": label_names[y_true[i]],
            "predicted": label_names[predicted[i]],
            "confidence": round(float(probabilities[i, predicted[i]]), 4),
        }
        for i in order
    ]
