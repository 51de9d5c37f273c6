"""Evaluation reports on disk: metrics.json, report.md, confusion-matrix and reliability PNGs,
and the most confident mistakes as JSON lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # drawing to files only: no pyplot, no GUI backend

from attentext.evaluation.calibration import (
    compare_probabilities,
    log_softmax,
    measure_calibration,
)
from attentext.evaluation.metrics import (
    EvaluationReport,
    confident_mistakes,
    coverage_table,
    evaluation_report,
    expected_calibration_error,
)
from attentext.figures import figure_text
from attentext.files import write_json
from attentext.rendering import interval_text, markdown_text, shown_classes

# the most classes a confusion matrix names and numbers cell by cell (trec_fine has 50); with
# more it is drawn as an image of that size, without names or numbers: 2,000 classes made a
# figure of 280,000 x 140,000 pixels holding 8 million numbers (22 GB, minutes: an audit)
NAMED_CLASSES = 50


def plot_confusion(confusion: np.ndarray, label_names: list[str], path: Path) -> None:
    """Counts and row-normalized rates side by side, label names on both axes (up to
    NAMED_CLASSES classes; an image of the rates alone beyond)."""
    confusion = np.asarray(confusion)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    named = len(label_names) <= NAMED_CLASSES
    size = max(4.0, 0.7 * min(len(label_names), NAMED_CLASSES) + 2)
    fig = Figure(figsize=(2 * size + 1, size), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, values, title, fmt in (
        (axes[0], confusion, "counts", "d"),
        (axes[1], rates, "row-normalized", ".2f"),
    ):
        image = ax.imshow(values, cmap="Blues")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        if named:
            ax.set_title(f"Confusion matrix ({title})")
            _name_cells(ax, values, fmt, label_names)
        else:
            ax.set_title(f"Confusion matrix ({title}; {len(label_names):,} classes, unnamed)")
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(image, ax=ax, shrink=0.8)
    fig.savefig(path, dpi=100)


def _name_cells(ax, values: np.ndarray, fmt: str, label_names: list[str]) -> None:
    """Label names on both axes and each cell's number (`plot_confusion`)."""
    names = [figure_text(name) for name in label_names]
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    threshold = values.max() / 2 if values.size else 0
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(
                j,
                i,
                format(values[i, j], fmt),
                ha="center",
                va="center",
                color="white" if values[i, j] > threshold else "black",
                fontsize=8,
            )


