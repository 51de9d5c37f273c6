"""`attentext recalibrate`: refit a run's temperature on labelled texts like those it will score,
or on a better-calibrated run's probabilities of unlabeled ones; set its label prior."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attentext.cli.common import BackendOption, out, quiet_libraries
from attentext.errors import RecipeError

if TYPE_CHECKING:
    from attentext.evaluation.calibration import Calibration

DataOption = Annotated[
    str | None,
    typer.Option(
        "--data", "-d", help="Held-out labelled texts: a folder (with --split) or a file."
    ),
]
SplitOption = Annotated[
    str, typer.Option(help="Split of a folder to fit on (a single file: all its rows).")
]
MethodOption = Annotated[
    str,
    typer.Option(
        help="temperature (one scalar), or isotonic (the temperature, then a monotone map "
        "of the top label's probability; needs 2,000+ texts)."
    ),
]
LabelPriorOption = Annotated[
    str | None,
    typer.Option(
        help="train, balanced, or estimated (on --texts): set the run's label prior first; "
        "a temperature fitted with --data or --reference is then fitted beside it."
    ),
]
TextsOption = Annotated[
    Path | None,
    typer.Option(
        help="Unlabeled texts like those the run will score (--label-prior estimated, --reference)."
    ),
]
ReferenceOption = Annotated[
    Path | None,
    typer.Option(
        help="A better-calibrated run (a student's teacher): fit to its probabilities of "
        "--texts instead of gold labels."
    ),
]


def recalibrate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (rewritten in place).")],
    data: DataOption = None,
    split: SplitOption = "validation",
    backend: BackendOption = "torch",
    method: MethodOption = "temperature",
    label_prior: LabelPriorOption = None,
    texts: TextsOption = None,
    reference: ReferenceOption = None,
) -> None:
    """Fit the run's calibration on held-out labelled texts (never trained on) and save it.

    Training fits a temperature on the validation split carved from the training data; texts
    from where the model will be used calibrate it for there. Predicted labels never change
    (unless the run has a label prior, kept after the new temperature). `--label-prior balanced`
    divides the training split's label shares out of the probabilities, without retraining.
    With no labels, `--reference TEACHER --texts FILE` fits to a better-calibrated run's
    probabilities of unlabeled texts like those to score.
    """
    if reference is not None and (texts is None or data is not None):
        raise RecipeError("--reference fits on unlabeled --texts, not on --data")
    if data is None and label_prior is None and reference is None:
        raise RecipeError(
            "give --data (labelled texts to fit the temperature on), --reference with --texts, "
            "or --label-prior"
        )
    _check_texts(texts, label_prior, reference)
    quiet_libraries()
    from attentext.evaluation.recalibrate import as_it_was_on_failure, recalibrate

    if data is not None and _multi_label(run_dir, method, label_prior, reference):
        _recalibrate_labels(run_dir, data, split, backend)
        return
    said = []  # printed once every step is saved: a failed fit leaves the run as it was
    with as_it_was_on_failure(run_dir):
        if label_prior is not None:
            said.append(_set_label_prior(run_dir, label_prior, texts, backend))
        if data is not None or reference is not None:
            calibration, previous = recalibrate(
                run_dir,
                data or texts,
                split=split,
                backend=backend,
                method=method,
                reference=reference,
            )
            said.append(_calibration_line(run_dir, calibration, previous, reference is not None))
    for line in said:
        out.print(line)


def _check_texts(texts: Path | None, label_prior: str | None, reference: Path | None) -> None:
    """--texts where something reads it, and there only: given with --data or another prior it
    was ignored without a word (the user believing the run fitted to those texts)."""
    reads = label_prior == "estimated" or reference is not None
    if label_prior == "estimated" and texts is None:
        raise RecipeError(
            "--label-prior estimated estimates the label shares of unlabeled texts: give them "
            "with --texts FILE (one per line, or a data file's text column)"
        )
    if texts is not None and not reads:
        raise RecipeError(
            "--texts is read by --label-prior estimated and --reference only; labelled texts to "
            "fit the temperature on are --data"
        )


def _multi_label(
    run_dir: Path, method: str, label_prior: str | None, reference: Path | None
) -> bool:
    """Whether the run gives several labels per text (its temperatures per label are refitted;
    what only one label per text has is refused)."""
    from attentext.rundir import open_run

    if not open_run(run_dir).multi_label:
        return False
    if method != "temperature" or label_prior is not None or reference is not None:
        raise RecipeError(
            f"{run_dir}: several labels per text: --data refits each label's temperature; "
            "--method isotonic, --label-prior and --reference are for one label per text"
        )
    return True


def _recalibrate_labels(run_dir: Path, data: str, split: str, backend: str) -> None:
    from attentext.evaluation.recalibrate_labels import recalibrate_labels

    c = recalibrate_labels(run_dir, data, split=split, backend=backend)
    own = len(c["label_temperatures"]["per_label"])
    out.print(
        f"{run_dir}: a temperature per label fitted on {c['n_examples']:,} texts "
        f"({c['fitted_on']}; {own} labels with their own, the others "
        f"{c['label_temperatures']['pooled']:.4f}); there, over {c['n_pairs']:,} (text, label) "
        f"pairs, ECE {c['ece_before']:.4f} -> {c['ece_after']:.4f} and NLL "
        f"{c['nll_before']:.4f} -> {c['nll_after']:.4f} (without calibration -> with the new "
        "one); thresholds moved so that every text keeps its labels"
    )


def _set_label_prior(run_dir: Path, target: str, texts: Path | None, backend: str) -> str:
    """Set the run's label prior; what was set, in words."""
    from attentext.evaluation.recalibrate import set_label_prior

    record = set_label_prior(run_dir, target, texts if target == "estimated" else None, backend)
    shift = record.get("label_prior") or {}
    shares = shift.get("estimated_shares")
    return (
        f"{run_dir}: label prior {target}"
        + (f", shares {shares} on {shift['estimated_on']}" if shares else "")
        + (f" (bias {shift['bias']} after the temperature)" if shift else " (no bias)")
    )


def _calibration_line(
    run_dir: Path, c: Calibration, previous: float | None, referenced: bool
) -> str:
    mapped = c.confidence_map is not None
    replaced = "(unreadable)" if previous is None else f"{previous:.4f}"
    return (
        f"{run_dir}: temperature {replaced} -> {c.temperature:.4f}"
        f"{' and a confidence map' if mapped else ''}, fitted on {c.n_examples:,} texts "
        f"({c.fitted_on}); there ECE {c.ece_before:.4f} -> {c.ece_after:.4f} and NLL "
        f"{c.nll_before:.4f} -> {c.nll_after:.4f} (without calibration -> with the new one"
        f"{', each half scored by a map fitted on the other' if mapped else ''}"
        f"{'; against its probabilities, not gold labels' if referenced else ''})"
    )
