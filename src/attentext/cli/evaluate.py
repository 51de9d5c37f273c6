"""`attentext evaluate`: a run's metrics on labelled data, and a report folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from attentext.cli.common import (
    BackendOption,
    DataOption,
    err,
    out,
    quiet_libraries,
    show_report,
)
from attentext.errors import AttentextError
from attentext.outputs import check_report_folder

OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Folder for report.md, metrics.json, PNGs, mistakes.jsonl."
    ),
]
CardOption = Annotated[
    bool,
    typer.Option(
        "--card",
        help="Also refresh the run's model card (RUN_DIR/README.md) with this evaluation "
        "(a README.md edited by hand is kept, an error, unless --overwrite-card).",
    ),
]
OverwriteCardOption = Annotated[
    bool,
    typer.Option(
        "--overwrite-card",
        help="With --card: replace README.md even if it was edited by hand or is not "
        "attentext's (its text is lost).",
    ),
]
OverwriteOption = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Write --output's report into a folder of other files even where its "
        "report.md, metrics.json or PNGs would replace files of those names.",
    ),
]


def evaluate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    data: DataOption,
    split: Annotated[str, typer.Option(help="Split of a folder to evaluate on.")] = "test",
    output: OutputOption = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    backend: BackendOption = "torch",
    card: CardOption = False,
    overwrite_card: OverwriteCardOption = False,
    overwrite: OverwriteOption = False,
) -> None:
    """Accuracy, macro-F1 and a per-class table of a run on labelled data (and a report folder)."""
    _check_paired(
        ("--overwrite", overwrite, "--output", output),
        ("--overwrite-card", overwrite_card, "--card", card),
    )
    if output is not None:
        check_report_folder(output, overwrite)
    if card and not overwrite_card:
        _check_card(run_dir)
    quiet_libraries()
    from attentext.evaluation.evaluate import evaluate

    report = evaluate(
        run_dir, data, split=split, output=output, backend=backend, overwrite=overwrite
    ).to_dict()
    for bulky in ("confident_mistakes", "reliability_bins_before"):
        report.pop(bulky, None)
    if card:
        _refresh_card(run_dir, data, split, report, overwrite_card)
    if json_output:
        print(json.dumps(report, indent=2))
        return
    show_report(report, f"{run_dir} on {data}")
    for line in [*_calibration_lines(report), *_coverage_line(report)]:
        out.print(line)
    if output is not None:
        out.print(f"report written to {output}/report.md")


def _check_paired(*pairs: tuple[str, object, str, object]) -> None:
    """Refuse an option given without the one it modifies: `--overwrite-card` without `--card`
    (or `--overwrite` without `--output`) was ignored without a word, the user believing the
    card replaced."""
    for name, given, needed, present in pairs:
        if given and not present:
            raise AttentextError(f"{name} applies to {needed}; add {needed}")


def _calibration_lines(report: dict) -> list[str]:
    """How calibrated the run is on these texts: the ECE and, where the run is calibrated, with
    and without it (a multi-label run: over every (text, label) pair, a temperature per label)."""
    c = report.get("calibration")
    if report.get("problem_type") == "multi_label":
        if not c:
            return []
        return [
            f"calibrated by a temperature per label, over {c['n_pairs']:,} (text, label) pairs: "
            f"ECE {c['ece_before']:.4f} without, {c['ece_after']:.4f} with; NLL "
            f"{c['nll_before']:.4f} without, {c['nll_after']:.4f} with"
        ]
    lines = [f"expected calibration error {report['expected_calibration_error']:.4f}"]
    if c:
        lines.append(
            f"calibrated by temperature {c['temperature']:.3f}"
            f"{' and a confidence map' if c.get('method') == 'isotonic' else ''}"
            f"{' and its label prior' if c.get('label_prior') else ''}: ECE "
            f"{c['ece_before']:.4f} without it; NLL {c['nll_before']:.4f} without, "
            f"{c['nll_after']:.4f} with"
        )
    return lines


SHOWN_THRESHOLDS = (0.8, 0.9, 0.95)  # of metrics.COVERAGE_THRESHOLDS; report.md has them all


def _coverage_line(report: dict) -> list[str]:
    """One line of what deciding only the sure texts buys (report.md: the whole table)."""
    rows = [row for row in report.get("coverage", []) if row["threshold"] in SHOWN_THRESHOLDS]
    parts = [
        f"p >= {row['threshold']:g}: {_percent(row['coverage'])} of texts"
        + (f" at accuracy {row['accuracy_kept']:.3f}" if row["accuracy_kept"] is not None else "")
        for row in rows
    ]
    return ["decided above a probability: " + "; ".join(parts)] if parts else []


def _percent(share: float) -> str:
    """`share` in whole percents, a share that is not none or all never written as 0% or 100%:
    3 texts of 7,600 kept at p >= 0.95 read "0% of texts at accuracy 1.000"."""
    if 0 < share < 0.01:
        return "<1%"
    if 0.99 < share < 1:
        return ">99%"
    return f"{share:.0%}"


def _check_card(run_dir: Path) -> None:
    """Before the evaluation: a card edited by hand would refuse `--card` only after it."""
    from attentext.evaluation.card import check_card_replaceable
    from attentext.rundir import open_run

    check_card_replaceable(open_run(run_dir), "--overwrite-card")


def _refresh_card(run_dir: Path, data: str, split: str, report: dict, overwrite: bool) -> None:
    """The run's README.md rebuilt with this evaluation first (`--card`)."""
    from attentext.evaluation.card import Evaluation, short_data_name, write_card
    from attentext.rundir import open_run

    evaluation = Evaluation(short_data_name(data), split, report)
    written = write_card(open_run(run_dir), evaluation, overwrite, "--overwrite-card")
    err.print(f"model card refreshed: {written}", markup=False, highlight=False)
