"""How many processes train together: torchrun and accelerate set WORLD_SIZE; 1 alone.

Each process reads a batch of `training.batch_size` texts a step, so an epoch is
n_train / (batch_size x world_size) optimizer steps: the data-aware epochs and the Trainer's
step count both divide by it.
"""

from __future__ import annotations

import os

from attentext.errors import AttentextError, shown

# what torchrun sets for each process, with the least each may be; transformers reads
# LOCAL_RANK when it makes its TrainingArguments
LAUNCH_VARIABLES = {"WORLD_SIZE": 1, "RANK": 0, "LOCAL_RANK": 0}


def world_size() -> int:
    """The number of processes training together (WORLD_SIZE; 1 where unset)."""
    return launch_number("WORLD_SIZE", 1)


def rank() -> int:
    """This process's rank among them (RANK; 0 where unset); every launch variable checked."""
    for name, least in LAUNCH_VARIABLES.items():
        launch_number(name, least)
    return launch_number("RANK", 0)


def launch_number(name: str, default: int) -> int:
    """The whole number in the environment variable `name` (`default` where unset); one line
    where it is not one, or below its least: `RANK= attentext train` (a variable left empty by a
    script) was a ValueError traceback from int()."""
    value = os.environ.get(name)
    if value is None:
        return default
    least = LAUNCH_VARIABLES[name]
    try:
        number = int(value.strip())
    except ValueError:
        number = least - 1
    if number < least:
        raise AttentextError(
            f"{name}='{shown(value)}' in the environment is not a whole number of {least} or more; "
            f"torchrun sets it for each process it starts: unset it (unset {name}) to run in "
            "one process"
        )
    return number
