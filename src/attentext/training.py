"""Train a recipe with the Hugging Face Trainer and publish the result as a run directory.

The Trainer brings what we would otherwise write by hand: accelerate (bf16 autocast, DDP under
`torchrun`), checkpoints and resume, evaluation each epoch and keeping the best checkpoint.
attentext adds what it lacks for text classification: data loading, a fitted word vectorizer,
dynamic padding with length-grouped batches, precision chosen by the hardware, class weights, and
an atomic run directory.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
import torch.nn.functional as F
from transformers import (
    EvalPrediction,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    default_data_collator,
    set_seed,
)

from attentext import rundir
from attentext.baseline import BASELINE_TYPE, check_baseline_options, train_baseline
from attentext.data import TextDataset, load_text_dataset
from attentext.encoders import encoder_fingerprint, resolve_encoder
from attentext.errors import RecipeError, RunDirError
from attentext.evaluation import classification_metrics, evaluation_report
from attentext.features import cache_key, cached_features, compute_features, data_fingerprint
from attentext.models.dropout import use_cpu_dropout
from attentext.models.encoder_classifier import EncoderClassifierForSequenceClassification
from attentext.models.registry import build_model
from attentext.precision import probe_model, resolve_precision
from attentext.recipes import Recipe
from attentext.tokenization import (
    PackedRows,
    PadCollator,
    build_tokenizer,
    load_tokenizer,
    tokenize_split,
)

TOKENIZER_SUBDIR = "tokenizer"
CHECKPOINT_SUBDIR = "checkpoints"


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def _is_main_process() -> bool:
    """Rank 0 of a `torchrun` launch, or a plain process: the one that writes shared files."""
    return int(os.environ.get("RANK", "0")) == 0


def last_complete_checkpoint(work: Path, prune: bool = False) -> Path | None:
    """The newest checkpoint the Trainer finished writing, or None.

    transformers writes `checkpoint-N/` in place, file by file, `trainer_state.json` last: a run
    killed while saving leaves a folder without that file (or with it cut short). Such a folder is
    never resumed from; with `prune` (the main process, on resume) it is removed.
    """
    complete = []
    for folder in (work / CHECKPOINT_SUBDIR).glob("checkpoint-*"):
        step = folder.name.removeprefix("checkpoint-")
        if not step.isdigit() or not folder.is_dir():
            continue
        try:
            json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            if prune:
                shutil.rmtree(folder, ignore_errors=True)
            continue
        complete.append((int(step), folder))
    return max(complete)[1] if complete else None


def _prepare_work_dir(output_dir: Path, resume: bool, overwrite: bool) -> Path:
    """Check what exists at the destination and return the folder to work in."""
    work = rundir.partial_dir(output_dir)
    if not _is_main_process():
        # Under torchrun only rank 0 checks and cleans the destination (the others would race
        # with it and see its fresh folder as an unfinished run); it alone writes there.
        work.mkdir(parents=True, exist_ok=True)
        return work
    if output_dir.exists() and not overwrite and not resume:
        raise RunDirError(
            f"{output_dir}: already exists; choose another --output or pass --overwrite"
        )
    has_checkpoint = any((work / CHECKPOINT_SUBDIR).glob("checkpoint-*"))
    if resume:
        if last_complete_checkpoint(work) is None:
            hint = "; pass --overwrite to start over" if has_checkpoint else ""
            raise RunDirError(
                f"{output_dir}: nothing to resume (no complete checkpoint in {work.name}){hint}"
            )
        return work
    if work.exists() and not has_checkpoint and _is_main_process():
        shutil.rmtree(
            work, ignore_errors=True
        )  # it stopped before its first checkpoint: nothing to keep
    if work.exists():
        if not overwrite:
            raise RunDirError(
                f"{work}: an unfinished run is there; pass --resume to continue it or --overwrite to start over"
            )
        if _is_main_process():
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    return work


def _class_weights(dataset: TextDataset, mode: str) -> torch.Tensor | None:
    if mode == "none":
        return None
    counts = np.bincount(dataset["train"]["label"], minlength=len(dataset.label_names))
    return torch.tensor(counts.sum() / (len(counts) * counts), dtype=torch.float32)


def _sample_batch(
    recipe: Recipe, tokenizer: PreTrainedTokenizerBase, train_set: Any
) -> dict[str, torch.Tensor]:
    """One typical training batch (the first rows, padded as the collator pads) for the probe."""
    rows = [train_set[i] for i in range(min(len(train_set), recipe.training.batch_size))]
    collator = PadCollator.for_tokenizer(
        tokenizer, recipe.tokenizer.max_length if recipe.training.pad_to_max_length else None
    )
    batch = collator(rows)
    batch.pop("labels", None)
    return batch


def _compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
    logits = (
        prediction.predictions[0]
        if isinstance(prediction.predictions, tuple)
        else prediction.predictions
    )
    return classification_metrics(prediction.label_ids, np.argmax(logits, axis=-1))


def _schedule(recipe: Recipe, n_train: int, has_validation: bool) -> dict[str, Any]:
    """Evaluate and checkpoint once per epoch (or every max_steps when that is shorter)."""
    t = recipe.training
    steps_per_epoch = max(1, math.ceil(n_train / (t.batch_size * _world_size())))
    every = min(steps_per_epoch, t.max_steps) if t.max_steps > 0 else steps_per_epoch
    if not has_validation:
        return {"eval_strategy": "no", "save_strategy": "steps", "save_steps": every}
    return {
        "eval_strategy": "steps",
        "eval_steps": every,
        "save_strategy": "steps",
        "save_steps": every,
        "load_best_model_at_end": True,
        "metric_for_best_model": "accuracy",
        "greater_is_better": True,
    }


def build_trainer(
    recipe: Recipe,
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase | None,
    train_set: Any,
    eval_set: Any | None,
    work_dir: Path,
    precision: str,
    class_weights: torch.Tensor | None = None,
    callbacks: list[TrainerCallback] | None = None,
) -> Trainer:
    """A Trainer configured from the recipe: length-grouped batches, dynamic padding, precision.

    Without a tokenizer the datasets hold fixed-size inputs (cached features): batches are
    stacked as they are and sampled at random.
    """
    t = recipe.training
    group = t.group_by_length and tokenizer is not None
    args = TrainingArguments(
        output_dir=str(work_dir / CHECKPOINT_SUBDIR),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        optim=t.optimizer,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,
        max_grad_norm=t.max_grad_norm,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        seed=t.seed,
        data_seed=t.seed,
        train_sampling_strategy="group_by_length" if group else "random",
        # Tokenized splits are PackedRows, whose rows PadCollator reads as they are; the sampler
        # measures their lengths from them (10 ms for AG News' 14,427 rows).
        remove_unused_columns=tokenizer is None,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        save_total_limit=2,
        report_to="none",
        dataloader_num_workers=0,
        disable_tqdm=False,
        **_schedule(recipe, len(train_set), eval_set is not None),
    )
    if tokenizer is None:
        collator = default_data_collator
    else:
        collator = PadCollator.for_tokenizer(
            tokenizer, recipe.tokenizer.max_length if t.pad_to_max_length else None
        )
    loss_func = None
    if class_weights is not None:

        def loss_func(
            outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None
        ) -> torch.Tensor:
            logits = outputs["logits"].float()
            return F.cross_entropy(logits, labels, weight=class_weights.to(logits.device))

    return Trainer(
        model=model,
        args=args,
        data_collator=collator,
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        compute_metrics=_compute_metrics,
        compute_loss_func=loss_func,
        callbacks=callbacks,
    )


def _uses_feature_cache(recipe: Recipe, model: torch.nn.Module) -> bool:
    return (
        recipe.training.feature_cache
        and isinstance(model, EncoderClassifierForSequenceClassification)
        and model.config.freeze_encoder
    )


def _feature_splits(
    recipe: Recipe, model: Any, tokenizer: PreTrainedTokenizerBase, tokenized: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Pooled encoder features per split, from the cache or computed once; and cache facts."""
    precision = resolve_precision(
        recipe.training.precision,
        lambda: probe_model(
            model, _sample_batch(recipe, tokenizer, tokenized["train"]), train=False
        ),
    )
    encoder = encoder_fingerprint(resolve_encoder(recipe.model.encoder))
    facts: dict[str, Any] = {
        "extraction_precision": precision,
        "extraction_seconds": 0.0,
        "cache_hits": [],
    }
    splits = {}
    for name, split in tokenized.items():
        ids = split["input_ids"]
        key = cache_key(
            encoder=encoder,
            max_length=recipe.tokenizer.max_length,
            truncation=recipe.tokenizer.truncation,
            pooling=model.config.pooling,
            pooling_layers=model.config.pooling_layers,
            precision=precision,
            data=data_fingerprint(
                ids
            ),  # the token ids: they change with the texts and the tokenizer
        )
        start = time.perf_counter()
        features, hit = cached_features(
            key,
            lambda ids=ids, name=name: compute_features(
                model, ids, tokenizer.pad_token_id, precision, description=f"Encoding {name}"
            ),
        )
        facts["extraction_seconds"] += time.perf_counter() - start
        if hit:
            facts["cache_hits"].append(name)
        splits[name] = datasets.Dataset.from_dict(
            {"features": features.numpy(), "label": split["label"]}
        ).with_format("torch")
    facts["extraction_seconds"] = round(facts["extraction_seconds"], 2)
    return splits, facts