def _reliability_axes(ax, bins: list[dict[str, float]], ece: float, title: str) -> None:
    """Accuracy against confidence per bin on one axes; the diagonal is perfect calibration."""
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect calibration")
    centers = [(b["low"] + b["high"]) / 2 for b in bins]
    widths = [b["high"] - b["low"] for b in bins]
    accuracy = [b["accuracy"] for b in bins]
    ax.bar(centers, accuracy, width=widths, edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([b["confidence"] for b in bins], accuracy, "o", color="C3", label="mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title} (ECE {ece:.3f})")
    ax.legend(loc="upper left")


def plot_reliability(
    bins: list[dict[str, float]],
    ece: float,
    path: Path,
    before: tuple[list[dict[str, float]], float] | None = None,
) -> None:
    """The reliability diagram; with `before` (bins, ECE without the run's temperature), the
    uncalibrated one on its left."""
    panels = ([(*before, "Before calibration")] if before else []) + [
        (bins, ece, "Calibrated" if before else "Reliability diagram")
    ]
    fig = Figure(figsize=(5 * len(panels), 5), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (panel_bins, panel_ece, title) in zip(axes, panels, strict=True):
        _reliability_axes(ax, panel_bins, panel_ece, title)
    fig.savefig(path, dpi=100)


def full_report(
    texts: list[str],
    y_true: np.ndarray,
    probabilities: np.ndarray,
    label_names: list[str],
    temperature: float = 1.0,
    uncalibrated: np.ndarray | None = None,
    steps: dict[str, Any] | None = None,
) -> EvaluationReport:
    """Metrics, calibration and confident mistakes of `probabilities` against `y_true`.

    `probabilities` are the run's calibrated ones (softmax(logits / temperature)); with a
    temperature other than 1, the report also gives ECE and NLL without it (softmax(logits) is
    softmax(temperature * log p)). A run with a confidence map after its temperature passes
    `uncalibrated` (softmax(logits)), which no temperature can recover from its probabilities,
    as does a run with a label prior; `steps` says which came after the temperature (`method`:
    isotonic, `label_prior`: its target).
    """
    report = evaluation_report(y_true, probabilities.argmax(axis=1), label_names)
    ece, bins = expected_calibration_error(probabilities, y_true)
    report.extra.update(
        expected_calibration_error=ece,
        reliability_bins=bins,
        confident_mistakes=confident_mistakes(texts, y_true, probabilities, label_names),
        coverage=coverage_table(probabilities, y_true),
    )
    if uncalibrated is not None and len(y_true):
        report.extra["calibration"] = {
            "temperature": temperature,
            **(steps or {}),
            **compare_probabilities(uncalibrated, probabilities, y_true),
        }
        report.extra["reliability_bins_before"] = expected_calibration_error(uncalibrated, y_true)[
            1
        ]
    elif temperature != 1.0 and len(y_true):
        log_p = np.log(np.clip(probabilities, 1e-12, None))
        report.extra["calibration"] = {
            "temperature": temperature,
            **measure_calibration(temperature * log_p, y_true, temperature),
        }
        before = np.exp(log_softmax(temperature * log_p))
        report.extra["reliability_bins_before"] = expected_calibration_error(before, y_true)[1]
    return report


def _calibration_lines(calibration: dict | None) -> list[str]:
    if not calibration:
        return []
    c = calibration
    return [
        f"- calibration: temperature {c['temperature']:.3f}"
        f"{' and a confidence map' if c.get('method') == 'isotonic' else ''}"
        f"{' and a ' + c['label_prior'] + ' label prior' if c.get('label_prior') else ''}; "
        f"ECE {c['ece_before']:.4f} without it, "
        f"{c['ece_after']:.4f} with it; NLL {c['nll_before']:.4f} -> {c['nll_after']:.4f}"
    ]


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def coverage_lines(coverage: list[dict[str, Any]]) -> list[str]:
    """report.md's table of `metrics.coverage_table`: what deciding only the texts whose top
    probability reaches a threshold keeps, and how accurate each side is."""
    if not coverage:
        return []
    lines = [
        "## Decided above a probability",
        "",
        "Texts whose top probability is at least P decided automatically, the rest sent to a "
        "person: read on validation to choose P, on test to check it.",
        "",
        "| P | texts kept | share kept | accuracy kept | accuracy of the rest |",
        "|---|---|---|---|---|",
    ]
    for row in coverage:
        lines.append(
            f"| {row['threshold']:g} | {row['kept']} | {row['coverage']:.1%} | "
            f"{_share(row['accuracy_kept'])} | {_share(row['accuracy_rest'])} |"
        )
    return [*lines, ""]


def write_report(report: EvaluationReport, output_dir: str | Path, title: str) -> Path:
    """metrics.json, report.md, confusion_matrix.png, reliability.png, mistakes.jsonl in `output_dir`."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    payload = report.to_dict()
    mistakes = payload.pop("confident_mistakes", [])
    write_json(output_dir / "metrics.json", payload)
    with open(output_dir / "mistakes.jsonl", "w", encoding="utf-8") as handle:
        for mistake in mistakes:
            handle.write(json.dumps(mistake, ensure_ascii=False) + "\n")
    plot_confusion(
        np.array(report.confusion), report.label_names, output_dir / "confusion_matrix.png"
    )
    calibration = payload.get("calibration")
    plot_reliability(
        payload.get("reliability_bins", []),
        payload.get("expected_calibration_error", 0.0),
        output_dir / "reliability.png",
        (payload["reliability_bins_before"], calibration["ece_before"]) if calibration else None,
    )
    lines = [
        f"# {markdown_text(title)}",
        "",
        f"- examples: {report.n_examples}",
        f"- accuracy: {report.accuracy:.4f}{interval_text(payload.get('accuracy_interval'))}",
        f"- macro-F1: {report.macro_f1:.4f}{interval_text(payload.get('macro_f1_interval'))}",
        f"- weighted-F1: {report.weighted_f1:.4f}",
        f"- expected calibration error: {payload.get('expected_calibration_error', float('nan')):.4f}",
        *_calibration_lines(payload.get("calibration")),
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    rows, rest = shown_classes(report.per_class)
    for name, row in rows:
        lines.append(
            f"| {markdown_text(name)} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | {row['support']} |"
        )
    lines += [
        *(["", f"Shown: {rest}."] if rest else []),
        "",
        *coverage_lines(payload.get("coverage", [])),
        "![confusion matrix](confusion_matrix.png)",
        "",
        "![reliability diagram](reliability.png)",
        "",
        f"The {len(mistakes)} most confident mistakes are in `mistakes.jsonl`.",
        "",
    ]
    (output_dir / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return output_dir
