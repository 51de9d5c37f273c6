"""`attentext tune`: a hyperparameter search of one recipe (Optuna), the best recipe as YAML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.text import Text

from attentext.cli.common import DataOption, bold, cell, err, out, quiet_libraries, show_report

RESUME_HELP = (
    "Go on with the interrupted search in --output: its trials are kept (--trials counts them) "
    "and only the rest run."
)


def tune_command(
    recipe: Annotated[
        str, typer.Argument(help="Recipe name (see `attentext recipes`) or YAML path.")
    ],
    data: DataOption,
    trials: Annotated[int, typer.Option(help="How many trials at most.")] = 20,
    timeout: Annotated[
        str | None,
        typer.Option(
            help="Stop after this long (seconds, or 90s, 10m, 1h); a trial running then ends "
            "at its next step, evaluated."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Folder for best.yaml, best/ and trials.md (runs/tune-RECIPE)."
        ),
    ] = None,
    metric: Annotated[
        str, typer.Option(help="Validation metric to maximize: accuracy or macro_f1.")
    ] = "accuracy",
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Fix a setting for every trial (no longer searched), key=value."
        ),
    ] = None,
    precision: Annotated[str | None, typer.Option(help="auto, fp32, bf16 or fp16.")] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an earlier `attentext tune` output folder.")
    ] = False,
    resume: Annotated[bool, typer.Option(help=RESUME_HELP)] = False,
) -> None:
    """Search a recipe's settings (its `search:` section): TPE, pruning of bad trials."""
    from attentext.automl.budget import parse_duration

    seconds = None if timeout is None else parse_duration(timeout, "--timeout", bare_seconds=True)
    quiet_libraries()
    from attentext.automl.tune import tune

    folder = output or Path("runs") / f"tune-{Path(recipe).stem}"
    try:
        result = tune(
            recipe,
            data,
            folder,
            trials=trials,
            timeout=seconds,
            metric=metric,
            overwrite=overwrite,
            overrides=set_,
            precision=precision,
            resume=resume,
            progress=lambda line: out.print(line, markup=False, highlight=False, soft_wrap=True),
        )
    except KeyboardInterrupt as interrupt:
        _interrupted(interrupt)
    _show_best(result, folder)


def _interrupted(interrupt: KeyboardInterrupt) -> NoReturn:
    """Ctrl-C as `attentext train` answers it: one line, exit status 130, no traceback. Its own
    line, not `main`'s: what the search kept, and that `--resume` runs the trials left."""
    from attentext.automl.tune import TuneInterrupted

    message = str(interrupt) if isinstance(interrupt, TuneInterrupted) else "interrupted"
    err.print(message, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(130)


def _show_best(result: Any, folder: Path) -> None:
    """Where the best trial's recipe and run are, and its test figures (not used to choose)."""
    best = next(record for record in result.trials if record.best)
    out.print(
        Text.assemble(
            f"Best: trial {best.number} of {len(result.trials)}, validation {result.metric} ",
            bold(f"{result.value:.4f}"),
            "; recipe ",
            bold(result.recipe_path),
            f" (`attentext train {cell(result.recipe_path)} --data ...`), run ",
            bold(result.run_dir),
            f", trials {cell(folder / 'trials.md')}",
        ),
        soft_wrap=True,
    )
    if "test" in result.metrics:
        show_report(result.metrics["test"], "test (best trial)")
