"""Trainer callbacks that keep a run within its share of a time budget."""

from __future__ import annotations

import time
from typing import Any

from transformers import TrainerCallback


class Deadline(TrainerCallback):
    """Ends training at the first step after `deadline` (a `time.monotonic()` reading).

    That last state is evaluated and saved, so the best checkpoint is still chosen among every
    evaluation and the run is published as any other: a run cut by its budget is a normal,
    shorter run, not a lost one.
    """

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.stopped = False

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self.deadline or control.should_training_stop:
            return control
        control.should_training_stop = True
        control.should_evaluate = args.eval_strategy != "no"  # a str enum
        control.should_save = True
        self.stopped = True
        return control
