"""Refit a trained run's temperature on labelled texts like the ones it will score.

Training fits the temperature on the validation split, carved from the training data. When the
texts a model scores differ from its training data, that temperature leaves it over- or
under-confident there: on AG News the validation split reads about a point above test, and the
temperature fitted on it leaves every recipe a little sure of itself on test
(benchmarks/calibration_bound.py). A few hundred labelled texts of the scoring distribution,
never trained on, fix it: `attentext recalibrate RUN --data held_out.csv` fits the temperature
there and writes it into the run directory, where every reader (predict, evaluate, serve,
explain, the ONNX backends) applies it. Labels are never changed, only probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attentext import rundir
from attentext.data.dataset import column_values
from attentext.errors import DataError, RecipeError
from attentext.evaluation.calibration import Calibration, calibrate
from attentext.evaluation.card import short_data_name
from attentext.evaluation.evaluate import labelled_split
from attentext.files import write_json
from attentext.inference.classifier import load
from attentext.rundir import open_run

MIN_TEXTS = 50  # fewer held-out texts give a temperature that is mostly noise
FLOOR = 1e-12  # the smallest probability taken for a log (float32 softmax underflows to 0)


def raw_logits(classifier: object, texts: list[str]) -> np.ndarray:
    """Logits before any temperature, up to a per-row shift (which no softmax sees): a neural
    model's own, or the log-probabilities of a model that has none (the TF-IDF baseline)."""
    if hasattr(classifier, "logits"):
        return np.asarray(classifier.logits(texts), dtype=np.float64)
    saved = classifier.temperature
    classifier.temperature = 1.0
    try:
        probabilities = np.asarray(classifier.predict_proba(texts), dtype=np.float64)
    finally:
        classifier.temperature = saved
    return np.log(np.clip(probabilities, FLOOR, None))


def recalibrate(
    run_dir: str | Path, data: str | Path, split: str = "validation", backend: str = "torch"
) -> tuple[Calibration, float]:
    """Fit the run's temperature on `data` (a folder's `split`, or a file's rows) and save it.

    Returns the new calibration (NLL and ECE on `data` without any temperature and with the new
    one) and the temperature it replaced. The texts must be labelled with the run's label names
    and must not be texts the model trained on (its confidence there is no guide). Refused in one
    line for a multi-label run (its decisions are thresholds) and for fewer than MIN_TEXTS texts.
    """
    run_dir = Path(run_dir)
    run = open_run(run_dir)
    if run.multi_label:
        raise RecipeError(
            f"{run_dir}: several labels per text; its decision thresholds (thresholds.json), "
            "not a temperature, set its outputs"
        )
    classifier = load(run_dir, backend=backend)
    rows = labelled_split(run_dir, data, classifier.labels, split)
    if len(rows) < MIN_TEXTS:
        raise DataError(
            f"{data}: {len(rows)} labelled texts; a temperature needs at least {MIN_TEXTS} "
            "(a few hundred give a steady one)"
        )
    logits = raw_logits(classifier, column_values(rows, "text"))
    labels = np.asarray(column_values(rows, "label"), dtype=np.int64)
    fitted_on = f"{short_data_name(str(data))} {split}"
    calibration = calibrate(labels, logits, fitted_on)
    previous = run.temperature
    _save(run, calibration, previous)
    return calibration, previous


def _save(run: rundir.Run, calibration: Calibration, previous: float) -> None:
    """calibration.json and metrics.json's record of it, under the run's lock; calibration.json,
    which readers apply, last (each file is replaced atomically)."""
    record = {**calibration.to_dict(), "replaces_temperature": previous}
    with rundir.writing(run.path, "recalibrate"):
        metrics = dict(run.metrics)
        metrics["calibration"] = record
        write_json(run.path / rundir.METRICS_FILE, metrics)
        write_json(run.path / rundir.CALIBRATION_FILE, record)
        rundir.write_marker(run.path, run.kind)  # lists a file a run without calibration gains
