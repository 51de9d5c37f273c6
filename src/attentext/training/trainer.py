"""The Hugging Face `Trainer`, configured from a recipe.

The Trainer brings what we would otherwise write by hand: accelerate (bf16 autocast, DDP under
`torchrun`), checkpoints and resume, evaluation each epoch and keeping the best checkpoint.
attentext adds what it lacks for text classification: dynamic padding with length-grouped
batches read from `PackedRows`, precision chosen by the hardware, and class weights.
"""

from __future__ import annotations

import math
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import torch
import torch.nn.functional as F
from transformers import (
    EarlyStoppingCallback,
    EvalPrediction,
    PreTrainedTokenizerBase,
    ProgressCallback,
    Trainer,
    TrainerCallback,
    TrainingArguments,
    default_data_collator,
)
from transformers.trainer_utils import has_length

from attentext.bars import ProgressBar
from attentext.evaluation.metrics import classification_metrics
from attentext.evaluation.multilabel import multi_hot, multilabel_metrics
from attentext.processes import world_size
from attentext.recipes import Recipe
from attentext.rundir import checkpoint_dir
from attentext.training.collator import PadCollator, WindowCollator


def class_weights(labels: list, n_classes: int, mode: str) -> torch.Tensor | None:
    """Loss weights: None, or "balanced": per class n / (k * count) as scikit-learn's; with
    several labels per text (lists of ids), per label the positive weight negatives / positives."""
    if mode == "none":
        return None
    labels = list(labels)
    if labels and isinstance(labels[0], list | tuple):
        positives = multi_hot(labels, n_classes).sum(axis=0).clip(min=1)
        return torch.tensor((len(labels) - positives) / positives, dtype=torch.float32)
    counts = np.bincount(labels, minlength=n_classes)
    return torch.tensor(counts.sum() / (len(counts) * counts), dtype=torch.float32)


def collator_for(recipe: Recipe, tokenizer: PreTrainedTokenizerBase) -> PadCollator:
    """Padded token rows; documents of windows when the recipe reads long texts in chunks."""
    fixed = recipe.tokenizer.max_length if recipe.training.pad_to_max_length else None
    collator = PadCollator.for_tokenizer(tokenizer, fixed)
    if recipe.tokenizer.long_text == "chunks":
        return WindowCollator(collator.pad_token_id, fixed, collator.padding_side)
    return collator


def sample_batch(
    recipe: Recipe, tokenizer: PreTrainedTokenizerBase, train_set: Any
) -> dict[str, torch.Tensor]:
    """One typical training batch (the first rows, padded as the collator pads), for the probe;
    for documents in windows, at most a batch size of their windows, as the model reads them."""
    size = recipe.training.batch_size
    rows = [train_set[i] for i in range(min(len(train_set), size))]
    batch = collator_for(recipe, tokenizer)(rows)
    batch.pop("labels", None)
    if batch.pop("window_document", None) is not None:
        batch = {name: tensor[:size] for name, tensor in batch.items()}
    return batch


def _compute_metrics(prediction: EvalPrediction) -> dict[str, float]:
    logits = (
        prediction.predictions[0]
        if isinstance(prediction.predictions, tuple)
        else prediction.predictions
    )
    if np.ndim(prediction.label_ids) == 2:  # multi-hot: several labels per text, at 0.5
        return multilabel_metrics(prediction.label_ids.astype(int), (logits >= 0).astype(int))
    return classification_metrics(prediction.label_ids, np.argmax(logits, axis=-1))


def _schedule(recipe: Recipe, n_train: int, has_validation: bool) -> dict[str, Any]:
    """Evaluate and checkpoint once per epoch (or every max_steps when that is shorter)."""
    t = recipe.training
    steps_per_epoch = max(1, math.ceil(n_train / (t.batch_size * world_size())))
    every = min(steps_per_epoch, t.max_steps) if t.max_steps > 0 else steps_per_epoch
    if not has_validation:
        return {"eval_strategy": "no", "save_strategy": "steps", "save_steps": every}
    return {
        "eval_strategy": "steps",
        "eval_steps": every,
        "save_strategy": "steps",
        "save_steps": every,
        **_best_metric(recipe),
    }


