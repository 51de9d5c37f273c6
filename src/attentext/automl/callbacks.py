"""Trainer callbacks that keep a run within its share of a time budget."""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback


class Deadline(TrainerCallback):
    """Ends training at the first step after `deadline` (a `time.monotonic()` reading) once
    `min_steps` steps are done, and at the first step after `hard_deadline` whatever the count.

    That last state is evaluated and saved, so the best checkpoint is still chosen among every
    evaluation and the run is published as any other: a run cut by its budget is a normal,
    shorter run, not a lost one. `min_steps` keeps the shortest run the plan paid for: the time
    before the first step (a frozen encoder's features, the word vectors, tokenizing) is
    estimated, and where it ran over, a deadline alone stopped the run after one step of its
    head (newsgroups20 on an AVX2-only CPU: 170 s of features, then one step, validation 0.16).
    """

    def __init__(
        self, deadline: float, min_steps: int = 0, hard_deadline: float | None = None
    ) -> None:
        self.deadline, self.min_steps, self.hard_deadline = deadline, min_steps, hard_deadline
        self.stopped = False

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if control.should_training_stop:
            return control
        now = time.monotonic()
        due = now >= self.deadline and state.global_step >= self.min_steps
        if not due and (self.hard_deadline is None or now < self.hard_deadline):
            return control
        control.should_training_stop = True
        control.should_evaluate = args.eval_strategy != "no"  # a str enum
        control.should_save = True
        self.stopped = True
        return control
