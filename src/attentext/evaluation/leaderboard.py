"""`attentext compare`: a leaderboard of runs measured in one process on the same data.

Accuracy alone does not choose a model: the table puts it beside training cost, parameters,
throughput, latency and artifact size, all measured here, now, on the same texts.
"""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # drawing to files only: no pyplot, no GUI backend

from attentext import rundir
from attentext.evaluation.metrics import classification_metrics
from attentext.evaluation.multilabel import multi_hot, multilabel_metrics
from attentext.evaluation.progress import scored
from attentext.evaluation.standing import ranked, tie_note
from attentext.figures import figure_text
from attentext.files import TMP_SUFFIX, files_replaced_together, is_staging, write_json
from attentext.inference.classifier import Classifier, load
from attentext.rendering import markdown_text

# "accuracy", not "test acc": compare measures the split or file it is given (auto's leaderboard
# is on validation, and was headed "test acc" beside auto.md's test accuracy of the best run)
Outcome = tuple[np.ndarray, np.ndarray]  # (gold, given): texts x labels of 0/1

COLUMNS = [
    ("model", "model"),
    ("recipe", "recipe"),
    ("trainable_parameters", "trainable params"),
    ("total_parameters", "total params"),
    ("train_seconds", "train s"),
    ("accuracy", "accuracy"),
    ("accuracy_interval", "95% interval"),
    ("p_vs_best", "p vs best"),
    ("macro_f1", "macro-F1"),
    ("macro_f1_interval", "macro-F1 95% interval"),
    ("texts_per_second", "texts/s (batch 32)"),
    ("latency_p50_ms", "p50 ms (batch 1)"),
    ("latency_p95_ms", "p95 ms (batch 1)"),
    ("size_mb", "size MB"),
]


def _predict_in_batches(classifier: Classifier, texts: list[str], batch_size: int) -> np.ndarray:
    return np.concatenate(
        [
            classifier.predict_proba(texts[i : i + batch_size])
            for i in range(0, len(texts), batch_size)
        ]
    )


def measure_run(
    run_dir: str | Path,
    texts: list[str],
    labels: Any,
    throughput_texts: int = 512,
    latency_calls: int = 50,
    classifier: Classifier | None = None,
) -> tuple[dict[str, Any], Outcome]:
    """Accuracy on all `texts`, throughput at batch 32, latency at batch 1, and the run's own facts;
    and its outcome on each text (the gold labels and those it gave, texts x labels of 0/1: a
    one-hot row per text where a text has one label), for the paired tests against the other
    runs (`significance`).

    `classifier` is the run already loaded, when the caller has it (loading a run costs seconds).
    """
    run_dir = Path(run_dir)
    classifier = classifier if classifier is not None else load(run_dir)
    trained = rundir.read_metrics(run_dir)
    probabilities = scored(classifier.predict_proba, texts, f"Scoring {run_dir.name}")
    if getattr(classifier, "multi_label", False):  # label ids per text, at the run's thresholds
        y_true = multi_hot(labels, len(classifier.labels))
        decided = (probabilities >= classifier.thresholds).astype(int)
        scores = multilabel_metrics(y_true, decided)
    else:
        scores = classification_metrics(np.asarray(labels), probabilities.argmax(axis=1))
        one_hot = np.eye(len(classifier.labels), dtype=int)
        y_true, decided = one_hot[np.asarray(labels)], one_hot[probabilities.argmax(axis=1)]
    sample = texts[: min(throughput_texts, len(texts))]
    _predict_in_batches(classifier, sample[:32], 32)  # warm up
    start = time.perf_counter()
    _predict_in_batches(classifier, sample, 32)
    throughput = len(sample) / (time.perf_counter() - start)
    latencies = []
    for text in texts[:latency_calls]:
        start = time.perf_counter()
        classifier.predict_proba([text])
        latencies.append((time.perf_counter() - start) * 1000)
    size = rundir.model_bytes(run_dir)
    row = {
        "model": run_dir.name,
        "recipe": trained.get("recipe", "?"),
        "trainable_parameters": trained.get("trainable_parameters"),
        "total_parameters": trained.get("total_parameters"),
        "train_seconds": trained.get("train_seconds"),
        **scores,
        "texts_per_second": round(throughput, 1),
        "latency_p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "latency_p95_ms": round(float(np.percentile(latencies, 95)), 2),
        "size_mb": round(size / 1e6, 2),
    }
    return row, (y_true, decided)


def format_cell(value: Any) -> str:
    """A measurement (seconds, ms, MB, texts/s) with 2 decimals under 10, 1 above: the p95
    latency of one run read "0.7800" (4 decimals, as a score) beside another's "1.0"."""
    if isinstance(value, float):
        return f"{value:.2f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "" if value is None else str(value)


# shares of texts: always 4 decimals (`format_cell` wrote a perfect run's accuracy "1.0" beside
# "0.6875" and its interval "0.5101-1.0000")
SCORES = ("accuracy", "macro_f1", "micro_f1")
# an interval column and the two ends its rows hold (leaderboard.csv has the ends)
INTERVALS = {
    "accuracy_interval": ("accuracy_low", "accuracy_high"),
    "macro_f1_interval": ("macro_f1_low", "macro_f1_high"),
}


