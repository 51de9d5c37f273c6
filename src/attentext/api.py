"""The Python API, mirroring the CLI: train, load, evaluate, summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from transformers import TrainerCallback

from attentext import rundir
from attentext.classifier import Classifier, load
from attentext.data import TextDataset, load_text_dataset
from attentext.errors import DataError
from attentext.evaluation import EvaluationReport
from attentext.models.summary import ModelSummary, summarize
from attentext.recipes import Recipe, load_recipe
from attentext.tokenization import build_tokenizer
from attentext.training import TrainResult
from attentext.training import train as _train


def resolve_recipe(
    recipe: str | Path | Recipe,
    *,
    epochs: float | None = None,
    max_steps: int | None = None,
    batch_size: int | None = None,
    precision: str | None = None,
    class_weight: str | None = None,
    val_fraction: float | None = None,
    overrides: list[str] | None = None,
) -> Recipe:
    """A recipe by name, path or object, with the common options and `key=value` overrides."""
    sets = list(overrides or [])
    named = {
        "training.epochs": epochs,
        "training.max_steps": max_steps,
        "training.batch_size": batch_size,
        "training.precision": precision,
        "training.class_weight": class_weight,
        "data.val_fraction": val_fraction,
    }
    sets += [f"{key}={value}" for key, value in named.items() if value is not None]
    if isinstance(recipe, Recipe):
        from attentext.recipes import apply_override, recipe_from_dict

        raw = recipe.to_dict()
        for item in sets:
            apply_override(raw, item)
        return recipe_from_dict(raw, recipe.name)
    return load_recipe(recipe, sets)


def train(
    recipe: str | Path | Recipe,
    data: str | Path | TextDataset,
    output: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: list[TrainerCallback] | None = None,
    **options: Any,
) -> TrainResult:
    """Train a recipe (name, YAML path or Recipe) on data and write a run directory at `output`.

    `options` are those of `resolve_recipe`: epochs, max_steps, batch_size, precision,
    class_weight, val_fraction, overrides.
    """
    return _train(
        resolve_recipe(recipe, **options),
        data,
        output,
        resume=resume,
        overwrite=overwrite,
        callbacks=callbacks,
    )


def _labelled_split(
    run_dir: Path, data: str | Path | TextDataset, labels: list[str], split: str
) -> Any:
    if isinstance(data, TextDataset):
        dataset = data
    else:
        recipe = load_recipe(run_dir / rundir.RECIPE_FILE)
        dataset = load_text_dataset(
            data,
            text_column=recipe.data.text_column,
            label_column=recipe.data.label_column,
            val_fraction=0.0,
            label_names=labels,
        )
    if split in dataset.splits:
        return dataset.splits[split]
    if len(dataset.splits) == 1:
        return next(iter(dataset.splits.values()))
    raise DataError(f"{dataset.source}: no '{split}' split (found: {', '.join(dataset.splits)})")


def evaluate(
    run_dir: str | Path,
    data: str | Path | TextDataset,
    split: str = "test",
    precision: str = "auto",
    output: str | Path | None = None,
) -> EvaluationReport:
    """Metrics of a run on labelled data (a folder's test split, or a file).

    Accuracy, macro/weighted F1, per class, confusion matrix, calibration error and the most
    confident mistakes; with `output`, also report.md, metrics.json, PNGs and mistakes.jsonl there.
    """
    from attentext.reports import full_report, write_report

    run_dir = Path(run_dir)
    classifier: Classifier = load(run_dir, precision=precision)
    rows = _labelled_split(run_dir, data, classifier.labels, split)
    probabilities = classifier.predict_proba(rows["text"])
    report = full_report(rows["text"], np.array(rows["label"]), probabilities, classifier.labels)
    if output is not None:
        write_report(report, output, f"{run_dir.name} on {data}")
    return report


def compare(
    run_dirs: list[str | Path],
    data: str | Path | TextDataset,
    output: str | Path | None = None,
    split: str = "test",
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Measure every run on the same labelled texts; with `output`, write the leaderboard there.

    `limit` measures accuracy on a fixed, stratified sample of that many texts (seed 0) instead of
    the whole split, for quick comparisons of slow models.
    """
    from attentext.leaderboard import measure_run, write_leaderboard

    if not run_dirs:
        raise DataError("compare needs at least one run directory")
    first = load(run_dirs[0])
    rows_data = _labelled_split(Path(run_dirs[0]), data, first.labels, split)
    if limit is not None and limit < len(rows_data):
        if limit < len(first.labels):
            raise DataError(
                f"--limit {limit}: needs at least one text per class ({len(first.labels)})"
            )
        rows_data = rows_data.train_test_split(test_size=limit, seed=0, stratify_by_column="label")[
            "test"
        ]
    texts, labels = list(rows_data["text"]), np.array(rows_data["label"])
    rows = []
    for run_dir in run_dirs:
        other = first if run_dir == run_dirs[0] else load(run_dir)
        if other.labels != first.labels:
            raise DataError(
                f"{run_dir}: labels {other.labels} differ from {run_dirs[0]}'s {first.labels}"
            )
        rows.append(measure_run(run_dir, texts, labels, classifier=other))
    if output is not None:
        write_leaderboard(rows, output)
    return sorted(rows, key=lambda r: -r["accuracy"])


def summary(recipe_or_run: str | Path, num_labels: int = 4) -> ModelSummary:
    """Layers, output shapes and parameter counts of a run directory or of a recipe's fresh model."""
    from attentext.models.registry import build_model

    path = Path(recipe_or_run)
    if (path / rundir.MARKER).exists():
        classifier = load(path)
        return summarize(classifier.model, min(classifier.max_length, 256))
    recipe = load_recipe(recipe_or_run)
    labels = [str(i) for i in range(num_labels)]
    if (
        recipe.tokenizer.type == "word"
    ):  # the vocabulary is fitted at training time: its size is known
        tokenizer = _SizedTokenizer(recipe.tokenizer.max_tokens, pad_token_id=0)
    else:
        tokenizer = build_tokenizer(recipe, [])
    model = build_model(recipe.model, tokenizer, labels, recipe.tokenizer.max_length)
    return summarize(model, min(recipe.tokenizer.max_length, 512))


class _SizedTokenizer:
    """Stands in for a word tokenizer not yet fitted: a model needs only its size and padding id."""

    def __init__(self, size: int, pad_token_id: int) -> None:
        self.size, self.pad_token_id = size, pad_token_id

    def __len__(self) -> int:
        return self.size
