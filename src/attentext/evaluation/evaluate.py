"""`evaluate` one run and `compare` several, on the same labelled texts."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from attentext.data.dataset import TextDataset, column_values
from attentext.decisions import calibrated_sigmoid, log_odds
from attentext.errors import (
    AttentextNote,
    AttentextWarning,
    DataError,
    listed,
    short_list,
    whole_number,
    yes_or_no,
)
from attentext.evaluation.calibration import log_softmax
from attentext.evaluation.held_out import labelled_split, named_data, trained_on
from attentext.evaluation.leaderboard import (
    is_leaderboard_file,
    measure_run,
    write_leaderboard,
)
from attentext.evaluation.metrics import EvaluationReport
from attentext.evaluation.multilabel_report import (
    MultiLabelReport,
    full_multilabel_report,
    write_multilabel_report,
)
from attentext.evaluation.progress import scored
from attentext.evaluation.reports import full_report, write_report
from attentext.evaluation.significance import with_significance
from attentext.evaluation.standing import ranked
from attentext.files import path_parameter, user_path
from attentext.inference.classifier import Classifier, load
from attentext.label_prior import shifted_logits
from attentext.outputs import (
    check_output_folder,
    check_own_output_folder,
    check_report_folder,
    report_files_replaced,
)
from attentext.rundir import open_run

LOG_FLOOR = 1e-12  # the smallest probability taken for a log (float32 softmax underflows to 0)


def raw_logits(classifier: Any, texts: list[str]) -> np.ndarray:
    """Logits before any calibration, up to a per-row shift (which no softmax sees): a neural
    model's own, or for a model that has none (the TF-IDF baseline) its log-probabilities, or
    with several labels per text each label's log-odds."""
    if hasattr(classifier, "logits"):
        return np.asarray(scored(classifier.logits, texts), dtype=np.float64)
    steps = ("temperature", "confidence_map", "label_bias", "label_temperatures")
    saved = {step: getattr(classifier, step) for step in steps if hasattr(classifier, step)}
    for step in saved:
        setattr(classifier, step, 1.0 if step == "temperature" else None)
    try:
        probabilities = np.asarray(scored(classifier.predict_proba, texts), dtype=np.float64)
    finally:
        for step, value in saved.items():
            setattr(classifier, step, value)
    if getattr(classifier, "multi_label", False):
        return log_odds(probabilities)
    return np.log(np.clip(probabilities, LOG_FLOOR, None))


