"""`train`: a recipe and data in, a complete run directory out.

The steps: load and check the data, prepare the work folder (`<output>.partial/`), build the
tokenizer and the model, tokenize once, train with the Trainer (or, for a frozen encoder, train
its head on features computed once; for the baseline, one fit), measure every split, and publish
the run directory by one rename.
"""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
from transformers import (
    PreTrainedModel,
    PreTrainedTokenizerBase,
    TrainerCallback,
    set_seed,
)

from attentext import rundir
from attentext.data.dataset import TextDataset, load_text_dataset
from attentext.data.defaults import auto_settings, data_aware, describe, length_sample
from attentext.data.profile import (
    PROFILE_SAMPLE,
    advise,
    advise_copies,
    advise_two_ways,
    copies_in_training,
    labelled_two_ways,
    normalized_splits,
    profile,
    whole_word_share,
)
from attentext.data.readers import train_file
from attentext.data.shots import sample_shots
from attentext.decisions import (
    calibrated_sigmoid,
    log_odds,
    temperature_vector,
    threshold_vector,
)
from attentext.errors import (
    AttentextNote,
    DataError,
    RecipeError,
    RunDirError,
    check_keywords,
    short_list,
    yes_or_no,
)
from attentext.evaluation.calibration import NOT_CALIBRATED, calibrate, measure_calibration
from attentext.evaluation.card import model_card
from attentext.evaluation.label_calibration import calibrate_labels, measure_label_calibration
from attentext.evaluation.metrics import evaluation_report, headline
from attentext.evaluation.multilabel import (
    multi_hot,
    multilabel_report,
    tune_thresholds,
)
from attentext.files import file_digest, path_parameter, write_json, write_text
from attentext.label_prior import prior_record, shifted_logits
from attentext.models.aggregation import WindowedClassifier, WindowFeatureHead
from attentext.models.dropout import use_cpu_dropout
from attentext.models.outputs import initialize_label_priors
from attentext.models.registry import ModelFamily, build_model, model_family
from attentext.precision import probe_model, resolve_precision
from attentext.processes import one_torch_thread_after_fork
from attentext.recipes import Recipe, override_list, resolve_recipe, settings_without_effect
from attentext.text.tokenizers import (
    build_tokenizer,
    encoder_vocabulary,
    load_tokenizer,
    token_counts,
)
from attentext.text.vectorizer import check_holds_a_word, word_frequencies
from attentext.text.windows import Chunking
from attentext.training.baseline import fit_classifier
from attentext.training.distill import (
    Teacher,
    check_each_teacher_once,
    check_noisy_copies,
    check_student,
    check_teacher,
    distillation_trainer,
    keeping_final_weights,
    reading_word_pairs,
    unlabeled_texts,
)
from attentext.training.features import feature_splits
from attentext.training.fewshot import check_fewshot, fit_fewshot
from attentext.training.tokenized import PackedRows, WindowRows, tokenize_split, tokenize_windows
from attentext.training.trainer import (
    DivergenceGuard,
    build_trainer,
    class_weights,
    sample_batch,
)
from attentext.training.word_vectors import initialize_word_embeddings
from attentext.training.workdir import (
    check_destination,
    check_folders_above,
    check_resumable,
    is_main_process,
    last_complete_checkpoint,
    prepare_work_dir,
    run_manifest,
    write_manifest,
)

EVALUATED_SPLITS = ("validation", "test")
# a family fitted in one go (tfidf-logreg): the options of `train` it has no use for, and the
# training settings it reads (the seed, the classes' weights, calibration, the label prior)
ONE_FIT_OPTIONS = ("epochs", "max_steps", "batch_size", "precision")
ONE_FIT_READS = ("seed", "class_weight", "calibrate", "label_prior")


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]

    def __repr__(self) -> str:
        """The run and its headline scores per split: the default repr printed metrics.json
        whole (3 KB for 4 classes; a screenful per class beyond) as a notebook cell's answer."""
        splits = [
            f"{split}: {headline(self.metrics[split])}"
            for split in EVALUATED_SPLITS
            if isinstance(self.metrics.get(split), dict)
        ]
        scores = "".join(f", {split}" for split in splits)
        return f"TrainResult(run_dir={self.run_dir!r}{scores}; .metrics has every figure)"


def recipe_dataset(recipe: Recipe, data: str | Path | TextDataset) -> TextDataset:
    """`data` as the recipe reads it: its columns, label separator, validation share and data
    seed (a TextDataset as it is)."""
    if isinstance(data, TextDataset):
        return data
    return load_text_dataset(
        data,
        text_column=recipe.data.text_column,
        label_column=recipe.data.label_column,
        val_fraction=recipe.data.val_fraction,
        seed=recipe.data_seed,
        multi_label=recipe.data.multi_label,
        label_separator=recipe.data.label_separator,
        distinct_lookalike_labels=recipe.data.distinct_lookalike_labels,
    )


