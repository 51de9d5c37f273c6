"""Refit a multi-label run's temperature per label on labelled texts like the ones it will score.

Training fits each label's temperature on the validation split, drawn from the training period.
Where the texts to score differ, those temperatures leave the run over- or under-confident there:
on Reuters ModApte, whose test documents are later ones, the validation temperatures sharpened
three of four recipes and cost them 0.5-1.7 % of their test cross-entropy (benchmarks/README.md,
"Calibrated per label"). `attentext recalibrate RUN --data held_out.csv` on a multi-label run
fits them on those texts instead (attentext.evaluation.label_calibration), and moves each
label's decision threshold to the same logit under its new temperature, so that every text keeps
the labels it had: only the probabilities change, as with one label per text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attentext import rundir
from attentext.data.dataset import column_values
from attentext.decisions import log_odds, sigmoid, temperature_vector, threshold_vector
from attentext.errors import DataError, RecipeError
from attentext.evaluation.card import short_data_name
from attentext.evaluation.evaluate import multi_label_scores
from attentext.evaluation.held_out import check_data_named, labelled_split
from attentext.evaluation.label_calibration import calibrate_labels
from attentext.evaluation.multilabel import multi_hot
from attentext.evaluation.recalibrate import (
    MIN_TEXTS,
    check_held_out,
    classifier_to_refit,
    save_calibration,
    warn_replaced,
)
from attentext.files import path_parameter, user_path
from attentext.rundir import open_run


def recalibrate_labels(
    run_dir: str | Path, data: str | Path, split: str = "validation", backend: str = "torch"
) -> dict[str, Any]:
    """Fit a multi-label run's temperature per label on `data` (a folder's `split`, or a file's
    rows: labelled texts never trained on), move its thresholds to keep every decision, save
    both and rebuild the model card. Returns the new calibration record (NLL and ECE over every
    (text, label) pair of `data` without calibration and with the new one)."""
    check_data_named(data, "recalibrate_labels")
    run, data = open_run(path_parameter(run_dir, "run_dir")), user_path(data)
    if not run.multi_label:
        raise RecipeError(f"{run_dir}: one label per text; recalibrate it with `recalibrate`")
    check_held_out(run, data, split)
    classifier, unreadable = classifier_to_refit(run, backend)
    rows = labelled_split(run.path, data, classifier.labels, split)
    texts = column_values(rows, "text")
    if len(texts) < MIN_TEXTS:
        raise DataError(
            f"{data}: {len(texts)} labelled texts; calibration needs at least {MIN_TEXTS} "
            "(a few hundred give steady temperatures)"
        )
    targets = multi_hot(column_values(rows, "label"), len(classifier.labels))
    _, logits = multi_label_scores(classifier, texts)
    fitted_on = short_data_name(str(data)) + ("" if Path(data).is_file() else f" {split}")
    record = calibrate_labels(targets, logits, classifier.labels, fitted_on)
    previous = _recorded_temperatures(run) if unreadable else _thresholds_temperatures(run)
    record["replaces_label_temperatures"] = previous
    new = temperature_vector(record["label_temperatures"], classifier.labels)
    old = _vector_or(previous, classifier.labels, new)
    thresholds = moved_thresholds(run.thresholds, classifier.labels, old, new)
    if unreadable:
        warn_replaced(run, unreadable, fitted_on)
    save_calibration(run, record, thresholds)
    return record


def _recorded_temperatures(run: rundir.Run) -> Any:
    """The temperatures per label metrics.json records beside an unreadable calibration.json:
    the copy of what thresholds.json was tuned or moved for (None where it records none)."""
    recorded = run.metrics.get("calibration")
    return recorded.get("label_temperatures") if isinstance(recorded, dict) else None


def _vector_or(record: Any, labels: list[str], otherwise: np.ndarray | None) -> np.ndarray | None:
    """`record`'s temperatures per label in `labels`' order (None without any: the thresholds
    were tuned on plain sigmoids), or `otherwise` where they are not positive numbers: moved
    from and to the same temperatures, thresholds keep their values (an unreadable
    calibration.json whose copy in metrics.json is damaged too)."""
    if not record:
        return None
    try:
        vector = temperature_vector(record, labels)
    except (ValueError, KeyError, TypeError, AttributeError):
        return otherwise
    if vector is None or not all(0 < t < float("inf") for t in vector):
        return otherwise
    return vector


def _thresholds_temperatures(run: rundir.Run) -> Any:
    """The temperatures per label the run's thresholds.json was tuned or moved for: those of its
    calibration.json, or metrics.json's where a recalibrate killed before round 11's journal
    wrote thresholds.json (and metrics.json) but not calibration.json: moved from the file's,
    the thresholds of the torn run kept its wrong decisions (`Run.check_calibration_whole`)."""
    recorded = run.metrics.get("calibration")
    torn = isinstance(recorded, dict) and recorded != run.calibration_record
    if torn and run.thresholds is not None and run.metrics.get("thresholds") == run.thresholds:
        return recorded.get("label_temperatures")
    return run.calibration_record.get("label_temperatures")


def moved_thresholds(
    thresholds: dict[str, Any] | None,
    label_names: list[str],
    old: np.ndarray | None,
    new: np.ndarray | None,
) -> dict[str, Any]:
    """thresholds.json with each label's threshold at the same logit under its new temperature:
    sigmoid(z / T_new) >= t_new exactly where sigmoid(z / T_old) >= t_old, so every text keeps
    its labels. Every label gets its own value (one global threshold no longer fits them all)."""
    cut = threshold_vector(thresholds, label_names)
    logit = log_odds(cut) * (1.0 if old is None else old)
    moved = sigmoid(logit / (1.0 if new is None else new))
    return {
        **(thresholds or {"global": float(np.median(cut))}),
        "per_label": {name: float(t) for name, t in zip(label_names, moved, strict=True)},
        "moved_by": "recalibrate: the same logits as before, under the new temperatures",
    }
