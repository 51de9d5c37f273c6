"""`attentext distill`: a small student trained on a teacher run's probabilities."""

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
    cell,
    out,
    quiet_libraries,
    show_report,
)

EnsembleOption = Annotated[
    list[Path] | None,
    typer.Option(
        help="Another teacher run (repeatable); the student learns the mean of every teacher's "
        "logits."
    ),
]

ResumeOption = Annotated[
    bool,
    typer.Option(
        help="Continue an interrupted distillation from its last checkpoint (the same command "
        "with --resume)."
    ),
]


def distill_command(
    teacher: Annotated[Path, typer.Argument(help="The teacher: a run directory.")],
    student: Annotated[
        str, typer.Option(help="The student's recipe (name or YAML), e.g. seed-transformer.")
    ],
    data: DataOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory to create.")],
    unlabeled: Annotated[
        Path | None,
        typer.Option(help="More texts for the teacher to label (one per line, or a data file)."),
    ] = None,
    temperature: Annotated[
        float, typer.Option(help="Softens both distributions (the KL is scaled by its square).")
    ] = 2.0,
    alpha: Annotated[
        float, typer.Option(help="Weight of the gold labels; 1 - alpha on the teacher.")
    ] = 0.5,
    loss: Annotated[
        str, typer.Option(help="The teacher's term: kl (at --temperature) or mse (of logits).")
    ] = "kl",
    augment: Annotated[
        int,
        typer.Option(help="Noisy copies of each text for the teacher to label (words masked)."),
    ] = 0,
    ensemble: EnsembleOption = None,
    label_prior: LabelPriorOption = None,
    epochs: EpochsOption = None,
    max_steps: MaxStepsOption = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Recipe override key=value.")
    ] = None,
    resume: ResumeOption = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
) -> None:
    """Distill a teacher run into a faster student: a normal run directory every command takes."""
    quiet_libraries()
    from attentext.api import distill

    result = distill(
        teacher,
        student,
        data,
        output,
        unlabeled=unlabeled,
        temperature=temperature,
        alpha=alpha,
        augment=augment,
        ensemble=ensemble or [],
        loss=loss,
        label_prior=label_prior,
        epochs=epochs,
        max_steps=max_steps,
        overrides=set_,
        resume=resume,  # an interrupted student was told "pass --resume", which distill lacked
        overwrite=overwrite,
        log_lines=sys.stdout,  # as train's: on an error, stderr holds its one line
    )
    _say_what_was_distilled([teacher, *(ensemble or [])], result.metrics, result.run_dir)


def _say_what_was_distilled(teachers: list[Path], metrics: dict, run_dir: Path) -> None:
    facts = metrics["distillation"]
    out.print(
        Text.assemble(
            f"Distilled {cell(' + '.join(map(str, teachers)))} into ",
            bold(metrics["recipe"]),
            f" in {metrics['train_seconds']:.1f} s ({facts['n_labelled']} labelled + "
            f"{facts['n_unlabeled']} unlabeled + {facts['n_augmented']} noisy copies); "
            "run directory: ",
            bold(run_dir),
        )
    )
    for split in ("validation", "test"):
        if split in metrics:
            show_report(metrics[split], split)