def _load_dataset(recipe: Recipe, data: str | Path | TextDataset) -> TextDataset:
    dataset = recipe_dataset(recipe, data)
    if "train" not in dataset.splits:
        raise RecipeError(f"{dataset.source}: no train split to train on")
    if recipe.data.shots:  # N per class, drawn with the data seed (recipe.yaml states both)
        return sample_shots(
            _shots_source(recipe, data, dataset), recipe.data.shots, recipe.data_seed
        )
    return dataset


def _shots_source(
    recipe: Recipe, data: str | Path | TextDataset, dataset: TextDataset
) -> TextDataset:
    """The training split `--shots` draws from: as every run carves it (a seed draws what it
    always drew), or the training file whole where that carve leaves a class short of N. A
    shots run keeps no validation split, so a user with exactly 8 texts a class asking for
    `--shots 8` is not refused for the few the carve would have held out."""
    if dataset.multi_label or isinstance(data, TextDataset):
        return dataset
    counts = np.bincount(dataset.labels("train"), minlength=len(dataset.label_names))
    if counts.min() >= recipe.data.shots:
        return dataset
    uncarved = replace(recipe, data=replace(recipe.data, val_fraction=0.0))
    return recipe_dataset(uncarved, data)


def _data_aware(recipe: Recipe, dataset: TextDataset, n_unlabeled: int = 0) -> Recipe:
    """The recipe with its `auto` settings decided from the training split (data/defaults.py),
    said in one line; a recipe without any is returned as it is.

    A distilled student's epochs count every text it trains on: the training split, the
    `n_unlabeled` texts and the noisy copies of both. On AG News with 4 copies (133,880 texts),
    the 10 epochs the labelled texts alone ask for took 134 s for 0.8978; the 2 counted so, 25 s
    for 0.8982 (benchmarks/README.md, distillation).
    """
    wanted = auto_settings(recipe)
    if "model.embedding_init" in wanted and not model_family(recipe.model.type).word_embedding:
        recipe = resolve_recipe(recipe, overrides=["model.embedding_init=random"])  # none to start
        wanted.remove("model.embedding_init")
    if not wanted:
        return recipe
    texts = dataset.texts("train")
    lengths, limit = None, None
    if "tokenizer.max_length" in wanted:
        lengths, limit = token_counts(recipe, length_sample(texts, recipe.training.seed))
    frequencies = word_frequencies(texts) if "tokenizer.max_tokens" in wanted else None
    n_rows = len(texts)
    if recipe.distill.teacher:
        n_rows = (n_rows + n_unlabeled) * (1 + recipe.distill.augment)
    share = None
    if "model.embedding_init" in wanted:  # does the encoder know these words (their language)?
        sample = texts[:PROFILE_SAMPLE]
        share = whole_word_share(sample, encoder_vocabulary(recipe.model.encoder))
    resolved, choices = data_aware(
        recipe,
        n_rows,
        lengths,
        limit,
        frequencies,
        dataset.multi_label,
        share,
        n_labels=len(dataset.label_names),
        n_validation=len(dataset.splits["validation"]) if "validation" in dataset.splits else 0,
    )
    if is_main_process():
        warnings.warn(describe(dataset.source, choices), AttentextNote, stacklevel=2)
    return resolved


