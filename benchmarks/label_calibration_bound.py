"""Benchmark: a multi-label run's temperatures per label, fitted on validation or where it scores.

Every multi-label run fits a temperature per label on its validation split (carved from train)
and is scored on test. Where test differs (Reuters ModApte's test documents are later ones), the
validation temperatures can leave the run over- or under-confident there. For each run, over every
(text, label) pair of the test split: the binary cross-entropy (NLL) and ECE without any
calibration, with the temperatures the run saved, and with those `attentext recalibrate RUN
--data HELD_OUT` fits on held-out texts like the test texts, measured two-fold (fitted on one
half of test, scored on the other, and the other way round: no text scores the temperatures it
helped fit; the pooled halves). Decisions are not measured: recalibrate moves each threshold to
the same logit, so every text keeps its labels.

    python benchmarks/label_calibration_bound.py runs/multilabel/* \
        --data ../shared/datasets/reuters_modapte
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, markdown_table, publish

import attentext
from attentext.data.dataset import column_values
from attentext.decisions import temperature_vector
from attentext.evaluation.evaluate import multi_label_scores
from attentext.evaluation.held_out import labelled_split
from attentext.evaluation.label_calibration import (
    fit_label_temperatures,
    measure_label_calibration,
)
from attentext.evaluation.multilabel import multi_hot

SECTION = "label_calibration_bound"
COLUMNS = [
    ("run", "run"),
    ("nll_raw", "test NLL raw"),
    ("nll_validation", "test NLL, validation T"),
    ("nll_refit", "test NLL, T refitted (2-fold)"),
    ("ece_raw", "test ECE raw"),
    ("ece_validation", "test ECE, validation T"),
    ("ece_refit", "test ECE, T refitted (2-fold)"),
    ("own", "labels with their own T (each half)"),
]


def two_fold(targets: np.ndarray, logits: np.ndarray, labels: list[str]) -> tuple[np.ndarray, str]:
    """The test logits over the temperatures fitted on the other half (seeded halves), and how
    many labels had their own temperature in each half."""
    order = np.random.default_rng(0).permutation(len(targets))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    scaled, own = np.zeros_like(logits), []
    for fit_rows, score_rows in (halves, halves[::-1]):
        fitted = fit_label_temperatures(targets[fit_rows], logits[fit_rows], labels)
        scaled[score_rows] = logits[score_rows] / temperature_vector(fitted, labels)
        own.append(str(len(fitted["per_label"])))
    return scaled, " / ".join(own)


def measure(run: Path, data: str) -> dict[str, Any]:
    classifier = attentext.load(run, precision="fp32")
    if not getattr(classifier, "multi_label", False):
        raise SystemExit(f"{run}: one label per text; benchmarks/calibration_bound.py measures it")
    rows = labelled_split(run, data, classifier.labels, "test")
    targets = multi_hot(column_values(rows, "label"), len(classifier.labels))
    _, logits = multi_label_scores(classifier, column_values(rows, "text"))
    saved = measure_label_calibration(targets, logits, classifier.label_temperatures)
    scaled, own = two_fold(targets, logits, classifier.labels)
    refit = measure_label_calibration(targets, scaled, None)
    return {
        "run": run.name,
        "n_test": len(targets),
        "nll_raw": saved["nll_before"],
        "nll_validation": saved["nll_after"],
        "nll_refit": refit["nll_before"],
        "ece_raw": saved["ece_before"],
        "ece_validation": saved["ece_after"],
        "ece_refit": refit["ece_before"],
        "own": own,
    }


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    return (
        f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores; {payload['data']}, "
        f"test {payload['rows'][0]['n_test']:,} texts; NLL: mean binary cross-entropy, ECE: of "
        "each pair's decision, both over every (text, label) pair.\n\n"
        + markdown_table(payload["rows"], COLUMNS)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="multi-label run directories")
    parser.add_argument("--data", default="../shared/datasets/reuters_modapte")
    parser.add_argument("--section", default=SECTION)
    args = parser.parse_args()
    rows = []
    for run in args.runs:
        rows.append(measure(run, args.data))
        print(rows[-1], flush=True)
    payload = {"benchmark": args.section, "machine": machine(), "data": args.data, "rows": rows}
    publish(args.section, payload, render)


if __name__ == "__main__":
    main()
