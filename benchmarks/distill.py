"""Benchmark: distillation of a fine-tuned teacher into small students, and calibration.

For each student recipe, three runs on the same data: trained from scratch, distilled from the
teacher on the training texts, and distilled with the unlabeled pool too (skipped with
`--unlabeled ""`, for a data set without one); `--augment N` adds a fourth, distilled on N noisy
copies of every transfer text too (`distill.augment`). Reported per run: test
accuracy, macro-F1, expected calibration error after temperature scaling (and before), train
seconds, texts/s of `predict_proba` on 1,000 test texts (batch 64, the machine's threads), size,
and the gap closed: (student - scratch) / (teacher - scratch). Results go to the section
`distill` for ag_news and `distill_<data set>` for another (e.g. `distill_trec`).

    python benchmarks/distill.py runs/teacher --data ../shared/datasets/ag_news \
        --unlabeled ../shared/datasets/ag_news_unlabeled/unlabeled.txt
    python benchmarks/distill.py runs/teacher-trec --data ../shared/datasets/trec --unlabeled ""

`--ensemble RUN` (repeatable) adds teachers: every distilled student learns the mean of their
logits (`attentext distill --ensemble`), and a row gives that mean's own test accuracy (every
teacher classifying every text). `--variants` keeps some of the distilled runs (e.g. `noisy`);
`--losses kl,mse` makes each of them with both teacher's terms (`distill.loss`), side by side.
"""

from __future__ import annotations

import argparse
import itertools
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import machine, markdown_table, publish

import attentext
from attentext.data.dataset import load_text_dataset
from attentext.evaluation.evaluate import raw_logits
from attentext.rundir import open_run

VARIANTS = ("distilled", "unlabeled", "noisy")


def speed(run: Path, texts: list[str]) -> float:
    classifier = attentext.load(run)
    classifier.predict_proba(texts[:64])  # warm up
    start = time.perf_counter()
    classifier.predict_proba(texts)
    return len(texts) / (time.perf_counter() - start)


def row_of(name: str, run: Path, texts: list[str]) -> dict[str, Any]:
    metrics = open_run(run).metrics
    calibration = metrics.get("calibration", {}).get("test", {})
    size = sum(p.stat().st_size for p in run.iterdir() if p.is_file())
    return {
        "run": name,
        "test_accuracy": metrics["test"]["accuracy"],
        "macro_f1": metrics["test"]["macro_f1"],
        "ece_before": calibration.get("ece_before"),
        "ece_after": calibration.get("ece_after"),
        "train_seconds": metrics["train_seconds"],
        "texts_per_second": speed(run, texts),
        "size_mb": round(size / 1e6, 1),
    }


def ensemble_row(teachers: list[Path], data: str) -> dict[str, Any]:
    """The teachers' mean logits on the whole test split: accuracy, macro-F1, texts/s of all the
    teachers in turn (an ensemble classifies a text once per teacher)."""
    from sklearn.metrics import f1_score

    test = load_text_dataset(data, val_fraction=0.0, label_names=attentext.load(teachers[0]).labels)
    texts, gold = list(test["test"]["text"]), np.asarray(test["test"]["label"])
    start, logits = time.perf_counter(), []
    for teacher in teachers:
        logits.append(raw_logits(attentext.load(teacher), texts))
    predicted = np.mean(logits, axis=0).argmax(axis=1)
    return {
        "run": f"ensemble of {len(teachers)} teachers (mean logits)",
        "test_accuracy": float((predicted == gold).mean()),
        "macro_f1": float(f1_score(gold, predicted, average="macro")),
        "texts_per_second": len(texts) / (time.perf_counter() - start),
    }


# the README sections (benchmarks/tables.py rewrites each from results/<section>.json)
SECTIONS = ["distill", "distill_epochs10", "distill_ensemble", "distill_trec", "distill_emotion"]
COLUMNS = [
    ("run", "run"),
    ("test_accuracy", "test acc"),
    ("macro_f1", "macro-F1"),
    ("gap_closed", "gap closed"),
    ("ece_before", "ECE raw"),
    ("ece_after", "ECE calibrated"),
    ("train_seconds", "train s"),
    ("texts_per_second", "texts/s"),
    ("size_mb", "MB"),
]


