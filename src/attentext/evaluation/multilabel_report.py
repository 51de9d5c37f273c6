"""The evaluation report of a multi-label run: metrics, a per-label F1 chart, report.md."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from attentext.evaluation.label_calibration import measure_label_calibration
from attentext.evaluation.metrics import report_repr
from attentext.evaluation.multilabel import multi_hot, multilabel_report
from attentext.figures import figure_text
from attentext.files import write_json
from attentext.rendering import LABEL_NOUNS, interval_text, markdown_text, shown_classes

MAX_CHART_LABELS = 60  # a bar per label, the most frequent first; more would not be readable


@dataclass
class MultiLabelReport:
    """Micro/macro/samples F1, subset accuracy (`accuracy`), Hamming loss and per-label table."""

    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        return report_repr(type(self).__name__, self.values)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.values)


def full_multilabel_report(
    id_lists: list[list[int]],
    probabilities: np.ndarray,
    label_names: list[str],
    thresholds: np.ndarray,
    calibration: tuple[np.ndarray, np.ndarray | None] | None = None,
) -> MultiLabelReport:
    """The report of per-label `probabilities` against each text's true label ids; with
    `calibration` (the logits before the labels' temperatures, and those temperatures), also
    the binary cross-entropy and ECE of every (text, label) pair before and after them."""
    y_true = multi_hot(id_lists, len(label_names))
    values = multilabel_report(y_true, probabilities, label_names, thresholds)
    values["thresholds"] = {name: float(t) for name, t in zip(label_names, thresholds, strict=True)}
    if calibration is not None:
        logits, temperatures = calibration
        values["calibration"] = measure_label_calibration(y_true, logits, temperatures)
    return MultiLabelReport(values)


def plot_per_label_f1(per_class: dict[str, dict[str, float]], path: Path) -> None:
    """F1 per label, the labels with the most test examples first (the confusion matrix of
    single-label runs has no meaning when a text has several labels)."""
    ranked = sorted(per_class.items(), key=lambda item: -item[1]["support"])[:MAX_CHART_LABELS]
    fig = Figure(figsize=(max(6.0, 0.22 * len(ranked) + 2), 4.5), layout="constrained")
    ax = fig.subplots()
    ax.bar(range(len(ranked)), [row["f1"] for _, row in ranked], color="tab:blue")
    names = [figure_text(name) for name, _ in ranked]
    ax.set_xticks(range(len(ranked)), names, rotation=90, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1")
    shown = "" if len(ranked) == len(per_class) else f" ({len(ranked)} most frequent)"
    ax.set_title(f"F1 per label{shown}, most test examples first")
    fig.savefig(path, dpi=100)


def _calibration_lines(measured: dict[str, float] | None) -> list[str]:
    """report.md's line on the labels' temperatures: what they did to these texts' pairs."""
    if not measured:
        return []
    return [
        f"- calibration (a temperature per label), over {measured['n_pairs']} (text, label) "
        f"pairs: NLL {measured['nll_before']:.4f} -> {measured['nll_after']:.4f}, "
        f"ECE {measured['ece_before']:.4f} -> {measured['ece_after']:.4f}"
    ]


def write_multilabel_report(report: MultiLabelReport, output_dir: Path, title: str) -> Path:
    """metrics.json, report.md and per_label_f1.png in `output_dir`."""
    output_dir.mkdir(parents=True, exist_ok=True)
    values = report.to_dict()
    write_json(output_dir / "metrics.json", values)
    plot_per_label_f1(values["per_class"], output_dir / "per_label_f1.png")
    lines = [
        f"# {markdown_text(title)}",
        "",
        f"- examples: {values['n_examples']} (several labels per text)",
        f"- micro-F1: {values['micro_f1']:.4f}; macro-F1: {values['macro_f1']:.4f}"
        f"{interval_text(values.get('macro_f1_interval'))}; "
        f"samples-F1: {values['samples_f1']:.4f}",
        f"- subset accuracy: {values['accuracy']:.4f}; Hamming loss: {values['hamming_loss']:.4f}",
        f"- labels per text: {values['label_cardinality']:.3f} true, "
        f"{values['predicted_cardinality']:.3f} predicted",
        *_calibration_lines(values.get("calibration")),
        "",
        "| label | precision | recall | F1 | support | threshold |",
        "|---|---|---|---|---|---|",
    ]
    rows, rest = shown_classes(values["per_class"], nouns=LABEL_NOUNS)
    for name, row in rows:
        lines.append(
            f"| {markdown_text(name)} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
            f"{row['support']} | {values['thresholds'][name]:.2f} |"
        )
    lines += [
        *(["", f"Shown: {rest}."] if rest else []),
        "",
        "![F1 per label](per_label_f1.png)",
        "",
    ]
    (output_dir / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return output_dir
