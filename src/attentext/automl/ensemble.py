"""`ensemble`: trained runs on the same data combined into one run directory, their weights
chosen on the validation split by greedy ensemble selection (Caruana et al. 2004, the last step
of AutoGluon and auto-sklearn).

Why: models that read text differently make different mistakes. On 20 Newsgroups (2,850 posts)
tfidf-logreg scored 0.788 on test and the frozen encoder 0.660, and the mean of their
probabilities 0.807; `auto` may keep such a mixture instead of its best single run.

Selection, not a fitted stacker: each round adds (with replacement) the run whose addition most
lowers the mixture's log-loss on validation, and a run's weight is its share of the rounds. The
log-loss, not accuracy, because it moves with every text's probability where accuracy moves
only with the few that flip (on 150 validation texts, one text is 0.7 points); a run that never
helps gets no weight and is left out of the directory.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attentext import rundir
from attentext.data.dataset import TextDataset, column_values
from attentext.errors import (
    AttentextError,
    AttentextNote,
    DataError,
    listed,
    short_list,
    shown,
    whole_number,
)
from attentext.evaluation.calibration import calibrate, log_softmax, nll
from attentext.evaluation.card import model_card
from attentext.evaluation.metrics import classification_metrics
from attentext.files import path_parameter, user_path, write_json, write_text
from attentext.inference.classifier import load
from attentext.inference.ensemble import label_columns
from attentext.recipes import Recipe
from attentext.training.run import recipe_dataset
from attentext.training.workdir import check_destination, prepare_work_dir

ROUNDS = 25  # AutoGluon's default ensemble size
# weights in steps of 1/1,000 are finer than any validation split can tell apart; each round
# scores every member on the whole split, so --rounds 100000000 ran for hours without a word
MAX_ROUNDS = 1000
LOG_FLOOR = 1e-12
SPLIT = "validation"


@dataclass
class EnsembleResult:
    """The ensemble's run directory, each kept member's weight (by folder name), the validation
    scores of the ensemble (with its temperature) and of every run given, the seconds the
    selection took, and the label names."""

    run_dir: Path
    weights: dict[str, float]
    validation: dict[str, float]
    runs: dict[str, dict[str, float]]
    seconds: float
    labels: list[str]


def log_loss(probabilities: np.ndarray, gold: np.ndarray) -> float:
    """Mean negative log-probability of the gold labels: calibration's NLL, the log of the
    probabilities standing in for logits."""
    return nll(np.log(np.clip(probabilities, LOG_FLOOR, None)), gold)


def select_weights(
    probabilities: Sequence[np.ndarray], gold: np.ndarray, rounds: int = ROUNDS
) -> np.ndarray:
    """Greedy ensemble selection with replacement: `rounds` times, add the run whose addition
    most lowers the mixture's log-loss on `gold`; weights are each run's share of the rounds
    (summing to 1). A tie goes to the earlier run, so the result is deterministic."""
    if not probabilities:
        raise ValueError("select_weights needs at least one run's probabilities")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    counts = np.zeros(len(probabilities))
    total = np.zeros_like(np.asarray(probabilities[0], dtype=np.float64))
    for done in range(rounds):
        losses = [log_loss((total + p) / (done + 1), gold) for p in probabilities]
        chosen = int(np.argmin(losses))
        counts[chosen] += 1
        total += probabilities[chosen]
    return counts / counts.sum()


def ensemble(
    run_dirs: Sequence[str | Path],
    data: str | Path | TextDataset,
    output: str | Path,
    *,
    rounds: int = ROUNDS,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> EnsembleResult:
    """Combine `run_dirs` (trained on the same labels and data) into `output`, a run directory
    every command takes; weights by greedy selection on `data`'s validation split, which must
    be the split the runs were calibrated on (a folder or file is split with the first run's
    recipe, as training split it)."""
    started = time.monotonic()
    say = progress or (lambda _: None)
    if whole_number(rounds, "rounds") < 1:
        raise AttentextError(f"--rounds must be at least 1, got {rounds}")
    if rounds > MAX_ROUNDS:
        raise AttentextError(
            f"--rounds must be at most {MAX_ROUNDS:,} (weights in steps of 1/{MAX_ROUNDS:,}), "
            f"got {rounds:,}"
        )
    output = path_parameter(output, "output")
    runs, data = _check_runs(run_dirs), user_path(data)
    rundir.check_output_apart(Path(output), [run.path for run in runs], "the member run")
    check_destination(Path(output), resume=False, overwrite=overwrite)  # before minutes of work
    validation, label_names = _validation(runs, data)
    texts = column_values(validation, "text")
    _check_same_validation(runs, data, texts)
    classifiers = [load(run.path) for run in runs]
    labels = list(classifiers[0].labels)
    columns = [
        label_columns(c.labels, labels, run.path, runs[0].path, DataError)
        for run, c in zip(runs, classifiers, strict=True)
    ]  # the same classes in another order are averaged by name
    gold = _label_ids(column_values(validation, "label"), label_names, labels, runs, data)
    probabilities = []
    for run, classifier, order in zip(runs, classifiers, columns, strict=True):
        say(f"{run.name}: predicting {len(texts):,} validation texts")
        predicted = np.asarray(classifier.predict_proba(texts), dtype=np.float64)
        probabilities.append(predicted if order is None else predicted[:, order])
    weights = select_weights(probabilities, gold, rounds)
    mixture = sum(w * p for w, p in zip(weights, probabilities, strict=True))
    # a mean of calibrated runs is less sure than each (T < 1 on every set tried): the
    # mixture gets its own temperature on the same split, like every run
    logits = np.log(np.clip(mixture, LOG_FLOOR, None))
    calibration = calibrate(gold, logits, SPLIT)
    calibrated = np.exp(log_softmax(logits, calibration.temperature))
    scores = {run.name: _scores(p, gold) for run, p in zip(runs, probabilities, strict=True)}
    kept = {run.name: float(w) for run, w in zip(runs, weights, strict=True) if w > 0}
    result = EnsembleResult(
        Path(output), kept, _scores(calibrated, gold), scores, time.monotonic() - started, labels
    )
    _write(runs, result, calibration.to_dict(), (len(texts), rounds), overwrite)
    return result


def _check_each_once(runs: list[rundir.Run], run_dirs: Sequence[str | Path]) -> None:
    """Refuse one run directory given twice (`tfidf ./tfidf/`, or through a link): it was told
    that two runs share a name and to "rename or copy one", which weighs one model twice."""
    for i, run in enumerate(runs):
        for j in range(i):
            if run.path.resolve() == runs[j].path.resolve():
                raise AttentextError(
                    f"the run directory '{shown(run.name)}' is given twice ({shown(str(run_dirs[j]))}, "
                    f"{shown(str(run_dirs[i]))}); give each run directory once"
                )


def _check_runs(run_dirs: Sequence[str | Path]) -> list[rundir.Run]:
    """Two or more runs, each a one-label run (not itself an ensemble), with distinct folder
    names (a member is stored under its folder's name)."""
    run_dirs = listed(run_dirs, "run_dirs", "run directories")
    if len(run_dirs) < 2:
        raise AttentextError("an ensemble needs at least two run directories")
    run_dirs = [path_parameter(run, f"run_dirs[{i}]") for i, run in enumerate(run_dirs)]
    runs = [rundir.open_run(path) for path in run_dirs]
    _check_each_once(runs, run_dirs)
    names = [run.name for run in runs]
    for run in runs:
        if run.kind == rundir.ENSEMBLE_KIND:
            raise AttentextError(f"{run.path}: is an ensemble; give its members instead")
        if run.multi_label:
            raise AttentextError(
                f"{run.path}: gives several labels per text; an ensemble averages one-label runs"
            )
        if names.count(run.name) > 1:
            raise AttentextError(
                f"two runs are named '{run.name}'; members are stored under their folder names, "
                "so rename or copy one"
            )
    return runs


def _validation(runs: list[rundir.Run], data: str | Path | TextDataset) -> tuple[Any, list[str]]:
    """The validation split the runs were calibrated on (the dataset's, or carved from a
    folder or file with the first run's recipe as training carved it) and its label names;
    the runs must have trained on its training split (`_check_trained_on`)."""
    data = recipe_dataset(runs[0].recipe or Recipe(), data)
    _check_trained_on(runs, data)
    if SPLIT not in data.splits or not len(data.splits[SPLIT]):
        raise _no_validation(runs, data)
    _check_shots_held_out(runs, data)
    return data.splits[SPLIT], list(data.label_names)


def _no_validation(runs: list[rundir.Run], data: TextDataset) -> DataError:
    """The error for data without a validation split, saying why: the runs trained on all of
    its train split (`data.val_fraction=0`), which any text to weigh them on would be, or drew
    examples per class. It said "a run trained with --shots has none" of either."""
    whole = [run.name for run in runs if run.recipe is not None and _carve(run.recipe)[0] == 0]
    if whole and not any(run.recipe is not None and run.recipe.data.shots for run in runs):
        return DataError(
            f"{data.source}: no validation file, and {short_list(whole, 3)} trained on all of "
            "its train split (data.val_fraction 0), holding out no texts to choose the weights "
            "on; give --data a folder with a validation file they never trained on, or train "
            "them with data.val_fraction above 0"
        )
    return DataError(
        f"{data.source}: no validation split to choose the weights on (a run trained with "
        "--shots has none)"
    )


def _check_shots_held_out(runs: list[rundir.Run], dataset: TextDataset) -> None:
    """Runs that drew N examples per class (`data.shots`) held out no validation split: they
    are weighed on the one carved from train as their recipe carves it, which holds none of
    their examples where they were drawn from the rest (said in a note; it was said nowhere).
    Where that rest has fewer than N of a class, training drew from the whole training file
    (`training.run._shots_source`), so the carved texts may be their examples: refused."""
    drawn = [run for run in runs if run.recipe is not None and run.recipe.data.shots]
    if not drawn:
        return
    fewest = int(np.bincount(dataset.labels("train"), minlength=len(dataset.label_names)).min())
    for run in drawn:
        if run.recipe.data.shots > fewest:
            raise DataError(
                f"{run.path}: drew {run.recipe.data.shots} examples per class from all of "
                f"{dataset.source}'s training texts (the part left beside validation has "
                f"{fewest} of a class), so the validation split may hold them; an ensemble of "
                "it is weighed on texts it trained on: ensemble runs of fewer shots"
            )
    warnings.warn(
        f"{short_list([run.name for run in drawn], 3)} drew examples per class (--shots) and "
        f"held out no validation split: weighing them on the {len(dataset.splits[SPLIT]):,} "
        f"texts carved from {dataset.source}'s training texts, none of their examples",
        AttentextNote,
        stacklevel=4,
    )


def _check_trained_on(runs: list[rundir.Run], dataset: TextDataset) -> None:
    """Every run's training split had the label counts of `dataset`'s (as its recipe carves it).

    Runs trained on a subset of a file, weighed with `--data` the whole file, had their weights
    and temperature chosen on a validation split carved from other rows, some of which they had
    trained on (trec_fine: runs on 1,501 rows weighed on 273 texts of 5,452), without a word.
    A run drawing N texts per class (`data.shots`) counts its draws, so it is not compared."""
    if "train" not in dataset.splits:
        return
    carve = _carve(runs[0].recipe or Recipe())
    ids = np.bincount(dataset.labels("train"), minlength=len(dataset.label_names))
    ours = {name: int(count) for name, count in zip(dataset.label_names, ids, strict=True)}
    for run in runs:
        profile = run.metrics.get("data_profile")
        theirs = profile.get("label_counts") if isinstance(profile, dict) else None
        recipe = run.recipe or Recipe()
        if not isinstance(theirs, dict) or recipe.data.shots or _carve(recipe) != carve:
            continue  # another carve: `_check_same_validation` says so
        if set(theirs) != set(ours):
            continue  # other labels: refused, named, once the runs load
        if {name: count for name, count in theirs.items() if count} != {
            name: count for name, count in ours.items() if count
        }:
            raise DataError(
                f"{run.path}: trained on {sum(theirs.values()):,} texts, not on the "
                f"{sum(ours.values()):,} of {dataset.source}'s training split, so its weight "
                "would be chosen on texts it may have trained on; give --data the data the "
                "runs were trained on"
            )


def _carve(recipe: Recipe) -> tuple[float, int | None]:
    """How a recipe carves validation from train: its share and data seed."""
    return recipe.data.val_fraction, recipe.data_seed


def _check_same_validation(
    runs: list[rundir.Run], data: str | Path | TextDataset, texts: list[str]
) -> None:
    """Every run carved from train the validation split the weights are chosen on. A run that
    carved another (another data seed or share) trained on some of these texts, would look
    better on them than it is, and take weight it has not earned. Data with a validation split
    of its own gives every run the same one."""
    if isinstance(data, TextDataset):
        return
    first = runs[0].recipe or Recipe()
    for run in runs[1:]:
        recipe = run.recipe or Recipe()
        if _carve(recipe) == _carve(first):
            continue
        theirs = recipe_dataset(recipe, data).splits.get(SPLIT)
        if theirs is not None and column_values(theirs, "text") == texts:
            continue
        raise _other_carve(run, runs[0], recipe, first)


def _other_carve(
    run: rundir.Run, first_run: rundir.Run, recipe: Recipe, first: Recipe
) -> DataError:
    """The error for a run that carved another validation split than the first, naming what
    differs and the setting that makes them one: it said "one --set data.seed=N" of runs that
    differed by their share, or of one that held nothing out (`data.val_fraction=0`)."""
    (share, seed), (first_share, first_seed) = _carve(recipe), _carve(first)
    ways = [f"--set data.val_fraction={first_share}"] if share != first_share else []
    ways += ["--set data.seed=N (training.seed may differ)"] if seed != first_seed else []
    carved = f"(data seed {first_seed}, share {first_share})"
    held = (
        f"held out none of its train split (data.val_fraction 0), where {first_run.path} "
        f"carved its validation split from it {carved}"
        if share == 0
        else f"its validation split (data seed {seed}, share {share}) is not "
        f"{first_run.path}'s {carved}"
    )
    return DataError(
        f"{run.path}: {held}, so it trained on texts the weights would be chosen on; train the "
        f"runs with one {' and '.join(ways)}"
    )


def _label_ids(
    gold: list[int],
    names: list[str],
    labels: list[str],
    runs: list[rundir.Run],
    data: str | Path | TextDataset,
) -> np.ndarray:
    """The data's label ids (into `names`) as the runs' label ids (into `labels`); data with
    labels the runs do not know is refused, saying whose runs and what they know
    (`_unknown_labels`)."""
    index = {name: i for i, name in enumerate(labels)}
    gold_names = [names[i] for i in gold]
    unknown = sorted({name for name in gold_names if name not in index})
    if unknown:
        raise _unknown_labels(unknown, labels, runs, data)
    return np.asarray([index[name] for name in gold_names], dtype=np.int64)


def _unknown_labels(
    unknown: list[str], labels: list[str], runs: list[rundir.Run], data: str | Path | TextDataset
) -> DataError:
    """The error for data whose validation labels the runs were not trained on: which labels,
    which runs, what they were trained on (their labels, and the data their metrics.json
    records), and what to do. It said the labels alone, not whose or why."""
    source = shown(data.source if isinstance(data, TextDataset) else str(data), 200)
    by_data: dict[str, list[str]] = {}  # the data each run's metrics.json says it trained on
    for run in runs:
        trained_on = run.metrics.get("data")
        by_data.setdefault(trained_on if isinstance(trained_on, str) else "", []).append(
            str(run.path)
        )
    trained = "; ".join(
        f"{short_list(paths, 4, 200)} "
        + (f"trained on {short_list([path], 1, 200)}" if path else "(its data is not recorded)")
        for path, paths in by_data.items()
    )
    return DataError(
        f"{source}: validation labels the runs do not know: {short_list(unknown, 8)}; the runs "
        f"know {short_list(labels, 8)} ({trained}): give --data the data the runs were trained "
        f"on, or train them on {source}"
    )


def _scores(probabilities: np.ndarray, gold: np.ndarray) -> dict[str, float]:
    metrics = classification_metrics(gold, probabilities.argmax(axis=1))
    return {
        "accuracy": float(metrics["accuracy"]),
        "macro_f1": float(metrics["macro_f1"]),
        "log_loss": log_loss(probabilities, gold),
    }


def _write(
    runs: list[rundir.Run],
    result: EnsembleResult,
    calibration: dict[str, Any],
    selection: tuple[int, int],
    overwrite: bool,
) -> None:
    """The ensemble's run directory, staged in its work folder and published in one step. The
    work folder is removed whatever ends the write (a full disk, Ctrl-C): an ensemble is not
    resumed, and one left behind held a copy of every member run (hundreds of MB with encoder
    members) until a later ensemble into the same output."""
    output = result.run_dir
    with rundir.writing(output, "ensemble"):
        work = prepare_work_dir(output, resume=False, overwrite=overwrite)
        try:
            _stage(runs, result, calibration, selection, rundir.staging_dir(work))
            rundir.publish(rundir.staging_dir(work), output)
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _stage(
    runs: list[rundir.Run],
    result: EnsembleResult,
    calibration: dict[str, Any],
    selection: tuple[int, int],
    staging: Path,
) -> None:
    """The ensemble's files in `staging`: its members' copies, weights, metrics, card, marker."""
    members = staging / rundir.MEMBERS_DIR
    members.mkdir(parents=True)
    by_name = {run.name: run for run in runs}
    for name in result.weights:
        _copy_run(by_name[name].path, members / name)
    record = [{"name": name, "weight": weight} for name, weight in result.weights.items()]
    write_json(staging / rundir.ENSEMBLE_FILE, {"members": record})
    metrics = _metrics(by_name, result, *selection)
    write_json(staging / rundir.METRICS_FILE, {**metrics, "calibration": calibration})
    write_json(staging / rundir.CALIBRATION_FILE, calibration)
    rundir.write_marker(staging, rundir.ENSEMBLE_KIND)
    write_text(
        staging / rundir.CARD_FILE, model_card(rundir.open_run(staging), result.run_dir.name)
    )
    rundir.write_marker(staging, rundir.ENSEMBLE_KIND)  # now listing the card


def _copy_run(run_dir: Path, copy: Path) -> None:
    """The member run's own files copied, not what else its folder holds (`rundir.foreign_to_run`:
    an evaluate report, a tune or auto output, the user's notes written into it), which every
    ensemble of it carried a copy of: a search's best run, hundreds of MB with an encoder."""
    foreign = set(rundir.foreign_to_run(run_dir))
    top = str(run_dir)
    shutil.copytree(
        run_dir,
        copy,
        symlinks=True,
        ignore=lambda folder, names: [n for n in names if n in foreign] if folder == top else [],
    )


def _metrics(
    runs: dict[str, rundir.Run], result: EnsembleResult, n_texts: int, rounds: int
) -> dict[str, Any]:
    """metrics.json: the members' sums (parameters, training seconds), the validation scores
    and how the weights were chosen."""
    kept = [runs[name].metrics for name in result.weights]

    def total(key: str) -> float | None:
        values = [m.get(key) for m in kept]
        if not all(isinstance(v, int | float) for v in values):
            return None
        return sum(values)  # type: ignore[arg-type]

    first = kept[0]
    return {
        "recipe": "ensemble",
        "data": first.get("data"),
        "n_train": first.get("n_train"),
        "members": {
            name: {"recipe": runs[name].recipe_name, "weight": weight, **result.runs[name]}
            for name, weight in result.weights.items()
        },
        "left_out": sorted(set(result.runs) - set(result.weights)),
        "selection": {
            "method": "greedy ensemble selection on validation log-loss (Caruana et al. 2004)",
            "rounds": rounds,
            "n_texts": n_texts,
            "seconds": round(result.seconds, 2),
        },
        "validation": {**result.validation, "n_examples": n_texts, "label_names": result.labels},
        "train_seconds": total("train_seconds"),
        "total_parameters": total("total_parameters"),
        "trainable_parameters": total("trainable_parameters"),
    }


def shares(weights: dict[str, float]) -> str:
    """`tfidf-logreg 0.84, encoder-frozen 0.16`: weights for a line of text."""
    return ", ".join(f"{name} {weight:.2f}" for name, weight in weights.items())