def render(payload: dict[str, Any]) -> str:
    m = payload["machine"]
    n = payload["n_unlabeled"]
    pool = f"unlabeled pool {n:,} texts" if n else "no unlabeled pool"
    return (
        f"{m['cpu']} ({m.get('cpu_capabilities', '')}), {m['cores']} cores, load "
        f"{m['load_average_1min']}; {payload['data']}; teacher `{payload['teacher']}`"
        + "".join(f" + `{run}`" for run in payload.get("ensemble", []))
        + "; "
        f"{pool}"
        + (
            f"; students with --set {' '.join(sets)}"
            if (sets := payload.get("student_sets"))
            else ""
        )
        + ".\n\n"
        + markdown_table(payload["results"], COLUMNS)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("teacher", type=Path)
    parser.add_argument("--data", default="../shared/datasets/ag_news")
    parser.add_argument(
        "--unlabeled",
        default="../shared/datasets/ag_news_unlabeled/unlabeled.txt",
        help='texts for the teacher to label; "" skips the "distilled + unlabeled" runs',
    )
    parser.add_argument(
        "--augment",
        type=int,
        default=0,
        help="N > 0 adds runs distilled on N noisy copies of every transfer text (distill.augment)",
    )
    parser.add_argument("--students", default="seed-transformer,attention-rnn")
    parser.add_argument("--output", type=Path, default=Path("runs/distill"))
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        help="KEY=VALUE for every student run, scratch and distilled (e.g. training.epochs=10)",
    )
    parser.add_argument("--section", default="", help="results and README section name")
    parser.add_argument(
        "--ensemble", type=Path, action="append", default=[], help="another teacher run"
    )
    parser.add_argument("--variants", default=",".join(VARIANTS), help="distilled runs to make")
    parser.add_argument(
        "--losses",
        default="kl",
        help="the teacher's term of each distilled run (distill.loss): kl, mse or kl,mse side by side",
    )
    args = parser.parse_args()
    variants = set(args.variants.split(","))
    losses = args.losses.split(",")
    name = Path(args.data).name
    section = args.section or ("distill" if name == "ag_news" else f"distill_{name}")
    texts = list(load_text_dataset(args.data, val_fraction=0.0)["test"]["text"])[:1000]
    rows = [row_of("teacher", args.teacher, texts)]
    rows += [row_of(f"teacher {i + 2}", run, texts) for i, run in enumerate(args.ensemble)]
    if args.ensemble:
        rows.append(ensemble_row([args.teacher, *args.ensemble], args.data))
    teacher_accuracy = rows[-1]["test_accuracy"]
    runs: list[tuple[str, str | None, int]] = []
    if "distilled" in variants:
        runs.append(("distilled", None, 0))
    n_unlabeled = 0
    if args.unlabeled:
        n_unlabeled = len(Path(args.unlabeled).read_text(encoding="utf-8").splitlines())
        if "unlabeled" in variants:
            runs.append(("distilled + unlabeled", args.unlabeled, 0))
    if args.augment and "noisy" in variants:
        pool = " + unlabeled" if args.unlabeled else ""
        noisy = f"distilled{pool} + {args.augment} noisy copies"
        runs.append((noisy, args.unlabeled or None, args.augment))
    for student in args.students.split(","):
        scratch = args.output / f"{student}-scratch"
        attentext.train(student, args.data, scratch, overwrite=True, overrides=args.set)
        rows.append(row_of(f"{student} (scratch)", scratch, texts))
        for (run, unlabeled, augment), loss in itertools.product(runs, losses):
            label = run if len(losses) == 1 else f"{run}, {loss}"
            out = args.output / f"{student}-{re.sub(r'[ +,]+', '-', label)}"
            attentext.distill(
                args.teacher,
                student,
                args.data,
                out,
                unlabeled=unlabeled,
                augment=augment,
                ensemble=args.ensemble,
                loss=loss,
                overwrite=True,
                overrides=args.set,
            )
            row = row_of(f"{student} ({label})", out, texts)
            base = [r for r in rows if r["run"] == f"{student} (scratch)"][0]["test_accuracy"]
            gap = teacher_accuracy - base
            row["gap_closed"] = round((row["test_accuracy"] - base) / gap, 3) if gap > 0 else None
            rows.append(row)
    payload = {
        "benchmark": section,
        "machine": machine(),
        "data": str(args.data),
        "teacher": str(args.teacher),
        "ensemble": [str(run) for run in args.ensemble],
        "n_unlabeled": n_unlabeled,
        "student_sets": args.set,
        "results": rows,
    }
    publish(section, payload, render)


if __name__ == "__main__":
    main()
