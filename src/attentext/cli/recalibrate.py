"""`attentext recalibrate`: refit a run's temperature on labelled texts like those it will score."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from attentext.cli.common import BackendOption, out, quiet_libraries
from attentext.errors import RecipeError


def recalibrate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (rewritten in place).")],
    data: Annotated[
        str | None,
        typer.Option(
            "--data", "-d", help="Held-out labelled texts: a folder (with --split) or a file."
        ),
    ] = None,
    split: Annotated[
        str, typer.Option(help="Split of a folder to fit on (a single file: all its rows).")
    ] = "validation",
    backend: BackendOption = "torch",
    method: Annotated[
        str,
        typer.Option(
            help="temperature (one scalar), or isotonic (the temperature, then a monotone map "
            "of the top label's probability; needs 2,000+ texts)."
        ),
    ] = "temperature",
    label_prior: Annotated[
        str | None,
        typer.Option(
            help="train, balanced, or estimated (on --texts): set the run's label prior first; "
            "a temperature fitted with --data is then fitted beside it."
        ),
    ] = None,
    texts: Annotated[
        Path | None,
        typer.Option(
            help="Unlabeled texts like those the run will score (--label-prior estimated)."
        ),
    ] = None,
) -> None:
    """Fit the run's calibration on held-out labelled texts (never trained on) and save it.

    Training fits a temperature on the validation split carved from the training data; texts
    from where the model will be used calibrate it for there. Predicted labels never change
    (unless the run has a label prior, kept after the new temperature). `--label-prior balanced`
    divides the training split's label shares out of the probabilities, without retraining.
    """
    if data is None and label_prior is None:
        raise RecipeError("give --data (texts to fit the temperature on) or --label-prior")
    quiet_libraries()
    from attentext.evaluation.recalibrate import recalibrate, set_label_prior

    if label_prior is not None:
        record = set_label_prior(run_dir, label_prior, texts, backend)
        shift = record.get("label_prior") or {}
        shares = shift.get("estimated_shares")
        out.print(
            f"{run_dir}: label prior {label_prior}"
            + (f", shares {shares} on {shift['estimated_on']}" if shares else "")
            + (f" (bias {shift['bias']} after the temperature)" if shift else " (no bias)")
        )
    if data is None:
        return
    c, previous = recalibrate(run_dir, data, split=split, backend=backend, method=method)
    mapped = c.confidence_map is not None
    out.print(
        f"{run_dir}: temperature {previous:.4f} -> {c.temperature:.4f}"
        f"{' and a confidence map' if mapped else ''}, fitted on {c.n_examples:,} texts "
        f"({c.fitted_on}); there ECE {c.ece_before:.4f} -> {c.ece_after:.4f} and NLL "
        f"{c.nll_before:.4f} -> {c.nll_after:.4f} (without calibration -> with the new one"
        f"{', each half scored by a map fitted on the other' if mapped else ''})"
    )
