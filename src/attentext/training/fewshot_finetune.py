"""Self-training's optional last step: every weight trained on the labelled and pseudo-labelled texts.

The rounds of self-training (training/fewshot.py) refit the head alone, on embeddings of an
encoder that was tuned on pairs of the few labelled texts: it has seen a few hundred texts of the
domain at most. Once the rounds have taken thousands of confident pseudo-labels, the encoder can
learn from them too: one pass of cross-entropy over the labelled and pseudo-labelled texts, every
weight trained (the head from the last regression, at a rate of its own: it reads unit-length
embeddings, on which the encoder's small rate would barely move it). Self-training with the whole
model fine-tuned on the teacher's confident labels is how Du et al. ("Self-training Improves
Pre-training for Natural Language Understanding", 2021) used in-domain unlabeled text.
"""

from __future__ import annotations

import math
import pickle
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import get_linear_schedule_with_warmup

from attentext.bars import ProgressBar
from attentext.errors import AttentextNote
from attentext.files import write_atomic
from attentext.models.dropout import use_cpu_dropout
from attentext.recipes import FewShotSpec
from attentext.text.batching import pad_rows

WARMUP_SHARE = 0.1  # of the steps, as the fine-tuned encoder recipe warms up
WEIGHT_DECAY = 0.01
LENGTH_GROUP = 50  # batches per group of shuffled texts sorted by length (the Trainer's choice)
# how often the pass keeps its state (with a work folder): a minute, so an interrupt loses a
# minute of the pass at most; less often where saves are slow, so they take at most SAVE_SHARE of
# the pass: MiniLM's weights and AdamW's two moments are 258 MiB, 2.8-5.4 s a save on 2 busy cores
SAVE_EVERY_S = 60.0
SAVE_SHARE = 0.05


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int) -> list[np.ndarray]:
    """Shuffled batches of row indices, each of texts of similar length: the rows shuffled, cut
    into groups of LENGTH_GROUP batches, each group sorted by length and cut into batches, the
    batches shuffled. Padding stays short and the order still random (the Trainer's
    `group_by_length`); every row in exactly one batch."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    group = batch_size * LENGTH_GROUP
    sizes = np.asarray(lengths)
    batches = []
    for start in range(0, len(order), group):
        rows = order[start : start + group]
        rows = rows[np.argsort(-sizes[rows], kind="stable")]
        batches += [rows[i : i + batch_size] for i in range(0, len(rows), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, schedule: Any) -> float:
    """One step of the few-shot loops (pairs, and this fine-tuning): backward, gradients clipped
    to norm 1, the optimizer and its schedule; the loss, as a number."""
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()
    schedule.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


def finetune_on_labels(
    model: Any,
    ids: list[list[int]],
    labels: np.ndarray,
    spec: FewShotSpec,
    seed: int,
    precision: str,
    pad_id: int,
    saved: Path | None = None,
) -> dict[str, Any]:
    """Train encoder and head with cross-entropy on `ids` and `labels` for
    `self_training_finetune_epochs` (AdamW, linear warmup and decay); what the run records.
    With `saved` (a file in the run's work folder), the pass's state is kept there (`_Saves`),
    and a pass that finds it there goes on from it."""
    size = spec.self_training_finetune_batch_size
    epochs = spec.self_training_finetune_epochs
    per_epoch = math.ceil(len(ids) / size)
    steps = epochs * per_epoch
    optimizer, schedule = _optimizer(model, spec, steps)
    targets = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    lengths = [len(row) for row in ids]
    use_cpu_dropout(model)
    model.train()
    done, losses = _went_on_from(saved, model, optimizer, schedule, steps)
    step, saves = 0, _Saves(saved, per_epoch, steps)
    with ProgressBar(
        total=steps, initial=done, desc="Fine-tuning on pseudo-labels", unit="step"
    ) as bar:
        for epoch in range(epochs):
            for batch in length_grouped_batches(lengths, size, seed + epoch):
                step += 1
                if step <= done:  # trained before the interrupt: its state is the one loaded
                    continue
                padded = pad_rows([ids[i] for i in batch], pad_id)
                tensors = {k: torch.from_numpy(v).to(model.device) for k, v in padded.items()}
                with torch.autocast(model.device.type, torch.bfloat16, enabled=precision == "bf16"):
                    features, _ = model.pooled(tensors["input_ids"], tensors["attention_mask"])
                    logits = model.head(features).logits  # (B, classes)
                loss = F.cross_entropy(logits.float(), targets[batch].to(model.device))
                losses.append(optimizer_step(loss, optimizer, schedule))
                bar.update()
                saves.after(step, model, optimizer, schedule, losses)
    model.eval()
    model.apply_freezing()
    return {
        "finetune_texts": len(ids),
        "finetune_steps": steps,
        "finetune_loss_first": round(float(np.mean(losses[:10])), 4),
        "finetune_loss_last": round(float(np.mean(losses[-10:])), 4),
    }


def _optimizer(model: Any, spec: FewShotSpec, steps: int) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW over encoder and head (the head at a rate of its own), and its linear schedule."""
    optimizer = torch.optim.AdamW(
        [
            {"params": list(model.encoder.requires_grad_(True).parameters())},
            {
                "params": list(model.head.requires_grad_(True).parameters()),
                "lr": spec.self_training_finetune_head_learning_rate,
            },
        ],
        lr=spec.self_training_finetune_learning_rate,
        weight_decay=WEIGHT_DECAY,
    )
    return optimizer, get_linear_schedule_with_warmup(optimizer, int(WARMUP_SHARE * steps), steps)


class _Saves:
    """When the pass keeps its state at `saved` (None: never): at each epoch's end but the
    last, and SAVE_EVERY_S after the last save (or the pass's start), or longer where a save
    took more than SAVE_SHARE of that. Its last step too, by time alone: an interrupt while the
    splits are scored and the run published then does not train the pass again."""

    def __init__(self, saved: Path | None, per_epoch: int, steps: int) -> None:
        self.saved, self.per_epoch, self.steps = saved, per_epoch, steps
        self.last, self.every = time.monotonic(), SAVE_EVERY_S

    def after(self, step: int, model: Any, optimizer: Any, schedule: Any, losses: list) -> None:
        """Save after `step` where it is due."""
        if self.saved is None:
            return
        epoch_end = step % self.per_epoch == 0 and step < self.steps
        if not epoch_end and time.monotonic() - self.last < self.every:
            return
        began = time.monotonic()
        save_pass(self.saved, model, optimizer, schedule, step, losses)
        self.last = time.monotonic()
        self.every = max(SAVE_EVERY_S, (self.last - began) / SAVE_SHARE)


def save_pass(
    saved: Path,
    model: Any,
    optimizer: torch.optim.Optimizer,
    schedule: Any,
    step: int,
    losses: list[float],
) -> None:
    """The pass's state after `step` steps, into one file written whole: every weight, AdamW's
    moments, the schedule, torch's generators (dropout draws from them) and the losses so far."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else []
    state = {
        "step": step,
        "losses": losses,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "torch_random": torch.get_rng_state(),
        "cuda_random": cuda,
    }
    write_atomic(saved, lambda tmp: torch.save(state, tmp))


def _went_on_from(
    saved: Path | None, model: Any, optimizer: torch.optim.Optimizer, schedule: Any, steps: int
) -> tuple[int, list[float]]:
    """The steps done and their losses: (0, []) for a fresh pass, else what `save_pass` kept
    at `saved`, loaded into the model, optimizer, schedule and torch's generators, said in one
    line. A file that cannot be read (its writes are whole: only a hand edit) starts over."""
    try:
        state = torch.load(saved, map_location="cpu", weights_only=True) if saved else None
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError):
        state = None
    if not isinstance(state, dict) or not 0 < state.get("step", 0) <= steps:
        return 0, []
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    torch.set_rng_state(state["torch_random"])
    if state["cuda_random"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_random"])
    done = state["step"]
    said = f"goes on from its step {done:,} of {steps:,}"
    if done == steps:
        said = f"was done (its {steps:,} steps are not run again)"
    warnings.warn(
        f"{saved.parent.parent.name}: the fine-tuning pass saved there {said}",
        AttentextNote,
        stacklevel=3,
    )
    return done, list(state["losses"])
