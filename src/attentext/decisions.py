"""From probabilities to labels: the most probable one (one label per text), or every label whose
probability reaches its threshold (several labels per text; thresholds tuned on validation)."""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.5
MULTI_LABEL = "multi_label_classification"  # Hugging Face's problem_type: sigmoid + BCE
SINGLE_LABEL = "single_label_classification"


def decide(
    probabilities: np.ndarray,
    labels: list[str],
    multi_label: bool = False,
    thresholds: np.ndarray | None = None,
) -> list[str] | list[list[str]]:
    """The label of each row, or (multi-label) the list of labels at or over their threshold."""
    if not multi_label:
        return [labels[i] for i in probabilities.argmax(axis=-1)]
    cut = np.full(len(labels), DEFAULT_THRESHOLD) if thresholds is None else thresholds
    return [[labels[i] for i in np.flatnonzero(row >= cut)] for row in probabilities]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Elementwise logistic function, stable for large |logits|."""
    logits = np.asarray(logits, dtype=np.float64)
    return np.where(logits >= 0, 1 / (1 + np.exp(-logits)), np.exp(logits) / (1 + np.exp(logits)))


def threshold_vector(thresholds: dict | None, label_names: list[str]) -> np.ndarray:
    """Each label's threshold, in label order, from a run's thresholds.json (0.5 without one)."""
    if not thresholds:
        return np.full(len(label_names), DEFAULT_THRESHOLD)
    per_label = thresholds.get("per_label", {})
    return np.array([per_label.get(name, thresholds["global"]) for name in label_names])


def temperature_vector(record: dict[str, Any] | None, label_names: list[str]) -> np.ndarray | None:
    """Each label's temperature in label order (the pooled one where it has none of its own),
    from calibration.json's `label_temperatures`; None without them."""
    if not record:
        return None
    per_label = record.get("per_label", {})
    return np.array([float(per_label.get(name, record["pooled"])) for name in label_names])


def calibrated_sigmoid(logits: np.ndarray, temperatures: np.ndarray | None) -> np.ndarray:
    """Each label's probability, sigmoid(logit / its temperature) (a plain sigmoid without)."""
    logits = np.asarray(logits, dtype=np.float64)
    return sigmoid(logits if temperatures is None else logits / temperatures)


def log_odds(probabilities: np.ndarray, floor: float = 1e-7) -> np.ndarray:
    """Each probability's logit, log(p / (1 - p)), with p kept within [floor, 1 - floor]: the
    logits of a model that gives per-label probabilities only (the TF-IDF baseline)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), floor, 1 - floor)
    return np.log(p / (1 - p))
