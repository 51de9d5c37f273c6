"""`attentext compare`: a leaderboard of runs measured in one process on the same texts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from attentext.cli.common import DataOption, cell, out, quiet_libraries

# what a terminal too narrow for every column shows, in this order (13 columns in 80 were cut
# to "st…" each): the last are left out first where even these do not fit
COMPACT = (
    "model",
    "accuracy",
    "accuracy_interval",
    "p_vs_best",
    "macro_f1",
    "macro_f1_interval",
    "texts_per_second",
)
NAMED = ("model", "recipe")  # a name folds onto more lines, never cut
NAME_ROOM = 16  # what a name is counted as at most: wider than any number, so numbers stay whole
NAME_LEAST = 4  # what a name keeps on a terminal too narrow for the model and its accuracy


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
    from attentext.evaluation.standing import tie_note

    rows = compare(run_dirs, data, output, split=split, limit=limit, overwrite=overwrite)
    filled = [c for c in COLUMNS if any(row_cell(row, c[0]) for row in rows)]
    columns, digits = shown_columns(rows, filled, out.width)
    table = Table(title=f"Leaderboard on {cell(data)}", box=box.SIMPLE_HEAD, pad_edge=False)
    for (key, header), width in zip(
        columns, _widths(rows, columns, digits, out.width), strict=True
    ):
        named = key in NAMED
        table.add_column(
            header,
            justify="left" if named else "right",
            overflow="fold" if named else "ellipsis",
            width=width,
        )
    for row in rows:
        table.add_row(*(cell(row_cell(row, key, digits)) for key, _ in columns))
    out.print(table)
    if note := tie_note(rows, cell):  # "best" on a tie rests on macro-F1 or the order given
        out.print(note, markup=False, highlight=False)
    hidden = f" (with {len(filled) - len(columns)} more columns)" if columns != filled else ""
    out.print(f"leaderboard written to {output}/{hidden}")


Columns = list[tuple[str, str]]


def shown_columns(rows: list[dict], filled: Columns, width: int) -> tuple[Columns, int]:
    """The columns of `filled` (those with a value in some row: several labels per text have no
    interval or p) that fit `width` with no number cut, and the interval's digits: all of them
    at 4 where they fit, else COMPACT's at 3, the last left out until they fit. A fixed 150
    columns cut the interval to "0.5101-1.…" at 150, a 60-column terminal to "0.579-…"."""
    if _room(sum(_least(rows, filled, 4)), len(filled)) <= width:
        return filled, 4
    columns = [c for c in filled if c[0] in COMPACT]
    while len(columns) > 2 and _room(sum(_least(rows, columns, 3)), len(columns)) > width:
        columns.pop()
    return columns, 3


def _room(cells: int, count: int) -> int:
    """The width of a table whose columns hold `cells` characters in all: its two edges and the
    3 between columns (box.SIMPLE_HEAD, padding 1, no edge padding)."""
    return cells + 3 * (count - 1) + 2


def _least(rows: list[dict], columns: Columns, digits: int) -> list[int]:
    """Each column's narrowest width with no number cut: its longest cell or header word (a
    header wraps between words); a name's NAME_ROOM at most (it folds)."""
    from attentext.evaluation.leaderboard import row_cell

    widths = []
    for key, header in columns:
        cells = [len(cell(row_cell(row, key, digits))) for row in rows]
        longest = max([*cells, *(len(word) for word in header.split())])
        widths.append(min(longest, NAME_ROOM) if key in NAMED else longest)
    return widths


def _widths(rows: list[dict], columns: Columns, digits: int, width: int) -> list[int]:
    """The columns' widths, set so that rich never shrinks a number to fit (it narrows the
    widest columns alike, numbers among them): each its `_least`, then what is left of `width`
    given to headers, then to names, up to their whole length (where `width` is too narrow for
    even that, names give way first)."""
    from attentext.evaluation.leaderboard import row_cell

    widths = _least(rows, columns, digits)
    spare = width - _room(sum(widths), len(columns))
    whole = [
        max([len(header), *(len(cell(row_cell(row, key, digits))) for row in rows)])
        for key, header in columns
    ]
    for i in [i for i, (key, _) in enumerate(columns) if key in NAMED and spare < 0]:
        less = min(-spare, widths[i] - NAME_LEAST)  # too narrow even so: names give way first
        widths[i] -= max(0, less)
        spare += max(0, less)
    order = sorted(range(len(columns)), key=lambda i: columns[i][0] in NAMED)
    for i in order:
        more = max(0, min(spare, whole[i] - widths[i]))
        widths[i] += more
        spare -= more
    return widths
