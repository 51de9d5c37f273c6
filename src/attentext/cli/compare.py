"""`attentext compare`: a leaderboard of runs measured in one process on the same texts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from attentext.cli.common import DataOption, out, quiet_libraries


def compare_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run directories to compare.")],
    data: DataOption,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Folder for leaderboard.md/.csv/.json and plots.")
    ] = Path("leaderboard"),
    split: Annotated[str, typer.Option(help="Split of a folder to measure on.")] = "test",
    limit: Annotated[
        int | None, typer.Option(help="Measure on a fixed stratified sample of N texts.")
    ] = None,
) -> None:
    """A leaderboard: accuracy, macro-F1, parameters, train time, throughput, latency, size."""
    quiet_libraries()
    from attentext.evaluation.evaluate import compare
    from attentext.evaluation.leaderboard import COLUMNS, format_cell

    rows = compare(run_dirs, data, output, split=split, limit=limit)
    table = Table(title=f"Leaderboard on {data}")
    for _, header in COLUMNS:
        table.add_column(header, justify="left" if header in ("model", "recipe") else "right")
    for row in rows:
        table.add_row(*(format_cell(row.get(key)) for key, _ in COLUMNS))
    out.print(table)
    out.print(f"leaderboard written to {output}/")