def _best_metric(recipe: Recipe) -> dict[str, Any]:
    """The Trainer's arguments that say which checkpoint is best (and when to stop early)."""
    if recipe.training.best_metric == "last":
        return {"load_best_model_at_end": False}
    if recipe.training.best_metric == "loss":
        metric, greater = "loss", False
    else:  # several labels per text: subset accuracy is too strict to choose by
        metric, greater = ("micro_f1" if recipe.data.multi_label else "accuracy"), True
    return {
        "load_best_model_at_end": True,
        "metric_for_best_model": metric,
        "greater_is_better": greater,
    }


def training_arguments(
    recipe: Recipe, work_dir: Path, precision: str, tokenized: bool, n_train: int, validate: bool
) -> TrainingArguments:
    """The Trainer's arguments from the recipe; `tokenized`: token rows (else cached features)."""
    t = recipe.training
    return TrainingArguments(
        output_dir=str(checkpoint_dir(work_dir)),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        optim=t.optimizer,
        lr_scheduler_type=t.lr_scheduler,
        # transformers 5 has one warmup field: a float under 1 there is a share of all steps,
        # which is what the recipe's warmup_ratio is (checked to be in [0, 1)).
        warmup_steps=t.warmup_ratio,
        max_grad_norm=t.max_grad_norm,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        seed=t.seed,
        data_seed=t.seed,
        train_sampling_strategy="group_by_length" if tokenized and t.group_by_length else "random",
        # Tokenized splits are PackedRows, whose rows PadCollator reads as they are; the sampler
        # measures their lengths from them (10 ms for AG News' 14,427 rows).
        remove_unused_columns=not tokenized,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        save_total_limit=2,
        report_to="none",
        dataloader_num_workers=0,
        disable_tqdm=False,
        **_schedule(recipe, n_train, validate),
    )


class DivergenceGuard(TrainerCallback):
    """Stop training at the first check that finds a trained weight not a number (NaN or
    infinite), and remember the step: a run that diverged (a learning rate far too high, an
    fp16 overflow) went on to its last step, an encoder's hours of them, only to be refused at
    the end. Checked after step 1 and every `every` steps (a pass over the weights: ~10 ms for a
    22M-parameter encoder against a step of ~1 s on a CPU); the step's weights are not saved."""

    def __init__(self, every: int = 10) -> None:
        self.every = every
        self.diverged_at: int | None = None

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any):
        step = state.global_step
        if model is None or (step != 1 and step % self.every):
            return control
        trained = (p for p in model.parameters() if p.requires_grad)
        if all(bool(torch.isfinite(p).all()) for p in trained):
            return control
        self.diverged_at = step
        control.should_training_stop = True
        control.should_save = control.should_evaluate = control.should_log = False
        return control


class StepBar(ProgressCallback):
    """The Trainer's progress bars, and the dict of each log printed under them to
    `log_lines`: True, stderr with the bars; a stream, there (the CLI: its stdout, as before,
    so that an error stays its stderr's one line); False, none. transformers'
    `ProgressCallback` writes those dicts to stdout (tqdm.write's default): a script calling
    `attentext.train` whose own output is on stdout (`python train.py > results.json`) got
    them mixed into it. Its bars are `bars.ProgressBar`s: in a log, a draw every 30 s, not a
    line a step and five an evaluation."""

    def __init__(self, log_lines: bool | TextIO = True) -> None:
        super().__init__()
        self.log_lines = log_lines

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.training_bar = ProgressBar(total=state.max_steps, dynamic_ncols=True)
        self.current_step = 0

    def on_prediction_step(
        self, args: Any, state: Any, control: Any, eval_dataloader: Any = None, **kwargs: Any
    ) -> None:
        if (
            self.prediction_bar is None
            and state.is_world_process_zero
            and has_length(eval_dataloader)
        ):  # as transformers' own: the evaluation inside training vanishes when done
            self.prediction_bar = ProgressBar(
                total=len(eval_dataloader), leave=self.training_bar is None, dynamic_ncols=True
            )
        super().on_prediction_step(args, state, control, eval_dataloader, **kwargs)

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> None:
        if self.log_lines is False:
            return
        with redirect_stdout(sys.stderr if self.log_lines is True else self.log_lines):
            super().on_log(args, state, control, logs=logs, **kwargs)


