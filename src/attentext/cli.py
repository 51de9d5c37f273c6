"""The `attentext` command line: train, evaluate, predict, summary, recipes.

User mistakes raise `AttentextError`; `main` shows them as one line on stderr and exits 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from attentext.errors import AttentextError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Attention-based text classification: train, evaluate, predict, summarize.",
)
out = Console()
err = Console(stderr=True)

DataOption = Annotated[
    str,
    typer.Option("--data", "-d", help="Folder (train/test files), data file, or HF dataset name."),
]
BackendOption = Annotated[
    str,
    typer.Option(
        help="Inference engine: torch, onnx or onnx-int8 (ONNX Runtime on the files "
        "`attentext export RUN_DIR --format onnx [--int8]` wrote)."
    ),
]


def _quiet_libraries() -> None:
    """Keep transformers/datasets chatter out of the user's terminal (training progress stays)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # "Loading weights" bars; the Trainer keeps its own
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()


def _per_class_table(report: dict, title: str) -> Table:
    table = Table(title=title)
    for column in ("class", "precision", "recall", "f1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in report["per_class"].items():
        table.add_row(
            name,
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    return table


def _show_report(report: dict, title: str) -> None:
    out.print(
        f"[bold]{title}[/bold]: accuracy [bold]{report['accuracy']:.4f}[/bold], "
        f"macro-F1 {report['macro_f1']:.4f}, {report['n_examples']} examples"
    )
    out.print(_per_class_table(report, title))


@app.command()
def train(
    recipe: Annotated[
        str, typer.Argument(help="Recipe name (see `attentext recipes`) or YAML path.")
    ],
    data: DataOption,
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory to create.")],
    epochs: Annotated[float | None, typer.Option(help="Training epochs.")] = None,
    max_steps: Annotated[
        int | None, typer.Option(help="Stop after this many optimizer steps.")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Training batch size.")] = None,
    precision: Annotated[
        str | None,
        typer.Option(
            help="auto, fp32, bf16 or fp16 (GPU only); auto: bf16 where the hardware runs it "
            "faster (a GPU, or a CPU with native bf16 where the model gains), else fp32."
        ),
    ] = None,
    class_weight: Annotated[str | None, typer.Option(help="none or balanced.")] = None,
    val_fraction: Annotated[
        float | None,
        typer.Option(help="Share of train held out for validation when no validation file exists."),
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
    _quiet_libraries()
    from attentext.api import resolve_recipe
    from attentext.training import train as run_training

    resolved = resolve_recipe(
        recipe,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        precision=precision,
        class_weight=class_weight,
        val_fraction=val_fraction,
        overrides=set_,
    )
    result = run_training(resolved, data, output, resume=resume, overwrite=overwrite)
    if int(os.environ.get("RANK", "0")) != 0:
        return
    metrics = result.metrics
    out.print(
        f"Trained [bold]{resolved.name}[/bold] in {metrics['train_seconds']:.1f} s "
        f"({metrics['train_samples_per_second'] or 0:.0f} samples/s, {metrics['precision']}); "
        f"run directory: [bold]{result.run_dir}[/bold]"
    )
    for split in ("validation", "test"):
        if split in metrics:
            _show_report(metrics[split], split)


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    data: DataOption,
    split: Annotated[str, typer.Option(help="Split of a folder to evaluate on.")] = "test",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Folder for report.md, metrics.json, PNGs, mistakes.jsonl."
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    backend: BackendOption = "torch",
) -> None:
    """Accuracy, macro-F1 and a per-class table of a run on labelled data (and a report folder)."""
    _quiet_libraries()
    from attentext.api import evaluate as run_evaluation

    if backend == "torch":
        report = run_evaluation(run_dir, data, split=split, output=output).to_dict()
    else:  # api.evaluate's steps with the classifier of another backend
        import numpy as np

        from attentext.api import _labelled_split
        from attentext.classifier import load
        from attentext.reports import full_report, write_report

        classifier = load(run_dir, backend=backend)
        rows = _labelled_split(run_dir, data, classifier.labels, split)
        probabilities = classifier.predict_proba(rows["text"])
        result = full_report(
            rows["text"], np.array(rows["label"]), probabilities, classifier.labels
        )
        if output is not None:
            write_report(result, output, f"{run_dir.name} on {data}")
        report = result.to_dict()
    report.pop("confident_mistakes", None)
    if json_output:
        print(json.dumps(report, indent=2))
    else:
        _show_report(report, f"{run_dir} on {data}")
        out.print(f"expected calibration error {report['expected_calibration_error']:.4f}")
        if output is not None:
            out.print(f"report written to {output}/report.md")


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input", "-i", help="File of texts: one per line, or a data file with a text column."
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    top_k: Annotated[int, typer.Option(help="Labels shown per text.")] = 1,
    backend: BackendOption = "torch",
) -> None:
    """Classify texts: the label name and its probability for each."""
    _quiet_libraries()
    from attentext.classifier import load
    from attentext.data import load_texts

    items = list(texts or [])
    if input_file is not None:
        items += load_texts(input_file)
    if not items:
        raise AttentextError("no texts to classify; pass TEXT arguments or --input FILE")
    if top_k < 1:
        raise AttentextError(f"--top-k must be at least 1, got {top_k}")
    classifier = load(run_dir, backend=backend)
    probabilities = classifier.predict_proba(items)
    for text, row in zip(items, probabilities, strict=True):
        best = row.argsort()[::-1][:top_k]
        ranked = [{"label": classifier.labels[i], "score": round(float(row[i]), 6)} for i in best]
        if json_output:
            print(
                json.dumps(
                    {
                        "text": text,
                        "label": ranked[0]["label"],
                        "score": ranked[0]["score"],
                        "top_k": ranked,
                    }
                )
            )
        else:
            shown = ", ".join(f"{r['label']} {r['score']:.3f}" for r in ranked)
            preview = text if len(text) <= 60 else text[:57] + "..."
            out.print(f"{shown}\t{preview}", markup=False, highlight=False)


@app.command()
def compare(
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
    _quiet_libraries()
    from attentext.api import compare as run_compare
    from attentext.leaderboard import COLUMNS, format_cell

    rows = run_compare(run_dirs, data, output, split=split, limit=limit)
    table = Table(title=f"Leaderboard on {data}")
    for _, header in COLUMNS:
        table.add_column(header, justify="left" if header in ("model", "recipe") else "right")
    for row in rows:
        table.add_row(*(format_cell(row.get(key)) for key, _ in COLUMNS))
    out.print(table)
    out.print(f"leaderboard written to {output}/")


@app.command()
def summary(
    recipe_or_run: Annotated[str, typer.Argument(help="Recipe name, YAML path or run directory.")],
    num_labels: Annotated[int, typer.Option(help="Classes, for a recipe's fresh model.")] = 4,
) -> None:
    """Layers, output shapes and parameter counts, like Keras' model.summary()."""
    _quiet_libraries()
    from attentext.api import summary as model_summary

    result = model_summary(recipe_or_run, num_labels=num_labels)
    table = Table(title=f"Model: {recipe_or_run}")
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


@app.command()
def recipes() -> None:
    """List the built-in recipes."""
    from attentext.recipes import builtin_recipe_names, load_recipe

    for name in builtin_recipe_names():
        description = " ".join(load_recipe(name).description.split())
        out.print(f"[bold]{name}[/bold]: {description}")


from attentext.explain_cli import explain as _explain  # noqa: E402

app.command("explain")(_explain)

from attentext.serve_cli import serve as _serve  # noqa: E402

app.command("serve")(_serve)

from attentext.export_cli import export as _export  # noqa: E402

app.command("export")(_export)


def main() -> None:
    """Entry point: run the app; show user errors as one line, without a traceback."""
    try:
        code = app(standalone_mode=False)
    except AttentextError as error:
        err.print(f"error: {error}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.TyperException as error:  # a usage error: one line, not typer's boxed panel
        ctx = getattr(error, "ctx", None)
        if type(error).__name__ != "NoArgsIsHelpError":  # bare `attentext`: help was shown
            message = " ".join(error.format_message().split()).rstrip(".")
            command = f"{ctx.command_path} --help" if ctx is not None else "attentext --help"
            err.print(
                f"error: {message}; see `{command}`", markup=False, highlight=False, soft_wrap=True
            )
        sys.exit(error.exit_code)
    except typer.Abort:
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted; `attentext train ... --resume` continues a training run")
        sys.exit(130)
    if isinstance(code, int) and code:  # typer.Exit(code) in non-standalone mode
        sys.exit(code)