def train(
    recipe: str | Path | Recipe,
    data: str | Path | TextDataset,
    output: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: list[TrainerCallback] | None = None,
    log_lines: bool | TextIO = True,
    **options: Any,
) -> TrainResult:
    """Train a recipe (name, YAML path or Recipe) on data and write a run directory at `output`.

    `options` are those of `resolve_recipe`: epochs, max_steps (this many optimizer steps,
    overriding epochs), batch_size, precision, class_weight, label_prior, val_fraction, overrides
    (a list of `key=value`). `log_lines=False` keeps the Trainer's step bar but not its printed
    log lines (`auto` and `tune` print one per run); they go to stderr, or to a stream given.
    """
    resume, overwrite = yes_or_no(resume, "resume"), yes_or_no(overwrite, "overwrite")
    check_keywords("train", options, train, resolve_recipe)
    # `~/runs/x` from Python: the home folder's, where a folder named '~' was made in the
    # working folder and the run trained into it without a word
    output_dir = Path(path_parameter(output, "output"))
    said = options.get("overrides") or []
    recipe = reading_word_pairs(
        keeping_final_weights(resolve_recipe(recipe, **options), said), said
    )
    if output_dir.name in ("", ".", ".."):  # `--output .`: the folder it names, by its name
        output_dir = Path(os.path.abspath(output_dir))
    dataset = _load_dataset(recipe, data)
    family = model_family(recipe.model.type)
    family.check_spec(recipe.model)
    if family.neural:  # a precision this machine cannot train in, refused before the work folder
        resolve_precision(recipe.training.precision)  # (fp16 on a CPU left <output>.partial)
    for unused in settings_without_effect(recipe) if is_main_process() else []:
        warnings.warn(f"{recipe.name}: {unused}", AttentextNote, stacklevel=2)
    if resume and not family.neural:
        raise RecipeError(
            f"{recipe.name} trains in one go and keeps no checkpoints: there is nothing "
            "to --resume; run it without --resume"
        )
    unlabeled, teachers = _check_before_writing(
        recipe, data, dataset, family, output_dir, resume, overwrite
    )
    for unused in one_fit_ignores(family, options):  # once nothing refused the run
        warnings.warn(f"{recipe.name}: {unused}", AttentextNote, stacklevel=2)
    one_torch_thread_after_fork()  # a child forked after training would hang on torch's threads
    with _held(output_dir), caller_random_state_kept():
        work_dir = prepare_work_dir(output_dir, resume, overwrite)
        recipe = _data_aware(recipe, dataset, len(unlabeled[0]))
        set_seed(recipe.training.seed)
        if not family.neural:
            return _train_classifier(family, recipe, dataset, work_dir, output_dir)
        manifest = run_manifest(recipe, dataset)
        if resume:
            check_resumable(work_dir, manifest)
        elif is_main_process():
            write_manifest(work_dir, manifest)
        if recipe.fewshot.pair_iterations:
            return _train_fewshot(recipe, dataset, unlabeled, work_dir, output_dir, resume)
        return _train_model(
            recipe, dataset, unlabeled, teachers, work_dir, output_dir, resume, callbacks, log_lines
        )


def one_fit_ignores(family: ModelFamily, options: dict[str, Any]) -> list[str]:
    """For a family fitted in one go (tfidf-logreg), the training settings the caller gave
    (`epochs`, `max_steps`, `batch_size`, `precision`, or `overrides` naming another `training.`
    setting than those it reads), in a phrase; else none. `train tfidf-logreg --epochs 7
    --max-steps 3 --batch-size 8 --precision bf16` recorded them in recipe.yaml and trained the
    same model, without a word."""
    if family.neural:
        return []
    given = [f"training.{name}" for name in ONE_FIT_OPTIONS if options.get(name) is not None]
    for item in override_list(options.get("overrides")):
        key = item.partition("=")[0].strip()
        section, _, name = key.partition(".")
        if section == "training" and name not in ONE_FIT_READS and key not in given:
            given.append(key)
    if not given:
        return []
    verb = "does" if len(given) == 1 else "do"
    return [
        f"{short_list(given, 4)} {verb} nothing: it is fitted in one go, without epochs, steps, "
        "batches or a precision to train in (of training's settings it reads class_weight, "
        "calibrate and label_prior)"
    ]


def _check_before_writing(
    recipe: Recipe,
    data: str | Path | TextDataset,
    dataset: TextDataset,
    family: ModelFamily,
    output_dir: Path,
    resume: bool,
    overwrite: bool,
) -> tuple[tuple[list[str], int], list[Teacher]]:
    """What can be refused before the work folder `<output>.partial` is made, so that a refusal
    leaves nothing behind: an output apart from the teachers and the data; for a student, the
    destination (checked again under the lock: a note about its texts must not come before
    "already exists"), then the student itself and its teachers (`distill.check_student`,
    `distill.check_teacher`: a teacher of other labels was refused after the work folder), then
    its unlabeled texts, read here and returned with how many were left out (an empty, binary
    or missing `--unlabeled` file left an empty `<output>.partial` behind). The few-shot recipe
    likewise: its model, its pairs and its `fewshot.unlabeled` texts (`fewshot.check_fewshot`).
    The teachers are returned as checked, loaded: the transfer set is labelled by them (each was
    loaded a second time for it). A word model's training texts must hold a word it reads."""
    check_folders_above(output_dir)
    if family.neural and recipe.tokenizer.type == "word":
        check_holds_a_word(dataset.texts("train"), recipe.model.type)
    teachers = [recipe.distill.teacher, *recipe.distill.ensemble] if recipe.distill.teacher else []
    rundir.check_output_apart(output_dir, [Path(run) for run in teachers], "the teacher run")
    rundir.check_output_apart(
        output_dir, rundir.local_data_paths(data), "the data", inside_allowed=True
    )
    if not teachers:
        if not (recipe.fewshot.pair_iterations and family.neural):
            return ([], 0), []
        check_destination(output_dir, resume, overwrite)
        return check_fewshot(recipe, dataset), []
    check_destination(output_dir, resume, overwrite)
    check_student(recipe, family.neural)
    check_each_teacher_once(teachers)
    n_train = len(dataset.texts("train"))
    check_noisy_copies(recipe.distill, n_train)  # before the teachers load, then with the pool
    loaded = [check_teacher(Path(teacher), dataset) for teacher in teachers]
    unlabeled = unlabeled_texts(recipe.distill, dataset)
    check_noisy_copies(recipe.distill, n_train + len(unlabeled[0]))
    return unlabeled, loaded