def train(
    recipe: Recipe,
    data: str | Path | TextDataset,
    output_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: list[TrainerCallback] | None = None,
) -> TrainResult:
    """Train `recipe` on `data` and write a complete run directory at `output_dir`."""
    output_dir = Path(output_dir)
    dataset = (
        data
        if isinstance(data, TextDataset)
        else load_text_dataset(
            data,
            text_column=recipe.data.text_column,
            label_column=recipe.data.label_column,
            val_fraction=recipe.data.val_fraction,
            seed=recipe.training.seed,
        )
    )
    if "train" not in dataset.splits:
        raise RecipeError(f"{dataset.source}: no train split to train on")
    work_dir = _prepare_work_dir(output_dir, resume, overwrite)
    set_seed(recipe.training.seed)
    if recipe.model.type == BASELINE_TYPE:
        return _train_baseline_run(recipe, dataset, work_dir, output_dir)

    tokenizer_dir = work_dir / TOKENIZER_SUBDIR
    if resume and tokenizer_dir.exists():
        tokenizer = load_tokenizer(str(tokenizer_dir))
    else:
        tokenizer = build_tokenizer(recipe, dataset["train"]["text"])
        if _is_main_process():
            tokenizer.save_pretrained(str(tokenizer_dir))
    if _is_main_process():
        (work_dir / rundir.RECIPE_FILE).write_text(recipe.to_yaml(), encoding="utf-8")

    max_length = recipe.tokenizer.max_length
    truncation = recipe.tokenizer.truncation
    tokenized = {
        name: tokenize_split(split, tokenizer, max_length, truncation)
        for name, split in dataset.splits.items()
    }
    model = build_model(recipe.model, tokenizer, dataset.label_names, max_length)
    model.config.attentext_truncation = truncation
    extra: dict[str, Any] = {}
    class_weights = _class_weights(dataset, recipe.training.class_weight)
    if _uses_feature_cache(recipe, model):
        # Train the head alone on cached features; it is the model's own head module, so the
        # full model (encoder + trained head) is what gets saved.
        tokenized, extra = _feature_splits(recipe, model, tokenizer, tokenized)
        precision = "fp32"  # a linear head on features: nothing for bf16 to speed up
        trained_module, trainer_tokenizer = model.head, None
    else:
        tokenized = {name: PackedRows.from_dataset(split) for name, split in tokenized.items()}
        use_cpu_dropout(model)  # no weights in dropout: the saved model is the same
        precision = resolve_precision(
            recipe.training.precision,
            lambda: probe_model(model, _sample_batch(recipe, tokenizer, tokenized["train"])),
        )
        trained_module, trainer_tokenizer = model, tokenizer
    trainer = build_trainer(
        recipe,
        trained_module,
        trainer_tokenizer,
        tokenized["train"],
        tokenized.get("validation"),
        work_dir,
        precision,
        class_weights,
        callbacks,
    )
    checkpoint = last_complete_checkpoint(work_dir, prune=_is_main_process()) if resume else None
    start = time.perf_counter()
    try:
        output = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    except OSError as error:  # a checkpoint that could not be written: a full disk, a quota
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        resumable = last_complete_checkpoint(work_dir, prune=_is_main_process())
        then = "run again with --resume" if resumable else "run it again"
        raise _write_error(error, work_dir, output_dir, then) from None
    train_seconds = time.perf_counter() - start

    metrics: dict[str, Any] = {
        "recipe": recipe.name,
        "precision": precision,
        "train_seconds": round(train_seconds, 2),
        "train_samples_per_second": output.metrics.get("train_samples_per_second"),
        "global_steps": trainer.state.global_step,
        "epochs": trainer.state.epoch,
        "n_train": len(tokenized["train"]),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "total_parameters": sum(p.numel() for p in model.parameters()),
        **extra,
        "best_checkpoint": Path(trainer.state.best_model_checkpoint).name
        if trainer.state.best_model_checkpoint
        else None,
    }
    for split in ("validation", "test"):
        if split in tokenized:
            # The Trainer may reorder evaluation batches by length: take labels from its output.
            prediction = trainer.predict(tokenized[split])
            y_pred = np.argmax(prediction.predictions, axis=-1)
            metrics[split] = evaluation_report(
                prediction.label_ids, y_pred, dataset.label_names
            ).to_dict()
    if trainer.is_world_process_zero():
        try:
            _publish_run(trainer, model, tokenizer, recipe, metrics, work_dir, output_dir)
        except OSError as error:  # a full disk, a read-only or vanished folder
            raise _write_error(error, work_dir, output_dir, "run again with --resume") from None
    return TrainResult(output_dir, metrics)


