"""`attentext auto`: the best model a time budget buys on a dataset, never worse than the baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from attentext.cli.common import DataOption, out, quiet_libraries

RESUME_HELP = (
    "Go on in the --output of an interrupted call: a recipe it finished with the same settings "
    "is taken, not trained again."
)


def auto_command(
    data: DataOption,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="Folder for best/ (the chosen run), leaderboard/ and auto.md."
        ),
    ] = Path("runs/auto"),
    budget: Annotated[
        str, typer.Option(help="Time for the whole command: 90s, 10m, 1h (or 1h30m).")
    ] = "10m",
    recipes: Annotated[
        list[str] | None,
        typer.Option(
            "--recipe",
            help="Only these recipes (repeat the option); tfidf-logreg always trains first.",
        ),
    ] = None,
    metric: Annotated[
        str, typer.Option(help="Validation metric that chooses: accuracy or macro_f1.")
    ] = "accuracy",
    multi_label: Annotated[
        bool, typer.Option("--multi-label", help="Several labels per text (see train).")
    ] = False,
    keep_all: Annotated[
        bool, typer.Option("--keep-all", help="Keep every run in OUTPUT/runs/, not only the best.")
    ] = False,
    ensemble: Annotated[
        bool,
        typer.Option(
            help="Weigh the runs into an ensemble, kept where it beats the best run on validation."
        ),
    ] = True,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an earlier `attentext auto` output folder.")
    ] = False,
    resume: Annotated[bool, typer.Option(help=RESUME_HELP)] = False,
) -> None:
    """Train tfidf-logreg, then the recipes that fit the budget; keep the best on validation."""
    from attentext.automl.budget import parse_duration

    seconds = parse_duration(budget, "--budget")
    quiet_libraries()
    from attentext.automl.auto import auto

    auto(
        data,
        output,
        seconds,
        recipes=recipes,
        metric=metric,
        multi_label=multi_label,
        keep_all=keep_all,
        ensemble=ensemble,
        overwrite=overwrite,
        resume=resume,
        progress=lambda line: out.print(line, markup=False, highlight=False, soft_wrap=True),
    )
