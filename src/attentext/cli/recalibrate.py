"""`attentext recalibrate`: refit a run's temperature on labelled texts like those it will score."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from attentext.cli.common import BackendOption, DataOption, out, quiet_libraries


def recalibrate_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory (rewritten in place).")],
    data: DataOption,
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
) -> None:
    """Fit the run's calibration on held-out labelled texts (never trained on) and save it.

    Training fits a temperature on the validation split carved from the training data; texts
    from where the model will be used calibrate it for there. Predicted labels never change
    (unless the run has a label prior, kept after the new temperature).
    """
    quiet_libraries()
    from attentext.evaluation.recalibrate import recalibrate

    c, previous = recalibrate(run_dir, data, split=split, backend=backend, method=method)
    mapped = c.confidence_map is not None
    out.print(
        f"{run_dir}: temperature {previous:.4f} -> {c.temperature:.4f}"
        f"{' and a confidence map' if mapped else ''}, fitted on {c.n_examples:,} texts "
        f"({c.fitted_on}); there ECE {c.ece_before:.4f} -> {c.ece_after:.4f} and NLL "
        f"{c.nll_before:.4f} -> {c.nll_after:.4f} (without calibration -> with the new one"
        f"{', each half scored by a map fitted on the other' if mapped else ''})"
    )