def row_cell(row: dict[str, Any], key: str, digits: int = 4) -> str:
    """The text of one leaderboard cell: the interval from its two ends, the best run's own
    p-value cell says "best", a p-value under 0.001 is written 2.3e-05, a score with 4
    decimals; the rest `format_cell`. `digits`: the interval's (80 columns have room for 3)."""
    if key in SCORES and isinstance(row.get(key), float):
        return f"{row[key]:.4f}"
    if key in INTERVALS:
        low, high = INTERVALS[key]
        if row.get(low) is None:
            return ""
        return f"{row[low]:.{digits}f}-{row[high]:.{digits}f}"
    if key == "p_vs_best" and "p_vs_best" in row:
        return _p_cell(row["p_vs_best"])
    return format_cell(row.get(key))


SMALLEST_P = 1e-300  # under it a float underflows (to 0.0 from 1,075 texts one way, none back)


def _p_cell(value: float | None) -> str:
    """A p-value as read: "best" for the best run's own, 2.3e-05 under 0.001, "<1e-300" where
    it underflowed (a run wrong on all of AG News' 7,600 test texts read "0.0e+00": p = 0)."""
    if value is None:
        return "best"
    if value < SMALLEST_P:
        return f"<{SMALLEST_P:.0e}"
    return f"{value:.1e}" if value < 0.001 else f"{value:.3f}"


# leaderboard.csv: numbers, the interval as its two ends
CSV_FIELDS = [end for key, _ in COLUMNS for end in INTERVALS.get(key, (key,))]


def leaderboard_markdown(rows: list[dict[str, Any]]) -> str:
    """The table of `rows` (ranked, best first), and below it a best tied on accuracy (or, with
    several labels per text, on macro-F1) said so, with what ranked it first."""
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = (markdown_text(row_cell(row, k)) for k, _ in COLUMNS)
        lines.append("| " + " | ".join(cells) + " |")
    if note := tie_note(rows, markdown_text):
        lines += ["", note]
    return "\n".join(lines)


def _scatter(rows: list[dict[str, Any]], x_key: str, x_label: str, path: Path, log: bool) -> None:
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.subplots()
    for row in rows:
        if row.get(x_key):
            ax.scatter(row[x_key], row["accuracy"], s=40)
            ax.annotate(
                figure_text(row["model"]),
                (row[x_key], row["accuracy"]),
                textcoords="offset points",
                xytext=(5, 4),
                fontsize=8,
            )
    if log:
        ax.set_xscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=100)


TABLE_MD, TABLE_CSV, TABLE_JSON = "leaderboard.md", "leaderboard.csv", "leaderboard.json"
TRAIN_TIME_PLOT, THROUGHPUT_PLOT = "accuracy_vs_train_time.png", "accuracy_vs_throughput.png"
LEADERBOARD_FILES = (TABLE_MD, TABLE_CSV, TABLE_JSON, TRAIN_TIME_PLOT, THROUGHPUT_PLOT)
# what a killed write of one of them leaves (`files.temporary_beside`)
_TEMPORARY = re.compile(
    "|".join(rf"\.{re.escape(name)}\..+{re.escape(TMP_SUFFIX)}" for name in LEADERBOARD_FILES)
)


def is_leaderboard_file(path: Path) -> bool:
    """Whether `path` is a plain file `write_leaderboard` writes (or its temporary, or the
    staging folder a killed compare left): what a folder may hold for compare to write into it
    without --overwrite."""
    named = path.name in LEADERBOARD_FILES or bool(_TEMPORARY.fullmatch(path.name))
    return (named and path.is_file() and not path.is_symlink()) or is_staging(path)


def write_leaderboard(rows: list[dict[str, Any]], output_dir: str | Path) -> Path:
    """leaderboard.md/.csv/.json and the two plots, in `output_dir`, in place of an earlier
    compare's: written in a staging folder, then renamed in together, so that a Ctrl-C or a
    full disk in the middle leaves the earlier leaderboard whole (written in place, one file
    after another, it was left half new, its leaderboard.csv cut short)."""
    output_dir = Path(output_dir)
    with files_replaced_together(output_dir, lambda name: name in LEADERBOARD_FILES) as staging:
        _write_tables(ranked(rows), staging)
    return output_dir


def _write_tables(rows: list[dict[str, Any]], folder: Path) -> None:
    """The leaderboard's files in `folder` (a staging folder)."""
    (folder / TABLE_MD).write_text(leaderboard_markdown(rows) + "\n", encoding="utf-8")
    write_json(folder / TABLE_JSON, rows)
    with open(folder / TABLE_CSV, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    _scatter(
        rows, "train_seconds", "training time (s, log scale)", folder / TRAIN_TIME_PLOT, log=True
    )
    _scatter(
        rows,
        "texts_per_second",
        "throughput (texts/s at batch 32, log scale)",
        folder / THROUGHPUT_PLOT,
        log=True,
    )
