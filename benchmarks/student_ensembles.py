"""Benchmark: distilled students of several training seeds weighed into one ensemble.

Each case is a group of student runs distilled from one teacher with one data seed (so one
validation split; `--set data.seed=42`) and different training seeds (`--set training.seed=S`:
another start, dropout, batch order and draw of noisy copies). `attentext ensemble` weighs them on
that validation split (greedy selection, then the mixture's own temperature), and the ensemble is
measured on the test split as every run is: accuracy, macro-F1, expected calibration error (of
the probabilities it answers, after its temperature), texts/s of `predict_proba` on 1,000 test
texts (every member reads every text), size; beside each member's own row (from its run's
metrics, as `distill.py` reports them) and the teacher's.

    python benchmarks/student_ensembles.py runs/teacher --data ../shared/datasets/ag_news \\
        --case "seed transformer x3=runs/s42/STUDENT,runs/s1/STUDENT,runs/s2/STUDENT"
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from common import machine, markdown_table, publish
from distill import row_of, speed

import attentext
from attentext.automl.ensemble import ensemble
from attentext.data.dataset import load_text_dataset

SECTION = "distill_student_ensembles"
COLUMNS = [
    ("case", "case"),
    ("run", "run"),
    ("weight", "weight"),
    ("test_accuracy", "test acc"),
    ("macro_f1", "macro-F1"),
    ("ece_after", "ECE calibrated"),
    ("texts_per_second", "texts/s"),
    ("size_mb", "MB"),
]


def _size_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def measure(label: str, runs: list[Path], data: str, texts: list[str], work: Path) -> list[dict]:
    """Each member's row, then the ensemble of them, evaluated on the test split. A member is
    stored under its folder's name, and `distill.py` names every student alike, so each is
    copied under its parent's name (which says its seed) first."""
    members = []
    for run in runs:
        members.append(work / run.parent.name)
        shutil.copytree(run, members[-1])
    built = ensemble(members, data, work / "ensemble", overwrite=True)
    rows = [
        {"case": label, **row_of(m.name, m, texts), "weight": built.weights.get(m.name, 0.0)}
        for m in members
    ]
    report = attentext.evaluate(built.run_dir, data).to_dict()
    rows.append(
        {
            "case": label,
            "run": f"ensemble of {len(runs)} (weights on validation, its own temperature)",
            "test_accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"],
            "ece_after": report["expected_calibration_error"],
            "texts_per_second": speed(built.run_dir, texts),
            "size_mb": _size_mb(built.run_dir),
        }
    )
    return rows


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    return (
        f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores, load "
        f"{m['load_average_1min']}; {payload['data']}; teacher `{payload['teacher']}`; texts/s "
        "on 1,000 test texts.\n\n" + markdown_table(payload["rows"], COLUMNS)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teacher", type=Path)
    parser.add_argument("--data", required=True)
    parser.add_argument("--case", action="append", required=True, help="LABEL=RUN,RUN[,RUN...]")
    parser.add_argument("--section", default=SECTION)
    args = parser.parse_args()
    test = load_text_dataset(args.data, val_fraction=0.0)
    texts = list(test["test"]["text"])[:1000]
    rows = [{"case": "-", **row_of("teacher", args.teacher, texts)}]
    for case in args.case:
        label, runs = case.split("=", 1)
        with tempfile.TemporaryDirectory() as work:
            rows += measure(label, [Path(r) for r in runs.split(",")], args.data, texts, Path(work))
    payload = {"machine": machine(), "data": args.data, "teacher": str(args.teacher), "rows": rows}
    publish(args.section, payload, render)


if __name__ == "__main__":
    main()
