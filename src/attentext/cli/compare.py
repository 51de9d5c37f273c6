"""`attentext compare`: a leaderboard of runs measured in one process on the same texts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from attentext.cli.common import DataOption, cell, out, quiet_libraries


def compare_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories to compare.")],
    data: DataOption,
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Folder for leaderboard.md/.csv/.json and plots: new, empty, or an earlier "
            "compare's (see --overwrite).",
        ),
    ] = Path("leaderboard"),
    split: Annotated[str, typer.Option(help="Split of a folder to measure on.")] = "test",
    limit: Annotated[
        int | None, typer.Option(help="Measure on a fixed stratified sample of N texts.")
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Write into an --output folder that holds other files than compare's (refused "
            "without it); files of the leaderboard's names there are replaced, others kept.",
        ),
    ] = False,
) -> None:
    """A leaderboard: accuracy, macro-F1, parameters, train time, throughput, latency, size."""
    quiet_libraries()
    from attentext.evaluation.evaluate import compare
    from attentext.evaluation.leaderboard import COLUMNS, format_cell

    rows = compare(run_dirs, data, output, split=split, limit=limit, overwrite=overwrite)
    table = Table(title=f"Leaderboard on {cell(data)}")
    for _, header in COLUMNS:
        table.add_column(header, justify="left" if header in ("model", "recipe") else "right")
    for row in rows:
        table.add_row(*(cell(format_cell(row.get(key))) for key, _ in COLUMNS))
    out.print(table)
    out.print(f"leaderboard written to {output}/")
