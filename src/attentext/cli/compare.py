"""`attentext compare`: a leaderboard of runs measured in one process on the same texts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from attentext.cli.common import DataOption, cell, out, quiet_libraries

WIDE_TERMINAL = 150  # columns a terminal needs for every column of the leaderboard
# what a narrower one shows: 13 columns in 80 were cut to "st…" each
COMPACT = ("model", "accuracy", "accuracy_interval", "p_vs_best", "macro_f1", "texts_per_second")


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
    from attentext.evaluation.leaderboard import COLUMNS, row_cell

    rows = compare(run_dirs, data, output, split=split, limit=limit, overwrite=overwrite)
    wide = out.width >= WIDE_TERMINAL
    columns = COLUMNS if wide else [c for c in COLUMNS if c[0] in COMPACT]
    digits = 4 if wide else 3
    table = Table(title=f"Leaderboard on {cell(data)}", box=box.SIMPLE_HEAD, pad_edge=False)
    for _, header in columns:
        named = header in ("model", "recipe")  # a name folds onto a second line, never cut
        table.add_column(
            header, justify="left" if named else "right", overflow="fold" if named else "ellipsis"
        )
    for row in rows:
        table.add_row(*(cell(row_cell(row, key, digits)) for key, _ in columns))
    out.print(table)
    hidden = f" (with {len(COLUMNS) - len(columns)} more columns)" if columns != COLUMNS else ""
    out.print(f"leaderboard written to {output}/{hidden}")