@contextmanager
def caller_random_state_kept() -> Iterator[None]:
    """Python's, NumPy's and torch's global generators as the caller left them, once training
    ends (or fails, or is interrupted). Training seeds them (`set_seed`: the run is reproducible)
    and draws from them; left so, a notebook's every later `np.random`, `random` or `torch.rand`
    after `attentext.train` drew the same numbers run after run, without a word. CUDA's
    generators are put back where CUDA was started before training."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    torch_state = torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)


def _held(output_dir: Path) -> AbstractContextManager:
    """The destination's lock, held by the process that writes it (rank 0 under torchrun)."""
    return rundir.writing(output_dir, "train") if is_main_process() else nullcontext()


def _measured(
    dataset: TextDataset, recipe: Recipe, results: dict[str, tuple[np.ndarray, np.ndarray]]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Each split's report from its (true labels, logits), and the post-training files to save:
    the temperature fitted on validation and the label prior's bias (one label per text, where
    the recipe asks for them) or the decision thresholds tuned on validation (several labels
    per text). The reports give the labels the saved run predicts, the bias included."""
    if dataset.multi_label:
        return _measured_multi_label(dataset.label_names, results, recipe.training.calibrate)
    calibration = _calibration(dataset, recipe, results)
    temperature = calibration["temperature"] if calibration else 1.0
    bias = calibration.get("label_prior", {}).get("bias") if calibration else None
    reports: dict[str, Any] = {
        split: evaluation_report(
            y_true, shifted_logits(logits, temperature, bias).argmax(axis=-1), dataset.label_names
        ).to_dict()
        for split, (y_true, logits) in results.items()
    }
    if calibration is None:
        return reports, {}
    reports["calibration"] = calibration
    return reports, {rundir.CALIBRATION_FILE: calibration}


def _calibration(
    dataset: TextDataset, recipe: Recipe, results: dict[str, tuple[np.ndarray, np.ndarray]]
) -> dict[str, Any] | None:
    """calibration.json: the temperature fitted on validation (when the recipe calibrates and
    there is a validation split; 1 otherwise) and the bias of `training.label_prior` (from the
    training split's label counts); None when there is neither."""
    counts = np.bincount(dataset.labels("train"), minlength=len(dataset.label_names))
    prior = prior_record(
        recipe.training.label_prior,
        dict(zip(dataset.label_names, map(int, counts), strict=True)),
    )
    fitted = recipe.training.calibrate and "validation" in results
    if not fitted and prior is None:
        return None
    if fitted:
        y_validation, logits_validation = results["validation"]
        calibration = calibrate(y_validation, logits_validation, "validation").to_dict()
    else:
        calibration = dict(NOT_CALIBRATED)
    if prior is not None:
        calibration["label_prior"] = prior
    if "test" in results:
        y_test, logits_test = results["test"]
        bias = prior["bias"] if prior else None
        calibration["test"] = measure_calibration(
            logits_test, y_test, calibration["temperature"], bias
        )
    return calibration


def _measured_multi_label(
    label_names: list[str],
    results: dict[str, tuple[np.ndarray, np.ndarray]],
    fit_temperatures: bool = True,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A temperature per label fitted on validation (where the recipe calibrates), thresholds
    tuned there on the calibrated probabilities (0.5 without a validation split), then every
    split's multi-label report at them."""
    targets = {split: (y > 0.5).astype(np.int64) for split, (y, _) in results.items()}
    calibration, temperatures = None, None
    if fit_temperatures and "validation" in results:
        calibration = calibrate_labels(
            targets["validation"], results["validation"][1], label_names, "validation"
        )
        temperatures = temperature_vector(calibration["label_temperatures"], label_names)
        if "test" in results:
            calibration["test"] = measure_label_calibration(
                targets["test"], results["test"][1], temperatures
            )
    probabilities = {
        split: calibrated_sigmoid(logits, temperatures) for split, (_, logits) in results.items()
    }
    thresholds = None
    if "validation" in results:
        thresholds = tune_thresholds(
            targets["validation"], probabilities["validation"], label_names
        )
    cut = threshold_vector(thresholds, label_names)
    reports: dict[str, Any] = {
        split: multilabel_report(targets[split], probabilities[split], label_names, cut)
        for split in results
    }
    files: dict[str, dict[str, Any]] = {}
    if thresholds is not None:
        reports["thresholds"] = files[rundir.THRESHOLDS_FILE] = thresholds
    if calibration is not None:
        reports["calibration"] = files[rundir.CALIBRATION_FILE] = calibration
    return reports, files


def _profile(recipe: Recipe, dataset: TextDataset, tokenizer: Any = None) -> dict[str, Any]:
    """The training split's profile, and a one-line warning for what the recipe does not fit
    (imbalanced classes without class weights, a pretrained vocabulary of another language)."""
    vocabulary = None
    if tokenizer is not None and recipe.tokenizer.type == "pretrained":
        vocabulary = tokenizer.get_vocab()
    elif recipe.model.embedding_init == "encoder":  # the word vectors come from its pieces
        vocabulary = encoder_vocabulary(recipe.model.encoder)
    facts = profile(
        dataset.texts("train"), dataset.labels("train"), dataset.label_names, vocabulary
    )
    texts = {s: dataset.texts(s) for s in ("train", *EVALUATED_SPLITS) if s in dataset.splits}
    keys = normalized_splits(texts)  # once: both checks compare them
    others = {split: keys[split] for split in EVALUATED_SPLITS if split in keys}
    facts.update(copies_in_training(keys["train"], others))
    learned = [split for split in ("train", "validation") if split in keys]
    facts["texts_with_two_labels"], example = labelled_two_ways(
        [text for split in learned for text in texts[split]],
        [key for split in learned for key in keys[split]],
        [label for split in learned for label in dataset.labels(split)],
    )
    if is_main_process():
        advise_two_ways(
            facts["texts_with_two_labels"], example, dataset.label_names, dataset.source
        )
        advise(
            facts,
            recipe.training.class_weight,
            dataset.source,
            recipe.model.encoder,
            recipe.model.embedding_init,
            texts_a_class=not (dataset.multi_label or recipe.data.shots),
        )
        advise_copies(
            {f"{split}_in_train": facts[f"{split}_in_train"] for split in others},
            {split: len(split_keys) for split, split_keys in others.items()},
            dataset.source,
        )
    return facts


def _train_classifier(
    family: ModelFamily, recipe: Recipe, dataset: TextDataset, work_dir: Path, output_dir: Path
) -> TrainResult:
    """A non-neural family: one fit, the same kind of run directory."""
    profile_facts = _profile(recipe, dataset)
    try:
        classifier, facts = fit_classifier(family, recipe, dataset)
    except DataError:  # data the fit refuses (no word it reads): no checkpoint to resume from
        shutil.rmtree(work_dir, ignore_errors=True)
        raise
    results = {}
    for split in EVALUATED_SPLITS:
        if split in dataset.splits:
            labels = dataset.labels(split)
            probabilities = classifier.predict_proba(dataset.texts(split))
            if dataset.multi_label:  # per-label probabilities: their log-odds are the logits
                y = multi_hot(labels, len(dataset.label_names))
                results[split] = (y, log_odds(probabilities))
            else:  # log-probabilities as logits: temperature scaling of a softmax model, exactly
                results[split] = (np.array(labels), np.log(np.clip(probabilities, 1e-7, 1 - 1e-7)))
    reports, extra_files = _measured(dataset, recipe, results)
    metrics = {
        "recipe": recipe.name,
        **data_facts(dataset),
        "data_profile": profile_facts,
        **facts,
        **reports,
    }
    _publish(
        work_dir,
        output_dir,
        family.run_kind,
        recipe,
        metrics,
        _with_files(classifier.save, extra_files),
        "run the command again",
    )
    return TrainResult(output_dir, metrics)


def data_facts(dataset: TextDataset) -> dict[str, str]:
    """What metrics.json records of the training data: its source as given, and the SHA-256 of
    its training file where it is local (`evaluate` and `compare` know the file again by it,
    copied or named by another path: by the path alone, a relative one from another folder
    was not recognised)."""
    found = train_file(dataset.source)
    return {"data": dataset.source, **({"data_sha256": file_digest(found)} if found else {})}


def _train_fewshot(
    recipe: Recipe,
    dataset: TextDataset,
    pool: tuple[list[str], int],
    work_dir: Path,
    output_dir: Path,
    resume: bool = False,
) -> TrainResult:
    """The few-shot recipe: the encoder tuned on pairs, a logistic-regression head (self-trained
    on `pool`, the unlabeled texts checked before writing), without the Trainer; the tuned
    encoder kept in `work_dir`, where `resume` starts from it. A run directory like any
    encoder-classifier's."""
    tokenizer = build_tokenizer(recipe, [])
    profile_facts = _profile(recipe, dataset, tokenizer)
    model = build_model(
        recipe.model, tokenizer, dataset.label_names, recipe.tokenizer.max_length, False
    )
    facts, results = fit_fewshot(recipe, model, tokenizer, dataset, pool, work_dir, resume)
    reports, extra_files = _measured(dataset, recipe, results)
    metrics = {
        "recipe": recipe.name,
        **data_facts(dataset),
        "data_profile": profile_facts,
        **facts,
        **reports,
    }
    write_model = _model_writer(model, tokenizer, [])
    _publish(
        work_dir,
        output_dir,
        rundir.TRANSFORMERS_KIND,
        recipe,
        metrics,
        _with_files(write_model, extra_files),
        "run the command again",
    )
    return TrainResult(output_dir, metrics)


def _tokenizer(
    recipe: Recipe, dataset: TextDataset, unlabeled: list[str], work_dir: Path, resume: bool
):
    """The run's tokenizer: the one saved in the work folder when resuming, else a fresh one
    (a word vocabulary is fitted on the training texts and the unlabeled ones)."""
    folder = rundir.tokenizer_dir(work_dir)
    if resume and folder.exists():
        return load_tokenizer(str(folder))
    tokenizer = build_tokenizer(recipe, dataset.texts("train") + unlabeled)
    if is_main_process():
        tokenizer.save_pretrained(str(folder))
    return tokenizer


def _tokenized(
    dataset: TextDataset, tokenizer: PreTrainedTokenizerBase, recipe: Recipe
) -> dict[str, PackedRows | WindowRows]:
    """Every split tokenized once (truncated as the recipe says, or as documents of windows
    when it reads long texts in chunks; unpadded), held in memory."""
    spec = recipe.tokenizer
    chunking = Chunking.of(spec)
    if chunking is not None:
        return {
            name: WindowRows.from_dataset(
                tokenize_windows(split, tokenizer, spec.max_length, chunking)
            )
            for name, split in dataset.splits.items()
        }
    return {
        name: PackedRows.from_dataset(
            tokenize_split(split, tokenizer, spec.max_length, spec.truncation)
        )
        for name, split in dataset.splits.items()
    }


def _window_facts(tokenized: dict[str, Any]) -> dict[str, Any]:
    """How many windows each split's documents were read as (long texts in chunks), or {}."""
    if not all(isinstance(rows, WindowRows) for rows in tokenized.values()):
        return {}
    return {"windows": {name: rows.window_summary() for name, rows in tokenized.items()}}


def _train_model(
    recipe: Recipe,
    dataset: TextDataset,
    unlabeled_left_out: tuple[list[str], int],
    teachers: list[Teacher],
    work_dir: Path,
    output_dir: Path,
    resume: bool,
    callbacks: list[TrainerCallback] | None,
    log_lines: bool | TextIO = True,
) -> TrainResult:
    """A Hugging Face model trained by the Trainer (its head alone when the encoder is frozen);
    a distilled student's transfer set holds the unlabeled texts (and how many were left out),
    labelled by its `teachers` (loaded when they were checked)."""
    tokenizer = _tokenizer(recipe, dataset, unlabeled_left_out[0], work_dir, resume)
    profile_facts = _profile(recipe, dataset, tokenizer)
    if is_main_process():
        write_text(work_dir / rundir.RECIPE_FILE, recipe.to_yaml())
    tokenized = _tokenized(dataset, tokenizer, recipe)
    model, start_facts = _new_model(recipe, tokenizer, dataset)
    trained, rows, facts, precision = _what_trains(recipe, model, tokenizer, tokenized)
    trainer_class, facts = distillation_trainer(
        recipe, dataset, tokenizer, rows, unlabeled_left_out, facts, teachers
    )
    trainer = build_trainer(
        recipe,
        trained,
        tokenizer if isinstance(rows["train"], PackedRows | WindowRows) else None,
        rows["train"],
        rows.get("validation"),
        work_dir,
        precision,
        class_weights(
            dataset.labels("train"), len(dataset.label_names), recipe.training.class_weight
        ),
        callbacks,
        trainer_class,
        log_lines,
    )
    output, seconds = _fit(trainer, work_dir, output_dir, resume)
    metrics = {
        "recipe": recipe.name,
        **data_facts(dataset),
        "data_profile": profile_facts,
        "precision": precision,
        **_training_facts(trainer, output, seconds, model, len(rows["train"])),
        **start_facts,
        **facts,
    }
    reports, extra_files = _measured(dataset, recipe, _logits_per_split(trainer, rows))
    metrics.update(reports)
    if trainer.is_world_process_zero():
        write_model = _model_writer(model, tokenizer, trainer.state.log_history)
        _publish(
            work_dir,
            output_dir,
            rundir.TRANSFORMERS_KIND,
            recipe,
            metrics,
            _with_files(write_model, extra_files),
            "run again with --resume",
        )
    return TrainResult(output_dir, metrics)


def _new_model(
    recipe: Recipe, tokenizer: PreTrainedTokenizerBase, dataset: TextDataset
) -> tuple[PreTrainedModel, dict[str, Any]]:
    """The recipe's model, sized for the tokenizer and labels, and facts for metrics.json;
    several labels per text start from their shares of the training texts
    (`initialize_label_priors`), a word embedding from an encoder where the recipe says so."""
    model = build_model(
        recipe.model,
        tokenizer,
        dataset.label_names,
        recipe.tokenizer.max_length,
        dataset.multi_label,
    )
    if dataset.multi_label and recipe.training.class_weight == "none":
        # weighted positives aim at 0.5 for every label: the prior start fits unweighted BCE
        initialize_label_priors(model, multi_hot(dataset.labels("train"), len(dataset.label_names)))
    if recipe.model.embedding_init == "encoder":
        start = initialize_word_embeddings(
            model, tokenizer, recipe.model.encoder, recipe.training.seed
        )
        if recipe.model.freeze_embedding:  # the optimizer skips it (requires_grad)
            model.get_input_embeddings().weight.requires_grad_(False)
        return model, {"embedding_init": {**start, "frozen": recipe.model.freeze_embedding}}
    return model, {}


def _logits_per_split(
    trainer: Any, rows: dict[str, Any]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(true labels, logits) of the validation and test splits, by the trained model."""
    results = {}
    for split in EVALUATED_SPLITS:
        if split in rows:
            # The Trainer may reorder evaluation batches by length: take labels from its output.
            prediction = trainer.predict(rows[split])
            results[split] = (prediction.label_ids, np.asarray(prediction.predictions))
            _check_finite(results[split][1], split, trainer.args.learning_rate)
    return results


def _check_finite(logits: np.ndarray, split: str, learning_rate: float) -> None:
    """Refuse to publish a model whose outputs are not numbers: a run that diverged
    (`training.learning_rate=1e30`: the loss NaN from the first step) was published as a
    finished run, accuracy that of one label, every probability NaN, without a word."""
    if not np.isfinite(logits).all():
        raise diverged(f"the trained model's outputs on the {split} split", learning_rate)


def diverged(what: str, learning_rate: float) -> RecipeError:
    """The one line of a run that diverged: `what` is not numbers, so it is not published."""
    return RecipeError(
        f"training diverged: {what} are not numbers (NaN or infinite), so the run is not "
        f"published; lower training.learning_rate (it was {learning_rate:g}) or train in fp32, "
        "then start over with --overwrite (overwrite=True in Python): --resume would go on "
        "from its diverged checkpoints"
    )


def _training_facts(
    trainer: Any, output: Any, seconds: float, model: PreTrainedModel, n_train: int
) -> dict[str, Any]:
    """How the training went, for metrics.json: time, speed, steps, sizes."""
    return {
        "train_seconds": round(seconds, 2),
        "train_samples_per_second": output.metrics.get("train_samples_per_second"),
        "global_steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "n_train": n_train,
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "total_parameters": sum(p.numel() for p in model.parameters()),
        "best_checkpoint": Path(trainer.state.best_model_checkpoint).name
        if trainer.state.best_model_checkpoint
        else None,
    }


def _what_trains(
    recipe: Recipe, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, tokenized: dict
) -> tuple[Any, dict[str, Any], dict[str, Any], str]:
    """The module the Trainer trains, its rows, facts for metrics.json, and its precision.

    A frozen encoder's output never changes: its features are computed once (cached on disk) and
    the head, the model's own submodule, trains on them; the saved model is the whole one.
    """
    frozen = getattr(model.config, "freeze_encoder", False) and hasattr(model, "head")
    if recipe.training.feature_cache and frozen:
        precision = resolve_precision(
            recipe.training.precision,
            lambda: probe_model(
                model, sample_batch(recipe, tokenizer, tokenized["train"]), train=False
            ),
        )
        rows, facts = feature_splits(recipe, model, tokenized, precision, tokenizer.pad_token_id)
        facts.update(_window_facts(tokenized))
        # a linear head: nothing for bf16 to speed up
        return _head_of(model, recipe), rows, facts, "fp32"
    use_cpu_dropout(model)  # no weights in dropout: the saved model is the same
    precision = resolve_precision(
        recipe.training.precision,
        lambda: probe_model(model, sample_batch(recipe, tokenizer, tokenized["train"])),
    )
    if recipe.tokenizer.long_text == "chunks":  # documents of windows, one loss per document
        aggregation = getattr(model.config, "aggregation", "mean")
        trained = WindowedClassifier(model, aggregation)
        return trained, tokenized, _window_facts(tokenized), precision
    return model, tokenized, {}, precision


def _head_of(model: PreTrainedModel, recipe: Recipe) -> Any:
    """What trains on a frozen encoder's cached features: the head, or for documents of windows
    the head with the window attention (`WindowFeatureHead`)."""
    if recipe.tokenizer.long_text != "chunks":
        return model.head
    return WindowFeatureHead(model.head, model.window_attention, model.config.aggregation)


def _fit(trainer: Any, work_dir: Path, output_dir: Path, resume: bool) -> tuple[Any, float]:
    """Run the Trainer (from the last checkpoint when resuming); its output and seconds."""
    checkpoint = last_complete_checkpoint(work_dir, prune=is_main_process()) if resume else None
    start = time.perf_counter()
    try:
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except OSError as error:  # a checkpoint that could not be written: a full disk, a quota
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        resumable = last_complete_checkpoint(work_dir, prune=is_main_process())
        then = "run again with --resume" if resumable else "run it again"
        raise _write_error(error, work_dir, output_dir, then) from None
    callbacks = trainer.callback_handler.callbacks
    guard = next((c for c in callbacks if isinstance(c, DivergenceGuard)), None)
    # stopped where the weights stopped being numbers: the steps left would only add NaNs
    if guard is not None and guard.diverged_at is not None:
        step = f"its weights at step {guard.diverged_at:,} of {trainer.state.max_steps:,}"
        raise diverged(step, trainer.args.learning_rate)
    return output, time.perf_counter() - start


def _model_writer(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, log_history: list[dict]
) -> Callable[[Path], None]:
    def write(staging: Path) -> None:
        model.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        lines = "".join(json.dumps(entry) + "\n" for entry in log_history)
        write_text(staging / rundir.LOG_FILE, lines)

    return write


def _with_files(
    write_model: Callable[[Path], None], files: dict[str, dict[str, Any]]
) -> Callable[[Path], None]:
    """The model's files, and beside them what post-training fitted (a temperature, thresholds),
    which every loader applies."""

    def write(staging: Path) -> None:
        write_model(staging)
        for name, payload in files.items():
            write_json(staging / name, payload)

    return write


def _publish(
    work_dir: Path,
    output_dir: Path,
    kind: str,
    recipe: Recipe,
    metrics: dict[str, Any],
    write_model: Callable[[Path], None],
    then: str,
) -> None:
    """Assemble the run in the work folder's staging folder, marker last, and rename it into
    place; the work folder goes. A failed write is one line saying what to do next."""
    staging = rundir.staging_dir(work_dir)
    try:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        write_model(staging)
        write_text(staging / rundir.RECIPE_FILE, recipe.to_yaml())
        write_json(staging / rundir.METRICS_FILE, metrics)
        # the model card, from the files just staged; before the marker, which lists it
        card = model_card(rundir.Run(staging, {"kind": kind}), name=output_dir.name)
        write_text(staging / rundir.CARD_FILE, card)
        rundir.write_marker(staging, kind=kind)
        rundir.publish(staging, output_dir)
    except OSError as error:  # a full disk, a read-only or vanished folder
        raise _write_error(error, work_dir, output_dir, then) from None
    shutil.rmtree(work_dir, ignore_errors=True)


def _write_error(error: OSError, work_dir: Path, output_dir: Path, then: str) -> RunDirError:
    """One line for a failed write of the run directory; the half-written staging is removed."""
    shutil.rmtree(rundir.staging_dir(work_dir), ignore_errors=True)
    reason = error.strerror or str(error) or type(error).__name__
    return RunDirError(
        f"{output_dir}: could not write the run directory ({reason}); free space "
        f"(or fix the folder's permissions) and {then}"
    )
