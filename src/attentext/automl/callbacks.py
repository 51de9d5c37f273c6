"""Trainer callbacks that keep a run within its share of a time budget."""

from __future__ import annotations

import math
import time
from typing import Any

from transformers import TrainerCallback

# how far a run's measured steps may exceed the training time the plan gave its minimum, and the
# run still be owed that minimum past its share (the estimates are good to a factor of ~2)
OWED_FACTOR = 2.0
# a minimum its pace puts within this many seconds is owed whatever the plan gave it: a head on
# cached features plans ~0.5 s for its 115 steps, and the first step alone, the Trainer's own
# start included, then projects ~5 s (newsgroups20, AVX2: stopped after 1 step, validation 0.16)
OWED_FLOOR_SECONDS = 15.0


class Deadline(TrainerCallback):
    """Ends training at the first step after `deadline` (a `time.monotonic()` reading), and at
    the first step after `hard_deadline` (the budget's end) whatever.

    A run past its share but short of `min_steps` is owed them where they are cheap: where its
    steps so far put all `min_steps` within OWED_FACTOR times `min_seconds`, the training time
    the plan gave that minimum, or within OWED_FLOOR_SECONDS. The time before the first step (a
    frozen encoder's features, the word vectors, tokenizing) is estimated too, and where it ran
    over, the deadline alone stopped a run after one step of its head (newsgroups20 on an
    AVX2-only CPU: 170 s of features, then one step of ms, validation 0.16); a run whose steps
    are slower than planned (attention-rnn on the same posts while it packed its sequences: 4 s
    a step where 0.6 s were planned) is not owed its minimum.

    That last state is evaluated and saved, so the best checkpoint is still chosen among every
    evaluation and the run is published as any other: a run cut by its budget is a normal,
    shorter run, not a lost one.
    """

    def __init__(
        self,
        deadline: float,
        min_steps: int = 0,
        min_seconds: float = math.inf,
        hard_deadline: float | None = None,
    ) -> None:
        self.deadline, self.hard_deadline = deadline, hard_deadline
        self.min_steps, self.min_seconds = min_steps, min_seconds
        self.began: float | None = None
        self.stopped = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.began = time.monotonic()
        return control

    def _owed(self, now: float, steps: int) -> bool:
        """Whether the run is short of its minimum and the rest of it is cheap enough."""
        if steps >= self.min_steps or (
            self.hard_deadline is not None and now >= self.hard_deadline
        ):
            return False
        per_step = (now - (self.began or now)) / max(1, steps)
        return per_step * self.min_steps <= max(OWED_FACTOR * self.min_seconds, OWED_FLOOR_SECONDS)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        now = time.monotonic()
        if control.should_training_stop or now < self.deadline:
            return control
        if self._owed(now, state.global_step):
            return control
        control.should_training_stop = True
        control.should_evaluate = args.eval_strategy != "no"  # a str enum
        control.should_save = True
        self.stopped = True
        return control