def _train_baseline_run(
    recipe: Recipe, dataset: TextDataset, work_dir: Path, output_dir: Path
) -> TrainResult:
    """The scikit-learn baseline: no Trainer, no checkpoints; the same kind of run directory."""
    check_baseline_options(recipe.model.options)
    staging = work_dir / "final"
    shutil.rmtree(staging, ignore_errors=True)
    metrics = train_baseline(recipe, dataset, staging)
    try:
        (staging / rundir.RECIPE_FILE).write_text(recipe.to_yaml(), encoding="utf-8")
        rundir.write_json(staging / rundir.METRICS_FILE, metrics)
        rundir.write_marker(staging, kind=BASELINE_TYPE)
        rundir.publish(staging, output_dir)
    except OSError as error:
        raise _write_error(error, work_dir, output_dir, "run the command again") from None
    shutil.rmtree(work_dir, ignore_errors=True)
    return TrainResult(output_dir, metrics)


def _write_error(error: OSError, work_dir: Path, output_dir: Path, then: str) -> RunDirError:
    """One line for a failed write of the run directory; the half-written final/ is removed."""
    shutil.rmtree(work_dir / "final", ignore_errors=True)
    reason = error.strerror or str(error) or type(error).__name__
    return RunDirError(
        f"{output_dir}: could not write the run directory ({reason}); free space "
        f"(or fix the folder's permissions) and {then}"
    )


def _publish_run(
    trainer: Trainer,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    recipe: Recipe,
    metrics: dict[str, Any],
    work_dir: Path,
    output_dir: Path,
) -> None:
    staging = work_dir / "final"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    model.config.attentext_recipe = recipe.name
    model.save_pretrained(str(staging))
    tokenizer.save_pretrained(str(staging))
    (staging / rundir.RECIPE_FILE).write_text(recipe.to_yaml(), encoding="utf-8")
    rundir.write_json(staging / rundir.METRICS_FILE, metrics)
    with open(staging / rundir.LOG_FILE, "w", encoding="utf-8") as log:
        import json

        for entry in trainer.state.log_history:
            log.write(json.dumps(entry) + "\n")
    for leftover in ("training_args.bin",):  # pickled by the Trainer; a run dir stays pickle-free
        (staging / leftover).unlink(missing_ok=True)
    rundir.write_marker(staging, kind="transformers")
    rundir.publish(staging, output_dir)
    shutil.rmtree(work_dir, ignore_errors=True)
