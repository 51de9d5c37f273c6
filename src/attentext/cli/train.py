"""`attentext train`: a recipe on a dataset, into a run directory."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from attentext.cli.common import (
    DataOption,
    EpochsOption,
    LabelPriorOption,
    MaxStepsOption,
    bold,
    out,
    quiet_libraries,
    show_report,
)


def train_command(
    recipe: Annotated[
        str, typer.Argument(help="Recipe name (see `attentext recipes`) or YAML path.")
    ],
    data: DataOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory to create.")],
    epochs: EpochsOption = None,
    max_steps: MaxStepsOption = None,
    batch_size: Annotated[int | None, typer.Option(help="Training batch size.")] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="auto, fp32, bf16 or fp16 (GPU only); auto: on a GPU, bf16 where the GPU "
            "supports it, else fp16; on a CPU, bf16 where the CPU has native bf16 and the model "
            "is timed clearly faster in it, else fp32."
        ),
    ] = None,
    class_weight: Annotated[str | None, typer.Option(help="none or balanced.")] = None,
    label_prior: LabelPriorOption = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(help="Share of train held out for validation when no validation file exists."),
    ] = None,
    multi_label: Annotated[
        bool,
        typer.Option(
            "--multi-label",
            help="Several labels per text: a label cell holds names joined by '|' (or a list).",
        ),
    ] = False,
    shots: Annotated[
        int | None,
        typer.Option(
            help="Train on N examples per class drawn from train with the data seed (data.seed, "
            "else training.seed; stratified; no validation split); data.shots in recipes."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Recipe override key=value, e.g. training.learning_rate=3e-4."),
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted run from its last checkpoint.")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
) -> None:
    """Train a recipe on a dataset and write a run directory."""
    from attentext.recipes import resolve_recipe

    options = {
        "epochs": epochs,
        "max_steps": max_steps,
        "batch_size": batch_size,
        "precision": precision,
        "class_weight": class_weight,
        "label_prior": label_prior,
        "val_fraction": val_fraction,
        "multi_label": True if multi_label else None,
        "shots": shots,
        "overrides": set_,
    }
    # A mistyped recipe or --set answers now, before torch and transformers load (seconds).
    resolve_recipe(recipe, **options)
    quiet_libraries()
    from attentext.training.run import train
    from attentext.training.workdir import is_main_process

    # the Trainer's log lines on stdout, as always: on an error, stderr holds its one line
    options["log_lines"] = sys.stdout
    result = train(recipe, data, output, resume=resume, overwrite=overwrite, **options)
    if not is_main_process():
        return
    metrics = result.metrics
    out.print(
        Text.assemble(
            "Trained ",
            bold(metrics["recipe"]),
            f" in {metrics['train_seconds']:.1f} s "
            f"({metrics['train_samples_per_second'] or 0:.0f} samples/s, {metrics['precision']}); "
            "run directory: ",
            bold(result.run_dir),
        )
    )
    for split in ("validation", "test"):
        if split in metrics:
            show_report(metrics[split], split)
