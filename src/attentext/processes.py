"""How many processes train together: torchrun and accelerate set WORLD_SIZE; 1 alone.

Each process reads a batch of `training.batch_size` texts a step, so an epoch is
n_train / (batch_size x world_size) optimizer steps: the data-aware epochs and the Trainer's
step count both divide by it.
"""

from __future__ import annotations

import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))
