"""Benchmark: trained runs with their training split's label prior, and with a balanced one.

`training.label_prior: balanced` (attentext.label_prior) changes nothing before the temperature:
training and the temperature fitted on validation are the same, and the bias log(1/K /
pi_train(y)) is added to the calibrated logits afterwards. So a run trained without it can be
measured as it would have been with it: the bias from its own training split (carved from the
data as the run carved it: its recipe's validation fraction and seed), added to its logits /
its temperature. For each run: validation and test accuracy, test macro-F1, ECE and NLL, without
and with the bias; and the test texts' label shares estimated from them without their labels
(`recalibrate --label-prior estimated`: EM, attentext.label_prior.estimated_shares) with the
accuracy and ECE of the bias towards them, and how far EM took a label's share from the run's
mean probability of it (past attentext.label_prior.MAX_DRIFT `recalibrate` refuses the
estimate, and the run keeps its prior; the accuracy shown is then the refused estimate's).
With `--case NAME=RUN,RUN,...`, the runs of a case are also averaged.

    python benchmarks/label_prior.py --data ../shared/datasets/ag_news \\
        --case "seed transformer students=runs/st_s42,runs/st_s1,runs/st_s2" --case ...
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, markdown_table, publish

import attentext
from attentext.evaluation.calibration import log_softmax
from attentext.evaluation.evaluate import raw_logits
from attentext.evaluation.metrics import evaluation_report, expected_calibration_error
from attentext.label_prior import (
    drifted_labels,
    estimated_shares,
    label_bias,
    label_drift,
    shift_bias,
    shifted_logits,
)
from attentext.recipes import load_recipe
from attentext.training.run import recipe_dataset

SECTION = "label_prior"
MEASURES = ("validation_accuracy", "test_accuracy", "test_macro_f1", "test_ece", "test_nll")
COLUMNS = [
    ("case", "case"),
    ("run", "run"),
    ("train_shares", "train label shares"),
    ("validation_accuracy", "validation acc"),
    ("validation_accuracy_balanced", "validation acc, balanced"),
    ("test_accuracy", "test acc"),
    ("test_accuracy_balanced", "test acc, balanced"),
    ("test_macro_f1", "test macro-F1"),
    ("test_macro_f1_balanced", "test macro-F1, balanced"),
    ("test_ece", "test ECE"),
    ("test_ece_balanced", "test ECE, balanced"),
    ("test_nll", "test NLL"),
    ("test_nll_balanced", "test NLL, balanced"),
    ("test_shares_estimated", "test label shares, estimated"),
    ("test_estimate_drift", "most a share strays from the mean probability (x)"),
    ("test_accuracy_estimated", "test acc, estimated"),
    ("test_ece_estimated", "test ECE, estimated"),
]


def measured(logits: np.ndarray, labels: np.ndarray, names: list[str]) -> dict[str, float]:
    """Accuracy, macro-F1, ECE and NLL of softmax(logits) (already calibrated logits)."""
    log_p = log_softmax(logits)
    report = evaluation_report(labels, log_p.argmax(axis=1), names)
    return {
        "accuracy": report.accuracy,
        "macro_f1": report.macro_f1,
        "ece": expected_calibration_error(np.exp(log_p), labels)[0],
        "nll": float(-log_p[np.arange(len(labels)), labels].mean()),
    }


def row_of(run: Path, data: str) -> dict[str, Any]:
    """One run: its figures as trained, and with the balanced prior's bias after its temperature."""
    dataset = recipe_dataset(load_recipe(run / "recipe.yaml"), data)
    classifier = attentext.load(run)
    names = list(classifier.labels)
    counts = np.bincount(dataset.labels("train"), minlength=len(names))
    bias = label_bias(counts, "balanced")
    row: dict[str, Any] = {
        "run": str(run),
        "train_shares": " / ".join(f"{c / counts.sum():.3f}" for c in counts),
    }
    for split in ("validation", "test"):
        labels = np.asarray(dataset.labels(split))
        logits = raw_logits(classifier, dataset.texts(split))
        shifts = [("", None), ("_balanced", bias)]
        if split == "test":  # the shares of the test texts, estimated from them without labels
            calibrated = np.exp(log_softmax(shifted_logits(logits, classifier.temperature, None)))
            shares = estimated_shares(calibrated, counts)
            row["test_shares_estimated"] = " / ".join(f"{s:.3f}" for s in shares)
            drift = label_drift(calibrated, shares)
            row["test_estimate_drift"] = f"{drift.max():.2f}" + (
                " (refused)" if drifted_labels(calibrated, shares) else ""
            )
            shifts.append(("_estimated", shift_bias(shares, counts)))
        for suffix, shift in shifts:
            figures = measured(shifted_logits(logits, classifier.temperature, shift), labels, names)
            for key, value in figures.items():
                row[f"{split}_{key}{suffix}"] = value
    return row


def with_means(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows, each case's followed by its mean (where it has more than one run)."""
    out: list[dict[str, Any]] = []
    for case in dict.fromkeys(row["case"] for row in rows):
        members = [row for row in rows if row["case"] == case]
        out += members
        if len(members) > 1:
            mean = {"case": case, "run": f"mean of {len(members)}"}
            for key in members[0]:
                if any(key.startswith(m) for m in MEASURES):
                    mean[key] = float(np.mean([row[key] for row in members]))
            out.append(mean)
    return out


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    head = (
        f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores; {payload['data']}; "
        "each run's own temperature; balanced: plus log(1/K / its training split's share of "
        "each label)."
    )
    columns = [c for c in COLUMNS if any(c[0] in row for row in payload["results"])]
    return head + "\n\n" + markdown_table(with_means(payload["results"]), columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument(
        "--case", action="append", required=True, help="NAME=RUN,RUN,... (repeatable)"
    )
    parser.add_argument("--section", default=SECTION)
    args = parser.parse_args()
    rows = []
    for case in args.case:
        name, _, runs = case.partition("=")
        for run in runs.split(","):
            row = {"case": name, **row_of(Path(run), args.data)}
            rows.append(row)
            print(row, flush=True)
    publish(args.section, {"machine": machine(), "data": args.data, "results": rows}, render)


if __name__ == "__main__":
    main()