def head_rate_optimizer(
    model: torch.nn.Module, args: TrainingArguments, head_learning_rate: float
) -> torch.optim.Optimizer:
    """The Trainer's own optimizer (its class, decay rules and arguments) with the output layer
    (every `classifier` module's weights) in groups of their own at `head_learning_rate`.

    A fine-tuned encoder moves at a small rate so as not to forget what it knows; its head starts
    from nothing and, at that rate, many-label heads learn rare labels last (Reuters' 90 topics).
    The scheduler scales every group alike, so warmup and decay keep their shape.
    """
    optimizer_class, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    decay = set(Trainer.get_decay_parameter_names(None, model))  # reads the model alone
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            head = ".classifier." in f".{name}"
            groups.setdefault((head, name in decay), []).append(parameter)
    return optimizer_class(
        [
            {
                "params": params,
                "weight_decay": args.weight_decay if decays else 0.0,
                **({"lr": head_learning_rate} if head else {}),
            }
            for (head, decays), params in groups.items()
        ],
        **kwargs,
    )


def build_trainer(
    recipe: Recipe,
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase | None,
    train_set: Any,
    eval_set: Any | None,
    work_dir: Path,
    precision: str,
    weights: torch.Tensor | None = None,
    callbacks: list[TrainerCallback] | None = None,
    trainer_class: Any = Trainer,
    log_lines: bool | TextIO = True,
) -> Trainer:
    """A Trainer configured from the recipe: length-grouped batches, dynamic padding, precision.

    Without a tokenizer the datasets hold cached features: batches are stacked as they are (or
    by the dataset's own `collator`: documents of window features) and sampled at random.
    `trainer_class` makes another Trainer (the distillation one) from the same arguments;
    `log_lines=False` keeps the step bar, not the log lines it prints (the history is kept); a
    stream takes them instead of stderr (`StepBar`).
    """
    args = training_arguments(
        recipe, work_dir, precision, tokenizer is not None, len(train_set), eval_set is not None
    )
    loss_func = None
    smoothing = recipe.training.label_smoothing
    if weights is not None or smoothing > 0:

        def loss_func(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None):
            logits = outputs["logits"].float()
            weight = None if weights is None else weights.to(logits.device)
            if labels.ndim == 2:  # several labels per text: BCE, positives weighted per label
                return F.binary_cross_entropy_with_logits(logits, labels.float(), pos_weight=weight)
            return F.cross_entropy(logits, labels, weight=weight, label_smoothing=smoothing)

    callbacks = [*(callbacks or []), DivergenceGuard()]
    patience = recipe.training.early_stopping_patience
    if patience and eval_set is not None:  # needs the per-epoch validation and the best model
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=patience))
    head_rate = recipe.training.head_learning_rate
    optimizer = head_rate_optimizer(model, args, head_rate) if head_rate > 0 else None
    trainer = trainer_class(
        model=model,
        args=args,
        optimizers=(optimizer, None),
        data_collator=getattr(train_set, "collator", default_data_collator)
        if tokenizer is None
        else collator_for(recipe, tokenizer),
        train_dataset=train_set,
        eval_dataset=eval_set,
        processing_class=tokenizer,
        compute_metrics=_compute_metrics,
        compute_loss_func=loss_func,
        callbacks=callbacks,
    )
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(StepBar(log_lines))
    return trainer