def multi_label_scores(classifier: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """A multi-label run's probabilities (each label's temperature applied) and its logits
    before the temperatures (`raw_logits`)."""
    logits = raw_logits(classifier, texts)
    return calibrated_sigmoid(logits, getattr(classifier, "label_temperatures", None)), logits


def _calibrated_and_raw(
    classifier: Any, texts: list[str], run_dir: Path
) -> tuple[np.ndarray, np.ndarray | None, dict[str, str]]:
    """The run's probabilities, and (only for a run with a confidence map or a label prior, whose
    probabilities no temperature undoes into logits) the same texts' probabilities without any
    calibration and which of the two steps the run has."""
    mapping = getattr(classifier, "confidence_map", None)
    bias = getattr(classifier, "label_bias", None)
    if mapping is None and bias is None:
        return scored(classifier.predict_proba, texts), None, {}
    logits = raw_logits(classifier, texts)
    scaled = np.exp(log_softmax(shifted_logits(logits, float(classifier.temperature), bias)))
    steps = {"method": "isotonic"} if mapping is not None else {}
    if bias is not None:
        steps["label_prior"] = str(open_run(run_dir).calibration_record["label_prior"]["target"])
    raw = np.exp(log_softmax(logits))
    return (scaled if mapping is None else mapping.apply(scaled)), raw, steps


def evaluate(
    run_dir: str | Path,
    data: str | Path | TextDataset,
    split: str = "test",
    precision: str = "auto",
    output: str | Path | None = None,
    backend: str = "torch",
    overwrite: bool = False,
) -> EvaluationReport | MultiLabelReport:
    """Metrics of a run on labelled data (a folder's test split, or a file).

    Accuracy, macro/weighted F1, per class, confusion matrix, calibration error and the most
    confident mistakes; with `output`, also report.md, metrics.json, PNGs and mistakes.jsonl there.
    A multi-label run gets micro/macro/samples F1, subset accuracy, Hamming loss and a per-label
    table (at its tuned thresholds). `backend` as in `load` (torch, onnx, onnx-int8). An
    `output` folder whose report.md or metrics.json sits beside files evaluate never writes is
    the user's, refused before any work unless `overwrite` (`outputs.check_report_folder`).
    """
    run_dir, data = Path(path_parameter(run_dir, "run_dir")), user_path(data)
    output = path_parameter(output, "output", optional=True)
    if output is not None:
        check_report_folder(output, overwrite)
    classifier: Classifier = load(run_dir, precision=precision, backend=backend)
    rows = labelled_split(run_dir, data, classifier.labels, split, carved_validation=True)
    _say_if_trained_on(run_dir, data, split)
    texts, gold = column_values(rows, "text"), column_values(rows, "label")
    if getattr(classifier, "multi_label", False):
        probabilities, logits = multi_label_scores(classifier, texts)
        multi = full_multilabel_report(
            gold,
            probabilities,
            classifier.labels,
            classifier.thresholds,
            (logits, getattr(classifier, "label_temperatures", None)),
        )
        if output is not None:
            with report_files_replaced(output) as staging:
                write_multilabel_report(multi, staging, f"{run_dir.name} on {named_data(data)}")
        return multi
    probabilities, uncalibrated, steps = _calibrated_and_raw(classifier, texts, run_dir)
    temperature = float(getattr(classifier, "temperature", 1.0))
    report = full_report(
        texts, np.array(gold), probabilities, classifier.labels, temperature, uncalibrated, steps
    )
    if output is not None:
        with report_files_replaced(output) as staging:
            write_report(report, staging, f"{run_dir.name} on {named_data(data)}")
    return report


def _say_if_trained_on(run_dir: Path, data: str | Path | TextDataset, split: str) -> None:
    """A warning where the texts measured are those the run trained on: the figures then say
    how well it fits them, not how it does on texts it never saw (a folder's train split, or
    the run's training file named alone, measured 0.99 on ag_news_tiny without a word)."""
    if isinstance(data, TextDataset):
        return
    where = trained_on(open_run(run_dir), data, split)
    if where is not None:
        warnings.warn(
            f"{data}: {where} what {run_dir} was trained on; these figures say how well it fits "
            "them, not how it does on texts it never saw (--split test, or another file)",
            AttentextWarning,
            stacklevel=3,
        )


def _check_one_kind(run_dirs: list[str | Path]) -> None:
    """Refuse, before any run is measured, runs of one label per text beside runs of several.

    The texts are read as the first run reads them (a label, or a set of labels, per text), and
    each kind scores another way (accuracy of the top label; subset accuracy at thresholds): a
    multi-label run after a single-label one was a TypeError traceback from `multi_hot`, a
    single-label run after a multi-label one was scored on label sets where every set held one
    label, and would fail on any other."""
    kinds = {Path(run_dir): open_run(run_dir).multi_label for run_dir in run_dirs}
    if len(set(kinds.values())) > 1:
        several = [str(path) for path, multi in kinds.items() if multi]
        one = [str(path) for path, multi in kinds.items() if not multi]
        raise DataError(
            f"{short_list(several, 3)} give(s) several labels per text, {short_list(one, 3)} one; "
            "compare runs of one kind at a time"
        )


def _check_each_once(run_dirs: list[str | Path]) -> None:
    """Refuse a run directory given twice (`tf1 ./tf1/`): it was two rows of one name, one of
    them "best" and the other "p 1.000" against itself."""
    seen: dict[Path, str | Path] = {}
    for run_dir in run_dirs:
        where = Path(run_dir).resolve()
        if where in seen:
            same = "given twice" if str(run_dir) == str(seen[where]) else f"is {seen[where]}"
            raise DataError(f"{run_dir}: {same}; give each run once")
        seen[where] = run_dir


def _shown_name(run_dir: str | Path, run_dirs: list[str | Path]) -> str:
    """A run's name in the leaderboard: its folder's name, or the path as given where another
    run's folder has that name (two `auto` outputs' `OUT/best` were two rows named "best")."""
    name = Path(run_dir).name
    return str(run_dir) if [Path(d).name for d in run_dirs].count(name) > 1 else name


def _in_order_of(
    labels: list[str], first_labels: list[str], run_dir: str | Path, first_dir: str | Path
) -> list[int] | None:
    """Where each of the first run's labels is in `labels` (None: the same order).

    Runs of the same classes may list them in other orders (a folder's classes.txt against a
    CSV of the names, read sorted: a student distilled on one beside its teacher trained on the
    other), and were refused as differing labels; they are now scored by name. Runs of other
    classes are refused, naming the difference."""
    if list(labels) == list(first_labels):
        return None
    if sorted(labels) == sorted(first_labels) and len(set(labels)) == len(labels):
        return [list(labels).index(name) for name in first_labels]
    only = [name for name in labels if name not in first_labels]
    missing = [name for name in first_labels if name not in labels]
    differences = [
        f"{what} {short_list(names, 5)}"
        for what, names in (("it has", only), ("it lacks", missing))
        if names
    ]
    said = "; ".join(differences) or "a label twice"
    raise DataError(
        f"{run_dir}: its labels differ from {first_dir}'s ({said}); compare runs trained on "
        "the same labels"
    )


def _relabelled(labels: list[Any], ids: list[int] | None) -> list[Any]:
    """`labels` (an id, or a list of ids, per text, in the first run's order) as ids of the
    run whose order `ids` gives (`_in_order_of`)."""
    if ids is None:
        return labels
    return [[ids[i] for i in label] if isinstance(label, list) else ids[label] for label in labels]


def _fixed_sample(rows: Any, limit: int) -> Any:
    """`limit` rows drawn with seed 0, stratified by label where there is one label per text."""
    try:
        sample = rows.train_test_split(test_size=limit, seed=0, stratify_by_column="label")
    except ValueError:  # label sets cannot be stratified: a plain draw
        sample = rows.train_test_split(test_size=limit, seed=0)
    return sample["test"]


def _limited(rows: Any, limit: int | None, classes: int) -> Any:
    """The rows `--limit` measures: a fixed sample of `limit`, or, where the split has no more
    texts than that, every row, said in a note (500 of 80 measured 80 without a word)."""
    if limit is None or limit == len(rows):
        return rows
    if limit > len(rows):
        warnings.warn(
            f"--limit {limit} is more than the {len(rows)} texts there are; all {len(rows)} are "
            "measured",
            AttentextNote,
            stacklevel=3,
        )
        return rows
    if limit < classes:
        raise DataError(f"--limit {limit}: needs at least one text per class ({classes})")
    return _fixed_sample(rows, limit)


def compare(
    run_dirs: list[str | Path],
    data: str | Path | TextDataset,
    output: str | Path | None = None,
    split: str = "test",
    limit: int | None = None,
    overwrite: bool = False,
) -> list[dict[str, Any]]:
    """Measure every run on the same labelled texts; with `output`, write the leaderboard there.

    Each row also has its macro-F1's 95 % interval (bootstrap) and, with one label per text,
    its accuracy's and McNemar's p against the most accurate run on these same texts (a tie on
    accuracy broken by macro-F1, then the order given: `standing`); with several, the
    bootstrap's p against the best by macro-F1 (`significance.with_significance`). Rows come
    back best first.

    `limit` measures accuracy on a fixed, stratified sample of that many texts (seed 0) instead of
    the whole split, for quick comparisons of slow models. An `output` folder holding other files
    than compare's is refused before any work unless `overwrite` (then written beside them).
    """
    run_dirs = listed(run_dirs, "run_dirs", "run directories")
    run_dirs = [path_parameter(run, f"run_dirs[{i}]") for i, run in enumerate(run_dirs)]
    data, output = user_path(data), path_parameter(output, "output", optional=True)
    limit = None if limit is None else whole_number(limit, "limit")
    if limit is not None and limit < 1:  # was "needs at least one text per class", once loaded
        raise DataError(f"--limit must be a whole number of 1 or more, got {limit}")
    if not run_dirs:
        raise DataError("compare needs at least one run directory")
    _check_each_once(run_dirs)
    _check_one_kind(run_dirs)
    if output is not None and yes_or_no(overwrite, "overwrite"):
        check_output_folder(output)
    elif output is not None:
        check_own_output_folder(output, is_leaderboard_file, "compare")
    first = load(run_dirs[0])
    rows_data = labelled_split(Path(run_dirs[0]), data, first.labels, split)
    rows_data = _limited(rows_data, limit, len(first.labels))
    texts, labels = column_values(rows_data, "text"), column_values(rows_data, "label")
    rows, outcomes = [], []
    for run_dir in run_dirs:
        other = first if run_dir == run_dirs[0] else load(run_dir)
        ids = _in_order_of(other.labels, first.labels, run_dir, run_dirs[0])
        _say_if_trained_on(Path(run_dir), data, split)  # an interval and p there mean little
        row, outcome = measure_run(run_dir, texts, _relabelled(labels, ids), classifier=other)
        rows.append({**row, "model": _shown_name(run_dir, run_dirs)})
        outcomes.append(outcome)
    rows = with_significance(rows, outcomes, bool(getattr(first, "multi_label", False)))
    if output is not None:
        write_leaderboard(rows, output)
    return ranked(rows)
