"""Refit a trained run's temperature on labelled texts like the ones it will score.

Training fits the temperature on the validation split, carved from the training data. When the
texts a model scores differ from its training data, that temperature leaves it over- or
under-confident there: on AG News the validation split reads about a point above test, and the
temperature fitted on it leaves every recipe a little sure of itself on test
(benchmarks/calibration_bound.py). A few hundred labelled texts of the scoring distribution,
never trained on, fix it: `attentext recalibrate RUN --data held_out.csv` fits the temperature
there and writes it into the run directory, where every reader (predict, evaluate, serve,
explain, the ONNX backends) applies it. Labels are never changed, only probabilities (except
in a run with a label prior, whose bias weighs more or less against a new temperature).
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from attentext import rundir
from attentext.data.dataset import column_values
from attentext.data.texts import load_texts
from attentext.errors import (
    AttentextError,
    AttentextWarning,
    CalibrationError,
    DataError,
    RecipeError,
    RunDirError,
)
from attentext.evaluation.calibration import (
    NOT_CALIBRATED,
    Calibration,
    calibrate,
    calibrate_isotonic,
    log_softmax,
)
from attentext.evaluation.card import (
    NOT_OWN_CARD,
    check_card_replaceable,
    model_card,
    short_data_name,
)
from attentext.evaluation.evaluate import raw_logits
from attentext.evaluation.held_out import check_data_named, labelled_split, trained_on
from attentext.files import (
    path_parameter,
    remove_abandoned_staging,
    staging_folder,
    user_path,
    write_json,
    write_text,
)
from attentext.inference.classifier import Classifier, load, load_to_recalibrate
from attentext.label_prior import (
    MAX_DRIFT,
    drifted_labels,
    estimated_shares,
    prior_record,
    shift_bias,
    shifted_logits,
)
from attentext.recipes import LABEL_PRIORS
from attentext.rundir import open_run

MIN_TEXTS = 50  # fewer held-out texts give a temperature that is mostly noise
# a confidence map has a step per change of accuracy: fitted on 2,000 AG News test texts it beat
# the temperature alone on 11 of 15 runs, on 1,000 on 6, on 300 on 1 (benchmarks/README.md,
# calibration_sizes)
MIN_TEXTS_ISOTONIC = 2000
ESTIMATED = "estimated"  # a label prior estimated on unlabeled texts (set_label_prior)
# unlabeled texts read for a reference's probabilities or an estimated prior: a seeded sample
# beyond this many (the teacher of AG News reads ~300 texts/s on 2 cores; a few thousand settle
# a temperature or label shares as well as a million would)
MAX_UNLABELED_TEXTS = 10_000
METHODS = {
    "temperature": (calibrate, MIN_TEXTS),
    "isotonic": (calibrate_isotonic, MIN_TEXTS_ISOTONIC),
}
# the files `save_calibration` rewrites
SAVED_FILES = (
    rundir.METRICS_FILE,
    rundir.THRESHOLDS_FILE,
    rundir.CALIBRATION_FILE,
    rundir.MARKER,
    rundir.CARD_FILE,
)


def recalibrate(
    run_dir: str | Path,
    data: str | Path,
    split: str = "validation",
    backend: str = "torch",
    method: str = "temperature",
    reference: str | Path | None = None,
) -> tuple[Calibration, float | None]:
    """Fit the run's calibration on `data` (a folder's `split`, or a file's rows) and save it.

    `method`: "temperature" (one scalar), or "isotonic" (the temperature, then a monotone map of
    the top label's probability; attentext.confidence), which needs MIN_TEXTS_ISOTONIC texts.
    Returns the new calibration (NLL and ECE on `data` without any calibration and with the new
    one; out of fold for isotonic) and the temperature it replaced (None where calibration.json
    could not be read: it is replaced whole, said in one warning). The texts must be labelled
    with the run's label names and must not be texts the model trained on (its confidence there
    is no guide). Refused in one line for a multi-label run (`recalibrate_labels` refits its
    temperatures per label) and for too few texts. Predicted labels never
    change (in a run with a label prior, whose bias is kept and added after the new temperature,
    they may).

    `reference`: another run, better calibrated on such texts (a distilled student's teacher);
    `data` is then unlabeled texts (one per line, or a data file's text column) and the
    calibration is fitted to the reference's probabilities of them instead of gold labels
    (`_reference_targets`); NLL and ECE are then measured against those probabilities too.
    """
    if method not in METHODS:
        raise RecipeError(
            f"unknown calibration method '{method}'; choose one of {', '.join(METHODS)}"
        )
    fit, min_texts = METHODS[method]
    check_data_named(data, "recalibrate")
    run_dir, data = Path(path_parameter(run_dir, "run_dir")), user_path(data)
    reference = path_parameter(reference, "reference", optional=True)
    run = open_run(run_dir)
    if run.multi_label:
        raise RecipeError(
            f"{run_dir}: several labels per text; its temperatures per label are refitted on "
            "labelled texts by recalibrate_labels (the command line's recalibrate --data does "
            "it), without --method isotonic or --reference"
        )
    if reference is None:
        check_held_out(run, data, split)
    classifier, unreadable = classifier_to_refit(run, backend)
    if reference is None:
        texts, targets, fitted_on = _labelled_targets(run_dir, classifier, data, split)
    else:
        texts, targets, fitted_on = _reference_targets(run, classifier, reference, data, backend)
    if len(texts) < min_texts:
        advice = (
            "a few hundred give a steady one"
            if method == "temperature"
            else "or use --method temperature"
        )
        raise DataError(
            f"{data}: {len(texts)} {'labelled ' if reference is None else ''}texts; {method} "
            f"calibration needs at least {min_texts:,} ({advice})"
        )
    calibration = fit(targets, raw_logits(classifier, texts), fitted_on, run.label_bias)
    previous = None if unreadable else run.temperature
    record = {**calibration.to_dict(), "replaces_temperature": previous}
    if reference is not None:
        record["reference"] = str(reference)
    if "label_prior" in run.calibration_record:  # kept: the temperature was fitted beside it
        record["label_prior"] = run.calibration_record["label_prior"]
    if unreadable:
        warn_replaced(run, unreadable, calibration.fitted_on)
    save_calibration(run, record)
    return calibration, previous


def classifier_to_refit(run: rundir.Run, backend: str) -> tuple[Classifier, str | None]:
    """The run's classifier for a refit of its whole calibration, and why its calibration.json
    cannot be read (None where it can). A half-written or hand-damaged calibration.json was
    refused by every reader, recalibrate included, though a refit on labelled texts (or a
    reference's probabilities) needs nothing of it: the model is then loaded without it, `run`
    reads as uncalibrated (no temperature, map or prior to keep), and the refit replaces it."""
    try:
        return load_to_recalibrate(run.path, backend=backend), None
    except CalibrationError as damage:
        classifier = load_to_recalibrate(run.path, backend=backend, calibrated=False)
        run.forget_calibration()
        return classifier, damage.reason or "not a calibration"


def warn_replaced(run: rundir.Run, unreadable: str, fitted_on: str) -> None:
    """The one line saying that a refit replaces an unreadable calibration.json whole."""
    warnings.warn(
        f"{run.path / rundir.CALIBRATION_FILE}: unreadable ({unreadable}), so replaced whole by "
        f"the calibration fitted on {fitted_on} (nothing of the old one is kept)",
        AttentextWarning,
        stacklevel=3,
    )


def check_held_out(run: rundir.Run, data: str | Path, split: str) -> None:
    """Refuse the texts the run trained on (`held_out.trained_on`). A model is surest where it
    learned, so a temperature fitted there would make it sure of itself everywhere (found in
    session 60: 190 of 200 such texts trained on took the ECE from 0.19 to 0.007)."""
    where = trained_on(run, data, split)
    if where is not None:
        raise DataError(
            f"{data}: {where} what {run.path} was trained on; recalibrate on labelled texts it "
            "never saw (another file, or a folder's test split: --split test)"
        )


def _labelled_targets(
    run_dir: Path, classifier: Classifier, data: str | Path, split: str
) -> tuple[list[str], np.ndarray, str]:
    """The texts and gold label ids of `data` (a folder's `split`, or a file's rows)."""
    rows = labelled_split(run_dir, data, classifier.labels, split)
    labels = np.asarray(column_values(rows, "label"), dtype=np.int64)
    fitted_on = short_data_name(str(data)) + ("" if Path(data).is_file() else f" {split}")
    return column_values(rows, "text"), labels, fitted_on


def _reference_targets(
    run: rundir.Run, classifier: Classifier, reference: str | Path, data: str | Path, backend: str
) -> tuple[list[str], np.ndarray, str]:
    """The non-blank texts of `data` and the reference run's probabilities of them, in the
    run's label order: soft labels to fit the calibration to, where no gold labels exist.

    Why it works: where the reference's probabilities are the true ones, the cross-entropy to
    them is the NLL the run would have on gold labels drawn from them, so the temperature it
    picks is the one labels would pick. On AG News test, the teacher's probabilities gave its
    distilled students the ECE a temperature fitted to 3,800 labelled test texts gives
    (benchmarks/README.md, "Without labels"). A reference that misses what the run sees calls
    the run's right answers doubtful: on emotion, whose teacher is no more accurate than its
    students, the fit left every run less calibrated than its validation temperature. Hence a
    reference must be the stronger model on these texts.
    """
    if Path(reference).resolve() == run.path.resolve():
        raise RecipeError(f"{reference}: a run cannot be its own reference")
    referee = load(reference, backend=backend)
    if open_run(Path(reference)).multi_label or set(referee.labels) != set(classifier.labels):
        raise RecipeError(
            f"{reference}: its labels ({', '.join(referee.labels)}) are not the run's "
            f"({', '.join(classifier.labels)}); a reference classifies into the same labels"
        )
    texts, read = unlabeled_sample(data)
    probabilities = np.asarray(referee.predict_proba(texts), dtype=np.float64)
    columns = [referee.labels.index(label) for label in classifier.labels]
    fitted_on = f"{read} of {short_data_name(str(data))}, the probabilities of {reference}"
    return texts, probabilities[:, columns], fitted_on


def unlabeled_sample(path: str | Path) -> tuple[list[str], str]:
    """The non-blank texts of a file (one per line, or a data file's text column), a sample of
    MAX_UNLABELED_TEXTS drawn with seed 0 where there are more, and what was read, in words."""
    texts = [text for text in load_texts(path) if text.strip()]
    if len(texts) <= MAX_UNLABELED_TEXTS:
        return texts, f"{len(texts):,} texts"
    rows = np.sort(np.random.default_rng(0).choice(len(texts), MAX_UNLABELED_TEXTS, replace=False))
    return [texts[i] for i in rows], f"{MAX_UNLABELED_TEXTS:,} texts drawn from {len(texts):,}"


def set_label_prior(
    run_dir: str | Path,
    target: str,
    texts: str | Path | None = None,
    backend: str = "torch",
) -> dict[str, Any]:
    """Give a trained run the label prior `target` without retraining: "balanced", "train" (to
    take one off), or "estimated": the label shares of `texts` (unlabeled texts like those the
    run will score, a file: one per line, or a data file's text column), estimated from the
    run's own probabilities by EM (attentext.label_prior.estimated_shares). Training and the
    temperature are the same either way, only the bias after the temperature changes. The
    training split's label counts come from the run's metrics.json (`data_profile.label_counts`,
    recorded since the label prior exists) or its present prior. The test figures measured at
    training leave the record (they were the old prior's); `attentext evaluate` measures the new
    one. Returns the new record."""
    if target not in (*LABEL_PRIORS, ESTIMATED):
        choices = ", ".join((*LABEL_PRIORS, ESTIMATED))
        raise RecipeError(f"unknown label prior '{target}'; choose one of {choices}")
    if (target == ESTIMATED) != (texts is not None):
        raise RecipeError("an estimated label prior needs texts to estimate it on (and only it)")
    texts = path_parameter(texts, "texts", optional=True)
    run = open_run(path_parameter(run_dir, "run_dir"))
    if run.multi_label:
        raise RecipeError(
            f"{run.path}: several labels per text; each label's threshold decides, not a prior"
        )
    counts = _training_label_counts(run)
    record = dict(run.calibration_record) or dict(NOT_CALIBRATED)
    record.pop("test", None)
    record.pop("label_prior", None)
    if target == ESTIMATED:
        record["label_prior"] = _estimated_prior(run, counts, texts, backend)
    elif (prior := prior_record(target, counts)) is not None:
        record["label_prior"] = prior
    save_calibration(run, record)
    return record


def _estimated_prior(
    run: rundir.Run, counts: dict[str, int], texts: str | Path, backend: str
) -> dict[str, Any]:
    """The record of a prior estimated on `texts`: their shares and the bias towards them."""
    classifier = load_to_recalibrate(run.path, backend=backend)
    read, described = unlabeled_sample(texts)
    if len(read) < MIN_TEXTS:
        raise DataError(f"{texts}: {len(read)} texts; estimating a label prior needs {MIN_TEXTS}+")
    logits = raw_logits(classifier, read)
    probabilities = np.exp(log_softmax(shifted_logits(logits, classifier.temperature, None)))
    shares = estimated_shares(probabilities, list(counts.values()))
    if drifted := drifted_labels(probabilities, shares):
        label, mean = list(counts)[drifted[0]], probabilities.mean(axis=0)[drifted[0]]
        raise DataError(
            f"{texts}: the label shares estimated there are not to be trusted: {label} "
            f"{shares[drifted[0]]:.3f} of the texts, where the run's mean probability of it is "
            f"{mean:.3f} (more than {MAX_DRIFT:g}x apart: its probabilities, at temperature "
            f"{classifier.temperature:.2f}, are too unsure of that label for EM); the run keeps "
            "its prior. Fit on labelled texts of the kind instead (recalibrate --data)"
        )
    return {
        "target": ESTIMATED,
        "train_counts": counts,
        "estimated_shares": dict(zip(counts, (round(float(s), 4) for s in shares), strict=True)),
        "estimated_on": f"{described} of {short_data_name(str(texts))}",
        "bias": shift_bias(shares, list(counts.values())),
    }


def _training_label_counts(run: rundir.Run) -> dict[str, int]:
    """The training split's count of each label, which a label prior divides out.

    An ensemble has none of its own (its members have theirs): it was told it was a run "trained
    before the label prior existed" and to "train it again with --label-prior", which `ensemble`
    has not; it is now told to give its members the prior and weigh them again."""
    if run.kind == rundir.ENSEMBLE_KIND:
        raise RunDirError(
            f"{run.path}: an ensemble has no training split of its own to take a label prior "
            "from; give each member run its prior (recalibrate MEMBER --label-prior ..., or "
            "train it with --label-prior) and run attentext ensemble on them again"
        )
    profile = run.metrics.get("data_profile")
    counts = profile.get("label_counts") if isinstance(profile, dict) else None
    if not isinstance(counts, dict):
        prior = run.calibration_record.get("label_prior")
        counts = prior.get("train_counts") if isinstance(prior, dict) else None
    if not isinstance(counts, dict) or not all(type(c) is int for c in counts.values()):
        raise RunDirError(
            f"{run.path}: its metrics.json does not record the training split's label counts "
            "(runs trained before the label prior existed); train it again with --label-prior"
        )
    return counts


@contextmanager
def as_it_was_on_failure(run_dir: str | Path, locked: bool = False) -> Iterator[None]:
    """Put the files calibration rewrites (`SAVED_FILES`) back as they were where the block
    fails or is interrupted, so that steps saved one after another are kept all or none.

    `recalibrate --label-prior balanced --data FILE` saves the prior, then fits the temperature
    beside it: a fit refused (fewer than 50 texts, the training file) ended the command in an
    error with the run holding the new prior and without its test figures (an audit). The
    files are kept by hard links (each write replaces its file, so a link keeps the old one)
    and put back by renames: where the failure is a full disk, writing their bytes back failed
    too, and left the run torn. `locked`: the caller holds the run's lock already
    (`save_calibration`), so it is not taken again."""
    path = Path(run_dir)
    rundir.restore_interrupted_rewrite(path, locked=locked)  # a kill -9 mid-rewrite: put back
    remove_abandoned_staging(path)
    folder = staging_folder(path)  # a folder: no file beside the run's (its marker lists them)
    kept: dict[str, Path | None] = {}
    try:
        for name in SAVED_FILES:
            kept[name] = _linked(path / name, folder)
        rundir.start_rewrite(path, folder, kept, "recalibrate")
        yield
        rundir.end_rewrite(folder)
    except BaseException:
        changed = {name: link for name, link in kept.items() if _changed(path / name, link)}
        if changed:
            with nullcontext() if locked else rundir.writing(path, "recalibrate"):
                rundir.put_back(path, folder, {n: k and k.name for n, k in changed.items()})
        raise
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _changed(target: Path, kept: Path | None) -> bool:
    """Whether `target` is no longer the file `kept` keeps (or exists where none was)."""
    if kept is None:
        return os.path.lexists(target)
    try:
        return not os.path.samefile(target, kept)
    except OSError:
        return True


def _linked(target: Path, folder: Path) -> Path | None:
    """A hard link to `target` in `folder` (a copy where the file system has no hard links),
    or None where it is not a plain file."""
    if not target.is_file() or target.is_symlink():
        return None
    link = folder / target.name
    try:
        os.link(target, link)
    except OSError:  # a file system without hard links: a copy, made before anything changes
        shutil.copyfile(target, link)
    return link


def save_calibration(
    run: rundir.Run, record: dict[str, Any], thresholds: dict[str, Any] | None = None
) -> None:
    """calibration.json (and a multi-label run's thresholds.json, moved with its temperatures)
    and metrics.json's record of them, under the run's lock; the files readers apply last
    (each file is replaced atomically); then the model card, rebuilt from the run's files (an
    evaluation `evaluate --card` added is dropped: its probabilities were the old calibration's).
    The files are kept all or none: a Ctrl-C or a full disk between two of them left a run whose
    thresholds.json was moved for temperatures its calibration.json did not hold (its
    decisions wrong) or whose metrics.json recorded a calibration it did not apply."""
    with rundir.writing(run.path, "recalibrate"), as_it_was_on_failure(run.path, locked=True):
        metrics = dict(run.metrics)
        metrics["calibration"] = record
        if thresholds is not None:
            metrics["thresholds"] = thresholds
        write_json(run.path / rundir.METRICS_FILE, metrics)
        if thresholds is not None:
            write_json(run.path / rundir.THRESHOLDS_FILE, thresholds)
        write_json(run.path / rundir.CALIBRATION_FILE, record)
        rundir.write_marker(run.path, run.kind)  # lists a file a run without calibration gains
        _refresh_card(run.path)


def _refresh_card(path: Path) -> None:
    """The model card rebuilt with the new calibration; one edited by hand (or not attentext's)
    is kept, said in one warning: the user's words are not recalibrate's to drop."""
    target = path / rundir.CARD_FILE
    if not target.exists():
        return
    fresh = open_run(path)
    try:
        check_card_replaceable(fresh)
    except AttentextError:
        warnings.warn(
            f"{target}: {NOT_OWN_CARD}, so kept with the old calibration; "
            f"`attentext card {path} --write --overwrite` rebuilds it",
            AttentextWarning,
            stacklevel=2,
        )
        return
    write_text(target, model_card(fresh))
