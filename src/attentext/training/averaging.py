"""An exponential moving average of the weights (Polyak averaging), kept beside the Trainer's.

The weights at the end of a step sit somewhere on a noisy path; their running average sits
nearer the middle of the region the path wanders in, and often generalizes better (Polyak and
Juditsky 1992; Izmailov et al. 2018 for the equal-weight version, SWA). torch's `AveragedModel`
keeps the average; this callback updates it after every optimizer step and shows the Trainer
the averaged weights whenever it evaluates or saves a checkpoint, so the checkpoint chosen as
best, and the run's final weights, are averaged ones. Between two evaluations the optimizer
goes on from its own (live) weights.

A run resumed from a checkpoint starts again from the averaged weights saved there (the live
ones are not kept): the average restarts from them, which is where it stood.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from transformers import TrainerCallback


class WeightAverage(TrainerCallback):
    """EMA of every parameter: `average = decay * average + (1 - decay) * live`. Buffers
    (position ids, masks) are not learned and stay as they are."""

    def __init__(self, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the averaging decay is in (0, 1); got {decay:g}")
        self.decay = decay
        self.average: AveragedModel | None = None
        self.live: dict[str, torch.Tensor] | None = None  # the live weights while swapped out

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.average = AveragedModel(
            model, multi_avg_fn=get_ema_multi_avg_fn(self.decay), use_buffers=False
        )

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.average.update_parameters(model)
        if control.should_evaluate or control.should_save:
            self._show_average(model)

    def on_epoch_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if control.should_evaluate or control.should_save:  # an evaluation at the epoch's end
            self._show_average(model)

    def on_evaluate(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if not control.should_save:  # no checkpoint follows: the optimizer's weights back now
            self._restore_live(model)

    def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self._restore_live(model)

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        """The final weights are averaged ones: the best checkpoint's (already averaged) when the
        Trainer loaded it, else the average now."""
        self._restore_live(model)
        if not args.load_best_model_at_end:
            self._show_average(model, keep_live=False)

    def _show_average(self, model: torch.nn.Module, keep_live: bool = True) -> None:
        if self.live is None and keep_live:
            self.live = {name: value.detach().clone() for name, value in model.named_parameters()}
        with torch.no_grad():
            averaged = dict(self.average.module.named_parameters())
            for name, value in model.named_parameters():
                value.copy_(averaged[name])

    def _restore_live(self, model: torch.nn.Module) -> None:
        if self.live is None:
            return
        with torch.no_grad():
            for name, value in model.named_parameters():
                value.copy_(self.live[name])
        self.live = None
