"""`attentext summary` and `attentext recipes`: what a model is, and which recipes there are."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from attentext.cli.common import bold, cell, out, quiet_libraries


def summary_command(
    recipe_or_run: Annotated[str, typer.Argument(help="Recipe name, YAML path or run directory.")],
    num_labels: Annotated[
        int | None, typer.Option(help="Classes of a recipe's fresh model (default 4).")
    ] = None,
) -> None:
    """Layers, output shapes and parameter counts, like Keras' model.summary()."""
    quiet_libraries()
    from attentext.api import summary

    result = summary(recipe_or_run, num_labels=num_labels)
    table = Table(title=f"Model: {cell(recipe_or_run)}")
    table.add_column("Layer (type)")
    table.add_column("Output Shape")
    table.add_column("Param #", justify="right")
    table.add_column("Trainable", justify="right")
    for row in result.rows:
        table.add_row(
            f"{row.name} ({row.kind})", row.output_shape, f"{row.params:,}", f"{row.trainable:,}"
        )
    out.print(table)
    out.print(f"Total params: {result.total:,}")
    out.print(f"Trainable params: {result.trainable:,}")
    out.print(f"Non-trainable params: {result.non_trainable:,}")


def recipes_command() -> None:
    """List the built-in recipes."""
    from attentext.recipes import builtin_recipe_names, load_recipe

    for name in builtin_recipe_names():
        description = " ".join(load_recipe(name).description.split())
        out.print(Text.assemble(bold(name), f": {description}"))
