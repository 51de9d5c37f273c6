"""`attentext ensemble`: trained runs combined into one run directory, weighted on validation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from attentext.cli.common import DataOption, out, quiet_libraries


def ensemble_command(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="Two or more run directories trained on the same data.")
    ],
    data: DataOption,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The ensemble's run directory.")
    ] = Path("runs/ensemble"),
    rounds: Annotated[
        int,
        typer.Option(
            help="Rounds of greedy selection (1 to 1,000): weights are multiples of 1/ROUNDS."
        ),
    ] = 25,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
) -> None:
    """Weigh runs by greedy selection on the validation split; one run directory of them all."""
    quiet_libraries()
    from attentext.automl.ensemble import ensemble, shares

    say = lambda line: out.print(line, markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    result = ensemble(run_dirs, data, output, rounds=rounds, overwrite=overwrite, progress=say)
    for name, scores in result.runs.items():
        say(
            f"{name}: validation accuracy {scores['accuracy']:.4f}, log-loss "
            f"{scores['log_loss']:.4f}"
        )
    v = result.validation
    say(
        f"ensemble ({shares(result.weights)}): validation accuracy {v['accuracy']:.4f}, "
        f"log-loss {v['log_loss']:.4f}; run directory {result.run_dir}"
    )
