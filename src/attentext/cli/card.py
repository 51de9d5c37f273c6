"""`attentext card`: a run's model card, the README.md in the Hugging Face model-card format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from attentext.cli.common import err
from attentext.errors import AttentextError


def card_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Also write the card into the run as README.md, built from the run's files "
            "(for a run made before cards; an evaluation `evaluate --card` added is dropped). "
            "A README.md edited by hand, or not written by attentext, is kept (an error) "
            "unless --overwrite.",
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="With --write: replace README.md even if it was edited by hand or is not "
            "attentext's (its text is lost).",
        ),
    ] = False,
) -> None:
    """Print a run's model card: its README.md, or one built from the run when it has none."""
    if overwrite and not write:  # was ignored without a word: the card printed, none replaced
        raise AttentextError("--overwrite applies to --write; add --write")
    from attentext.evaluation.card import model_card, read_card, write_card
    from attentext.rundir import open_run

    run = open_run(run_dir)
    if write:
        err.print(
            f"model card written to {write_card(run, overwrite=overwrite)}",
            markup=False,
            highlight=False,
        )
    text = read_card(run)
    typer.echo(text if text is not None else model_card(run), nl=False)
