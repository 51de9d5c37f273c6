"""A monotone map of the top label's probability to the accuracy seen at it (top-label isotonic
calibration, Gupta and Ramdas, "Top-label calibration of multiclass classifiers", ICLR 2022).

One temperature rescales every logit alike; some models are off in a shape no single scale
fixes (on AG News test, tfidf-logreg and hf-frozen-base keep an ECE of 0.023 at their best
temperature; benchmarks/README.md, "Where the temperature is fitted"). Isotonic regression of
"was the top label right" on the top label's probability, after the temperature, fits any
monotone shape; the other labels share what is left in their old proportions. The top label
stays the top label, so predicted labels never change. It has many more degrees of freedom than
a temperature: it needs about two thousand held-out texts to beat one (fewer make it noisier).

Numpy only: every reader of a run (the ONNX backend too) applies it without torch or sklearn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MARGIN = 1e-6  # how far above the runner-up the mapped top probability stays


@dataclass(frozen=True)
class ConfidenceMap:
    """Piecewise-linear and non-decreasing: `confidence` (ascending) -> `accuracy`."""

    confidence: tuple[float, ...]
    accuracy: tuple[float, ...]

    def __post_init__(self) -> None:
        x, y = np.asarray(self.confidence), np.asarray(self.accuracy)
        if not (len(x) == len(y) >= 1 and np.all(np.diff(x) >= 0) and np.all(np.diff(y) >= 0)):
            raise ValueError("a confidence map needs matching, non-decreasing points")
        if not (np.all((x >= 0) & (x <= 1)) and np.all((y >= 0) & (y <= 1))):
            raise ValueError("a confidence map's points are probabilities, within [0, 1]")

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """Rows of class probabilities with the top one mapped and the others rescaled to fit.

        The mapped top probability is kept above every other class's rescaled one (and at least
        1 / number of classes), so each row's argmax is the same as before.
        """
        p = np.asarray(probabilities, dtype=np.float64)
        if p.ndim != 2 or not len(p) or p.shape[1] < 2:
            return p
        rows = np.arange(len(p))
        top = p.argmax(axis=1)
        rest = p.copy()
        rest[rows, top] = 0.0
        rest_total = rest.sum(axis=1)
        runner_up = rest.max(axis=1)
        share = np.divide(
            runner_up, rest_total, out=np.zeros_like(rest_total), where=rest_total > 0
        )
        # top >= (1 - top) * share keeps the argmax: top >= share / (1 + share)
        floor = np.maximum(share / (1.0 + share), 1.0 / p.shape[1]) + MARGIN
        mapped = np.clip(np.interp(p[rows, top], self.confidence, self.accuracy), floor, 1.0)
        # the others keep their proportions (an even split where they were all 0)
        safe_total = np.where(rest_total > 0, rest_total, 1.0)
        spread = np.where(
            (rest_total > 0)[:, None], rest / safe_total[:, None], 1 / (p.shape[1] - 1)
        )
        spread[rows, top] = 0.0
        out = spread * (1.0 - mapped)[:, None]
        out[rows, top] = mapped
        return out

    def to_dict(self) -> dict[str, list[float]]:
        return {"confidence": list(self.confidence), "accuracy": list(self.accuracy)}

    @classmethod
    def from_dict(cls, value: Any) -> ConfidenceMap:
        """From calibration.json's `confidence_map`; ValueError when it is not one."""
        if not isinstance(value, dict):
            raise ValueError("not an object")
        points = [value.get("confidence"), value.get("accuracy")]
        if not all(isinstance(p, list) and all(type(v) in (int, float) for v in p) for p in points):
            raise ValueError("confidence and accuracy must be lists of numbers")
        return cls(tuple(map(float, points[0])), tuple(map(float, points[1])))


def top_label_hits(probabilities: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per row, whether the top label is right: 1 or 0 against gold label ids, or, against a
    reference's probabilities (rows of them, `attentext recalibrate --reference`),
    the probability the reference gives that label: its expectation of being right."""
    probabilities, targets = np.asarray(probabilities), np.asarray(targets)
    top = probabilities.argmax(axis=1)
    if targets.ndim == 2:
        return targets[np.arange(len(top)), top].astype(np.float64)
    return (top == targets).astype(np.float64)


def fit_confidence_map(probabilities: np.ndarray, labels: np.ndarray) -> ConfidenceMap:
    """Isotonic regression (scikit-learn) of whether the top label is right on its probability
    (`labels`: label ids, or a reference's probabilities: how likely it finds the top label)."""
    from sklearn.isotonic import IsotonicRegression  # deferred: readers only apply a map

    p = np.asarray(probabilities, dtype=np.float64)
    correct = top_label_hits(p, labels)
    isotonic = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    isotonic.fit(p.max(axis=1), correct)
    return ConfidenceMap(
        tuple(round(float(v), 6) for v in isotonic.X_thresholds_),
        tuple(round(float(v), 6) for v in isotonic.y_thresholds_),
    )
