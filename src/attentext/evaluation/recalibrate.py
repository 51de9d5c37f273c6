"""Refit a trained run's temperature on labelled texts like the ones it will score.

Training fits the temperature on the validation split, carved from the training data. When the
texts a model scores differ from its training data, that temperature leaves it over- or
under-confident there: on AG News the validation split reads about a point above test, and the
temperature fitted on it leaves every recipe a little sure of itself on test
(benchmarks/calibration_bound.py). A few hundred labelled texts of the scoring distribution,
never trained on, fix it: `attentext recalibrate RUN --data held_out.csv` fits the temperature
there and writes it into the run directory, where every reader (predict, evaluate, serve,
explain, the ONNX backends) applies it. Labels are never changed, only probabilities (except
in a run with a label prior, whose bias weighs more or less against a new temperature).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from attentext import rundir
from attentext.data.dataset import column_values
from attentext.errors import DataError, RecipeError
from attentext.evaluation.calibration import Calibration, calibrate, calibrate_isotonic
from attentext.evaluation.card import model_card, short_data_name
from attentext.evaluation.evaluate import labelled_split, raw_logits
from attentext.files import write_json, write_text
from attentext.inference.classifier import load
from attentext.rundir import open_run

MIN_TEXTS = 50  # fewer held-out texts give a temperature that is mostly noise
# a confidence map has a step per change of accuracy: fitted on 2,000 AG News test texts it beat
# the temperature alone on 11 of 15 runs, on 1,000 on 6, on 300 on 1 (benchmarks/README.md,
# calibration_sizes)
MIN_TEXTS_ISOTONIC = 2000
METHODS = {
    "temperature": (calibrate, MIN_TEXTS),
    "isotonic": (calibrate_isotonic, MIN_TEXTS_ISOTONIC),
}


def recalibrate(
    run_dir: str | Path,
    data: str | Path,
    split: str = "validation",
    backend: str = "torch",
    method: str = "temperature",
) -> tuple[Calibration, float]:
    """Fit the run's calibration on `data` (a folder's `split`, or a file's rows) and save it.

    `method`: "temperature" (one scalar), or "isotonic" (the temperature, then a monotone map of
    the top label's probability; attentext.confidence), which needs MIN_TEXTS_ISOTONIC texts.
    Returns the new calibration (NLL and ECE on `data` without any calibration and with the new
    one; out of fold for isotonic) and the temperature it replaced. The texts must be labelled
    with the run's label names and must not be texts the model trained on (its confidence there
    is no guide). Refused in one line for a multi-label run (its decisions are thresholds) and
    for too few texts. Predicted labels never change (in a run with a label prior, whose bias is
    kept and added after the new temperature, they may).
    """
    if method not in METHODS:
        raise RecipeError(
            f"unknown calibration method '{method}'; choose one of {', '.join(METHODS)}"
        )
    fit, min_texts = METHODS[method]
    run_dir = Path(run_dir)
    run = open_run(run_dir)
    if run.multi_label:
        raise RecipeError(
            f"{run_dir}: several labels per text; its decision thresholds (thresholds.json), "
            "not a temperature, set its outputs"
        )
    classifier = load(run_dir, backend=backend)
    rows = labelled_split(run_dir, data, classifier.labels, split)
    if len(rows) < min_texts:
        advice = (
            "a few hundred give a steady one"
            if method == "temperature"
            else "or use --method temperature"
        )
        raise DataError(
            f"{data}: {len(rows)} labelled texts; {method} calibration needs at least "
            f"{min_texts:,} ({advice})"
        )
    logits = raw_logits(classifier, column_values(rows, "text"))
    labels = np.asarray(column_values(rows, "label"), dtype=np.int64)
    fitted_on = short_data_name(str(data)) + ("" if Path(data).is_file() else f" {split}")
    calibration = fit(labels, logits, fitted_on, run.label_bias)
    previous = run.temperature
    _save(run, calibration, previous)
    return calibration, previous


def _save(run: rundir.Run, calibration: Calibration, previous: float) -> None:
    """calibration.json and metrics.json's record of it, under the run's lock; calibration.json,
    which readers apply, last (each file is replaced atomically); then the model card, rebuilt
    from the run's files (an evaluation `evaluate --card` added is dropped: its probabilities
    were the old calibration's)."""
    record = {**calibration.to_dict(), "replaces_temperature": previous}
    if "label_prior" in run.calibration_record:  # kept: the temperature was fitted beside it
        record["label_prior"] = run.calibration_record["label_prior"]
    with rundir.writing(run.path, "recalibrate"):
        metrics = dict(run.metrics)
        metrics["calibration"] = record
        write_json(run.path / rundir.METRICS_FILE, metrics)
        write_json(run.path / rundir.CALIBRATION_FILE, record)
        rundir.write_marker(run.path, run.kind)  # lists a file a run without calibration gains
        if (run.path / rundir.CARD_FILE).exists():
            write_text(run.path / rundir.CARD_FILE, model_card(open_run(run.path)))
