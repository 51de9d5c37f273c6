"""Most of the Python API, mirroring the CLI (`attentext/__init__.py` names every public
function, a few from their own modules: `recalibrate`, `set_label_prior`, `load_recipe`, ...).

    train, distill, evaluate, compare, explain, load, summary, resolve_recipe, load_text_dataset,
    tune (a hyperparameter search; the `tune` extra), auto (the best recipe within a time budget),
    ensemble (runs combined, weighted on validation)

`import attentext` gives the same names, each imported on first use; importing this module
imports them all.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attentext.automl.auto import AutoResult, auto
from attentext.automl.ensemble import EnsembleResult, ensemble
from attentext.automl.tune import TuneResult, tune
from attentext.data.dataset import TextDataset, load_text_dataset
from attentext.data.defaults import planned
from attentext.errors import AttentextError, RunDirError, check_keywords, listed, whole_number
from attentext.evaluation.evaluate import compare, evaluate
from attentext.files import path_parameter
from attentext.inference.classifier import Classifier, load
from attentext.interpret.explain import explain
from attentext.models.registry import build_model
from attentext.models.summary import ModelSummary, summarize
from attentext.recipes import (
    RECIPE_ARGUMENT,
    Recipe,
    builtin_recipe_names,
    load_recipe,
    override_list,
    resolve_recipe,
)
from attentext.rundir import ENSEMBLE_KIND, MARKER, TRANSFORMERS_KIND, Run, open_run, partial_dir
from attentext.text.tokenizers import build_tokenizer
from attentext.training.run import TrainResult, train

# `summary --num-labels`: at most this many classes (the head of 10**8 took the machine's memory)
MAX_SUMMARY_LABELS = 100_000
# what `summary` reads, as a wrong-typed argument is told
RECIPE_OR_RUN = "a run directory, or a recipe's name or YAML file (a str or a Path)"

__all__ = [
    "AutoResult",
    "Classifier",
    "EnsembleResult",
    "ModelSummary",
    "Recipe",
    "TextDataset",
    "TrainResult",
    "TuneResult",
    "auto",
    "compare",
    "distill",
    "ensemble",
    "evaluate",
    "explain",
    "load",
    "load_text_dataset",
    "resolve_recipe",
    "summary",
    "train",
    "tune",
]


def summary(recipe_or_run: str | Path, num_labels: int | None = None) -> ModelSummary:
    """Layers, output shapes and parameter counts of a run directory or of a recipe's fresh model
    (of `num_labels` classes, 4 by default). A run has its own labels: `num_labels` given with
    one is refused (it was ignored without a word, the table showing the run's)."""
    path = Path(path_parameter(recipe_or_run, "recipe_or_run", RECIPE_OR_RUN))
    if _names_a_run(path):
        if num_labels is not None:
            raise AttentextError(
                f"{path}: a run directory has its own labels; --num-labels sizes a recipe's "
                "fresh model (give a recipe's name or YAML file with it)"
            )
        _check_has_layers(open_run(path))
        classifier = load(path)
        return summarize(classifier.model, min(classifier.max_length, 256))
    _check_found(path)
    # "4" or 4.0 (a config's value) was a TypeError from a comparison, or from deep in torch
    num_labels = 4 if num_labels is None else whole_number(num_labels, "num_labels")
    _check_num_labels(num_labels)
    recipe = planned(load_recipe(recipe_or_run))  # `auto` settings at their caps: no data yet
    labels = [str(i) for i in range(num_labels)]
    if recipe.tokenizer.type == "word":  # fitted at training time: only its size is known
        tokenizer = _SizedTokenizer(recipe.tokenizer.max_tokens)
    else:
        tokenizer = build_tokenizer(recipe, [])
    model = build_model(recipe.model, tokenizer, labels, recipe.tokenizer.max_length)
    return summarize(model, min(recipe.tokenizer.max_length, 512))


def _check_has_layers(run: Run) -> None:
    """Refuse a run without layers, saying what to run instead: "summary shows a neural run's"
    (an ensemble's "its members'") ended the sentence without the way on."""
    if run.kind == ENSEMBLE_KIND:
        # the first member named was often a tfidf-logreg one, which summary then refused too
        neural = [m for m, _ in run.members if open_run(m).kind == TRANSFORMERS_KIND]
        way = (
            f"summarize a member that has them (attentext summary {neural[0]}), or see the "
            f"ensemble with attentext card {run.path}"
            if neural
            else f"nor has any of its members (none is a neural run); attentext card {run.path} "
            "describes it"
        )
        raise AttentextError(f"{run.path}: an ensemble has no layers of its own; {way}")
    if run.kind != TRANSFORMERS_KIND:
        raise AttentextError(
            f"{run.path}: a {run.kind} run has no layers to summarize (summary shows a neural "
            f"run's layers and parameters); attentext card {run.path} describes it"
        )


def _names_a_run(path: Path) -> bool:
    """Whether `summary` reads `path` as a run directory: a finished run, or a folder (or a name
    whose `.partial` work folder exists) that is not a built-in recipe's name, so that a killed
    run is said to be one (`open_run`: "an unfinished run is in X.partial") and not "unknown
    recipe 'X'", nor its work folder "recipe file not found"."""
    if (path / MARKER).exists():
        return True
    unfinished = path.is_dir() or partial_dir(path).exists()
    return unfinished and str(path) not in builtin_recipe_names()


def _check_found(path: Path) -> None:
    """A path (a name with a folder in it) where nothing is: "run directory not found", not
    "unknown recipe 'runs/seed'" with the list of built-in recipes (a run deleted or mistyped);
    a built-in recipe's name has no folder in it, and a YAML file's is `load_recipe`'s to say."""
    if len(path.parts) > 1 and path.suffix not in (".yaml", ".yml") and not path.exists():
        raise RunDirError(f"{path}: run directory not found (nor a recipe file)")


def _check_num_labels(num_labels: int) -> None:
    """A fresh model's classes: 2 to MAX_SUMMARY_LABELS. `--num-labels 0` or `-3` drew a model
    with no output (or a table of nonsense) without a word, and 100,000,000 built a head of
    billions of weights until memory ran out (`summary seed-transformer` hung)."""
    if not 2 <= num_labels <= MAX_SUMMARY_LABELS:
        raise AttentextError(
            f"--num-labels {num_labels}: a classifier has 2 to {MAX_SUMMARY_LABELS:,} classes; "
            "pass a number in that range"
        )


class _SizedTokenizer:
    """Stands in for a word tokenizer not yet fitted: a model needs only its size and the ids of
    padding and [UNK] (the word vectorizer's first two)."""

    def __init__(self, size: int, pad_token_id: int = 0, unk_token_id: int = 1) -> None:
        self.size, self.pad_token_id, self.unk_token_id = size, pad_token_id, unk_token_id

    def __len__(self) -> int:
        return self.size


def distill(
    teacher: str | Path,
    student: str | Path | Recipe,
    data: str | Path | TextDataset,
    output: str | Path,
    *,
    unlabeled: str | Path | None = None,
    temperature: float = 2.0,
    alpha: float = 0.5,
    augment: int = 0,
    ensemble: Sequence[str | Path] = (),
    loss: str = "kl",
    **options: Any,
) -> TrainResult:
    """Train `student` (a recipe) to match `teacher`'s probabilities (a run directory) on the
    training texts and `unlabeled` ones, and on `augment` noisy copies of each (words masked,
    n-grams sampled); the result is a normal run directory. `ensemble`: more teacher runs; the
    student then learns the mean of every teacher's logits. `loss`: the teacher's term, "kl"
    (at `temperature`) or "mse" (the squared distance of the logits). The student keeps its
    final weights (`training.best_metric=last`) unless the overrides choose the checkpoint or
    stop early (`train` decides it for every recipe that names a teacher).

    The arguments are the whole distillation: a student recipe that names its own (an earlier
    student's recipe.yaml) has them replaced, its unlabeled texts and ensemble included.
    `options` are those of `train` (epochs, max_steps, label_prior, overrides, overwrite, ...).
    A teacher of several labels per text has the student read the data so too (`multi_label`).
    """
    check_keywords("distill", options, distill, train, resolve_recipe)
    # written into the student's recipe as run directories and a file: `~` read as a shell would
    teacher, output = path_parameter(teacher, "teacher"), path_parameter(output, "output")
    if not isinstance(student, Recipe):
        student = path_parameter(student, "student", RECIPE_ARGUMENT)
    unlabeled = path_parameter(unlabeled, "unlabeled", optional=True)
    runs = listed(ensemble, "ensemble", "teacher run directories")
    runs = [path_parameter(run, f"ensemble[{i}]") for i, run in enumerate(runs)]
    if not options.get("multi_label") and open_run(Path(teacher)).multi_label:
        options["multi_label"] = True
    sets = [
        f"distill.teacher={teacher}",
        f"distill.temperature={temperature}",
        f"distill.alpha={alpha}",
        f"distill.augment={augment}",
        f"distill.loss={loss}",
    ]
    # every distill setting is said, unlabeled texts and ensemble too: a student's recipe.yaml
    # given as --student kept its own (another run's texts and teachers, without a word)
    sets.append(f"distill.unlabeled={'' if unlabeled is None else unlabeled}")
    # a JSON list is YAML: paths with any character survive the override
    sets.append(f"distill.ensemble={json.dumps([str(run) for run in runs])}")
    overrides = [*sets, *override_list(options.pop("overrides", None))]
    return train(student, data, output, overrides=overrides, **options)
